"""Load and latency of `medkb serve` on loopback.

One run, four phases, against a server started here on a free loopback port:

1. peer: the same calls through the Python API in this process (`medkb.open(KB)`), one at a
   time — what the HTTP layer is compared with;
2. warm latency: one client, one request at a time, per endpoint (search, check, diagnose,
   extractive ask) — p50/p95/p99 and the ratio to the in-process peer;
3. load: N concurrent clients (default 16) for S seconds (default 60), each cycling through
   the endpoints — throughput, p50/p95/p99 and errors per endpoint, the server's RSS before,
   during (sampled each second) and after;
4. queue: a burst of concurrent asks larger than the generation queue — every one must be
   answered (200, or 503 with Retry-After), none may hang.

`ask` and `check` record in the KB's ledger: point --kb at a copy you may write to.

    python benchmarks/serve_load.py --kb /tmp/server-kb [--clients 16] [--seconds 60] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the repo first: tests/medkb/ is only a folder
from medkb_serving import serve_kb  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
ENDPOINTS = ("search", "check", "diagnose", "ask")


def workload() -> dict[str, list[dict]]:
    """Requests per endpoint from the shipped clinical fixtures (questions, answers, cases)."""
    scenarios = [json.loads(line) for line in (FIXTURES / "clinical_scenarios.jsonl").open()]
    safety = [json.loads(line) for line in (FIXTURES / "safety_questions.jsonl").open()]
    questions = [s["question"] for s in safety] + [s["question"] for s in scenarios]
    return {
        "search": [{"query": q, "k": 10} for q in questions],
        "check": [{"question": s["question"], "answer": s["answer"]} for s in scenarios],
        "diagnose": [{"text": s["question"]} for s in scenarios],
        "ask": [{"question": q, "backend": "extractive"} for q in questions],
    }


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def summary(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), "p50": pct(ms, 50), "p95": pct(ms, 95), "p99": pct(ms, 99),
            "mean": statistics.fmean(ms) if ms else float("nan")}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peer(kb_path: Path, work: dict[str, list[dict]], n: int, skip: set[str],
         threads: int) -> dict:
    """The same calls in process through the Python API, one at a time (warm models; the
    requests not seen before, as in the HTTP phase's first pass)."""
    import torch

    import medkb

    torch.set_num_threads(threads)
    kb = medkb.open(kb_path).warm()
    calls = {
        "search": lambda b: kb.search(b["query"], b["k"]),
        "check": lambda b: kb.check(b["question"], b["answer"], record=False),
        "diagnose": lambda b: kb.diagnose(b["text"]),
        "ask": lambda b: kb.ask(b["question"], backend="extractive", record=False),
    }
    out = {}
    for name in ENDPOINTS:
        if name in skip:
            continue
        calls[name](work[name][-1])  # warm this path
        ms = []
        for i in range(n):
            started = time.perf_counter()
            calls[name](work[name][i % len(work[name])])
            ms.append((time.perf_counter() - started) * 1000)
        out[name] = summary(ms)
    return out


def sequential(url: str, work: dict[str, list[dict]], n: int, skip: set[str]) -> dict:
    """Each endpoint: n requests not seen before, then the same n again ("repeat": the
    server's sentence-vector cache is warm for their passages)."""
    out = {}
    with httpx.Client(base_url=url, timeout=120) as client:
        for name in ENDPOINTS:
            if name in skip:
                continue
            client.post(f"/api/{name}", json=work[name][-1])  # this path's first call
            for label in ("first", "repeat"):
                ms = []
                for i in range(n):
                    started = time.perf_counter()
                    r = client.post(f"/api/{name}", json=work[name][i % len(work[name])])
                    ms.append((time.perf_counter() - started) * 1000)
                    r.raise_for_status()
                out.setdefault(name, {})[label] = summary(ms)
    return out


def load(url: str, pid: int, work: dict[str, list[dict]], clients: int, seconds: float,
         skip: set[str]) -> dict:
    names = [n for n in ENDPOINTS if n not in skip]
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, list[str]] = defaultdict(list)
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds
    rss_samples: list[float] = []
    done = threading.Event()

    def sampler() -> None:
        while not done.wait(1.0):
            rss_samples.append(rss_mib(pid))

    def client(idx: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as c:
            i = idx
            while time.perf_counter() < stop_at:
                name = names[i % len(names)]
                body = work[name][(i * 7 + idx) % len(work[name])]
                started = time.perf_counter()
                try:
                    r = c.post(f"/api/{name}", json=body)
                    took = (time.perf_counter() - started) * 1000
                    with lock:
                        if r.status_code == 200:
                            latencies[name].append(took)
                        else:
                            errors[name].append(f"{r.status_code} {r.text[:120]}")
                except httpx.HTTPError as exc:
                    with lock:
                        errors[name].append(f"{type(exc).__name__}: {exc}")
                i += 1

    threading.Thread(target=sampler, daemon=True).start()
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    wall = time.perf_counter() - started
    done.set()
    out = {name: {**summary(latencies[name]), "per_s": len(latencies[name]) / wall,
                  "errors": len(errors[name]), "error_examples": errors[name][:3]}
           for name in names}
    out["_wall_s"] = wall
    out["_rss_samples_mib"] = rss_samples
    return out


def burst(url: str, work: dict[str, list[dict]], size: int) -> dict:
    def one(i: int) -> tuple[int, str | None]:
        try:
            r = httpx.post(url + "/api/ask", json=work["ask"][i % len(work["ask"])], timeout=300)
            return r.status_code, r.headers.get("Retry-After")
        except httpx.HTTPError as exc:
            return -1, type(exc).__name__

    started = time.perf_counter()
    with ThreadPoolExecutor(size) as pool:
        got = list(pool.map(one, range(size)))
    statuses = defaultdict(int)
    for status, _ in got:
        statuses[status] += 1
    return {"requests": size, "statuses": dict(statuses), "seconds": time.perf_counter() - started,
            "503_with_retry_after": sum(1 for s, ra in got if s == 503 and ra and ra.isdigit())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kb", type=Path, required=True, help="KB directory (ask/check write its ledger)")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--sequential", type=int, default=20, help="requests per endpoint, phases 1-2")
    ap.add_argument("--rounds", type=int, default=1, help="load rounds (RSS after each: does it "
                    "level off?)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (server and peer)")
    ap.add_argument("--queue-size", type=int, default=32, help="the server's; the burst sends "
                    "2 x (queue + 1) + clients asks at once")
    ap.add_argument("--json", type=Path, help="write all figures here")
    args = ap.parse_args()
    work = workload()

    import medkb

    skip: set[str] = set()
    try:
        medkb.open(args.kb).diagnose("fever and cough")
    except medkb.MedKBError as exc:
        print(f"diagnose left out: {exc}")
        skip.add("diagnose")

    print(f"[1/4] in-process peer, {args.sequential} calls per endpoint ...", flush=True)
    peer_ms = peer(args.kb, work, args.sequential, skip, args.threads)
    report: dict = {"kb": str(args.kb), "clients": args.clients, "seconds": args.seconds,
                    "peer_ms": peer_ms}
    with serve_kb(args.kb, "--queue-size", str(args.queue_size), "--backend", "extractive",
                  "--default-backend", "extractive", "--threads", str(args.threads)) as server:
        pid = server.proc.pid
        print(f"[2/4] warm latency through HTTP, one client ({server.url}) ...", flush=True)
        report["http_ms"] = sequential(server.url, work, args.sequential, skip)
        report["rss_before_mib"] = rss_mib(pid)
        report["rounds"] = []
        for rnd in range(args.rounds):
            print(f"[3/4] {args.clients} clients for {args.seconds:.0f} s (round {rnd + 1} of "
                  f"{args.rounds}) ...", flush=True)
            before = rss_mib(pid)
            report["load"] = load(server.url, pid, work, args.clients, args.seconds, skip)
            report["rss_after_mib"] = rss_mib(pid)
            report["rounds"].append({"rss_before_mib": before,
                                     "rss_after_mib": report["rss_after_mib"],
                                     "errors": sum(v["errors"] for k, v in report["load"].items()
                                                   if not k.startswith("_"))})
        size = 2 * (args.queue_size + 1) + args.clients
        print(f"[4/4] burst of {size} asks against a queue of {args.queue_size} ...", flush=True)
        report["burst"] = burst(server.url, work, size)
        report["health"] = httpx.get(server.url + "/health").json()
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


def print_report(r: dict) -> None:
    print("\nwarm latency, one client (ms)       p50     p95     p99   in-process p50   ratio")
    for name, both in r["http_ms"].items():
        p = r["peer_ms"][name]["p50"]
        for label, s in both.items():
            peer_cols = f"{p:>16.1f} {s['p50'] / p:>7.2f}" if label == "first" else ""
            print(f"  /api/{name:<9} {label:<7} {s['p50']:>12.1f} {s['p95']:>7.1f} "
                  f"{s['p99']:>7.1f} {peer_cols}")
    lo = r["load"]
    print(f"\nload (last round): {r['clients']} clients, {lo['_wall_s']:.0f} s"
          f"                 req/s     p50     p95     p99  errors")
    for name in ENDPOINTS:
        if name in lo:
            s = lo[name]
            print(f"  /api/{name:<9} {s['per_s']:>28.1f} {s['p50']:>7.0f} {s['p95']:>7.0f} "
                  f"{s['p99']:>7.0f} {s['errors']:>7}")
            for ex in s["error_examples"]:
                print(f"      {ex}")
    samples = lo["_rss_samples_mib"]
    print(f"\nserver RSS: before {r['rss_before_mib']:.0f} MiB, after {r['rss_after_mib']:.0f} MiB "
          f"(growth {r['rss_after_mib'] - r['rss_before_mib']:+.0f} MiB); during: min "
          f"{min(samples):.0f}, max {max(samples):.0f}, last-10s mean "
          f"{statistics.fmean(samples[-10:]):.0f} vs first-10s mean {statistics.fmean(samples[:10]):.0f}")
    for i, rnd in enumerate(r["rounds"], start=1):
        print(f"  round {i}: RSS {rnd['rss_before_mib']:.0f} -> {rnd['rss_after_mib']:.0f} MiB, "
              f"{rnd['errors']} errors")
    b = r["burst"]
    print(f"queue burst: {b['requests']} asks -> {b['statuses']} in {b['seconds']:.1f} s; "
          f"503s with Retry-After: {b['503_with_retry_after']}")


if __name__ == "__main__":
    main()
