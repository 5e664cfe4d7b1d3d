"""Patient states named by numbers or phrasings: age, pregnancy, kidney function, potassium,
heart rate, blood pressure. Each becomes a derived condition the graph names ("severe renal
impairment" for eGFR < 30, "children under 12 years" for an 8-year-old ...)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from generation.clinical.records import Mention
from generation.clinical.roles import negated_before

_AGE = re.compile(
    r"\b(\d{1,3})[- ]?(?:years?|yrs?|y)[- ]?old\b|\b(\d{1,3})\s*(?:yo|y/o|y\.o\.)(?!\w)|"
    r"\b(?:aged?|age of)\s+(\d{1,3})\b|\b(\d{1,2})[- ]?(?:months?|weeks?|days?|mo)[- ]old\b", re.I)
_AGE_SEX = re.compile(r"(?<![\w./-])(\d{1,3})\s?(?:[MF]|yo[MF])(?![\w/])|"
                      r"\b(?:[Ss]on|[Dd]aughter|[Cc]hild|[Kk]id|[Bb]oy|[Gg]irl|[Gg]randson|[Gg]randdaughter)"
                      r"(?:,| is| who is|,? aged?)\s+(\d{1,2})(?![\d.%])(?!\s*(?:kg|lb|cm|mg|weeks?|days?|months?|%))")
_CHILD = re.compile(
    r"\b(?:a|an|the|this|my|our|your|her|his|their)\s+(?:\w+\s+){0,2}?(?:child|kid|boy|girl|schoolchild|"
    r"preschooler)\b(?![- ]?bearing)|\b(?:infants?|newborns?|neonates?|neonatal|toddlers?|bab(?:y|ies)|"
    r"preschool\w*|school-age\w*|p(?:a)?ediatric patients?|in children|for children|children under)\b", re.I)
_TEEN = re.compile(r"\b(?:teen|teens|teenager|teenagers|teenaged|adolescent|adolescents)\b", re.I)
_VIRAL = re.compile(r"\b(?:influenza|flu|chickenpox|chicken pox|varicella|viral (?:illness|infection|syndrome)|"
                    r"virus|viral)\b", re.I)
_PREGNANT = re.compile(
    r"\b(?:\d{1,2}\s*(?:weeks?|wks?)'?\s*(?:of\s+)?(?:gestation|pregnant|pregnancy)|gestational age|"
    r"(?:first|second|third|1st|2nd|3rd) trimester|trimester|expecting a baby|G\d+\s*P\d+|gravida|"
    r"trying to conceive|planning (?:a |to become )?pregnan\w*|wants to (?:get|become) pregnant)\b", re.I)
_NOT_PREGNANT = re.compile(r"\b(?:non-?pregnant|not pregnant|negative pregnancy test|pregnancy test (?:is |was )?negative|"
                           r"postmenopausal|post-menopausal|is a man|male)\b", re.I)
_RENAL = re.compile(
    r"\b(?:e?GFR|estimated GFR|glomerular filtration rate|creatinine clearance|CrCl|CLcr)\s*"
    r"(?:of|is|was|=|:|at|around|about|approximately|~|<|\u2264|below|under|less than|now|only|"
    r"(?:has )?(?:dropped|fallen|fell|declined|decreased|down) to|down to)?\s*"
    r"(?:of\s+)?(?:<|\u2264|below|under|less than)?\s*(\d{1,3}(?:\.\d+)?)", re.I)
_CKD_STAGE = re.compile(r"\b(?:CKD|chronic kidney disease)\s*(?:stage|G)\s*([1-5])[ab]?\b|"
                        r"\bstage\s*([1-5])[ab]?\s*(?:CKD|chronic kidney disease)\b", re.I)
_POTASSIUM = re.compile(r"\b(?:potassium|serum potassium|K\+?)\s*(?:level\s*)?(?:of|is|was|=|:)?\s*(\d(?:\.\d+)?)\s*"
                        r"(?:mmol|meq|mEq)?", re.I)
_HEART_RATE = re.compile(r"\b(?:heart rate|HR|pulse(?: rate)?)\s*(?:of|is|was|=|:)?\s*(\d{2,3})\b", re.I)
_BP = re.compile(r"\b(?:blood pressure|BP)\s*(?:of|is|was|=|:)?\s*(\d{2,3})\s*/\s*(\d{2,3})\b", re.I)


def measures(text: str) -> list[tuple[str, float]]:
    """Stated values: ("egfr", 48.0), ("ckd_stage", 3.0)."""
    out = [("egfr", float(m.group(1))) for m in _RENAL.finditer(text)]
    out += [("ckd_stage", float(m.group(1) or m.group(2))) for m in _CKD_STAGE.finditer(text)]
    age = age_years(text)
    if age is not None:
        out.append(("age", age))
    return out


def age_years(text: str) -> float | None:
    """The first age the text states, in years (months, weeks and days old: 0)."""
    for m in _AGE.finditer(text):
        if m.group(4):
            return 0.0
        return float(m.group(1) or m.group(2) or m.group(3) or 0)
    for m in _AGE_SEX.finditer(text):
        return float(m.group(1) or m.group(2))
    return None


def not_pregnant(text: str) -> bool:
    return _NOT_PREGNANT.search(text) is not None


def derived_conditions(text: str, derive: Callable[[str, int, int, str, bool], Mention | None]) -> list[Mention]:
    """Patient states named by numbers or phrasings. `derive(name, start, end, cue, negated)`
    makes the mention of the graph entity `name` (None where the graph lacks it)."""
    out: list[Mention] = []

    def add(name: str, m: re.Match[str], cue: str) -> None:
        d = derive(name, m.start(), m.end(), cue, negated_before(text, m.start(), m.end()))
        if d is not None:
            out.append(d)

    child = teen = False
    for m in [*_AGE.finditer(text), *_AGE_SEX.finditer(text)]:
        if m.re is _AGE_SEX:
            years = float(m.group(1) or m.group(2))
        else:
            years = float(m.group(1) or m.group(2) or m.group(3) or 0)
            if m.group(4):  # months, weeks or days old
                years = 0.0
        if years < 12:
            child = True
            add("children under 12 years", m, f"age {m.group(0)}")
        elif years < 19:
            teen = True
    if not child and (cm := _CHILD.search(text)) and not _AGE.search(text) and not _AGE_SEX.search(text):
        child = True
        add("children under 12 years", cm, cm.group(0))
    teen = teen or bool(_TEEN.search(text))
    if (child or teen) and (vm := _VIRAL.search(text)) and not negated_before(text, vm.start(), vm.end()):
        add("Reye syndrome", vm, f"{'child' if child else 'teenager'} with {vm.group(0)}: risk of Reye syndrome")
    for m in _PREGNANT.finditer(text):
        add("pregnancy", m, m.group(0))
    for m in _RENAL.finditer(text):
        value = float(m.group(1))
        if value < 30:
            add("severe renal impairment", m, m.group(0))
    for m in _POTASSIUM.finditer(text):
        value = float(m.group(1))
        if 5.5 < value < 10:
            add("hyperkalemia", m, m.group(0))
    for m in _HEART_RATE.finditer(text):
        if int(m.group(1)) < 50:
            add("sinus bradycardia", m, m.group(0))
    for m in _BP.finditer(text):
        if int(m.group(1)) >= 180 or int(m.group(2)) >= 110:
            add("uncontrolled hypertension", m, m.group(0))
    return out



_PREGNANCY_IDS: dict[int, str | None] = {}


def pregnancy_id(graph: Any) -> str | None:
    key = id(graph)
    if key not in _PREGNANCY_IDS:
        ent = graph.resolve("pregnancy")
        _PREGNANCY_IDS[key] = ent.id if ent else None
    return _PREGNANCY_IDS[key]


def is_pregnancy_test(sent: str, m: Mention) -> bool:
    after = sent[m.end:m.end + 30].lower()
    before = sent[max(0, m.start - 20):m.start].lower()
    return (after.lstrip().startswith("test") and "positive" not in before + after) or "negative" in before
