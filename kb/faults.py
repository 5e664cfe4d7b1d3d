"""Named fault points for crash-safety tests: `MEDKB_FAULT_POINT=<name>` makes the process
kill itself with SIGKILL (like `kill -9` or a power cut) when it reaches `checkpoint(<name>)`;
`<name>@SIGSEGV` (or another signal name) sends that signal instead. The variable is read when
a checkpoint is reached, never at import; unset, a checkpoint costs one lookup.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

ENV = "MEDKB_FAULT_POINT"


def checkpoint(name: str) -> None:
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    point, _, sig = wanted.partition("@")
    if point == name:
        os.kill(os.getpid(), getattr(signal, sig or "SIGKILL", signal.SIGKILL))


def call_with_fault(point: str | None, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """`fn(*args, **kwargs)` with the fault point set: the target of a child process in
    fault-injection tests (a forkserver child does not see later changes to os.environ)."""
    if point:
        os.environ[ENV] = point
    else:
        os.environ.pop(ENV, None)
    return fn(*args, **kwargs)
