"""Answer quality over a question set: citation validity, invented keys, unsupported and post
hoc claims, abstentions and the checks, with any generation backend.

Each question goes through `answer_question`, exactly as `medkb ask` runs it. A citation is
valid when its passage is among the ones retrieved for that question and its text is the
document's text at its start:end (what `medkb audit` re-checks later). Keys are counted once
per answer, as the answer path records them. Under the strict policy the claims measured are
the model's claims before any were withheld.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from generation.citations import parse_sentence
from kb.errors import InputError, MedKBError

STATUSES = ("pass", "warn", "fail")


def _question_of(item: dict[str, Any]) -> str | None:
    for key in ("question", "QUESTION", "text"):
        if isinstance(item.get(key), str) and item[key].strip():
            return item[key].strip()
    return None


def load_questions(path: Path) -> list[tuple[str, str]]:
    """(id, question) pairs from a PQA-L JSON file ({pmid: {"QUESTION": ...}}), a JSON list or
    a JSONL file of objects with `question` (also `QUESTION`, or BEIR's `text`) and an
    optional `id` (or `_id`)."""
    try:
        raw = Path(path).read_text("utf-8")
    except OSError as exc:
        raise InputError(str(path), f"cannot read the question file ({exc.strerror})") from exc
    items: list[tuple[str | None, Any]]
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
        items = []
        for n, line in enumerate(raw.splitlines(), start=1):
            if line.strip():
                try:
                    items.append((None, json.loads(line)))
                except ValueError as exc:
                    raise InputError(str(path), f"line {n} is not JSON ({exc})") from exc
    if isinstance(data, dict) and _question_of(data) is None:
        items = list(data.items())  # PQA-L: keyed by PMID
    elif isinstance(data, dict):
        items = [(None, data)]
    elif isinstance(data, list):
        items = [(None, d) for d in data]
    out: list[tuple[str, str]] = []
    for n, (key, item) in enumerate(items, start=1):
        q = _question_of(item) if isinstance(item, dict) else None
        if q is None:
            raise InputError(str(path), f"item {n} has no question (give objects with a "
                                        "`question` field, or a PubMedQA file)")
        qid = key or item.get("id") or item.get("_id") or f"q{n}"
        out.append((str(qid), q))
    if not out:
        raise InputError(str(path), "no questions in the file")
    return out


class CitationJudge:
    """Whether a recorded citation is valid, with the version's documents cached."""

    def __init__(self, version: Any) -> None:
        self.version = version
        self._texts: dict[str, str | None] = {}

    def problem(self, citation: dict[str, Any], retrieved: set[str],
                facts: dict[Any, str] | None = None) -> str | None:
        """None when valid, else `not_retrieved` or `span_mismatch`. A graph citation is valid
        when it quotes the record's graph fact of that key (`facts`: key -> text)."""
        if citation.get("kind") == "graph":
            return None if (facts or {}).get(citation.get("key")) == citation.get("text") else "not_retrieved"
        if citation.get("passage_id") not in retrieved:
            return "not_retrieved"
        doc_id = citation.get("doc_id")
        if doc_id not in self._texts:
            doc = self.version.document(doc_id)
            self._texts[doc_id] = doc.text if doc is not None else None
        text = self._texts[doc_id]
        start, end = citation.get("start"), citation.get("end")
        if text is None or not isinstance(start, int) or not isinstance(end, int) \
                or text[start:end] != citation.get("text"):
            return "span_mismatch"
        return None


def summarise(record: dict[str, Any], judge: CitationJudge) -> dict[str, Any]:
    """The per-question numbers of one generation record."""
    retrieved = {r["passage_id"] for r in record.get("retrieved") or ()}
    facts = {f["key"]: f["text"] for f in record.get("graph_facts") or ()}
    claims = record.get("all_claims") or record.get("claims") or []
    graph_claims = [c for c in claims if c.get("citations") and set(c["citations"]) <= set(facts)]
    claims = [c for c in claims if c not in graph_claims]  # the model's / the passages' own
    problems = [judge.problem(c, retrieved, facts) for c in record.get("citations") or ()]
    parsed = parse_sentence(record.get("raw_output") or "", len(record.get("retrieved") or ()) + len(facts))
    invented = list(record.get("invented_keys") or ())
    checks: dict[str, dict[str, int]] = {}
    for c in record.get("checks") or ():
        checks.setdefault(c["rule"], dict.fromkeys(STATUSES, 0))[c["status"]] += 1
    return {
        "abstained": bool(record.get("abstained")),
        "abstain_reason": record.get("abstain_reason"),
        "claims": len(claims),
        "graph_claims": len(graph_claims),
        "unsupported": sum(not c.get("supported") for c in claims),
        "post_hoc": sum(not c.get("by_model", True) for c in claims),
        "citations": len(problems),
        "valid_citations": problems.count(None),
        "not_retrieved": problems.count("not_retrieved"),
        "span_mismatch": problems.count("span_mismatch"),
        "model_keys": len(set(parsed.keys) | set(parsed.invented) | set(invented)),
        "invented_keys": len(invented),
        "withheld": len(record.get("withheld") or ()),
        "checks": checks,
    }


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def evaluate_answers(questions: Sequence[tuple[str, str]], version: Any, searcher: Any, backend: Any,
                     options: Any = None, *, checker: Any = None,
                     progress: Callable[[int, int], None] | None = None,
                     on_record: Callable[[str, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Answer every question and aggregate (see module doc). A question whose generation
    fails is reported with its error and left out of the rates. Loading the models and
    indexes (one search first) is timed apart from the questions."""
    from generation.answer import AskOptions, answer_question

    options = options or AskOptions()
    judge = CitationJudge(version)
    rows: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    timing_sums: dict[str, list[float]] = {}
    t = time.perf_counter()
    searcher.search(questions[0][1] if questions else "warm up", options.k)  # load models, indexes
    if hasattr(backend, "warm_up"):
        backend.warm_up()
    warmup = time.perf_counter() - t
    t_all = time.perf_counter()
    for n, (qid, question) in enumerate(questions, start=1):
        t = time.perf_counter()
        try:
            record = answer_question(question, version, searcher, backend, options, checker=checker)
        except MedKBError as exc:
            failed.append({"id": qid, "question": question, "error": str(exc)})
        else:
            seconds = time.perf_counter() - t
            for k, v in (record.get("timings") or {}).items():
                timing_sums.setdefault(k, []).append(float(v))
            rows.append({"id": qid, "question": question, "seconds": round(seconds, 3),
                         **summarise(record, judge), "answer": record.get("answer"),
                         "raw_output": record.get("raw_output")})
            if on_record is not None:
                on_record(qid, record)
        if progress:
            progress(n, len(questions))
    return aggregate(rows, failed, time.perf_counter() - t_all, timing_sums,
                     warmup_s=round(warmup, 2), backend=getattr(backend, "name", type(backend).__name__), options=options,
                     kb_version=version.id, embedder=version.embedder.get("model"))


def aggregate(rows: Sequence[dict[str, Any]], failed: Sequence[dict[str, str]], seconds: float,
              timings: dict[str, list[float]], **about: Any) -> dict[str, Any]:
    def total(key: str) -> int:
        return sum(int(r[key]) for r in rows)

    n = len(rows)
    checks: dict[str, dict[str, int]] = {}
    for r in rows:
        for rule, counts in r["checks"].items():
            into = checks.setdefault(rule, dict.fromkeys(STATUSES, 0))
            for s, c in counts.items():
                into[s] += c
    options = about.pop("options")
    return {
        **about, "k": getattr(options, "k", None), "policy": getattr(options, "policy", None),
        "n_questions": n + len(failed), "answered": n - total("abstained"), "failed": list(failed),
        "abstention_rate": _rate(total("abstained"), n),
        "claims": total("claims"),
        "unsupported_claim_rate": _rate(total("unsupported"), total("claims")),
        "post_hoc_claim_rate": _rate(total("post_hoc"), total("claims")),
        "citations": total("citations"),
        "citation_validity": _rate(total("valid_citations"), total("citations")),
        "invalid_citations": {"not_retrieved": total("not_retrieved"),
                              "span_mismatch": total("span_mismatch")},
        "model_keys": total("model_keys"), "invented_keys": total("invented_keys"),
        "invented_key_rate": _rate(total("invented_keys"), total("model_keys")),
        "answers_with_invented_keys": sum(r["invented_keys"] > 0 for r in rows),
        "withheld_claims": total("withheld"),
        "checks": dict(sorted(checks.items())),
        "seconds": round(seconds, 2),
        "seconds_per_question": round(sum(r["seconds"] for r in rows) / n, 3) if n else None,
        "mean_timings": {k: round(sum(v) / len(v), 4) for k, v in timings.items()},
        "questions": list(rows),
    }
