"""Documents -> passages. langchain-text-splitters lives here and nowhere else.

Passages are sized in the embedder's tokens, never cross a section or page border, and keep
their character span so that `passage.text == document.text[start:end]`.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from kb.config import ChunkSettings
from kb.records import Document, Passage


def _length_function(tokenizer: Any):
    if tokenizer is None:
        # Roughly 1.3 word pieces per word for English biomedical text.
        return lambda text: int(len(text.split()) * 1.3) + 1
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        # A private copy of the fast tokenizer, without padding or truncation: the build embeds
        # in another thread meanwhile (ingest.flow), and a Hugging Face tokenizer call sets the
        # padding and truncation of its shared backend. Same token counts as encode().
        from tokenizers import Tokenizer

        own = Tokenizer.from_str(backend.to_str())
        own.no_truncation()
        own.no_padding()

        # The splitter measures each piece more than once (and its separators every time):
        # cached, the build's chunking costs about half the tokenizer calls.
        @lru_cache(maxsize=8192)
        def count(text: str) -> int:
            return len(own.encode(text, add_special_tokens=False).ids)

        return count
    # verbose=False: texts longer than the model's window are expected here (we measure them).
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False, verbose=False))


class Chunker:
    def __init__(self, settings: ChunkSettings | None = None, tokenizer: Any = None) -> None:
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        self.settings = settings or ChunkSettings()
        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=self.settings.chunk_tokens,
            chunk_overlap=self.settings.overlap_tokens,
            length_function=_length_function(tokenizer),
            separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""],
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
