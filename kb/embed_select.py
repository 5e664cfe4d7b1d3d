"""Which embedding backend a build uses on this CPU: measured, checked against fp32, cached.

Backends are `torch-fp32` (the reference), `torch-bf16` (autocast; only where the CPU has
AVX512-BF16 or AMX), `onnx-fp32` (ONNX Runtime, optimised graph), `onnx-int8` (dynamic
int8), and `openvino-fp32` / `openvino-bf16` (OpenVINO in throughput mode, one stream per
core; bf16 only where the CPU has it). A backend *agrees* with fp32 when, on the fixed probe set (corpora/embedding_probe.json),
every probe text's vector has cosine >= COS_MIN to the torch-fp32 vector and the queries'
top-10 passages overlap >= TOP10_MIN. `auto` takes the fastest agreeing backend, timed at its
own batch size on passages as a build makes them (corpora/embedding_probe_timing.json: a
default build's length distribution, median ~100 tokens); the calibration is cached per
model, CPU and library versions, so only the first build on a machine pays for it (each
backend embeds the ~300 probe texts and the 256 timing passages once, about a minute on
2 cores, plus a one-off ONNX export).

Vectors of two backends may share a KB only when both agree with fp32 (kb.embedder.may_mix).

A backend that does not agree (dynamic int8: cosine ~0.99) may still build a KB *of its own*,
searched only with its own vectors, when it is at least SPEEDUP_MIN times as fast as the
fastest agreeing backend and retrieves as well as fp32 on this machine: nDCG@10 and R@1 on a
labelled probe (corpora/embedding_retrieval_probe.json, MedQuAD questions -> their answers)
no more than RETRIEVAL_MAX_DROP below torch-fp32's. Int8 kernels differ between CPUs (VNNI or
not), so the gate is measured on each machine, never assumed. This is what gives CPUs without
bf16 (AVX2-only laptops and VMs) a fast build. `choose(keep=...)` keeps an existing KB on a
backend its vectors may share, so an update reuses them instead of being refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from kb.config import cache_dir

log = logging.getLogger(__name__)

BACKENDS = ("torch-fp32", "torch-bf16", "onnx-fp32", "onnx-int8", "openvino-fp32",
            "openvino-bf16")
COS_MIN = 0.999
TOP10_MIN = 0.98
RETRIEVAL_MAX_DROP = 0.005  # nDCG@10 and R@1 on the labelled probe, below fp32's
SPEEDUP_MIN = 1.2  # a backend that does not agree is worth a KB of its own only when this fast
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile",
             "amx_bf16", "amx_int8")
ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")
PROBE = Path(__file__).resolve().parent.parent / "corpora" / "embedding_probe.json"
TIMING = PROBE.with_name("embedding_probe_timing.json")
RETRIEVAL = PROBE.with_name("embedding_retrieval_probe.json")
CALIBRATION_VERSION = 3  # 3: the retrieval gate for backends that do not agree


@lru_cache(maxsize=1)
def cpu_info() -> dict[str, Any]:
    """CPU model name and the vector/matrix features that matter for the embedder."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and value.strip():
                model = value.strip()
            elif key == "flags":
                flags = set(value.split())
            if flags and model:
                break
    except OSError:
        pass
    info: dict[str, Any] = {"model": model, "cores": os.cpu_count(),
                            "features": [f for f in CPU_FLAGS if f in flags]}
    # oneDNN/ATen capped below the CPU (an emulated older CPU, e.g. ONEDNN_MAX_CPU_ISA=AVX2):
    # recorded, so a calibration made under a cap is never taken for the uncapped one's
    caps = {k: os.environ[k] for k in ISA_CAPS if os.environ.get(k)}
    if caps:
        info["isa_caps"] = caps
    return info


def has_bf16() -> bool:
    info = cpu_info()
    cap = info.get("isa_caps", {}).get("ONEDNN_MAX_CPU_ISA", "").upper()
    if cap and "BF16" not in cap and "AMX" not in cap and cap != "ALL":
        return False  # torch's bf16 matmuls are capped off
    feats = set(info["features"])
    if feats & {"avx512_bf16", "amx_bf16"}:
        return True
    if Path("/proc/cpuinfo").exists():
        return False
    from kb.embedder import bf16_supported  # not Linux: ask torch

    return bf16_supported()


