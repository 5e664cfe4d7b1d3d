"""Constraint-rule accuracy over a scenario file: clinical questions, answers and the status a
clinician expects from each rule.

A scenario is one JSON line: `{"id", "question", "answer", "expected": [{"rule", "subject",
"status", "object"?}]}` (tests/fixtures/clinical_scenarios.jsonl). The answer is read with the
graph rules alone (`Verifier.rules`, no retrieval), so the score measures the rules and the
clinical reader, not the retriever. An expectation is met when the worst status the rule gave
its subject (an interaction: the pair of subject and object) equals the expected one; `none`
means the rule must say nothing about it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kb import jsonl
from kb.errors import InputError, KBError

RANK = {"none": 0, "pass": 1, "warn": 2, "fail": 3}
_MISSING = "missing"  # the id of an expectation's entity the graph does not know


def load_scenarios(path: Path) -> list[dict[str, Any]]:
    """Scenarios from a JSONL file; a line that is not a scenario stops with its number."""
    out: list[dict[str, Any]] = []
    for n, sc in jsonl.objects(path, "scenario file"):
        if not isinstance(sc.get("question"), str) \
                or not isinstance(sc.get("answer"), str) or not isinstance(sc.get("expected"), list):
            raise InputError(str(path), f"line {n}: a scenario needs question, answer and an "
                                        "expected list")
        for exp in sc["expected"]:
            if not isinstance(exp, dict) or not {"rule", "subject", "status"} <= set(exp) \
                    or exp["status"] not in RANK:
                raise InputError(str(path), f"line {n}: each expected check needs rule, subject and "
                                            f"a status among {', '.join(RANK)}")
        out.append({"id": sc.get("id") or f"line-{n}", **sc})
    if not out:
        raise InputError(str(path), "no scenarios in the file")
    return out


def _ids(obj: Any) -> set[str]:
    if isinstance(obj, dict):
        return {obj["id"]} if "id" in obj else set()
    if isinstance(obj, list):
        return {o["id"] for o in obj if isinstance(o, dict) and "id" in o}
    return set()


def _resolve(graph: Any, name: str) -> str:
    ent = graph.resolve(name)
    return ent.id if ent is not None else _MISSING


def observed_status(graph: Any, checks: Sequence[Mapping[str, Any]], expected: Mapping[str, Any]) -> str:
    """The worst status `checks` give what `expected` names (`none` when nothing)."""
    subj = {_resolve(graph, expected["subject"])}
    obj = {_resolve(graph, expected["object"])} if "object" in expected else set()
    got = "none"
    for c in checks:
        if c["rule"] != expected["rule"]:
            continue
        if expected["rule"] == "interaction":
            pair = {c["subject"]["id"]} | _ids(c["object"])
            if not (subj & pair and (obj & pair if obj else True)):
                continue
        elif c["subject"]["id"] not in subj:
            continue
        got = max(got, c["status"], key=RANK.__getitem__)
    return got


def scenario_checks(verifier: Any, question: str, answer: str) -> list[dict[str, Any]]:
    """The graph rules' checks of an answer (its sentences are its claims)."""
    from kb.sentences import sentences

    return verifier.rules(question, sentences(answer))


def evaluate_scenarios(verifier: Any, scenarios: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Accuracy overall and per rule, with every miss (scenario, expectation, status got)."""
    if getattr(verifier, "graph", None) is None:
        raise KBError("this KB has no knowledge graph, which the rules need: rebuild it "
                      "without --no-graph")
    graph = verifier.graph
    total = right = n_scenarios = 0
    per_rule: dict[str, dict[str, Any]] = {}
    misses: list[dict[str, Any]] = []
    for sc in scenarios:
        n_scenarios += 1
        checks = scenario_checks(verifier, sc["question"], sc["answer"])
        for exp in sc["expected"]:
            got = observed_status(graph, checks, exp)
            ok = got == exp["status"]
            total += 1
            right += ok
            r = per_rule.setdefault(exp["rule"], {"n": 0, "right": 0})
            r["n"] += 1
            r["right"] += ok
            if not ok:
                misses.append({"id": sc["id"], "rule": exp["rule"], "subject": exp["subject"],
                               "object": exp.get("object"), "expected": exp["status"], "got": got,
                               "question": sc["question"], "answer": sc["answer"]})
    for r in per_rule.values():
        r["accuracy"] = round(r["right"] / r["n"], 4)
    return {"scenarios": n_scenarios, "expected_checks": total, "right": right,
            "accuracy": round(right / total, 4) if total else 0.0,
            "per_rule": dict(sorted(per_rule.items())), "misses": misses}
