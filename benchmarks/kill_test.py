"""Kill test: `kill -9` whole `medkb build` / `medkb update` processes at random moments and
check that the KB is readable after each kill (DESIGN §6, issue 6: "20 of 20 random kill
points leave a readable KB").

Corpus: the MedQuAD subset (corpora/literature/medquad_subset.jsonl) plus the CDC PDF (so the
sandboxed PDF parser is running too); every trial edits 5% of the records, so each update
has real work to do. Every fourth trial is a first build into an empty directory; the others
update one KB that lives through the whole run.

Per trial: start the process, wait for its first progress line (imports are done), sleep a
random time within the measured duration of an uninterrupted run, SIGKILL it (every third
kill instead lands at a random moment of the final write-and-publish phase, which is short
and where a torn version could appear), then check:
- CURRENT names a version that opens with every manifest hash matching (no fallback), whose
  passages, vectors and BM25 rows agree, and which answers a search; or there is no CURRENT
  after a killed first build;
- for an update, CURRENT is the version before the kill or a new complete one;
- the writer lock is free.
At the end one more update must succeed.

    python benchmarks/kill_test.py                      # 20 kills, hash embedder (fast)
    python benchmarks/kill_test.py --trials 40 --json
    python benchmarks/kill_test.py --embedder all-MiniLM-L6-v2   # the real model (slower)
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RECORDS = ROOT / "corpora" / "literature" / "medquad_subset.jsonl"
PDF = ROOT / "corpora" / "formats" / "pdf" / "cdc_outpatient_infection_prevention_guide_2016.pdf"
_PROGRESS = re.compile(r"^\[(\w+)\] (\d+)/(\d+)")


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def write_corpus(corpus: Path, lines: list[str], trial: int, rng: random.Random) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    out = []
    for line in lines:
        rec = json.loads(line)
        if trial and rng.random() < 0.05:
            rec["text"] += f" (Revised in round {trial}.)"
        out.append(json.dumps(rec))
    (corpus / "records.jsonl").write_text("\n".join(out) + "\n", "utf-8")
    if not (corpus / PDF.name).exists():
        shutil.copy(PDF, corpus / PDF.name)


class Run:
    """One `medkb build|update` child; remembers the last stage it reported."""

    def __init__(self, command: str, corpus: Path, kb: Path, embedder: str) -> None:
        env = dict(os.environ, MEDKB_LOG="WARNING", PYTHONPATH=str(ROOT))
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "medkb.cli", command, str(corpus), "--kb", str(kb),
             "--embedder", embedder, "--no-graph", "--json"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        self.started = threading.Event()
        self.writing = threading.Event()
        self.stage = "starting"
        self.t_work: float | None = None
        self.t_write: float | None = None
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            m = _PROGRESS.match(line)
            if m:
                self.stage = f"{m.group(1)} {m.group(2)}/{m.group(3)}"
                if not self.started.is_set():
                    self.t_work = time.perf_counter()
                    self.started.set()
                if m.group(1) == "write" and not self.writing.is_set():
                    self.t_write = time.perf_counter()
                    self.writing.set()

    def wait(self) -> int:
        return self.proc.wait()


def lock_free(kb: Path) -> bool:
    path = kb / ".write.lock"
    if not path.exists():
        return True
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    return True


def check(kb: Path, before: str | None) -> dict[str, Any]:
    """Is the KB readable, and is CURRENT the old or a complete new version?"""
    from kb.errors import KBError
    from kb.store import KnowledgeBase
    from retrieval.search import Searcher

    store = KnowledgeBase(kb)
    out: dict[str, Any] = {"lock_free": lock_free(kb), "current": store.current_name()}
    if out["current"] is None:
        out["readable"] = before is None  # a killed first build leaves no KB, which is right
        out["state"] = "no KB yet"
        return out
    try:
        version = store.current()
        n = version.counts["passages"]
        ok = (store.fallback_note is None and version.id == out["current"]
              and len(version.passage_ids()) == n == len(version.vectors())
              and bool(Searcher(version).search("asthma treatment", 5)))
        version.close()
        out["readable"] = ok
        out["state"] = "old version" if version.id == before else "new version"
        if store.fallback_note:
            out["note"] = store.fallback_note
    except (KBError, OSError, ValueError) as exc:
        out["readable"] = False
        out["state"] = f"unreadable: {exc}"
    out["leftover_temporaries"] = len(list((kb / "versions").glob(".tmp-*")))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seed", type=int, default=20260601)
    ap.add_argument("--embedder", default="hash-256")
    ap.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    args = ap.parse_args(argv)

    from kb.store import KnowledgeBase

    rng = random.Random(args.seed)
    lines = [ln for ln in RECORDS.read_text("utf-8").splitlines() if ln.strip()]
    work = Path(tempfile.mkdtemp(prefix="medkb-kill-"))
    try:
        corpus, kb = work / "corpus", work / "kb"
        write_corpus(corpus, lines, 0, rng)
        say("calibrating: one uninterrupted build and update")
        durations, writes = {}, {}
        for command in ("build", "update"):
            if command == "update":
                write_corpus(corpus, lines, 1, rng)
            run = Run(command, corpus, kb, args.embedder)
            if run.wait() != 0:
                raise SystemExit(f"the uninterrupted {command} failed")
            end = time.perf_counter()
            durations[command] = end - (run.t_work or run.t0)
            writes[command] = end - (run.t_write or end)
            say(f"  {command}: {durations[command]:.1f} s after its first progress line, "
                f"{writes[command]:.2f} s of it writing and publishing")

        trials = []
        for i in range(args.trials):
            first = i % 4 == 0
            command = "build" if first else "update"
            target = work / f"fresh-{i}" if first else kb
            before = None if first else KnowledgeBase(kb).current_name()
            write_corpus(corpus, lines, i + 2, rng)
            # Every third kill aims at the short write-and-publish phase at the end.
            in_write = i % 3 == 2
            delay = rng.uniform(0, (writes if in_write else durations)[command] * 0.9)
            run = Run(command, corpus, target, args.embedder)
            (run.writing if in_write else run.started).wait(120)
            time.sleep(delay)
            killed = run.proc.poll() is None
            if killed:
                run.proc.send_signal(signal.SIGKILL)
            rc = run.wait()
            result = {"trial": i + 1, "command": command, "delay_s": round(delay, 3),
                      "after": "write" if in_write else "start",
                      "killed": killed and rc == -signal.SIGKILL, "stage": run.stage,
                      **check(target, before)}
            trials.append(result)
            say(f"  {i + 1:2d}. {command:6s} kill at {'write' if in_write else 'start'}"
                f"+{delay:5.2f}s ({run.stage:16s}) -> "
                f"{result['state']}{'' if result['readable'] else '  NOT READABLE'}")
            # The next writer must work after every kill (it also clears temporaries).
            if first:
                shutil.rmtree(target, ignore_errors=True)

        final = Run("update", corpus, kb, args.embedder)
        final_ok = final.wait() == 0 and check(kb, None)["readable"]
        summary = {
            "trials": len(trials),
            "killed": sum(t["killed"] for t in trials),
            "finished_before_kill": sum(not t["killed"] for t in trials),
            "readable": sum(t["readable"] and t["lock_free"] for t in trials),
            "final_update_ok": final_ok,
            "embedder": args.embedder,
            "calibration_s": {k: round(v, 2) for k, v in durations.items()},
            "write_phase_s": {k: round(v, 2) for k, v in writes.items()},
            "details": trials,
        }
        say(f"{summary['readable']}/{summary['trials']} kill points left a readable KB "
            f"({summary['killed']} killed mid-run, {summary['finished_before_kill']} had "
            f"finished); final update {'ok' if final_ok else 'FAILED'}")
        if args.json:
            print(json.dumps(summary, indent=1))
        return 0 if summary["readable"] == summary["trials"] and final_ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
