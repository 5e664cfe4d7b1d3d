"""The clinical reading of questions and answers: roles of drugs, patient conditions, negation."""

from __future__ import annotations

import pytest
from medkb_testutil import GRAPH_DIR

from generation.clinical import ClinicalReader
from ingest.curated import load_curated
from kb.graph import KnowledgeGraph


@pytest.fixture(scope="module")
def reader() -> ClinicalReader:
    graph = KnowledgeGraph.build(*load_curated(GRAPH_DIR))
    graph.vocabulary()
    return ClinicalReader(graph)


def names(items) -> set[str]:
    return {i.name.lower() for i in items}


def read(reader: ClinicalReader, question: str, *claims: str):
    q = reader.read_question(question)
    return q, reader.read_answer(list(claims), q)


# --- recommended versus merely mentioned ---------------------------------------------------

@pytest.mark.parametrize("answer", [
    "Start lisinopril 10 mg daily.",
    "Add lisinopril.",
    "Lisinopril is first-line.",
    "Lisinopril is recommended.",
    "Treat with lisinopril.",
    "Lisinopril is the drug of choice here.",
    "The preferred agent is lisinopril.",
    "Prescribe lisinopril 10 mg once daily.",
    "Consider lisinopril.",
    "Lisinopril can be used.",
    "Lisinopril would be my choice.",
    "Put her on lisinopril.",
    "Commence lisinopril.",
    "Yes, lisinopril is fine.",
    "Lisinopril.",
])
def test_recommendations(reader: ClinicalReader, answer: str) -> None:
    _, a = read(reader, "A 50-year-old has hypertension. What should I start?", answer)
    assert names(a.recommended) == {"lisinopril"}, (answer, a)


@pytest.mark.parametrize("answer", [
    "Avoid lisinopril.",
    "Do not start lisinopril.",
    "Lisinopril is contraindicated in pregnancy.",
    "Lisinopril should be avoided.",
    "Lisinopril is not recommended in pregnancy.",
    "Stop lisinopril.",
    "Discontinue lisinopril now.",
    "Use labetalol instead of lisinopril.",
    "Labetalol is preferred over lisinopril.",
    "Lisinopril can cause fetal harm.",
    "Lisinopril increases the risk of fetal toxicity.",
    "There is no role for lisinopril in pregnancy.",
])
def test_advised_against_is_not_recommended(reader: ClinicalReader, answer: str) -> None:
    _, a = read(reader, "A pregnant woman has hypertension. What should I start?", answer)
    assert "lisinopril" not in names(a.recommended), (answer, a)
    assert "lisinopril" in names(a.avoided) | names(a.mentioned), (answer, a)


def test_mixed_sentence_separates_roles(reader: ClinicalReader) -> None:
    _, a = read(reader, "A pregnant woman has hypertension. What should I start?",
                "Lisinopril is contraindicated in pregnancy; labetalol is preferred.")
    assert names(a.recommended) == {"labetalol"} and names(a.avoided) == {"lisinopril"}
    _, a = read(reader, "Which analgesic for a patient on warfarin?",
                "Avoid NSAIDs such as ibuprofen; use acetaminophen.")
    assert names(a.recommended) == {"acetaminophen"}
    assert {"ibuprofen", "nonsteroidal anti-inflammatory compounds"} <= names(a.avoided)
    _, a = read(reader, "Patient on lisinopril with a cough.", "Switch from lisinopril to losartan.")
    assert names(a.recommended) == {"losartan"} and names(a.avoided) == {"lisinopril"}


def test_lists_share_their_cue(reader: ClinicalReader) -> None:
    _, a = read(reader, "What should I add?", "Add metformin and lisinopril.")
    assert names(a.recommended) == {"metformin", "lisinopril"}
    _, a = read(reader, "A child has a cough.", "Codeine is not recommended; use honey or acetaminophen instead.")
    assert names(a.recommended) == {"acetaminophen"} and "codeine" in names(a.avoided)


