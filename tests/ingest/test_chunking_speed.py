"""The chunker's fast token count (BERT WordPiece, summed per word) is the tokenizer's count.

Every test compares with the real all-MiniLM-L6-v2 tokenizer (as test_flow does): counts of
varied texts, every separator-like character, and whole documents chunked both ways.
"""

from __future__ import annotations

import itertools
import json
import sys
import unicodedata
from pathlib import Path

import pytest

from ingest import chunking
from ingest.chunking import Chunker, _BertWordCounts, _length_function
from ingest.readers import read_source
from kb.config import ChunkSettings

ROOT = Path(__file__).resolve().parents[2]
FORMATS = ROOT / "corpora/formats"


@pytest.fixture(scope="module")
def tok():
    from transformers import AutoTokenizer

    from kb.models import embedder_path

    return AutoTokenizer.from_pretrained(embedder_path("all-MiniLM-L6-v2"))


def _real(tok, text: str) -> int:
    return len(tok.encode(text, add_special_tokens=False, verbose=False))


def _spec(tok) -> dict:
    return json.loads(tok.backend_tokenizer.to_str())


@pytest.fixture(scope="module")
def docs():
    pubmedqa = read_source(ROOT / "corpora/literature/pubmedqa_dev_abstracts.xml")
    medquad = read_source(ROOT / "corpora/literature/medquad_subset.jsonl")
    return [
        *itertools.islice(pubmedqa, 40),
        *itertools.islice(medquad, 40),
        *read_source(FORMATS / "pubmed/pubmed-29768149.xml"),
        *read_source(FORMATS / "jats/pone.0046493.nxml"),
        *read_source(FORMATS / "jats/ehp-116-1694.nxml"),
        *read_source(FORMATS / "pdf/cdc_outpatient_infection_prevention_guide_2016.pdf"),
    ]


ODD_TEXTS = [
    "",
    "   \n\n  ",
    "Asthma, wheeze; inhaled corticosteroids (ICS) 200 µg b.i.d. -- e.g. [see Fig. 2a].",
    "HbA1c≥6.5% (48 mmol/mol); BMI 30–35 kg/m²; 37.5°C; 10⁻³ M; ±2.1; ½ tab; p<0.001; n=1,024",
    "débridement naïve Ærø Straße İstanbul ΑΣΘΜΑ ΣΑΣ ς Ωmega façade coöperate ﬁnal Ⅻ",
    "肺炎 (pneumonia) 日本語のテキスト 한국어 中文文本abc ｆｕｌｌｗｉｄｔｈ",
    "https://www.cdc.gov/hai/pdfs/guidelines/ambulatory-care+checklist_508_11_2015.pdf?x=1&y=%20#top",
    "mailto:someone@example.org ~/x_y-z.txt C:\\path\\file `code` {json: [1, 2]} $5 ^ | @ #",
    "[CLS] [SEP] [MASK] [PAD] [UNK] [cls] x[SEP]y ([MASK]). [CLS",
    "\x07The BEL in the CDC PDF; \x00 NUL, \ufffd replacement, \u200bzero\u200bwidth, \ufeffBOM",
    "a\x0cb a\x0bb a\x1cb a\x1db a\x1eb a\x1fb a\x85b a\u2028b a\u2029b a\xa0b a\u3000b a\u202fb",
    "emoji 🙂👍🏽 and math 𝛼𝛽 𝔸 and combining e\u0301 a\u0308 \u0301alone",
    "x" * 100 + " " + "y" * 101 + " " + "pneumono" * 20 + " " + "é" * 101 + " ab," + "c" * 120,
    "Hyperlipoproteinemia pseudohypoparathyroidism Methylenetetrahydrofolate 3-hydroxy-3-methylglutaryl-CoA",
    "UPPER lower MiXeD 123abc abc123 1.2.3 ...!!! ??? '' \"quoted\" (nested (parens))",
]


