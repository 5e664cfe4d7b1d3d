"""The build benchmark's text report (benchmarks/build_bench.py --json gives the same data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def render(out: dict[str, Any]) -> str:
    host = out["host"]
    res = {r["pipeline"]: r for r in out["results"]}
    medkb = out["results"][0]
    cpu = out["cpu"]
    backend = out["backend"]
    lines = [
        "MedKB build benchmark (same documents, same run)",
        f"documents: {medkb.get('documents')}  from {', '.join(Path(s).name for s in out['sources'])}"
        + (f"  (--limit {out['limit']} records per file)" if out["limit"] else ""),
        f"CPU: {cpu['model']}, {cpu['cores']} cores; features: {' '.join(cpu['features']) or '-'}",
        f"model: {out['model']}  MedKB backend: {backend['chosen']} (requested {backend['requested']})",
        f"host: torch threads {host['torch_threads']}, load avg start {host['loadavg_start']} "
        f"end {host['loadavg_end']}; best of {out['repeat']}",
    ]
    cal = backend.get("calibration") or {}
    if cal.get("backends"):
        lines.append("calibration (texts/s on a build's passages at batch N; cos min / top-10 "
                     "vs fp32): " + "; ".join(
            f"{n} {b['texts_per_s']:.1f}/s@{b.get('batch_size') or '?'} "
            f"{b['cos_min']:.4f}/{b['top10']:.3f}"
            + ("" if b.get("agrees") else " (disagrees)")
            for n, b in cal["backends"].items() if "texts_per_s" in b))
    if cal.get("chosen_by"):
        lines.append(f"chosen: {cal['chosen']}, {cal['chosen_by']}")
    gate = cal.get("retrieval")
    if gate:  # backends that do not agree but are faster: their labelled-probe retrieval
        lines.append(f"retrieval gate ({gate['queries']} labelled queries, nDCG@10 / R@1): "
                     f"torch-fp32 {gate['fp32']['ndcg10']:.4f} / {gate['fp32']['r1']:.4f}; "
                     + "; ".join(f"{n} {b['retrieval']['ndcg10']:.4f} / {b['retrieval']['r1']:.4f}"
                                 + ("" if b["retrieval"]["as_well_as_fp32"] else " (worse)")
                                 for n, b in cal["backends"].items() if "retrieval" in b))
    lines += [
        "",
        f"{'pipeline':<44} {'items':>15} {'tokens':>9} {'seconds':>8} {'items/s':>8} "
        f"{'tok/s':>7}  load before/after",
        "-" * 110,
    ]
    for name, r in res.items():
        if r.get("skipped"):
            lines.append(f"{name:<44} {'skipped: ' + r['skipped']}")
            continue
        items = f"{r['items']:,} {r['unit']}"
        tok = r.get("tokens_embedded")
        tps = r.get("tokens_per_second")
        lb, la = r.get("loadavg_before"), r.get("loadavg_after")
        lines.append(f"{name:<44} {items:>15} {tok if tok is not None else '':>9} "
                     f"{r['seconds']:>8.2f} {r['per_second']:>8.1f} "
                     f"{tps if tps is not None else '':>7}  "
                     + (f"{lb[0]:.2f}/{la[0]:.2f}" if lb and la else "n/a"))
    lc = res.get("LangChain + FAISS", {})
    if lc.get("texts_cut"):
        lines.append(f"(LangChain: {lc['texts_cut']} chunks exceed the model's window; "
                     f"{lc['tokens_cut_off']:,} tokens of them are never embedded)")
    lines.append("")
    st = medkb.get("stages_seconds") or {}
    if st:
        lines.append("MedKB stages, time to each stage's last event (s): "
                     + ", ".join(f"{k} {v:.2f}" for k, v in st.items()))
    if medkb.get("embedder_busy_seconds") is not None:
        lines.append(f"MedKB's embedder was busy {medkb['embedder_busy_seconds']:.1f} s of the build's "
                     f"{medkb['seconds']:.1f} s ({medkb['embedder_busy_share']:.2f}: the rest of the "
                     "build is off the critical path to that extent; same seconds, same load)")
    ratios = out["ratios"]

    def fmt(x: float | None) -> str:
        return f"{x:.2f}x" if x is not None else "n/a"

    lines += [
        f"LangChain seconds / MedKB seconds (same docs):  {fmt(ratios['langchain_seconds_over_medkb_seconds'])}"
        f"  (with graph: {fmt(ratios['langchain_seconds_over_medkb_graph_seconds'])})",
        f"MedKB / raw embedder, same backend (passages/s): {fmt(ratios['medkb_vs_raw_same_backend_throughput'])}",
        f"MedKB / LangChain (items/s): {fmt(ratios['medkb_vs_langchain_throughput'])}, "
        f"(tokens/s): {fmt(ratios['medkb_vs_langchain_tokens_per_second'])}",
        f"MedKB / raw sentence-transformers fp32 (passages/s): {fmt(ratios['medkb_vs_raw_st_fp32_throughput'])}",
    ]
    lines.append(f"model load (s, excluded): {out['model_load_seconds']}")
    return "\n".join(lines)
