"""The differential leaves out diseases of the other sex's organs when the description says
who the patient is, and nothing when it names both sexes or neither."""

from __future__ import annotations

import pytest

from generation.clinical.sex import patient_sex, ruled_out


@pytest.mark.parametrize(("text", "sex"), [
    ("Burning when urinating in a young woman: what is it?", "female"),
    ("She has pelvic pain and fever.", "female"),
    ("A 70-year-old man with nocturia and a weak stream.", "male"),
    ("My son has a barking cough.", "male"),
    ("His wife has a fever.", None),  # both named: whose findings?
    ("Fever, cough and shortness of breath.", None),
    ("Chemotherapy for women's cancers; human papillomavirus.", "female"),
])
def test_patient_sex(text: str, sex: str | None) -> None:
    assert patient_sex(text) == sex


def test_diseases_ruled_out_by_sex() -> None:
    for name in ("prostatitis", "prostate cancer", "testicular cancer", "male reproductive system disease"):
        assert ruled_out(name, "female") and not ruled_out(name, None), name
    for name in ("ovarian cancer", "endometriosis", "preeclampsia", "female reproductive system disease"):
        assert ruled_out(name, "male") and not ruled_out(name, "female"), name
    for name in ("urinary tract infection", "breast cancer", "gonorrhea", "cystitis"):
        assert not ruled_out(name, "female") and not ruled_out(name, "male"), name
