"""Answers shaped by the graph: safety verdicts, treatment options, the clinical block and its
graph facts, the relevance rule, repeated sentences, strict replacement by the block's wording.

One small KB (the curated graph seeds plus a few records) is built once with the hash embedder.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
from medkb_testutil import ROOT, build_hash_kb, contract

RECORDS = [
    {"_id": "dm-1", "title": "Type 2 diabetes",
     "text": "Metformin is the preferred initial drug for type 2 diabetes mellitus. It lowers hepatic glucose "
             "production. Metformin is contraindicated in severe renal impairment."},
    {"_id": "htn-1", "title": "Hypertension in pregnancy",
     "text": "Lisinopril is used to treat hypertension. ACE inhibitors such as lisinopril are contraindicated in "
             "pregnancy because of fetal toxicity. Labetalol is preferred for hypertension in pregnancy."},
    {"_id": "angina-1", "title": "Angina",
     "text": "Nitrates, such as nitroglycerin, relax blood vessels and relieve chest pain. Sildenafil is used for "
             "erectile dysfunction."},
    {"_id": "rmsf-1", "title": "Rocky Mountain spotted fever",
     "text": "Doxycycline is the treatment of choice for Rocky Mountain spotted fever. Adults: 100 mg every "
             "12 hours. Children under 45 kg: 2.2 mg/kg body weight given twice a day."},
    {"_id": "faq-1", "title": "Questions about diabetes",
     "text": "What is type 2 diabetes? 1. Thirst. a. Metformin is a medicine for type 2 diabetes."},
]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    from generation.verify import make_checker
    from kb.store import KnowledgeBase
    from retrieval.search import Searcher

    kb = build_hash_kb(tmp_path_factory.mktemp("clinical"), RECORDS)
    version = KnowledgeBase(kb).current()
    searcher = Searcher(version)
    return version, searcher, make_checker(version, searcher.embedder)


def _read(env, question: str):
    return env[2].reader.read_question(question)


def _ask(env, question: str, reply=None, policy: str = "strict") -> dict:
    from generation.answer import AskOptions, answer_question, public_view
    from generation.backends.extractive import ExtractiveBackend
    from generation.backends.fake import ScriptedBackend

    version, searcher, checker = env
    backend = ExtractiveBackend(searcher.embedder) if reply is None else (
        ScriptedBackend(reply) if isinstance(reply, str) else reply)
    rec = answer_question(question, version, searcher, backend, AskOptions(k=4, policy=policy), checker=checker)
    return {"id": "test", **public_view(rec)}


# --- safety verdicts -------------------------------------------------------------------------

VERDICTS = [
    ("Should metformin be given to a patient with eGFR 20?", "avoid", "contraindicated", "FDA label (metformin)"),
    ("Can a patient taking sildenafil use nitroglycerin for chest pain?", "avoid", "contraindicated",
     "FDA label (sildenafil)"),
    ("Is lisinopril safe in pregnancy?", "avoid", "contraindicated", "FDA label (lisinopril)"),  # class expansion
    ("Can a patient on warfarin take ibuprofen?", "avoid", "major", "FDA label (warfarin)"),
    ("Is omeprazole OK for a patient on clopidogrel?", "caution", "moderate", "FDA label (clopidogrel)"),
    ("Is ciprofloxacin safe in myasthenia gravis?", "caution", "major", "FDA label (ciprofloxacin)"),
    ("Should metformin be continued at an eGFR of 55?", "no_known_issue", None, None),  # a value rules it out
    ("Can a patient on metformin take amoxicillin?", "no_known_issue", None, None),
    ("Is lisinopril safe in a woman who is not pregnant?", "no_known_issue", None, None),  # negation
]


@pytest.mark.parametrize("question,verdict,severity,source", VERDICTS)
def test_safety_verdict(env, question: str, verdict: str, severity: str | None, source: str | None) -> None:
    from generation.safety import overall, safety_verdicts

    graph, checker = env[2].graph, env[2]
    found = safety_verdicts(graph, _read(env, question), checker.trusted)
    assert overall(found) == verdict
    worst = found[0]
    assert worst["severity"] == severity
    if source:
        assert source in worst["sources"]
    first = worst["sentence"]
    assert {"avoid": first.startswith("No:"), "caution": "with caution" in first,
            "no_known_issue": first.startswith("No known issue")}[verdict]


def test_a_drug_asked_about_twice_is_judged_once_per_pair(env) -> None:
    from generation.safety import safety_verdicts

    found = safety_verdicts(env[2].graph, _read(env, "Is it safe to combine sertraline and phenelzine?"))
    assert [(v["kind"], v["verdict"]) for v in found] == [("interaction", "avoid")]


# --- treatment options -----------------------------------------------------------------------

def test_treatment_options_move_what_the_patient_must_avoid(env) -> None:
    from generation.treatments import treatment_options

    graph, checker = env[2].graph, env[2]
    q = _read(env, "A pregnant woman has hypertension. What should I start?")
    hits = env[1].search("hypertension in pregnancy", 4)
    rows = treatment_options(graph, q.targets[0] if q.targets else q.diseases[0], q, keep=checker.trusted,
                             verifier=checker, hits=hits)
    options = [r for r in rows if r["status"] == "option"]
    avoid = {r["drug"]: r for r in rows if r["status"] == "avoid"}
    assert options and "Lisinopril" in avoid
    assert "contraindicated in pregnancy" in avoid["Lisinopril"]["reasons"][0]
    assert not {"Lisinopril", "Enalapril", "Losartan"} & {r["drug"] for r in options}
    labetalol = next(r for r in options if r["drug"] == "Labetalol")
    assert labetalol["passages"], "the KB's passage naming labetalol with hypertension is cited"
    assert labetalol["first_line"] is None or "preferred" in labetalol["first_line"]
    scores = [r["score"] for r in options]
    assert scores == sorted(scores, reverse=True)


def test_first_line_only_where_a_passage_says_so(env) -> None:
    out = _ask(env, "How is hypertension treated?")
    assert "first-line" not in out["answer"].lower()
    model = _ask(env, "How is hypertension treated?", "Lisinopril is the first-line treatment for hypertension [2].",
                 policy="flag")
    (claim,) = [c for c in model["claims"] if "first-line" in c["text"]]
    assert not claim["supported"] and "no cited passage says so" in claim["reason"]
    strict = _ask(env, "How is hypertension treated?", "Lisinopril is the first-line treatment for hypertension [2].")
    assert "first-line" not in strict["answer"]


# --- the clinical block, graph facts, contract ------------------------------------------------

def test_ask_json_has_the_clinical_block_and_graph_citations(env) -> None:
    out = _ask(env, "Should metformin be given to a patient with eGFR 20?")
    jsonschema.validate(out, contract("ask"))
    clinical = out["clinical"]
    assert clinical["question_type"] == "safety" and clinical["safety"][0]["verdict"] == "avoid"
    assert clinical["patient"]["egfr"] == 20
    assert out["answer"].startswith("No: avoid metformin")
    graph = [c for c in out["citations"] if c.get("kind") == "graph"]
    assert graph and graph[0]["source"] == "FDA label (metformin)" and graph[0]["passage_id"] is None
    assert out["claims"][0]["supported"]


def test_the_prompt_numbers_graph_facts_after_the_passages(env) -> None:
    from generation.backends.fake import ScriptedBackend

    backend = ScriptedBackend("Metformin should not be given [5].")
    out = _ask(env, "Should metformin be given to a patient with eGFR 20?", backend, policy="flag")
    prompt = backend.calls[0][-1]["content"]
    n = len(out["retrieved"])
    assert f"[{n + 1}] (FDA label (metformin))" in prompt and "Knowledge-graph facts" in prompt


def test_yes_to_an_avoid_verdict_fails_and_strict_says_the_block(env) -> None:
    q = "Can a patient taking sildenafil use nitroglycerin for chest pain?"
    flag = _ask(env, q, "Yes, nitroglycerin relieves chest pain [1].", policy="flag")
    assert any(c["status"] == "fail" and c["rule"] == "interaction" for c in flag["checks"])
    strict = _ask(env, q, "Yes, nitroglycerin relieves chest pain [1].")
    assert strict["answer"].startswith("No: do not combine nitroglycerin with sildenafil")
    assert not any(c["text"].startswith("Yes") for c in strict["claims"])
    assert not [c for c in strict["checks"] if c["status"] == "fail"]


def test_a_recommended_drug_on_the_avoid_list_fails(env) -> None:
    out = _ask(env, "A pregnant woman has hypertension. What should I start?",
               "Start enalapril for her hypertension [2].", policy="flag")
    fails = [c for c in out["checks"] if c["status"] == "fail" and c["rule"] == "contraindication"]
    assert fails and any("Enalapril" in c["message"] for c in fails)


# --- relevance, dosing, repetition, evidence sentences ---------------------------------------

def test_a_dose_for_another_drug_or_population_is_not_an_answer(env) -> None:
    q = "What is the recommended dose of amoxicillin for acute otitis media in children?"
    out = _ask(env, q, "Adults: 100 mg every 12 hours [4].")
    assert "100 mg" not in out["answer"]
    assert "no passage that gives a dose of amoxicillin" in out["answer"]
    rel = [c for c in out.get("all_checks") or () if c["rule"] == "relevance"]
    assert all(c["status"] == "fail" for c in rel)
    doxy = _ask(env, "What dose of doxycycline is used for Rocky Mountain spotted fever in children?",
                "Adults: 100 mg every 12 hours [1]. Children under 45 kg: 2.2 mg/kg body weight given twice "
                "a day [1].", policy="flag")
    statuses = [c["status"] for c in doxy["checks"] if c["rule"] == "relevance"]
    assert statuses == ["fail", "pass"], doxy["checks"]
    extractive = _ask(env, q)
    assert extractive["answer"].startswith("The knowledge base has no passage that gives a dose of amoxicillin")


def test_relevance_rule_population_and_drug(env) -> None:
    from generation.relevance import relevance_checks

    checker = env[2]
    q = "What dose of doxycycline is used for Rocky Mountain spotted fever in children?"
    claims = [{"text": "Adults: take 100 mg every 12 hours of doxycycline.", "citations": [1]},
              {"text": "Children under 45 kg: doxycycline 2.2 mg/kg body weight given twice a day.", "citations": [1]},
              {"text": "Metformin 500 mg twice daily.", "citations": [1]}]
    out = relevance_checks(checker, q, _read(env, q), "dosing", claims, set())
    assert [c["status"] for c in out] == ["fail", "pass", "fail"]


def test_repeated_sentences_are_collapsed(env) -> None:
    sentence = "Metformin is the preferred initial drug for type 2 diabetes mellitus [1]. "
    out = _ask(env, "What is the initial drug for type 2 diabetes?", sentence * 10, policy="flag")
    texts = [c["text"] for c in out["claims"]]
    assert len(texts) == len(set(texts))
    assert any("collapsed" in n for n in out["notes"])


def test_questions_and_list_fragments_are_never_evidence() -> None:
    from generation.relevance import dedupe, usable_sentence

    assert not usable_sentence("What is type 2 diabetes?")
    assert not usable_sentence("1.") and not usable_sentence("a.") and not usable_sentence("1. Thirst.")
    assert usable_sentence("a. Metformin is a medicine for type 2 diabetes.")
    assert dedupe(["Take it daily.", "take it daily", "Something else entirely."]) == [0, 2]
    assert dedupe(["The most likely diagnosis in the knowledge graph is croup: it explains stridor.",
                   "The most likely diagnosis is croup: it explains stridor."]) == [0]
    assert dedupe(["Metformin is safe here.", "Metformin is not safe here."]) == [0, 1]


def test_headings_lead_ins_and_pointers_are_never_evidence() -> None:
    from generation.relevance import usable_sentence

    for fragment in ("Asthma Treatment for Special Groups.", "Your Guide to Diabetes: Type 1 and Type 2.",
                     "The signs and symptoms of diabetes are.", "Common side effects include:",
                     "The treatments described above generally apply to all people who have asthma."):
        assert not usable_sentence(fragment), fragment
    for sentence in ("Inhaled corticosteroids are the most effective long-term control medicines.",
                     "Symptoms include increased thirst and frequent urination.",
                     "Avoid NSAIDs in patients with severe renal impairment.", "FDA approved it in 2019."):
        assert usable_sentence(sentence), sentence


def test_a_claim_about_another_disease_does_not_answer(env) -> None:
    from generation.clinical_block import question_type
    from generation.relevance import relevance_checks

    _, _, checker = env
    question = "What treatments are used for type 2 diabetes?"
    reading = checker.reader.read_question(question)
    assert question_type(question, reading) == "treatment"
    claims = [{"text": "Inhaled corticosteroids control asthma.", "citations": [1]},
              {"text": "Metformin is used to treat type 2 diabetes.", "citations": [1]}]
    got = relevance_checks(checker, question, reading, "treatment", claims, set())
    assert [c["status"] for c in got] == ["fail", "pass"]
    assert "another disease" in got[0]["message"]


def test_extractive_answers_quote_no_question(env) -> None:
    out = _ask(env, "What is type 2 diabetes?", policy="flag")
    assert "?" not in out["answer"]
    assert all(not c["text"].rstrip().endswith("?") for c in out["citations"])


# --- the safety dev set ---------------------------------------------------------------------

def test_safety_dev_set_verdict_and_wording(env) -> None:
    """tests/fixtures/safety_questions.jsonl through the whole path (extractive, strict)."""
    from generation.backends.extractive import ExtractiveBackend
    from generation.safety_eval import evaluate, load

    items = load(ROOT / "tests" / "fixtures" / "safety_questions.jsonl")
    assert len(items) >= 40 and sum(i["verdict"] == "no_known_issue" for i in items) >= len(items) / 4
    version, searcher, _ = env
    report = evaluate(items, version, searcher, ExtractiveBackend(searcher.embedder))
    print(f"\nsafety dev set: verdict {report['verdict_accuracy']}, wording {report['wording_accuracy']}")
    assert report["verdict_accuracy"] >= 0.9 and report["wording_accuracy"] >= 0.9, report["misses"]


def test_safety_eval_rejects_a_bad_file(tmp_path: Path) -> None:
    from generation.safety_eval import load
    from kb.errors import InputError

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "x", "drug": "y", "verdict": "maybe"}\n')
    with pytest.raises(InputError, match="line 1"):
        load(bad)


def test_a_diagnosis_explaining_fewer_findings_fails_and_strict_leads_with_the_differential(env) -> None:
    q = "A 45-year-old man has fever, neck stiffness and photophobia. What is the most likely diagnosis?"
    flag = _ask(env, q, "The most likely diagnosis is pneumonia [1].", policy="flag")
    assert flag["clinical"]["differential"][0]["disease"] == "meningitis"
    assert any(c["rule"] == "diagnosis_consistency" and c["status"] == "fail" for c in flag["checks"])
    strict = _ask(env, q, "The most likely diagnosis is pneumonia [1].")
    jsonschema.validate(strict, contract("ask"))
    assert strict["answer"].startswith("The most likely diagnosis in the knowledge graph is meningitis")
    assert "pneumonia" not in strict["answer"].lower()


def test_what_is_it_asks_for_a_diagnosis(env) -> None:
    _, _, checker = env
    reading = checker.reader.read_question(
        "Burning when urinating and frequent urination in a young woman: what is it and what can "
        "she take?")
    assert "diagnosis" in reading.intents