def candidates() -> list[str]:
    from kb.onnx_embedder import onnxruntime_available
    from kb.openvino_embedder import capabilities, openvino_available

    out = ["torch-fp32"]
    if has_bf16():
        out.append("torch-bf16")
    if onnxruntime_available():
        out += ["onnx-fp32", "onnx-int8"]
    if openvino_available():
        out.append("openvino-fp32")
        if has_bf16() and "BF16" in capabilities():
            out.append("openvino-bf16")
    return out


def _load_with_hash(path: Path) -> dict[str, Any] | None:
    """A shipped JSON set with the sha256 of its bytes (part of the calibration cache key)."""
    if not path.is_file():
        return None
    raw = path.read_bytes()
    data = json.loads(raw.decode("utf-8"))
    data["sha256"] = hashlib.sha256(raw).hexdigest()[:16]
    return data


def load_probe() -> dict[str, Any] | None:
    """The agreement probe (corpora/embedding_probe.json)."""
    return _load_with_hash(PROBE)


def load_timing() -> dict[str, Any] | None:
    """The passages calibration is timed on (a default build's, corpora/embedding_probe_timing.json)."""
    return _load_with_hash(TIMING)


def load_retrieval_probe() -> dict[str, Any] | None:
    """The labelled retrieval probe (query i's answer is passage i)."""
    return _load_with_hash(RETRIEVAL)


def retrieval_quality(vecs: np.ndarray, n_queries: int) -> dict[str, float]:
    """nDCG@10 and R@1 of the first `n_queries` rows retrieving, among the remaining rows,
    their own answer (row n_queries + i for query i)."""
    q, p = vecs[:n_queries], vecs[n_queries:]
    scores = q @ p.T
    own = scores[np.arange(n_queries), np.arange(n_queries)]
    rank = (scores > own[:, None]).sum(axis=1) + 1
    ndcg = np.where(rank <= 10, 1.0 / np.log2(rank + 1.0), 0.0)
    return {"ndcg10": round(float(ndcg.mean()), 4), "r1": round(float((rank == 1).mean()), 4)}


def retrieves_as_well(measured: dict[str, float], fp32: dict[str, float]) -> bool:
    return all(measured[k] >= fp32[k] - RETRIEVAL_MAX_DROP for k in ("ndcg10", "r1"))


def agreement(vecs: np.ndarray, ref: np.ndarray, n_queries: int) -> dict[str, float]:
    """Cosine of each row to the reference row; top-10 passage overlap of the query rows."""
    cos = np.sum(vecs * ref, axis=1)
    q, p = vecs[:n_queries], vecs[n_queries:]
    rq, rp = ref[:n_queries], ref[n_queries:]
    k = min(10, len(p))
    mine = np.argsort(-(q @ p.T), axis=1)[:, :k]
    theirs = np.argsort(-(rq @ rp.T), axis=1)[:, :k]
    overlap = np.mean([len(set(a) & set(b)) / k for a, b in zip(mine, theirs, strict=True)])
    return {"cos_min": round(float(cos.min()), 6), "cos_mean": round(float(cos.mean()), 6),
            "top10": round(float(overlap), 4)}


def agrees(measured: dict[str, Any] | None) -> bool:
    return bool(measured) and measured.get("cos_min", 0) >= COS_MIN \
        and measured.get("top10", 0) >= TOP10_MIN


def _cache_file(model: str) -> Path:
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"v{CALIBRATION_VERSION}", model, json.dumps(cpu_info(), sort_keys=True)]
    for pkg in ("torch", "onnxruntime", "openvino", "sentence-transformers", "transformers"):
        try:
            parts.append(f"{pkg}={version(pkg)}")
        except PackageNotFoundError:
            parts.append(f"{pkg}=-")
    for name, data in (("probe", load_probe()), ("timing", load_timing()),
                       ("retrieval", load_retrieval_probe())):
        parts.append(data["sha256"] if data else f"no-{name}")
    key = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model)
    return cache_dir() / "calibration" / f"{safe}-{key}.json"