def test_knowledge_question_drug_is_only_mentioned(reader: ClinicalReader) -> None:
    _, a = read(reader, "What is the mechanism of metformin?", "Metformin lowers hepatic glucose production.")
    assert not a.recommended and names(a.mentioned) == {"metformin"}


def test_yes_and_no_answers_refer_to_the_asked_drug(reader: ClinicalReader) -> None:
    _, a = read(reader, "Is metformin OK with an eGFR of 18?", "Yes.")
    assert names(a.recommended) == {"metformin"}
    _, a = read(reader, "Is metformin OK with an eGFR of 18?", "No.")
    assert not a.recommended and names(a.avoided) == {"metformin"}


def test_class_and_alias_mentions(reader: ClinicalReader) -> None:
    _, a = read(reader, "Which drug class for hypertension?", "An ACE inhibitor is a good first choice.")
    assert names(a.recommended) == {"ace inhibitors"}
    _, a = read(reader, "Type 2 diabetes, next step?", "Add an SGLT2 inhibitor.")
    assert names(a.recommended) == {"sodium-glucose transporter 2 inhibitors"}


def test_synonyms_resolve_to_one_drug(reader: ClinicalReader) -> None:
    _, a = read(reader, "Analgesic for osteoarthritis?", "Paracetamol is first-line.")
    assert names(a.recommended) == {"acetaminophen"}
    _, a = read(reader, "Acute asthma?", "Salbutamol relieves symptoms.")
    assert names(a.recommended) == {"salbutamol"}


# --- the patient ---------------------------------------------------------------------------

@pytest.mark.parametrize("question", [
    "A pregnant woman has hypertension.",
    "A 29-year-old woman at 12 weeks' gestation has hypertension.",
    "She is in her second trimester.",
    "A woman who is 20 weeks pregnant has a UTI.",
    "G2P1 at 24 weeks with hypertension.",
    "A woman planning a pregnancy has acne.",
])
def test_pregnancy(reader: ClinicalReader, question: str) -> None:
    q = reader.read_question(question)
    assert "pregnancy" in names(q.conditions), question


@pytest.mark.parametrize("question", [
    "A 30-year-old woman who is not pregnant has hypertension.",
    "A non-pregnant woman has hypertension.",
    "Her pregnancy test is negative.",
    "A postmenopausal woman has hypertension.",
])
def test_not_pregnant(reader: ClinicalReader, question: str) -> None:
    q = reader.read_question(question)
    assert "pregnancy" not in names(q.conditions), question


def test_negation_stays_in_its_scope(reader: ClinicalReader) -> None:
    q = reader.read_question("A 45-year-old woman without asthma has migraine.")
    assert "asthma" in names(q.negated) and "asthma" not in names(q.conditions)
    assert "migraine" in names(q.conditions)
    q = reader.read_question("A 30-year-old woman who is not pregnant has hypertension.")
    assert "hypertension" in names(q.conditions)
    q = reader.read_question("He has no fever or cough.")
    assert not q.symptoms and {"fever", "cough"} <= names(q.negated)


@pytest.mark.parametrize("question,child", [
    ("An 8-year-old boy has a cough.", True),
    ("A 7 y/o with a cough.", True),
    ("An 18-month-old toddler has a fever.", True),
    ("A child aged 6 has otitis media.", True),
    ("A 14-year-old has a dental abscess.", False),
    ("A 45-year-old woman has had diabetes for 3 years.", False),
    ("A woman of child-bearing potential has acne.", False),
])
def test_age(reader: ClinicalReader, question: str, child: bool) -> None:
    q = reader.read_question(question)
    assert ("children under 12 years" in names(q.conditions)) is child, question


def test_child_or_teen_with_viral_infection_risks_reye_syndrome(reader: ClinicalReader) -> None:
    q = reader.read_question("A 6-year-old with chickenpox has a fever.")
    assert "reye syndrome" in names(q.conditions)
    q = reader.read_question("A 16-year-old with influenza has a fever.")
    assert "reye syndrome" in names(q.conditions)
    q = reader.read_question("A 40-year-old with influenza has a fever.")
    assert "reye syndrome" not in names(q.conditions)


