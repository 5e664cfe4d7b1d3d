"""Documents -> passages. langchain-text-splitters lives here and nowhere else.

Passages are sized in the embedder's tokens, never cross a section or page border, and keep
their character span so that `passage.text == document.text[start:end]`.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from kb.config import ChunkSettings
from kb.records import Document, Passage

# str.split() splits at these; BertNormalizer(clean_text) deletes them (Unicode Cc), joining
# the words either side. Every other str.split() whitespace is whitespace to BERT as well.
_NOT_SEPARATORS = "\x0b\x0c\x1c\x1d\x1e\x1f\x85"
# One BERT pre-token of a printable ASCII word: a run of letters and digits, or one punctuation
# mark (every printable ASCII character that is not alphanumeric is punctuation to BERT).
_ASCII_PIECES = re.compile(r"[A-Za-z0-9]+|[^A-Za-z0-9]")
_MAX_WORDS = 500_000  # cached word counts kept before the cache starts over (memory)


def _ascii_alnum(text: str) -> bool:
    return text.isascii() and text.isalnum()


def _length_function(tokenizer: Any):
    """Token count of a text in the embedder's tokenizer, without special tokens.

    For a BERT WordPiece tokenizer (all-MiniLM-L6-v2's) the count is summed over the text's
    words, each counted once (mostly in Python, from the vocabulary): exactly the tokenizer's
    count, as `_BertWordCounts` explains, and without calling it on every piece the splitter
    measures. Any other tokenizer counts each text with the tokenizer itself.
    """
    if tokenizer is None:
        # Roughly 1.3 word pieces per word for English biomedical text.
        return lambda text: int(len(text.split()) * 1.3) + 1
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        # verbose=False: texts longer than the model's window are expected here (we measure them).
        return lambda text: len(tokenizer.encode(text, add_special_tokens=False, verbose=False))
    # A private copy of the fast tokenizer, without padding or truncation: the build embeds
    # in another thread meanwhile (ingest.flow), and a Hugging Face tokenizer call sets the
    # padding and truncation of its shared backend. Same token counts as encode().
    from tokenizers import Tokenizer

    spec = backend.to_str()
    own = Tokenizer.from_str(spec)
    own.no_truncation()
    own.no_padding()

    def encoded(text: str) -> int:
        return len(own.encode(text, add_special_tokens=False).ids)

    words = _BertWordCounts.for_spec(json.loads(spec), encoded)
    if words is None:
        measure = encoded
    else:
        def measure(text: str) -> int:
            if any(map(text.__contains__, _NOT_SEPARATORS)):  # faster than a regex
                return encoded(text)
            return sum(map(words.__getitem__, text.split()))

    # The splitter measures each piece more than once (and its separators every time).
    return lru_cache(maxsize=8192)(measure)


class _BertWordCounts(dict):
    """word -> its token count in a BERT WordPiece tokenizer, computed on first lookup.

    Why a text's count is the sum of its words' counts (`str.split()` words): BertNormalizer
    works character by character (it deletes control characters, maps whitespace to a space,
    puts spaces around CJK characters, lowercases and strips accents); BertPreTokenizer then
    splits at whitespace and around each punctuation mark; WordPiece encodes each pre-token on
    its own; and added tokens (without lstrip/rstrip, no whitespace inside) are matched within
    a word. So nothing joins or splits across a whitespace, and every whitespace character of
    `str.split()` is one for BERT too, except the control characters in `_NOT_SEPARATORS`,
    which BERT deletes (joining the words either side): a text holding one is encoded whole.

    A printable ASCII word is counted here: lowercased if the normalizer does, cut into
    alphanumeric runs and single punctuation marks (BERT's pre-tokens of it), each counted by
    `_WordPieces`. Any other word, or one holding an added token's text, is encoded by the
    real tokenizer.
    """

    def __init__(
        self, model: dict, lowercase: bool, added: re.Pattern | None, encoded: Callable[[str], int]
    ) -> None:
        # Seeded with the vocabulary's ASCII words (one token each) that normalizing leaves alone.
        seed = list(filter(_ascii_alnum, model["vocab"]))
        super().__init__(dict.fromkeys([w for w in seed if w.lower() == w] if lowercase else seed, 1))
        self._pieces = _WordPieces(model, seed)
        self._lowercase = lowercase
        self._added = added
        self._encoded = encoded

    @classmethod
    def for_spec(cls, spec: dict, encoded: Callable[[str], int]) -> _BertWordCounts | None:
        """Counts for a tokenizer.json spec, or None when it is not BERT WordPiece as above."""
        model = spec.get("model") or {}
        norm = spec.get("normalizer") or {}
        added = spec.get("added_tokens") or []
        if (
            model.get("type") != "WordPiece"
            or model.get("unk_token") not in model.get("vocab", {})
            or norm.get("type") != "BertNormalizer"
            or norm.get("clean_text") is not True
            or not isinstance(norm.get("lowercase"), bool)
            or (spec.get("pre_tokenizer") or {}).get("type") != "BertPreTokenizer"
            or any(t["lstrip"] or t["rstrip"] or not t["content"]
                   or any(c.isspace() for c in t["content"]) for t in added)
        ):
            return None
        # Ignoring case: a normalized added token is matched in the lowercased text.
        pattern = "|".join(re.escape(t["content"]) for t in added)
        return cls(model, norm["lowercase"], re.compile(pattern, re.I) if added else None, encoded)

    def __missing__(self, word: str) -> int:
        if len(self) >= _MAX_WORDS:
            self.clear()
            self._pieces.clear()
        if not word.isascii() or not word.isprintable() or (self._added and self._added.search(word)):
            n = self._encoded(word)
        elif (core := word.strip(string.punctuation)) != word:
            # "(disease)," is "disease" and three punctuation marks, one token each.
            n = len(word) - len(core) + (self[core] if core else 0)
        else:
            text = word.lower() if self._lowercase else word
            if text.isalnum():
                n = self._pieces[text]
            else:
                n = sum(map(self._pieces.__getitem__, _ASCII_PIECES.findall(text)))
        self[word] = n
        return n


class _WordPieces(dict):
    """pre-token -> its number of WordPiece tokens, as tokenizers' WordPiece model splits it:
    greedy longest match against the vocabulary, continuations prefixed ("##"), and the whole
    pre-token one [UNK] when too long or when no vocabulary entry fits somewhere."""

    def __init__(self, model: dict, seed: list[str]) -> None:
        super().__init__(dict.fromkeys(seed, 1))  # vocabulary entries: one token
        self._vocab = model["vocab"]
        self._prefix = model["continuing_subword_prefix"]
        self._max_chars = model["max_input_chars_per_word"]
        # No vocabulary entry is longer: each match is tried from at most this long down.
        self._longest = max(map(len, self._vocab))

    def __missing__(self, piece: str) -> int:
        n = self[piece] = self._count(piece)
        return n

    def _count(self, piece: str) -> int:
        size = len(piece)
        if size > self._max_chars:
            return 1
        vocab, prefix = self._vocab, self._prefix
        end = min(size, self._longest)
        while piece[:end] not in vocab:
            end -= 1
            if end == 0:
                return 1  # nothing in the vocabulary fits: the pre-token is one [UNK]
        n, start, longest = 1, end, self._longest - len(prefix)
        while start < size:
            end = min(size, start + longest)
            while prefix + piece[start:end] not in vocab:
                end -= 1
                if end == start:
                    return 1
            n, start = n + 1, end
        return n


class Chunker:
    def __init__(self, settings: ChunkSettings | None = None, tokenizer: Any = None) -> None:
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        self.settings = settings or ChunkSettings()
        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=self.settings.chunk_tokens,
            chunk_overlap=self.settings.overlap_tokens,
            length_function=_length_function(tokenizer),
            # Escaped here once, not by the splitter at each of its (recursive) calls.
            separators=[re.escape(s) for s in ("\n\n", "\n", ". ", "; ", ", ", " ", "")],
            is_separator_regex=True,
            keep_separator="end",
            strip_whitespace=True,
        )

    def segments(self, doc: Document) -> list[tuple[int, int, str | None, int | None]]:
        """(start, end, section, page) ranges a passage must stay within."""
        if doc.pages:
            return [(p.start, p.end, None, int(p.label)) for p in doc.pages]
        if doc.sections:
            # Each segment runs from the end of the previous section, so it carries its own
            # label line (and the first one the title) into its first passage.
            spans = sorted(doc.sections, key=lambda s: s.start)
            out: list[tuple[int, int, str | None, int | None]] = []
            cursor = 0
            for s in spans:
                out.append((cursor, max(s.end, cursor), s.label, None))
                cursor = max(cursor, s.end)
            if cursor < len(doc.text):
                last_start, _, label, _ = out[-1]
                out[-1] = (last_start, len(doc.text), label, None)
            return out
        return [(0, len(doc.text), None, None)]

    def chunk(self, doc: Document) -> list[Passage]:
        passages: list[Passage] = []
        for seg_start, seg_end, section, page in self.segments(doc):
            segment = doc.text[seg_start:seg_end]
            if not segment.strip():
                continue
            cursor = 0
            for piece in self._splitter.split_text(segment):
                at = segment.find(piece, cursor)
                if at < 0:  # splitter normalised something; fall back to a global search
                    at = segment.find(piece)
                if at < 0:
                    continue
                start, end = seg_start + at, seg_start + at + len(piece)
                # The next piece overlaps this one, so search from just after its start.
                cursor = at + 1
                text = doc.text[start:end]
                passages.append(
                    Passage(
                        passage_id=Passage.make_id(doc.doc_id, start, end, text),
                        doc_id=doc.doc_id,
                        text=text,
                        start=start,
                        end=end,
                        section=section,
                        page=page,
                        ordinal=len(passages),
                    )
                )
        return passages

    def chunk_all(self, docs: Iterable[Document]) -> list[Passage]:
        return [p for d in docs for p in self.chunk(d)]
