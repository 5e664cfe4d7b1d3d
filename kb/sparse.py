"""The sparse (BM25) index. bm25s lives here and nowhere else.

Rows are passage ordinals, like the vector index. Everything that decides a score — k1, b,
the BM25 variant, the token pattern, the stop words and the stemmer — is pinned at build time
and saved beside the index (`medkb_sparse.json`), so a loaded index tokenises queries exactly
as its passages were tokenised. bm25s writes plain .npy arrays and JSON; they are read back
with pickle disabled and memory-mapped (a published version never changes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kb.errors import KBError

PARAMS_NAME = "medkb_sparse.json"
SPARSE_FORMAT = 1


def _default_stopwords() -> tuple[str, ...]:
    from bm25s.stopwords import STOPWORDS_EN

    return tuple(sorted(set(STOPWORDS_EN)))


@dataclass(frozen=True)
class SparseParams:
    """The pinned settings of one index; saved with it and checked on load."""

    k1: float = 1.2
    b: float = 0.75
    method: str = "lucene"
    token_pattern: str = r"(?u)\b\w+\b"
    lowercase: bool = True
    stemmer: str = "english"  # Snowball (PyStemmer) language, or "none"
    stopwords: tuple[str, ...] = field(default_factory=_default_stopwords)


class Tokenizer:
    """Lowercase, split on word characters, drop stop words, stem (Snowball)."""

    def __init__(self, params: SparseParams) -> None:
        self.params = params
        self._pattern = re.compile(params.token_pattern)
        self._stop = frozenset(params.stopwords)
        self._stem: Any = None
        if params.stemmer != "none":
            try:
                import Stemmer
            except ImportError as exc:
                raise KBError(f"this BM25 index stems with Snowball {params.stemmer!r}, which "
                              "needs the PyStemmer package: `pip install PyStemmer`") from exc
            self._stem = Stemmer.Stemmer(params.stemmer).stemWords

    def __call__(self, text: str) -> list[str]:
        if self.params.lowercase:
            text = text.lower()
        words = [w for w in self._pattern.findall(text) if w not in self._stop]
        return list(self._stem(words)) if self._stem is not None and words else words


class SparseIndex:
    """BM25 over passage texts (bm25s)."""

    def __init__(self, bm25: Any, params: SparseParams, size: int) -> None:
        self._bm25 = bm25
        self.params = params
        self._size = size
        self._tokenize = Tokenizer(params)

    def __len__(self) -> int:
        return self._size

    @classmethod
    def build(cls, texts: Sequence[str], params: SparseParams | None = None) -> SparseIndex:
        import bm25s

        _quiet_bm25s()

        params = params or SparseParams()
        tokenize = Tokenizer(params)
        tokens = [tokenize(t) for t in texts]
        if not texts:
            return cls(None, params, 0)
        bm25 = bm25s.BM25(k1=params.k1, b=params.b, method=params.method)
        bm25.index(tokens, show_progress=False)
        return cls(bm25, params, len(texts))

    def describe(self) -> dict[str, Any]:
        """The pinned settings, for a KB manifest (the stop word list by size only)."""
        d = asdict(self.params)
        d["stopwords"] = len(self.params.stopwords)
        return {**d, "bm25s": _bm25s_version(), "passages": self._size}

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"format": SPARSE_FORMAT, "size": self._size, "bm25s": _bm25s_version(),
                **asdict(self.params)}
        meta["stopwords"] = list(self.params.stopwords)
        if self._bm25 is not None:
            self._bm25.save(str(directory), allow_pickle=False, show_progress=False)
        (directory / PARAMS_NAME).write_text(json.dumps(meta, indent=1), "utf-8")

    @classmethod
    def load(cls, directory: Path) -> SparseIndex:
        directory = Path(directory)
        try:
            meta = json.loads((directory / PARAMS_NAME).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise KBError(f"{directory}: BM25 index unreadable ({exc}); rebuild with "
                          "`medkb build`") from exc
        if meta.get("format") != SPARSE_FORMAT:
            raise KBError(f"{directory}: BM25 index format {meta.get('format')} is not "
                          f"supported (expected {SPARSE_FORMAT}); rebuild with `medkb build`")
        params = SparseParams(k1=float(meta["k1"]), b=float(meta["b"]), method=meta["method"],
                              token_pattern=meta["token_pattern"],
                              lowercase=bool(meta["lowercase"]), stemmer=meta["stemmer"],
                              stopwords=tuple(meta["stopwords"]))
        size = int(meta["size"])
        if size == 0:
            return cls(None, params, 0)
        import bm25s

        _quiet_bm25s()

        try:
            bm25 = bm25s.BM25.load(str(directory), mmap=True, allow_pickle=False,
                                   load_corpus=False, show_progress=False)
        except (OSError, ValueError) as exc:
            raise KBError(f"{directory}: BM25 index unreadable ({exc}); rebuild with "
                          "`medkb build`") from exc
        return cls(bm25, params, size)

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every passage (row = ordinal) for `query`."""
        if self._bm25 is None:
            return np.zeros(0, dtype=np.float32)
        ids = self._bm25.get_tokens_ids(self._tokenize(query))
        if not ids:
            return np.zeros(self._size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(ids), dtype=np.float32)

    def search(self, query: str, k: int) -> tuple[list[float], list[int]]:
        """The best `k` passages with a positive score: (scores, ordinals), best first."""
        return self.top(self.scores(query), k)

    @staticmethod
    def top(scores: np.ndarray, k: int) -> tuple[list[float], list[int]]:
        """The best `k` positive entries of a score row, ties broken by ordinal."""
        k = min(k, int(np.count_nonzero(scores > 0)))
        if k <= 0:
            return [], []
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.lexsort((top, -scores[top]))]  # score desc, then ordinal: deterministic
        return [float(s) for s in scores[top]], [int(i) for i in top]


def _bm25s_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bm25s")
    except PackageNotFoundError:
        return "unknown"


def _quiet_bm25s() -> None:
    """bm25s sets its own logger to DEBUG on import; its chatter is not our progress."""
    import logging

    logging.getLogger("bm25s").setLevel(logging.WARNING)