@pytest.mark.parametrize("question,severe", [
    ("Type 2 diabetes with an eGFR of 20 mL/min/1.73 m2.", True),
    ("eGFR 28.", True),
    ("Creatinine clearance of 25 mL/min.", True),
    ("CrCl 15.", True),
    ("eGFR below 30.", False),  # "below 30" is not a value under 30; the curated synonym covers the phrase
    ("eGFR of 55.", False),
    ("CKD stage 4 and type 2 diabetes.", True),
    ("Severe renal impairment.", True),
])
def test_renal_function(reader: ClinicalReader, question: str, severe: bool) -> None:
    q = reader.read_question(question)
    assert ("severe renal impairment" in names(q.conditions)) is severe, question


@pytest.mark.parametrize("question", ["A man on dialysis.", "He is on hemodialysis.",
                                      "A patient with end-stage kidney disease.", "ESRD on HD."])
def test_end_stage_kidney_disease(reader: ClinicalReader, question: str) -> None:
    q = reader.read_question(question)
    assert "end stage renal disease" in names(q.conditions), question


def test_numbers_that_make_conditions(reader: ClinicalReader) -> None:
    q = reader.read_question("Potassium 6.1 mmol/L, heart rate 42, blood pressure 200/115.")
    assert {"hyperkalemia", "sinus bradycardia", "uncontrolled hypertension"} <= names(q.conditions)
    q = reader.read_question("Potassium 4.1 mmol/L, heart rate 72, blood pressure 130/80.")
    assert not q.conditions


def test_family_history_is_not_the_patients(reader: ClinicalReader) -> None:
    q = reader.read_question("A woman with a family history of asthma needs migraine prophylaxis.")
    assert "asthma" in names(q.family_history) and "asthma" not in names(q.conditions)
    assert "migraine" in names(q.conditions)


@pytest.mark.parametrize("question,taken,asked", [
    ("A man who takes nitroglycerin asks about sildenafil.", {"nitroglycerin"}, {"sildenafil"}),
    ("A patient on warfarin needs an analgesic. Is ibuprofen OK?", {"warfarin"}, {"ibuprofen"}),
    ("A woman who is taking phenelzine. Can I add sertraline?", {"phenelzine"}, {"sertraline"}),
    ("His medications include lisinopril and metformin.", {"lisinopril", "metformin"}, set()),
    ("Pt on MAOI (tranylcypromine) wants pseudoephedrine.", {"mao inhibitors", "tranylcypromine"},
     {"pseudoephedrine"}),
    ("He stopped taking warfarin last year. Start aspirin?", set(), {"acetylsalicylic acid"}),
])
def test_drugs_taken_and_asked(reader: ClinicalReader, question: str, taken: set, asked: set) -> None:
    q = reader.read_question(question)
    assert names(q.taken) == taken and names(q.asked) == asked, question


def test_targets(reader: ClinicalReader) -> None:
    q = reader.read_question("A 45-year-old with asthma. Which drug for migraine prophylaxis?")
    assert names(q.targets) == {"migraine"}
    q = reader.read_question("A patient on warfarin for atrial fibrillation has osteoarthritis pain.")
    assert not q.targets  # AF is what warfarin is for, not what the question asks to treat
    _, a = read(reader, "What should I do?", "Start metformin for type 2 diabetes.")
    assert names(a.targets) == {"type 2 diabetes mellitus"}


def test_symptoms_and_diagnoses(reader: ClinicalReader) -> None:
    q, a = read(reader, "A 25-year-old has fever, cough and pleuritic chest pain. What is the most likely diagnosis?",
                "Pneumonia is likely; asthma is unlikely.")
    assert {"fever", "cough", "chest pain"} <= names(q.symptoms)
    assert names(a.diagnoses) == {"pneumonia"}
    _, a = read(reader, "Fever and cough. Diagnosis?", "This presentation suggests influenza rather than asthma.")
    assert names(a.diagnoses) == {"influenza"}