def calibrate(model: str, *, refresh: bool = False) -> dict[str, Any]:
    """Agreement with fp32 and probe throughput of every candidate backend on this CPU.

    {"cpu", "probe", "backends": {name: {cos_min, cos_mean, top10, agrees, texts_per_s}
    or {error}}, "chosen", "seconds"}; cached (see the module doc)."""
    path = _cache_file(model)
    if path.is_file() and not refresh:
        try:
            return json.loads(path.read_text("utf-8"))
        except ValueError:
            pass
    from kb.embedder import make_backend

    t0 = time.perf_counter()
    probe = load_probe()
    result: dict[str, Any] = {"cpu": cpu_info(), "probe": probe["sha256"] if probe else None,
                              "backends": {}}
    names = candidates()
    embedders = {}
    for name in names:
        try:
            emb = make_backend(model, name)
            emb.embed(["warm-up passage about asthma and inhaled corticosteroids"] * 4)
            embedders[name] = emb
        except Exception as exc:  # a backend that cannot load here is simply not chosen
            log.warning("embedding backend %s unavailable: %s", name, exc)
            result["backends"][name] = {"error": f"{type(exc).__name__}: {exc}"}
    if probe is None:
        chosen = "torch-bf16" if "torch-bf16" in embedders else "torch-fp32"
        result.update(chosen=chosen, note="no probe set: chosen by CPU features")
        return result
    texts = list(probe["queries"]) + list(probe["passages"])
    nq = len(probe["queries"])
    vecs, probe_secs = _interleaved(embedders, texts)
    # Timed again on passages as a build makes them (the agreement probe's 1,000-character
    # texts favour some backends: speed depends on length); the first pass warmed them up.
    timing = load_timing() or {"passages": probe["passages"], "sha256": probe["sha256"]}
    _, secs = _interleaved(embedders, list(timing["passages"]))
    result["timing"] = {"texts": len(timing["passages"]), "set": timing["sha256"]}
    ref = vecs["torch-fp32"]
    for name in embedders:
        m = agreement(vecs[name], ref, nq)
        m["agrees"] = agrees(m)
        m["texts_per_s"] = round(len(timing["passages"]) / secs[name], 2)
        m["probe_texts_per_s"] = round(len(texts) / probe_secs[name], 2)
        m["batch_size"] = getattr(embedders[name], "batch_size", None)
        result["backends"][name] = m
    ok = [n for n in embedders if result["backends"][n]["agrees"]]
    result["chosen"] = max(ok, key=lambda n: result["backends"][n]["texts_per_s"])
    result["chosen_by"] = "fastest agreeing with fp32"
    _retrieval_gate(result, embedders)
    result["seconds"] = round(time.perf_counter() - t0, 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2), "utf-8")
    os.replace(tmp, path)
    return result


def _retrieval_gate(result: dict[str, Any], embedders: dict[str, Any]) -> None:
    """Measure, on the labelled probe, the backends that do not agree with fp32 but are at
    least SPEEDUP_MIN times as fast as the chosen one, against torch-fp32; choose the fastest
    of them that retrieves as well (module doc)."""
    backends = result["backends"]
    best = backends[result["chosen"]]["texts_per_s"]
    fast = [n for n in embedders if not backends[n]["agrees"]
            and backends[n]["texts_per_s"] >= SPEEDUP_MIN * best]
    probe = load_retrieval_probe()
    if not fast or probe is None:
        return
    texts = list(probe["queries"]) + list(probe["passages"])
    nq = len(probe["queries"])
    fp32 = retrieval_quality(embedders["torch-fp32"].embed(texts), nq)
    result["retrieval"] = {"probe": probe["sha256"], "queries": nq, "fp32": fp32,
                           "max_drop": RETRIEVAL_MAX_DROP, "speedup_min": SPEEDUP_MIN}
    passed = []
    for name in fast:
        measured = retrieval_quality(embedders[name].embed(texts), nq)
        ok = retrieves_as_well(measured, fp32)
        backends[name]["retrieval"] = {**measured, "as_well_as_fp32": ok}
        if ok:
            passed.append(name)
    if passed:
        result["chosen"] = max(passed, key=lambda n: backends[n]["texts_per_s"])
        result["chosen_by"] = (f"at least {SPEEDUP_MIN}x the fastest agreeing backend and "
                               f"retrieves within {RETRIEVAL_MAX_DROP} of fp32 (a KB of its own)")


