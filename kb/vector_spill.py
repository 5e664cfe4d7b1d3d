"""A build's vectors on disk while it runs: a raw float32 file of rows in ordinal order.

The build writes each embedded window at its ordinals' offset and never holds the whole
corpus's vectors: readers take a fresh memory map of the rows written so far (dropped with
the array, so its pages leave the process), and the index is built from consecutive chunks
read with plain reads. The file lives in the version's temporary directory and is removed
before publishing (it is no part of the on-disk format).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

CHUNK_ROWS = 65_536  # rows per chunk when the index is built (384-d fp32: 96 MB)


class VectorSpill:
    """Rows of `dim` float32 values in a file; `write(start, block)` puts rows at `start`."""

    def __init__(self, path: Path, dim: int) -> None:
        self.path = Path(path)
        self.dim = dim
        self._row_bytes = 4 * dim
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self.rows = 0  # rows the file holds (every row below has been written)

    def write(self, start: int, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=np.float32).reshape(-1, self.dim)
        data = block.tobytes()
        offset = start * self._row_bytes
        while data:
            n = os.pwrite(self._fd, data, offset)
            data, offset = data[n:], offset + n
        self.rows = max(self.rows, start + len(block))

    def view(self, n: int | None = None) -> np.ndarray:
        """The first `n` rows (all written ones by default) as a read-only memory map."""
        n = self.rows if n is None else n
        if n == 0:
            return np.zeros((0, self.dim), np.float32)
        return np.memmap(self.path, dtype=np.float32, mode="r", shape=(n, self.dim))

    def chunks(self, n: int | None = None, rows: int | None = None) -> Iterator[np.ndarray]:
        """Consecutive in-memory blocks of at most `rows` (CHUNK_ROWS) rows covering the
        first `n`."""
        n = self.rows if n is None else n
        rows = rows or CHUNK_ROWS
        for lo in range(0, n, rows):
            m = min(rows, n - lo)
            buf = os.pread(self._fd, m * self._row_bytes, lo * self._row_bytes)
            if len(buf) != m * self._row_bytes:
                raise OSError(f"{self.path}: short read at row {lo}")
            yield np.frombuffer(buf, dtype=np.float32).reshape(m, self.dim)

    def sample(self, n: int, k: int) -> np.ndarray:
        """About `k` rows spread evenly over the first `n` (for training an index)."""
        if n <= k:
            return np.concatenate(list(self.chunks(n))) if n else self.view(0)
        idx = np.linspace(0, n - 1, k).astype(np.int64)
        out = np.empty((k, self.dim), np.float32)
        # plain reads of one chunk at a time: a memory map touched all over would count the
        # whole file in this process's RSS
        lo = 0
        for block in self.chunks(n):
            hi = lo + len(block)
            sel = (idx >= lo) & (idx < hi)
            out[sel] = block[idx[sel] - lo]
            lo = hi
        return out

    def close(self, *, remove: bool = True) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if remove:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