def test_minilm_gets_the_fast_count(tok):
    assert _BertWordCounts.for_spec(_spec(tok), lambda text: 0) is not None


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s["model"].update(type="BPE"),
        lambda s: s.update(pre_tokenizer={"type": "Whitespace"}),
        lambda s: s["normalizer"].update(clean_text=False),
        lambda s: s.update(normalizer={"type": "Lowercase"}),
        lambda s: s["added_tokens"][0].update(lstrip=True),
        lambda s: s["added_tokens"].append({**s["added_tokens"][0], "content": "a b"}),
    ],
)
def test_other_tokenizers_keep_the_plain_count(tok, change):
    spec = _spec(tok)
    change(spec)
    assert _BertWordCounts.for_spec(spec, lambda text: 0) is None


def test_counts_equal_the_tokenizer_on_odd_texts(tok):
    length = _length_function(tok)
    for text in ODD_TEXTS + [" ".join(ODD_TEXTS)]:
        assert length(text) == _real(tok, text), repr(text)
        for word in text.split():
            assert length(word) == _real(tok, word), repr(word)


def test_every_separator_like_character(tok):
    """Each character Python splits at, and each that BERT deletes or treats as whitespace
    (Unicode categories C* and Z*), between two words, alone, and at a word's edges."""
    odd = [
        c for c in map(chr, range(sys.maxunicode + 1))
        if c.isspace() or (unicodedata.category(c)[0] in "CZ" and unicodedata.category(c) not in ("Cn", "Co", "Cs"))
    ]
    assert len(odd) > 200
    length = _length_function(tok)
    for c in odd:
        # Joined, "1" and "2" are one token, and 120 x's are one [UNK] (over 100 characters).
        texts = (f"ab{c}cd", f"1{c}2", "x" * 60 + c + "x" * 60, c, f"{c}x{c}", f"Word{c}word{c}{c}[SEP]{c}")
        for text in texts:
            assert length(text) == _real(tok, text), (hex(ord(c)), text)


def test_counts_equal_the_tokenizer_on_corpus_passages(tok, docs):
    length = _length_function(tok)
    texts = [p.text for p in Chunker(ChunkSettings(chunk_tokens=60, overlap_tokens=10), tok).chunk_all(docs)]
    assert len(texts) > 300
    assert [length(t) for t in texts] == [_real(tok, t) for t in texts]


@pytest.mark.parametrize("settings", [ChunkSettings(), ChunkSettings(chunk_tokens=48, overlap_tokens=8)])
def test_same_passages_as_with_the_plain_count(tok, docs, monkeypatch, settings):
    fast = Chunker(settings, tok).chunk_all(docs)
    monkeypatch.setattr(_BertWordCounts, "for_spec", classmethod(lambda cls, spec, encoded: None))
    plain = Chunker(settings, tok).chunk_all(docs)
    assert len(fast) > 100
    assert [(p.doc_id, p.start, p.end, p.text) for p in fast] == [(p.doc_id, p.start, p.end, p.text) for p in plain]


def test_cased_bert_and_a_full_word_cache(tok, docs, monkeypatch):
    """Without lowercasing (a cased BERT), and when the word cache starts over, still exact."""
    from tokenizers import Tokenizer

    monkeypatch.setattr(chunking, "_MAX_WORDS", 64)
    spec = _spec(tok)
    spec["normalizer"]["lowercase"] = False
    spec["normalizer"]["strip_accents"] = False
    cased = Tokenizer.from_str(json.dumps(spec))
    cased.no_truncation()
    cased.no_padding()

    def encoded(text: str) -> int:
        return len(cased.encode(text, add_special_tokens=False).ids)

    words = _BertWordCounts.for_spec(spec, encoded)
    assert words is not None
    texts = ODD_TEXTS + [d.text for d in docs[:30]]
    for text in texts:
        if not any(c in text for c in chunking._NOT_SEPARATORS):
            assert sum(map(words.__getitem__, text.split())) == encoded(text), repr(text[:80])
    assert len(words) <= 64  # started over: the vocabulary seed alone is larger
