"""Human views of the contract documents (the --json output is the document itself)."""

from __future__ import annotations

from typing import Any


def build_report(r: dict[str, Any]) -> None:
    print(f"KB version {r['kb_version']}: {r['documents']} documents, {r['passages']} passages, "
          f"{r['entities']} entities, {r['edges']} edges in {r['seconds']:.1f}s "
          f"(embedded {r.get('embedded', 0)}, reused {r.get('reused_vectors', 0)})")
    if "added" in r:
        print(f"added {r['added']}, changed {r['changed']}, removed {r['removed']}, "
              f"unchanged {r['unchanged']}")
    for f in r["failed"]:
        print(f"FAILED {f['source']}: {f['error']}")


def search_results(d: dict[str, Any]) -> None:
    for r in d["results"]:
        where = r["external_id"] or r["source"]
        tag = f" ({r['evidence_type']})" if r.get("evidence_type") else ""
        print(f"{r['rank']:>2}. {r['score']:.3f}  {r['title'] or '(untitled)'}{tag}  [{where}]")
        print("    " + " ".join(r["text"].split())[:240])
        if r.get("retraction"):
            from medkb.cli.impact import retraction_line

            print(f"    {retraction_line(r['retraction'])}")


def clinical(c: dict[str, Any] | None) -> None:
    """The clinical block: question type, differential, treatments, safety verdicts."""
    if not c:
        return
    print(f"Clinical reading: {c.get('question_type', '?')} question")
    for i, d in enumerate((c.get("differential") or [])[:5], start=1):
        matched = ", ".join(d.get("matched") or []) or "-"
        print(f"  {i}. {d['disease']} (score {d['score']:.2f}; explains: {matched})")
    for t in c.get("treatments") or []:
        why = "; ".join(t.get("reasons") or [])
        print(f"  {t['status']}: {t['drug']} for {t['for']}" + (f" ({why})" if why else ""))
    for s in c.get("safety") or []:
        sev = f", {s['severity']}" if s.get("severity") else ""
        print(f"  safety: {s['verdict'].upper()} {s['drug']} with {s['with']} "
              f"({s['kind']}{sev})")


def answer(d: dict[str, Any]) -> None:
    print(f"Answer ({d['model']}, policy {d.get('policy')}):")
    print("  " + d["answer"])
    for note in d.get("notes") or []:
        print(f"  note: {note}")
    if d.get("citations"):
        print("Citations:")
        for c in d["citations"]:
            where = c.get("external_id") or c.get("source")
            page = f", p.{c['page']}" if c.get("page") else ""
            flag = "" if c.get("cited_by_model", True) else " (attributed post hoc)"
            print(f"  [{c['key']}] {c.get('title') or '(untitled)'} [{where}{page}] "
                  f"chars {c['start']}-{c['end']}{flag}")
            print(f"      \"{' '.join(c['text'].split())[:300]}\"")
    clinical(d.get("clinical"))
    if d.get("checks"):
        print("Checks:")
        for c in d["checks"]:
            print(f"  {c['status'].upper():4} {c['rule']}: {c['message']}")
    if d.get("id"):
        print(f"Generation id: {d['id']}  (medkb audit {d['id']})")


def check_summary(out: dict[str, Any]) -> None:
    answer(out)
    for label, checks in (("the answer as given", out.get("all_checks")),
                          ("the answer as verified", out["checks"])):
        if checks is None:
            continue
        failed = sum(c["status"] == "fail" for c in checks)
        warned = sum(c["status"] == "warn" for c in checks)
        print(f"{label}: {failed} failed, {warned} warned, "
              f"{len(checks) - failed - warned} passed")


def audit(d: dict[str, Any]) -> None:
    print(f"Generation {d['id']} at {d['created_at']} on KB {d['kb_version']}")
    print(f"Question: {d['question']}")
    answer({**d, "id": None})
    v = d["verification"]
    print(f"Sources intact: {v['sources_intact']} (missing {len(v['missing'])}, "
          f"changed {len(v['changed'])}; current KB {v['current_kb_version']})")
    print(f"Ledger chain intact: {v['ledger_ok']}")
    rechecked = v.get("checks") or {}
    for c in rechecked.get("changed") or []:
        print(f"  check {c['rule']} on {c['subject']}: {c['before']} -> {c['after']} "
              f"({c['message']})")
    if rechecked:
        print(f"Checks re-run on KB {rechecked.get('kb_version')}: "
              f"{len(rechecked.get('changed') or [])} changed, "
              f"{len(rechecked.get('added') or [])} new, "
              f"{len(rechecked.get('removed') or [])} gone, "
              f"{rechecked.get('unchanged', 0)} unchanged")


def graph(d: dict[str, Any]) -> None:
    e = d["entity"]
    print(f"{e['name']} ({e['type']}, {e['id']})")
    for ed in d["edges"]:
        arrow = "->" if ed["direction"] == "out" else "<-"
        o = ed["other"]
        print(f"  {arrow} {ed['relation']:<20} {o['name']} ({o['id']})  "
              f"[{len(ed['evidence'])} evidence]")


def info(d: dict[str, Any]) -> None:
    print("\n".join(f"{k}: {embedder(v) if k == 'embedder' and isinstance(v, dict) else v}"
                    for k, v in d.items() if k != "failed"))


def embedder(e: dict[str, Any]) -> str:
    """The manifest's embedder block in a line or three: model, backend, why it was chosen
    and how its vectors compare with fp32 (`--json` has the whole block)."""
    from kb.embedder import block_backend

    backend = block_backend(e)
    cpu = e.get("cpu") or {}
    line = f"{e.get('model')} ({e.get('dim')} dims) on {backend}"
    if cpu:
        caps = " ".join(f"{k}={v}" for k, v in (cpu.get("isa_caps") or {}).items())
        line += f", built on {cpu.get('model')}" + (f" [{caps}]" if caps else "")
    if e.get("chosen_by"):
        line += f", chosen by {e['chosen_by']}"
    if e.get("int8_kernels"):
        line += f"; int8 kernels: {e['int8_kernels']}"
    out = [line]
    agreement = e.get("agreement") or {}
    if agreement:
        out.append(f"  agreement with fp32: cosine min {agreement.get('cos_min')}, top-10 "
                   f"overlap {agreement.get('top10')} -> "
                   + ("may share a KB with other agreeing backends" if agreement.get("agrees")
                      else "a KB of its own (searched with this backend only)"))
    gate = e.get("retrieval") or {}
    if gate:
        fp32 = gate.get("fp32") or {}
        out.append(f"  retrieval on {gate.get('queries')} labelled queries (nDCG@10 / R@1): "
                   f"{gate.get('ndcg10')} / {gate.get('r1')} vs fp32 {fp32.get('ndcg10')} / "
                   f"{fp32.get('r1')}")
    return "\n".join(out)