def _interleaved(embedders: dict[str, Any], texts: list[str]
                 ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Every backend's vectors of `texts` and its seconds, in two interleaved halves, so that a
    burst of load on a shared machine hits every backend alike."""
    vecs = {name: np.zeros((len(texts), 1), np.float32) for name in embedders}
    secs = dict.fromkeys(embedders, 0.0)
    for half in (range(0, len(texts), 2), range(1, len(texts), 2)):
        part = [texts[i] for i in half]
        for name, emb in embedders.items():
            t = time.perf_counter()
            out = emb.embed(part)
            secs[name] += time.perf_counter() - t
            if vecs[name].shape[1] != out.shape[1]:
                vecs[name] = np.zeros((len(texts), out.shape[1]), np.float32)
            vecs[name][list(half)] = out
    return vecs, secs


def choose(model: str, requested: str = "auto", keep: dict[str, Any] | None = None
           ) -> tuple[str, dict[str, Any]]:
    """The backend to build with and the calibration behind the choice. An explicit request
    (`--embed-backend`, $MEDKB_EMBED_BACKEND) is honoured, with its measured agreement.
    `keep`: the manifest embedder block of the KB being rebuilt or updated; `auto` then takes
    the fastest backend whose vectors may share the KB with its vectors, when one runs here,
    so unchanged passages keep their vectors (a new backend only by request)."""
    if requested == "auto":
        requested = os.environ.get("MEDKB_EMBED_BACKEND") or "auto"
    if requested != "auto" and requested not in BACKENDS:
        from kb.errors import KBError

        raise KBError(f"unknown embedding backend {requested!r}: auto or one of "
                      f"{', '.join(BACKENDS)}")
    cal = calibrate(model)
    if requested != "auto":
        return requested, cal
    return _keeping(cal, model, keep) if keep else cal["chosen"], cal


def _keeping(cal: dict[str, Any], model: str, keep: dict[str, Any]) -> str:
    from kb.embedder import may_mix

    def block(name: str) -> dict[str, Any]:
        return {"model": model, "dim": keep.get("dim"), "backend": name, "cpu": cpu_info(),
                "agreement": cal["backends"][name]}

    if keep.get("model") != model or may_mix(keep, block(cal["chosen"])):
        return str(cal["chosen"])
    mixing = [n for n, b in cal["backends"].items() if "texts_per_s" in b and may_mix(keep, block(n))]
    if not mixing:
        return str(cal["chosen"])
    name = max(mixing, key=lambda n: cal["backends"][n]["texts_per_s"])
    log.info("keeping the KB's embedding backend family: %s (auto would take %s, whose "
             "vectors may not share this KB)", name, cal["chosen"])
    return name


def cached_calibration(model: str) -> dict[str, Any] | None:
    """This machine's calibration for `model` when one was made; never measures."""
    path = _cache_file(model)
    try:
        return json.loads(path.read_text("utf-8")) if path.is_file() else None
    except ValueError:
        return None


def manifest_block(embedder: Any, dim: int) -> dict[str, Any]:
    """The manifest's "embedder" entry: model, dim, backend and precision, the CPU it was built
    on, and the backend's measured agreement with fp32 (what may_mix decides on)."""
    from kb.embedder import backend_name

    name = backend_name(embedder)
    block: dict[str, Any] = {"model": embedder.model_id, "dim": int(dim),
                             "precision": embedder.precision, "backend": name}
    if name.startswith("hash"):
        return block
    selection = getattr(embedder, "selection", None) or {}
    cal = selection.get("calibration") or cached_calibration(embedder.model_id)
    block["cpu"] = cpu_info()
    measured = (cal or {}).get("backends", {}).get(name) or {}
    if "cos_min" in measured:
        block["agreement"] = {k: measured[k] for k in ("cos_min", "cos_mean", "top10", "agrees")}
        block["agreement"].update(probe=cal.get("probe"), cos_min_required=COS_MIN,
                                  top10_required=TOP10_MIN)
        block["calibration"] = {n: b.get("texts_per_s") for n, b in cal["backends"].items()
                                if "texts_per_s" in b}
        if "retrieval" in measured:  # chosen by the retrieval gate: a KB of its own
            gate = cal.get("retrieval") or {}
            block["retrieval"] = {**measured["retrieval"], "fp32": gate.get("fp32"),
                                  "probe": gate.get("probe"), "queries": gate.get("queries"),
                                  "max_drop": RETRIEVAL_MAX_DROP}
    elif name == "torch-fp32":  # the reference itself
        block["agreement"] = {"cos_min": 1.0, "cos_mean": 1.0, "top10": 1.0, "agrees": True}
    if name.endswith("int8"):
        from kb.embedder import int8_kernels

        block["int8_kernels"] = int8_kernels(block["cpu"])
    block["chosen_by"] = ("calibration" if selection.get("requested") == "auto"
                          else "request" if selection else "caller")
    return block
