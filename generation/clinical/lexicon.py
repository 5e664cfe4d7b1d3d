"""Word lists for the clinical reader, loaded once from corpora/lexicon/ (data with sources).

`clinical_cues.json` holds the cue phrases that give a mention its role (recommended,
avoided, taken, diagnosed ...) as regular-expression alternatives; `clinical_aliases.tsv`
holds phrasings the graph's vocabulary cannot (pattern -> graph name); `lay_findings.tsv`
maps lay descriptions of symptoms to finding names. Code compiles; the files say what.
"""

from __future__ import annotations

import csv
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from kb.errors import MedKBError

LEXICON_DIR = Path(__file__).resolve().parents[2] / "corpora" / "lexicon"


def lexicon_path(name: str) -> Path:
    """corpora/lexicon/NAME next to the source tree, or in the working directory."""
    for cand in (LEXICON_DIR / name, Path("corpora") / "lexicon" / name):
        if cand.is_file():
            return cand
    raise MedKBError(f"lexicon file {name} not found in {LEXICON_DIR}; the corpora/ folder is part of MedKB")


@cache
def cue_alternatives() -> dict[str, tuple[str, ...]]:
    """Cue name -> its alternatives (regular expressions), as the JSON file lists them."""
    path = lexicon_path("clinical_cues.json")
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        return {k: tuple(v) for k, v in data["cues"].items()}
    except (ValueError, KeyError, TypeError) as e:
        raise MedKBError(f"{path}: not a cue file ({e})") from e


def cue(name: str) -> str:
    """One cue list as a single alternation (no group)."""
    return "|".join(cue_alternatives()[name])


def read_tsv(name: str) -> list[dict[str, str]]:
    """Rows of a lexicon TSV (header line first); lines starting with # are comments."""
    path = lexicon_path(name)
    with path.open(encoding="utf-8", newline="") as f:
        lines = [ln for ln in f if ln.strip() and not ln.startswith("#")]
    rows = list(csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))
    if rows and None in rows[0]:
        raise MedKBError(f"{path}: a row has more columns than the header")
    return rows


@cache
def aliases() -> tuple[tuple[str, str], ...]:
    """(pattern, graph name) pairs for phrasings the vocabulary does not hold."""
    return tuple((r["pattern"], r["name"]) for r in read_tsv("clinical_aliases.tsv"))


def compile_cue(name: str, flags: int = re.I) -> re.Pattern[str]:
    """A cue list as a whole-word pattern."""
    return re.compile(r"\b(?:" + cue(name) + r")(?!\w)", flags)
