"""Human views for retractions and the impact of KB changes (`audit --affected`, the
`affected_generations` of a build report, flagged search hits)."""

from __future__ import annotations

from typing import Any


def retraction_line(rec: dict[str, Any] | None) -> str | None:
    if not rec:
        return None
    notice = f" (notice {rec['notice_id']})" if rec.get("notice_id") else ""
    reason = f": {rec['reason']}" if rec.get("reason") else ""
    return f"{str(rec.get('status', '')).replace('_', ' ').upper()}{notice}{reason}"


def affected(d: dict[str, Any]) -> None:
    since = f" since {d['since']}" if d.get("since") else ""
    print(f"{d['affected_count']} of {d['generations']} recorded generations affected{since} "
          f"(KB {d['kb_version']}, {d.get('seconds', 0):.2f}s)")
    generations(d["affected"])
    for note in d.get("notes") or []:
        print(f"note: {note}")


def generations(items: list[dict[str, Any]], limit: int = 50) -> None:
    for a in items[:limit]:
        if "error" in a:
            print(f"  impact not computed: {a['error']}")
            continue
        print(f"  {a['id']}  {', '.join(a['kinds'])}  {(a.get('question') or '')[:80]}")
        for r in a["reasons"][:5]:
            if r["kind"] == "checks_changed":
                for c in r["checks"][:3]:
                    print(f"      check {c['rule']}: {c['before']} -> {c['after']}")
                continue
            what = r.get("title") or r.get("external_id") or r.get("doc_id")
            line = retraction_line(r.get("retraction")) or r.get("detail") or r["kind"]
            print(f"      {r['kind']}: {what}: {line}")
    if len(items) > limit:
        print(f"  ... and {len(items) - limit} more (--json lists all)")
