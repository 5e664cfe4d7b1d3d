"""The patient's sex as a description states it, and the diseases it rules out.

A young woman with dysuria does not have prostatitis. The description's own words decide
("woman", "she", "his"); when both sexes are named ("his wife has ...") or neither, nothing is
ruled out. Disease patterns and patient words: corpora/lexicon/sex_specific.json (sources inside).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from generation.clinical.lexicon import lexicon_path
from kb.errors import MedKBError


@lru_cache(maxsize=1)
def _patterns() -> dict[str, re.Pattern[str]]:
    path = lexicon_path("sex_specific.json")
    try:
        data = json.loads(path.read_text("utf-8"))
    except ValueError as e:
        raise MedKBError(f"{path}: not valid JSON ({e})") from e
    return {key: re.compile(r"\b(?:" + "|".join(words) + r")\b", re.I)
            for key, words in data.items() if not key.startswith("_")}


def patient_sex(text: str) -> str | None:
    """"female", "male", or None when the text names neither or both."""
    p = _patterns()
    female = bool(p["patient_female"].search(text))
    male = bool(p["patient_male"].search(text))
    return "female" if female and not male else "male" if male and not female else None


def ruled_out(disease_name: str, sex: str | None) -> bool:
    """Whether a disease of the other sex's organs (or of pregnancy, for a male patient)."""
    if sex == "female":
        return bool(_patterns()["disease_male_only"].search(disease_name))
    if sex == "male":
        return bool(_patterns()["disease_female_only"].search(disease_name))
    return False
