"""Generation runs one at a time behind a bounded queue; a full queue is refused at once.

Waiting happens on the event loop (an asyncio lock), not in worker threads, so queued
generations never starve search, check or diagnose of threads.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


class QueueFull(Exception):
    def __init__(self, retry_after: int, waiting: int) -> None:
        super().__init__(f"the generation queue is full ({waiting} waiting); retry in "
                         f"{retry_after} s")
        self.retry_after = retry_after
        self.waiting = waiting


class GenerationGate:
    """At most one generation runs; at most `queue_size` more wait; the rest get QueueFull."""

    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self.admitted = 0  # running + waiting
        self.completed = 0
        self.refused = 0
        self._mean_seconds = 5.0  # until measured
        self._lock: asyncio.Lock | None = None

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._lock is None:
            self._lock = asyncio.Lock()  # bound to the serving loop
        if self.admitted >= self.queue_size + 1:
            self.refused += 1
            raise QueueFull(self.retry_after(), self.admitted - 1)
        self.admitted += 1
        try:
            async with self._lock:
                started = time.perf_counter()
                result = await run_in_threadpool(fn, *args, **kwargs)
                took = time.perf_counter() - started
                self._mean_seconds = 0.7 * self._mean_seconds + 0.3 * took
                self.completed += 1
                return result
        finally:
            self.admitted -= 1

    def retry_after(self) -> int:
        return max(1, math.ceil(self._mean_seconds * max(1, self.admitted)))

    def stats(self) -> dict[str, Any]:
        return {"running": min(1, self.admitted), "waiting": max(0, self.admitted - 1),
                "capacity": self.queue_size, "completed": self.completed,
                "refused": self.refused, "mean_seconds": round(self._mean_seconds, 3)}
