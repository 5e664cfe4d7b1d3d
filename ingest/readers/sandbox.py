"""Parse PDFs in a child process with time and memory caps.

PyMuPDF is C code: a malformed or hostile PDF can crash, hang or exhaust the memory of the
process that parses it (a content stream that inflates to gigabytes of text operators is a
few kilobytes on disk). The build therefore hands its PDFs, one at a time, to a long-lived
child (`python -m ingest.readers.sandbox`) whose address space is capped with RLIMIT_AS and
which is killed when a file takes longer than the time limit. A crash, a timeout or a
memory blow-up costs that one file (an `InputError` with the reason, which the build reports)
and a restart of the child, never the build.

Protocol: one JSON line per request on the child's stdin (`{"path": ...}`), one JSON line per
answer on its stdout (`{"docs": [...]}` or `{"error": reason}`); the child's own stdout is
moved to stderr so that nothing the library prints can corrupt the channel.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from ingest.readers.limits import DEFAULT_LIMITS, ReadLimits
from kb.errors import InputError
from kb.faults import checkpoint
from kb.records import Document, Span

_STARTUP_TIMEOUT_S = 120.0  # importing PyMuPDF on a busy machine; not the parse time limit
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent
_PYMUPDF_EXTRAS = ("pymupdf.layout", "pymupdf4llm")  # not imported in the child


class PdfSandbox:
    """Reads PDFs in a child process; `read` raises InputError for any file it cannot read.

    One child serves many files (starting one costs about a second, PyMuPDF's import) and is
    restarted after a crash, a timeout or a memory error. Not thread-safe: one per worker.
    """

    def __init__(self, limits: ReadLimits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._buf = bytearray()
        self.starts = 0  # children started: 1 + restarts after crashes

    def __enter__(self) -> PdfSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public ----------------------------------------------------------------------------
    def read(self, path: Path) -> list[Document]:
        source = str(path)
        if not Path(path).is_file():
            raise InputError(source, "no such file")
        proc = self._child(source)
        try:
            assert proc.stdin is not None
            proc.stdin.write((json.dumps({"path": os.path.abspath(path)}) + "\n").encode())
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise InputError(source, self._died("while receiving the file")) from None
        answer = self._answer(source, self.limits.pdf_timeout_s, "parse")
        if "error" in answer:
            if answer.get("fatal"):
                self._stop()
            raise InputError(source, answer["error"])
        return [_document(d, source) for d in answer["docs"]]

    def close(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()  # the child exits at end of input
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._stop()
        self._stop()

    # -- the child -------------------------------------------------------------------------
    def _child(self, source: str) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._stop()
        self.starts += 1
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(_PACKAGE_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "ingest.readers.sandbox", str(self.limits.pdf_memory_mb),
             str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, bufsize=0,
            env=env, close_fds=True)
        self._buf = bytearray()
        ready = self._answer(source, _STARTUP_TIMEOUT_S, "start")
        if not ready.get("ready"):
            self._stop()
            raise InputError(source, f"the PDF parser process did not start: {ready.get('error')}")
        return self._proc

    def _answer(self, source: str, timeout: float, what: str) -> dict[str, Any]:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line = bytes(self._buf[:nl])
                del self._buf[: nl + 1]
                return json.loads(line)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._stop()
                if what == "start":
                    raise InputError(source, f"the PDF parser process did not start within "
                                     f"{timeout:.0f} s")
                raise InputError(source, f"parsing took longer than the {timeout:g} s time limit "
                                 "and was stopped (a damaged file or a decompression bomb?)")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                when = "while starting" if what == "start" else "while parsing the file"
                raise InputError(source, self._died(when))
            self._buf += chunk

    def _died(self, when: str) -> str:
        proc = self._proc
        assert proc is not None
        try:
            rc = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            rc = None
        tail = self._stderr_tail()
        self._stop()
        if rc is not None and rc < 0:
            name = signal.Signals(-rc).name if -rc in signal.valid_signals() else str(-rc)
            how = f"crashed ({name})"
            if -rc == signal.SIGKILL:
                how = "was killed (SIGKILL; out of memory?)"
        else:
            how = f"exited with status {rc}"
        return f"the PDF parser {how} {when}; the file is probably damaged" + (
            f" ({tail})" if tail else "")

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - 400))
            lines = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1][:200] if lines else ""

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(OSError):
                    proc.kill()
                proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        if self._stderr is not None:
            with contextlib.suppress(OSError):
                self._stderr.close()
            self._stderr = None


def _document(data: dict[str, Any], source: str) -> Document:
    return Document(
        doc_id=data["doc_id"], source=source, format=data["format"], title=data["title"],
        text=data["text"], external_id=data["external_id"],
        sections=tuple(Span(**s) for s in data["sections"]),
        pages=tuple(Span(**s) for s in data["pages"]),
        year=data["year"], metadata=data["metadata"])


# -- child side ------------------------------------------------------------------------------
def _die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this child when the build process dies (even by SIGKILL)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(0)


def _cap_memory(memory_mb: int) -> None:
    """Cap the address space at what is mapped now (interpreter, PyMuPDF) plus `memory_mb`."""
    import resource

    try:
        with open("/proc/self/statm") as fh:
            mapped = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        mapped = 0
    limit = mapped + memory_mb * (1 << 20)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _memory_error(message: str) -> bool:
    low = message.lower()
    return "alloc" in low or "out of memory" in low or "memoryerror" in low


def _child_main(memory_mb: int, parent: int) -> None:
    channel = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # whatever the library prints goes to stderr, not into the channel
    _die_with_parent(parent)

    def send(obj: dict[str, Any]) -> None:
        channel.write((json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8"))

    # PyMuPDF 2 imports its optional layout-analysis and Markdown packages (pymupdf.layout,
    # pymupdf4llm: ONNX models, numpy) when they are installed; plain text extraction uses
    # neither, and importing them is most of this child's start-up (0.5 s of CPU of 0.65 s
    # here, on every build that reads a PDF, while the embedder wants both cores).
    for optional in _PYMUPDF_EXTRAS:
        sys.modules.setdefault(optional, None)  # type: ignore[assignment]
    os.environ["PYMUPDF_SUGGEST_LAYOUT_ANALYZER"] = "0"
    try:
        import pymupdf

        from ingest.readers import pdf

        with contextlib.suppress(Exception):
            pymupdf.TOOLS.mupdf_display_errors(False)
            pymupdf.TOOLS.mupdf_display_warnings(False)
    except ImportError as exc:
        send({"error": f"PyMuPDF is not installed ({exc}); pip install pymupdf"})
        return
    _cap_memory(memory_mb)
    send({"ready": True})
    over = (f"parsing needed more than the {memory_mb} MB memory limit and was stopped "
            "(a decompression bomb?)")
    for line in sys.stdin.buffer:
        path = Path(json.loads(line)["path"])
        checkpoint(f"pdf:{path.name}")
        try:
            docs = list(pdf.read(path))
            answer: dict[str, Any] = {"docs": [asdict(d) for d in docs]}
            del docs
            body = json.dumps(answer, ensure_ascii=False, default=str)
        except InputError as exc:
            if _memory_error(exc.reason):
                send({"error": over, "fatal": True})
                return
            send({"error": exc.reason})
            continue
        except MemoryError:
            send({"error": over, "fatal": True})
            return
        except Exception as exc:  # a parser bug: this file fails, the child goes on
            if _memory_error(str(exc)):
                send({"error": over, "fatal": True})
                return
            send({"error": f"the PDF parser failed ({type(exc).__name__}: {exc})"})
            continue
        channel.write(body.encode("utf-8") + b"\n")


if __name__ == "__main__":
    _child_main(int(sys.argv[1]), int(sys.argv[2]))
