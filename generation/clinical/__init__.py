"""The clinical reading of questions and answers, and the differential it feeds.

- `reader`: ClinicalReader (question and answer readings against one graph)
- `records`: Item, QuestionReading, AnswerReading, Mention
- `roles`: which cue phrase gives a mention its role
- `measures`: age, pregnancy, eGFR and other stated values -> derived conditions
- `lexicon`: word lists from corpora/lexicon/ (data with sources)
"""

from generation.clinical.reader import CURRENT_ONLY, DRUG_TYPES, PATIENT_TYPES, ClinicalReader
from generation.clinical.records import AnswerReading, Item, Mention, QuestionReading

__all__ = ["CURRENT_ONLY", "DRUG_TYPES", "PATIENT_TYPES", "AnswerReading", "ClinicalReader", "Item",
           "Mention", "QuestionReading"]
