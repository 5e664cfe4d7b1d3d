"""Which normalised entities a query names, for the entity boost.

Retrieval may not import ingest (DESIGN §2), so the query is tagged with what the KB itself
holds: the knowledge graph's own matcher when kb.graph offers one (`entities_in(text)`), else
the surface forms of the KB's stored entity mentions (every span the build's vocabulary
matched, with its entity id). A KB built without a graph has no mentions and no boost.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from kb.store import Version

log = logging.getLogger(__name__)

Tagger = Callable[[str], set[str]]

_WORD = re.compile(r"\w+")
MAX_WORDS = 8


def _norm_words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class SurfaceTagger:
    """Exact (case-insensitive, word-bounded) lookup of known surface forms in a text."""

    def __init__(self, forms: Iterable[tuple[str, str]]) -> None:
        self._forms: dict[tuple[str, ...], set[str]] = {}
        for surface, entity_id in forms:
            words = tuple(_norm_words(surface))
            if words and len(words) <= MAX_WORDS:
                self._forms.setdefault(words, set()).add(entity_id)

    def __len__(self) -> int:
        return len(self._forms)

    def __call__(self, text: str) -> set[str]:
        words = _norm_words(text)
        found: set[str] = set()
        for i in range(len(words)):
            for n in range(1, min(MAX_WORDS, len(words) - i) + 1):
                ids = self._forms.get(tuple(words[i : i + n]))
                if ids:
                    found |= ids
        return found


def mention_forms(version: Version) -> list[tuple[str, str]]:
    """(surface text, entity id) of every distinct stored mention."""
    rows = version.db.execute(
        'SELECT DISTINCT substr(p.text, m.start - p.start + 1, m."end" - m.start), m.entity_id '
        "FROM mentions m JOIN passages p ON p.ordinal = m.passage_ordinal").fetchall()
    return [(s, e) for s, e in rows if s]


def graph_tagger(version: Version) -> Tagger | None:
    """The knowledge graph's matcher, if this KB has a graph."""
    path = version.file("graph.json")
    if not path.exists():
        return None
    from kb.graph import load_cached

    try:
        graph: Any = load_cached(path)
    except Exception as exc:  # a damaged graph must not stop search
        log.warning("knowledge graph unreadable, no entity boost from it: %s", exc)
        return None
    return graph.entities_in


def default_tagger(version: Version) -> Tagger | None:
    tagger = graph_tagger(version)
    if tagger is not None:
        return tagger
    try:
        forms = mention_forms(version)
    except Exception as exc:  # an old schema without mentions: no boost
        log.debug("no mentions to tag queries with: %s", exc)
        return None
    return SurfaceTagger(forms) if forms else None
