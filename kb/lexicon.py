"""Word lists and alias tables shipped as data in corpora/lexicon/ (each file names its source).

Lines starting with '#' are comments; TSV files have a header row. Loaded once, on first use.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from kb.errors import MedKBError

LEXICON_DIR = Path(__file__).resolve().parents[1] / "corpora" / "lexicon"


def lexicon_file(name: str) -> Path:
    """corpora/lexicon/NAME beside the source tree, or in the working directory."""
    for cand in (LEXICON_DIR / name, Path("corpora") / "lexicon" / name):
        if cand.is_file():
            return cand
    raise MedKBError(f"lexicon file {name} not found in {LEXICON_DIR}; "
                     "the corpora/ folder is part of MedKB")


def _lines(name: str) -> list[str]:
    text = lexicon_file(name).read_text("utf-8")
    return [ln.rstrip("\n") for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


@cache
def words(name: str) -> frozenset[str]:
    """A one-word-or-phrase-per-line list."""
    return frozenset(ln.strip() for ln in _lines(name))


@cache
def pairs(name: str) -> tuple[tuple[str, str], ...]:
    """A two-column TSV (header row skipped), in file order."""
    rows = _lines(name)[1:]
    out = []
    for ln in rows:
        a, _, b = ln.partition("\t")
        if not b:
            raise MedKBError(f"{lexicon_file(name)}: line {ln!r} has no tab-separated second column")
        out.append((a.strip(), b.strip()))
    return tuple(out)
