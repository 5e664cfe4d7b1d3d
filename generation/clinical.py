"""A clinical reading of a question and an answer: who the patient is, what they take, what
the answer recommends.

The graph rules (generation.rules) need more than entity mentions: a drug the answer
*recommends* ("start X", "X is first-line") is checked, a drug it only names ("X can cause
Y", "avoid X") is not; a condition *of the patient* ("she is 10 weeks pregnant", "eGFR 20",
"an 8-year-old") counts, a negated one ("not pregnant", "without asthma") does not; a drug
the patient already takes ("on warfarin") joins the interaction check. Mentions come from
the graph's vocabulary (kb.vocabulary) plus a few phrasings it cannot hold (numbers such as
eGFR or age, "on dialysis"); cue phrases around each mention decide its role, the nearest
cue winning, within its clause.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kb.graph import COMPOUND, CONDITION, DISEASE, DRUG_CLASS, SYMPTOM
from kb.sentences import sentence_spans

DRUG_TYPES = frozenset({COMPOUND, DRUG_CLASS})
PATIENT_TYPES = frozenset({DISEASE, CONDITION, SYMPTOM})

# Names the graph resolves (kb.graph.KnowledgeGraph.resolve) for phrasings the vocabulary
# does not hold. Each: (pattern, graph name). A missing name is skipped. These belong in
# corpora/graph/medkb_curation.tsv eventually; kept here they also cover user-built graphs.
ALIASES: tuple[tuple[str, str], ...] = (
    (r"(?:hemo|haemo|peritoneal\s+)?dialysis(?:[- ]dependent)?", "end stage renal disease"),
    (r"pulmonary (?:arterial )?hypertension|\bPAH\b", "pulmonary hypertension"),
    (r"(?:complete|(?:second|third|2nd|3rd)[- ]degree)\s+(?:AV |atrioventricular |heart )?block|"
     r"(?:AV|atrioventricular|heart) block", "atrioventricular block"),
    (r"seizure disorders?|history of (?:seizures|epilepsy)|epileptic", "epilepsy"),
    (r"asthmatic", "asthma"),
    (r"(?<!\d)(?<!\d )(?-i:MG)(?! ?/)|myasthenic", "myasthenia gravis"),  # capitals only: "mg" is a dose
    (r"anaphyla(?:xis|ctic reactions?)", "anaphylactic shock"),
    (r"strep(?:tococcal)? (?:throat|pharyngitis)", "pharyngitis"),
    (r"(?:high|raised|elevated) (?:BP|blood pressure)|(?:BP|blood pressure) control", "hypertension"),
    (r"diabetic", "diabetes mellitus"),
    (r"hypertensive", "hypertension"),
    (r"(?:stable |unstable )?angina(?: pectoris)?", "coronary artery disease"),
    (r"(?:sinus )?bradycardia", "sinus bradycardia"),
    (r"HFrEF|HFpEF|(?:reduced|low) ejection fraction|NYHA (?:class )?(?:III|IV|3|4)", "congestive heart failure"),
    (r"Reye'?s syndrome", "Reye syndrome"),
    (r"(?:small |large )?bowel obstruction", "intestinal obstruction"),
    (r"stomach ulcers?", "gastric ulcer"),
    (r"sulfonylureas?|sulphonylureas?", "Sulfonylurea Compounds"),
    (r"SGLT-?2 inhibitors?|gliflozins?", "Sodium-Glucose Transporter 2 Inhibitors"),
    (r"DPP-?4 inhibitors?|gliptins?", "Dipeptidyl Peptidase 4 Inhibitors"),
    (r"(?:inhaled |oral |systemic )?(?:cortico)?steroids?|glucocorticoids?",
     "Corticosteroid Hormone Receptor Agonists"),
    (r"fluticasone", "Fluticasone Propionate"),
    (r"(?:active(?:ly)?|ongoing|current)\s+(?:gi |gastrointestinal |intracranial |major )?"
     r"(?:bleed(?:ing)?|h(?:a)?emorrhage)|(?:is|are) (?:actively )?bleeding|"
     r"(?:upper |lower )?(?:gi|gastrointestinal|intracranial|variceal) (?:bleed|bleeding|h(?:a)?emorrhage)|"
     r"bleeding (?:peptic |gastric |duodenal )?ulcer|h(?:a)?emorrhaging", "active bleeding"),
)

# States that are the contraindication only while present ("active bleeding"); "history of",
# "previous" or "prior" before them describes the past.
CURRENT_ONLY = ("active bleeding",)
_PAST_STATE = re.compile(r"\b(?:history of|hx of|h/o|previous|prior|past|remote|old|resolved|healed)\s+"
                         r"(?:(?:an?|the|his|her|upper|lower|major|minor|\w+al)\s+){0,2}$", re.I)

# ---- cue phrases --------------------------------------------------------------------------

_W = r"(?:\w+\s+)"  # one filler word
RECOMMEND_PRE = (
    r"start|starting|begin|beginning|initiate|initiating|initiation of|add|adding|addition of|"
    r"commence|commencing|prescribe|prescribing|give|giving|administer|administering|use|try|a trial of|"
    r"put (?:him|her|them|the patient|patients) on|go with|opt for|choose|I'd use|I would use|rx|"
    r"order|advise|"
    r"continue|continuing|resume|resuming|restart|restarting|re-?start|reintroduce|reinstate|increase|titrate|uptitrate|offer|"
    r"(?:keep|kept|leave|maintain)\s+(?:him|her|them|the patient|patients|it)\s+on|stay on|remain on|carry on with|stick with|"
    r"(?:switch|switching|change|changing|convert|converting)\s+" + _W + r"{0,4}?to|"
    r"treat(?:ed|ing)?\s+" + _W + r"{0,3}?with|treatment with|therapy with|managed? with|"
    r"recommend(?:ed|s)?|we suggest|suggest|consider|considering|prefer|"
    r"(?:first|second|third)[- ]line(?:\s+(?:treatment|therapy|agent|drug|option|choice)s?)?(?:\s+(?:is|are))?|"
    r"(?:drug|treatment|agent|therapy) of choice(?:\s+(?:is|are))?|mainstay(?:\s+of\s+\w+(?:\s+\w+)?)?(?:\s+(?:is|are))?|"
    r"(?:preferred|best|recommended|initial|standard|appropriate|safest|safe|usual|reasonable)\s+"
    + _W + r"{0,3}?(?:treatment|therapy|agent|drug|option|choice|medication|antibiotic|analgesic)s?\s+(?:is|are|would be)|"
    r"(?:options?|choices?|treatments?|therapies|agents|medications|drugs|alternatives?|antibiotics)\s+"
    + _W + r"{0,4}?(?:include|includes|are|is)|"
    r"(?:can|could|may|should)\s+(?:\w+\s+)?(?:take|use|be given|receive|start|try|have)|"
    r"(?:is|are) (?:safe|fine|appropriate|reasonable|indicated) to (?:use|take|give|start|prescribe|add)|"
    r"safe to (?:use|take|give|start|prescribe|add)|go ahead with|yes,?"
)
AVOID_PRE_BROAD = (  # longer alternatives first: a regex alternation takes the first that matches
    r"(?:do not|don't|never|should not|must not|cannot|can't|not)\s+" + _W + r"{0,3}?"
    r"(?:start|use|give|add|prescribe|combine|take|recommend|try|initiate|begin|co-?prescribe)|"
    r"(?:is|are) (?:not|never) (?:\w+\s+)?(?:recommended|advised|safe|appropriate|indicated)(?:\s+(?:with|for|in))?|"
    r"advise against|advised against|recommend against|caution against|"
    r"avoid|avoiding|avoidance of|do not|don't|never|should not|shouldn't|must not|cannot|can't|"
    r"no need (?:for|to)|stop|stopping|discontinue|discontinuing|discontinuation of|withhold|"
    r"hold|holding|cease|taper|deprescribe|contraindicat\w*|unsafe|not safe|dangerous"
)
AVOID_PRE_NARROW = r"instead of|rather than|in place of|in preference to|over|not|unlike|no|without|switch(?:ing)? from|off"
MENTION_PRE = (
    r"caused by|induced by|due to|side[- ]effects? of|adverse (?:effects?|events?|reactions?) of|"
    r"toxicity (?:of|from)|overdose of|allergy to|allergic to|intolerant (?:of|to)|intolerance to|"
    r"interactions? (?:with|between|of)|levels? of|compared (?:with|to)|versus|vs\.?|than|"
    r"risk of|mechanism of|effects? of|history of|side[- ]effects? (?:of \w+ )?(?:include|includes|are)|"
    r"with|combined with|together with|alongside|on top of|in addition to"
)
TAKEN_ANSWER = (
    r"(?:he|she|they|the patient|patient|patients|people|those|anyone|someone|women|men|adults|children)\s+"
    r"(?:who\s+)?(?:is\s+|are\s+)?(?:already\s+|currently\s+)?"
    r"(?:takes|taking|on|receiving|receives|uses|using)|already (?:on|taking|takes|receiving)|"
    r"currently (?:on|taking|takes|receiving)|his|her|their|existing|current"
)
TAKEN_PRE = (
    r"takes|taking|took|is on|are on|was on|on|receiving|receives|received|uses|using|"
    r"maintained on|stable on|started on|treated with|being treated with|already (?:on|taking|takes|receiving)|"
    r"currently (?:on|taking|takes|receiving|uses|using)|has been (?:on|taking)|"
    r"(?:his|her|their|current|regular|home|usual)\s+medications?\s*(?:include|includes|are|:)?|"
    r"medications?\s*(?:include|includes|are|:)|regimen (?:of|includes|including)|long-term|chronic|"
    r"his|her|their|with|managed with|controlled (?:on|with)"
)
ASK_PRE = (
    r"start|starting|add|adding|prescribe|prescribing|give|giving|use|begin|initiate|switch(?:ing)? to|"
    r"recommend|consider|about|(?:can|could|should|would) (?:i|we|you) treat (?:\w+\s+){0,2}?with|"
    r"(?:can|could|may|should|would)\s+(?:i|we|you|he|she|they|the patient)\s+(?:\w+\s+)?"
    r"(?:take|use|give|start|prescribe|add|try|have|receive|recommend|combine)|"
    r"(?:is it|is it safe|safe|ok|okay|appropriate|reasonable) to (?:\w+\s+)?(?:take|use|give|start|prescribe|add|combine|try)|"
    r"is|are"
)
PAST_PRE = (r"(?:stopped|discontinued|quit|ceased|no longer|previously|used to|formerly)\s+(?:taking|using|on|take|takes|took)|"
            r"stopped|discontinued|previously (?:took|on|taking)|used to take|failed|no longer (?:takes|on)|off")

AVOID_POST = (
    r"(?:is|are|was|were|would be|should be|must be|remains?)\s+(?:\w+\s+)?"
    r"(?:contraindicated|avoided|unsafe|dangerous|inappropriate|harmful|discontinued|stopped|held|withheld|"
    r"not (?:recommended|advised|advisable|safe|appropriate|indicated|first[- ]line|a good|an appropriate|the best|"
    r"suitable|effective|ideal|wise)|inadvisable|unwise|best avoided|ineffective)|"
    r"should not|must not|shouldn't|cannot be|can't be|has no role|have no role|"
    r"(?:increases?|raises?|carr(?:y|ies)|poses?)\s+(?:\w+\s+){0,3}?(?:risk|danger)|"
    r"(?:may|can|could|will|would|might)\s+(?:\w+\s+)?(?:worsen|exacerbate|precipitate|trigger|provoke|cause|"
    r"increase|lead to|result in|induce)|worsens|exacerbates|precipitates|causes|interacts?"
)
RECOMMEND_POST = (
    r"(?:is|are|remains?|would be|is still|are still)\s+(?:the\s+|an?\s+)?(?:\w+\s+)?"
    r"(?:first[- ]line|second[- ]line|preferred|recommended|indicated|appropriate|safe|reasonable|"
    r"(?:good|reasonable|appropriate|safe|preferred|effective|first|best|standard|initial|usual)\s+"
    r"(?:choice|option|alternative|treatment|therapy|agent|drug|medication)|"
    r"(?:drug|treatment|agent|therapy) of choice|mainstay|effective|used (?:to treat|for|in)|"
    r"not contraindicated|fine|ok|okay|compatible|acceptable|my (?:choice|preference|pick)|"
    r"(?:the |an? )?(?:anchor|cornerstone|backbone|foundation)(?:\s+\w+)?)|"
    r"would be (?:my|the) (?:choice|preference|pick|first choice)|"
    r"should be (?:started|given|used|added|prescribed|initiated|considered|continued|tried|offered)|"
    r"(?:can|may|could) (?:\w+\s+)?(?:be used|be given|be started|be taken|be continued|be added|be tried|be considered|be prescribed|help|relieve)|"
    r"(?:should|will|would|can|may|could) (?:\w+\s+)?(?:help|work|settle|relieve|control)|"
    r"treats|relieves|controls|works well|helps|improves"
)
DIAGNOSIS_PRE = (
    r"diagnosis(?: is| of)?|likely|most likely|probable|probably|consistent with|suggestive of|suggests?|"
    r"indicates?|points? to|compatible with|typical of|classic for|characteristic of|this is|"
    r"(?:he|she|they|the patient) (?:likely |probably |most likely )?(?:has|have)|represents?|suspect|"
    r"suspected|presentation of|picture of|impression(?: is)?|in keeping with|think of|features of|"
    r"possible|could be|may be|might be|is|due to|caused by|cause is"
)
DIAGNOSIS_POST = (r"(?:is|seems|appears)\s+(?:\w+\s+)?(?:likely|probable|the (?:most )?likely|the diagnosis|"
                  r"suspected|the cause)|fits|explains")
NOT_DIAGNOSIS = (r"unlikely|less likely|ruled out|rule out|excluded|not|rather than|instead of|"
                 r"no|without|against|exclude|differential includes")
TARGET_PRE = (
    r"for|treat|treats|treating|treatment of|treatment for|therapy for|therapy of|manage|managing|"
    r"management of|control|controlling|prevent|preventing|prevention of|prophylaxis (?:of|for|against)|"
    r"newly diagnosed(?: with)?|new diagnosis of|diagnosed with|presents with|to lower|to reduce|"
    r"relieve|relieving|relief of|in|with"
)
TARGET_WEAK = frozenset({"in", "with", "presents with"})  # also patient context: only a fallback

_TREATMENT_Q = re.compile(
    r"\b(treat|treats|treating|treatment|therapy|therapies|manage|management|drug|drugs|medication|"
    r"medications|medicine|meds|prescribe|prescription|give|start|restart|first[- ]line|second[- ]line|options?|"
    r"DMARDs?|antihypertensives?|antidepressants?|painkillers?|pain relief|anticoagula\w*|antiemetics?|"
    r"recommend\w*|regimen|dose|dosing|safe|safely|use|add|antibiotic\w*|analgesi\w*|what should|"
    r"which agent|choice|take|taking|control|relief|relieve|prevent|prophylaxis|rx|tx|plan|"
    r"what (?:can|could|would|should) (?:i|we|you) (?:give|use|do|try|prescribe))\b", re.I)
_KNOWLEDGE_Q = re.compile(r"\b(?:why|how does|how do|mechanism|side[- ]effects?|adverse|interact\w*|cause|causes|"
                          r"toxicity|overdose|what is|what are|explain)\b", re.I)
_DIAGNOSIS_Q = re.compile(
    r"\b((?<!newly )(?<!recently )(?<!was )(?<!been )(?<!being )(?<!is )(?<!just )diagnos(?!ed with\b)\w*|most likely|what (?:does|is|could) (?:he|she|they|the patient|this)|what condition|"
    r"cause of (?:these|his|her|their|the) symptoms|causing|differential|what is wrong|explain\w* (?:these|his|her|their)|"
    r"what disease|what illness|underlying|dx|ddx|impression|what is this|"
    r"what(?:'s| is) (?:it|this|happening|going on)(?=\s*[?.!]|\s*$)|what could (?:it|this) be|what(?:'s| is) wrong)\b", re.I)

_CLAUSE = re.compile(r"[;:?!]|\s[-\u2013\u2014]\s|,?\s*\b(?:but|however|whereas|although|though|while|yet|"
                     r"unless|except|which|who|because|since)\b", re.I)
_DOSE = re.compile(
    r"\b\d+(?:\.\d+)?\s*(?:mg|mcg|\u00b5g|g|units?|iu|ml|mmol|puffs?|tablets?)\b(?:\s*/\s*(?:kg|day|d|dose))?|"
    r"\b(?:once|twice|three times|four times)\s+(?:a\s+)?(?:daily|day|weekly|week)\b|"
    r"\b(?:daily|bid|tid|qid|qd|od|prn|nightly|at night|orally|po|iv|im|sc|intravenously|"
    r"oral|inhaled|topical|low[- ]dose|high[- ]dose|as needed|immediately)\b|\([^)]*\)", re.I)
_FILLER = re.compile(r"\b(?:a|an|the|his|her|their|its|this|that|some|any|low|high|dose|doses|of|"
                     r"regular|daily|an?\s+oral|oral|inhaled|such as|including|like|e\.g\.|eg|i\.e\.|"
                     r"for example|namely|especially|either|both|also|then|now|immediately|"
                     r"short[- ]acting|long[- ]acting|a course of|course|course of|agent|drug|medication|"
                     r"therapy|tablet|tablets|and|or|nor|plus|,|/)\b", re.I)

_NEG = re.compile(r"\b(?:no|not|non|without|denies|denied|negative for|never|free of|ruled out|absence of|"
                  r"isn't|is not|nor)\b", re.I)

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
_YES = re.compile(r"^\s*(?:yes|yeah|sure|absolutely|certainly|it is safe|that is (?:fine|safe|appropriate)|"
                  r"go ahead)\b", re.I)
_NO = re.compile(r"^\s*(?:no|not safe|it is not safe|avoid|don't|do not|never)\b", re.I)
_FAMILY = re.compile(r"\b(?:family history of|(?:mother|father|sister|brother|parent|sibling|aunt|uncle|"
                     r"grandmother|grandfather)s?\s+(?:has|had|with|died of))", re.I)


def _rx(alternatives: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + alternatives + r")(?!\w)", re.I)


_RX = {name: _rx(p) for name, p in {
    "recommend": RECOMMEND_PRE, "avoid": AVOID_PRE_BROAD, "avoid_narrow": AVOID_PRE_NARROW,
    "mention": MENTION_PRE, "taken": TAKEN_PRE, "taken_answer": TAKEN_ANSWER, "ask": ASK_PRE, "past": PAST_PRE,
    "diagnosis": DIAGNOSIS_PRE, "not_diagnosis": NOT_DIAGNOSIS, "target": TARGET_PRE,
}.items()}
_POST = {name: re.compile(r"^\W*(?:\w+\W+){0,5}?(?:" + p + r")(?!\w)", re.I) for name, p in {
    "avoid": AVOID_POST, "recommend": RECOMMEND_POST, "diagnosis": DIAGNOSIS_POST,
    "not_diagnosis": r"(?:is|are|seems|appears)\s+(?:\w+\s+)?(?:unlikely|less likely|ruled out|excluded|not likely)",
}.items()}
NARROW = frozenset({"avoid_narrow", "mention", "past"})  # cues that reach only the next noun phrase
MAX_GAP_WORDS = 4


# ---- records ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Item:
    """One entity in a role: a recommended drug, a patient condition, a reported symptom ..."""

    id: str
    name: str
    type: str
    text: str  # the words that named or implied it
    role: str
    sentence: int  # question: sentence index; answer: claim index
    start: int
    end: int
    cue: str | None = None
    derived: bool = False  # implied by a phrase (an age, an eGFR) rather than named
    negated: bool = False

    def ref(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "type": self.type}


@dataclass(frozen=True)
class QuestionReading:
    text: str
    conditions: tuple[Item, ...] = ()  # what the patient has (diseases, states, derived)
    symptoms: tuple[Item, ...] = ()  # what the patient reports
    taken: tuple[Item, ...] = ()  # drugs already taken
    asked: tuple[Item, ...] = ()  # drugs the question asks about
    targets: tuple[Item, ...] = ()  # diseases the question wants treated (explicit cue)
    diseases: tuple[Item, ...] = ()  # every affirmed disease named
    negated: tuple[Item, ...] = ()  # what the question says the patient does not have
    family_history: tuple[Item, ...] = ()
    intents: frozenset[str] = frozenset()  # treatment, diagnosis
    measures: tuple[tuple[str, float], ...] = ()  # stated values: ("egfr", 48.0), ("ckd_stage", 3.0)

    def measure(self, name: str) -> float | None:
        return next((v for k, v in self.measures if k == name), None)


@dataclass(frozen=True)
class AnswerReading:
    recommended: tuple[Item, ...] = ()
    avoided: tuple[Item, ...] = ()  # advised against, stopped, said to be contraindicated
    mentioned: tuple[Item, ...] = ()  # named only (a side effect, a mechanism, a comparison)
    taken: tuple[Item, ...] = ()  # drugs the answer says the patient takes
    diagnoses: tuple[Item, ...] = ()  # proposed diagnoses
    targets: tuple[Item, ...] = ()  # diseases a claim says a drug is for
    diseases: tuple[Item, ...] = ()  # every affirmed disease named


@dataclass
class _Mention:
    id: str
    type: str
    start: int
    end: int
    text: str
    negated: bool = False
    hedged: bool = False
    derived: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


# ---- the reader ---------------------------------------------------------------------------

class ClinicalReader:
    """Reads questions and answers against one knowledge graph (names, synonyms, classes)."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self._alias_ids: list[tuple[re.Pattern[str], str]] | None = None
        self._current: frozenset[str] | None = None

    # -- mentions
    def _aliases(self) -> list[tuple[re.Pattern[str], str]]:
        if self._alias_ids is None:
            out = []
            for pattern, name in ALIASES:
                ent = self.graph.resolve(name)
                if ent is not None:
                    out.append((re.compile(r"\b(?:" + pattern + r")(?!\w)", re.I), ent.id))
            self._alias_ids = out
        return self._alias_ids

    def mentions(self, text: str) -> list[_Mention]:
        """Vocabulary mentions plus alias phrasings, longest first where they overlap."""
        found = [_Mention(m.entity_id, m.type, m.start, m.end, m.text, m.negated, m.hedged)
                 for m in self.graph.vocabulary().find(text)]
        spans = {(m.start, m.end): m for m in found}
        for rx, eid in self._aliases():
            ent = self.graph.entity(eid)
            for m in rx.finditer(text):
                same = spans.get((m.start(), m.end()))
                # Where the vocabulary names the same words ("angina": a symptom), the alias
                # adds what they imply for the patient (coronary artery disease) beside it.
                found.append(_Mention(eid, ent.type, m.start(), m.end(), m.group(0),
                                      _negated_before(text, m.start()), derived=same is not None,
                                      extra={"beside": True} if same is not None else {}))
        found.sort(key=lambda m: (m.start - m.end, m.start))
        taken = bytearray(len(text) + 1)
        out = []
        for m in found:
            if m.extra.get("beside") and (m.start, m.end) in spans:
                out.append(m)
                continue
            if any(taken[m.start:m.end]):
                continue
            taken[m.start:m.end] = b"\x01" * (m.end - m.start)
            if m.start >= 4 and text[m.start - 4:m.start].lower() in ("non-", "non "):
                m.negated = True
            out.append(m)
        out.sort(key=lambda m: m.start)
        return out

    def _current_only(self) -> frozenset[str]:
        """Conditions that hold only while they last: a history of one is not the condition."""
        if self._current is None:
            ents = [self.graph.resolve(n) for n in CURRENT_ONLY]
            self._current = frozenset(e.id for e in ents if e is not None)
        return self._current

    def _item(self, m: _Mention, role: str, sentence: int, cue: str | None = None) -> Item:
        ent = self.graph.entity(m.id)
        return Item(id=m.id, name=ent.name if ent else m.text, type=m.type, text=m.text, role=role,
                    sentence=sentence, start=m.start, end=m.end, cue=cue, derived=m.derived,
                    negated=m.negated)

    def _derived(self, text: str, name: str, start: int, end: int, cue: str,
                 negated: bool = False) -> _Mention | None:
        ent = self.graph.resolve(name)
        if ent is None:
            return None
        return _Mention(ent.id, ent.type, start, end, text[start:end], negated=negated, derived=True,
                        extra={"cue": cue})

    def derived_conditions(self, text: str) -> list[_Mention]:
        """Patient states named by numbers or phrasings: age, pregnancy, renal function, ..."""
        out: list[_Mention] = []

        def add(name: str, m: re.Match[str], cue: str) -> None:
            d = self._derived(text, name, m.start(), m.end(), cue, _negated_before(text, m.start()))
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
        if (child or teen) and (vm := _VIRAL.search(text)) and not _negated_before(text, vm.start()):
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

    # -- question
    def read_question(self, question: str) -> QuestionReading:
        intents = set()
        if _TREATMENT_Q.search(question):
            intents.add("treatment")
        if _DIAGNOSIS_Q.search(question):
            intents.add("diagnosis")
        conditions: list[Item] = []
        symptoms: list[Item] = []
        taken: list[Item] = []
        asked: list[Item] = []
        targets: list[Item] = []
        diseases: list[Item] = []
        negated: list[Item] = []
        family: list[Item] = []
        not_pregnant = _NOT_PREGNANT.search(question) is not None
        measures = [("egfr", float(m.group(1))) for m in _RENAL.finditer(question)]
        measures += [("ckd_stage", float(m.group(1) or m.group(2))) for m in _CKD_STAGE.finditer(question)]
        spans = sentence_spans(question) or [(0, len(question))]
        for si, (s0, s1) in enumerate(spans):
            sent = question[s0:s1]
            ments = self.mentions(sent)
            derived = self.derived_conditions(sent)
            drugs = [m for m in ments if m.type in DRUG_TYPES]
            taken_here: list[_Mention] = []
            for m in drugs:
                role, cue = _classify(sent, m, drugs, ("past", "taken", "ask", "avoid", "avoid_narrow"))
                if role in ("taken",):
                    taken_here.append(m)
                    taken.append(self._item(_shift(m, s0), "taken", si, cue))
                elif role == "past" or m.negated:
                    continue
                else:
                    asked.append(self._item(_shift(m, s0), "asked", si, cue))
            for m in [m for m in ments if m.type in PATIENT_TYPES] + derived:
                if m.negated and not m.derived and not _negated_before(sent, m.start, ments):
                    m.negated = False  # the vocabulary's negation window reached past a verb
                if m.id == _pregnancy_id(self.graph) and (not_pregnant or _is_pregnancy_test(sent, m)):
                    m.negated = True
                if m.id in self._current_only() and _PAST_STATE.search(sent[max(0, m.start - 40):m.start]):
                    m.negated = True  # "history of a GI bleed" is not active bleeding
                item_m = _shift(m, s0)
                if m.negated:
                    negated.append(self._item(item_m, "negated", si, m.extra.get("cue")))
                    continue
                if _family_history(sent, m, ments):
                    family.append(self._item(item_m, "family_history", si, "family history"))
                    continue
                cue = m.extra.get("cue")
                is_symptom = m.type == SYMPTOM or any(
                    (e := self.graph.entity(x)) is not None and e.type == SYMPTOM
                    for x in self.graph.equivalents(m.id))
                if is_symptom and not m.derived:
                    symptoms.append(self._item(item_m, "symptom", si, cue))
                conditions.append(self._item(item_m, "condition", si, cue))
                if m.type == DISEASE:
                    diseases.append(self._item(item_m, "disease", si, cue))
                    tcue = _target_cue(sent, m, ments)
                    if tcue and tcue not in TARGET_WEAK and not _purpose_of(sent, m, drugs, taken_here):
                        targets.append(self._item(item_m, "target", si, tcue))
        return QuestionReading(
            text=question, conditions=_dedupe(conditions), symptoms=_dedupe(symptoms),
            taken=_dedupe(taken), asked=_dedupe([a for a in asked if a.id not in {t.id for t in taken}]),
            targets=_dedupe(targets), diseases=_dedupe(diseases), negated=_dedupe(negated),
            family_history=_dedupe(family), intents=frozenset(intents), measures=tuple(measures))

    # -- answer
    def read_answer(self, claims: Sequence[str], question: QuestionReading) -> AnswerReading:
        rec: list[Item] = []
        avoided: list[Item] = []
        mentioned: list[Item] = []
        taken: list[Item] = []
        diagnoses: list[Item] = []
        targets: list[Item] = []
        diseases: list[Item] = []
        taken_ids = {t.id for t in question.taken}
        treatment_q = "treatment" in question.intents or not (
            "diagnosis" in question.intents or _KNOWLEDGE_Q.search(question.text))
        known = {c.id for c in question.conditions}
        any_drug = False
        for ci, text in enumerate(claims):
            ments = self.mentions(text)
            drugs = [m for m in ments if m.type in DRUG_TYPES]
            any_drug = any_drug or bool(drugs)
            for m in drugs:
                role, cue = _classify(text, m, drugs,
                                      ("recommend", "avoid", "avoid_narrow", "mention", "taken_answer"),
                                      post=True)
                role = "taken" if role == "taken_answer" else role
                if role is None:
                    if m.negated:
                        role, cue = "avoid", "negated"
                    elif m.id in taken_ids:
                        role, cue = "taken", "already taken (question)"
                    elif treatment_q:
                        role, cue = "recommend", "named in answer to a treatment question"
                    else:
                        role, cue = "mention", None
                if role == "taken" and m.id not in taken_ids and cue in ("his", "her", "their"):
                    role = "mention"
                bucket = {"recommend": rec, "avoid": avoided, "avoid_narrow": avoided,
                          "taken": taken}.get(role, mentioned)
                bucket.append(self._item(m, {"avoid_narrow": "avoid"}.get(role, role), ci, cue))
            for m in ments:
                if m.type != DISEASE or m.negated:
                    continue
                diseases.append(self._item(m, "disease", ci))
                tcue = _target_cue(text, m, ments)
                if tcue and drugs and tcue not in TARGET_WEAK:
                    targets.append(self._item(m, "target", ci, tcue))
                dcue = _diagnosis_cue(text, m, ments)
                if dcue is False:
                    continue
                if dcue or ("diagnosis" in question.intents and m.id not in known
                            and not (tcue and tcue not in TARGET_WEAK)):
                    diagnoses.append(self._item(m, "diagnosis", ci, dcue or "answer to a diagnosis question"))
        if claims and not any_drug and question.asked:
            first = claims[0]
            if _YES.search(first):
                rec.extend(_replace_role(a, "recommend", 0, "affirmative answer") for a in question.asked)
            elif _NO.search(first):
                avoided.extend(_replace_role(a, "avoid", 0, "negative answer") for a in question.asked)
        return AnswerReading(recommended=tuple(rec), avoided=tuple(avoided), mentioned=tuple(mentioned),
                             taken=tuple(taken), diagnoses=tuple(diagnoses), targets=tuple(targets),
                             diseases=tuple(diseases))


# ---- helpers ------------------------------------------------------------------------------

def _shift(m: _Mention, offset: int) -> _Mention:
    return _Mention(m.id, m.type, m.start + offset, m.end + offset, m.text, m.negated, m.hedged,
                    m.derived, m.extra)


def _replace_role(item: Item, role: str, sentence: int, cue: str) -> Item:
    from dataclasses import replace

    return replace(item, role=role, sentence=sentence, cue=cue)


def _dedupe(items: Sequence[Item]) -> tuple[Item, ...]:
    seen: dict[str, Item] = {}
    for it in items:
        seen.setdefault(it.id, it)
    return tuple(seen.values())


_PREGNANCY_IDS: dict[int, str | None] = {}


def _pregnancy_id(graph: Any) -> str | None:
    key = id(graph)
    if key not in _PREGNANCY_IDS:
        ent = graph.resolve("pregnancy")
        _PREGNANCY_IDS[key] = ent.id if ent else None
    return _PREGNANCY_IDS[key]


def _is_pregnancy_test(sent: str, m: _Mention) -> bool:
    after = sent[m.end:m.end + 30].lower()
    before = sent[max(0, m.start - 20):m.start].lower()
    return (after.lstrip().startswith("test") and "positive" not in before + after) or "negative" in before


_NEG_STOP = re.compile(r"\b(?:has|have|had|is|are|was|were|presents?|presenting|reports?|complains?|takes?|"
                       r"taking|develops?|developed|now|needs?|with|on)\b", re.I)


def _negated_before(text: str, start: int, ments: Sequence[_Mention] = ()) -> bool:
    """A negation cue within the four words before `start`, inside its clause and after any
    verb ("without asthma has migraine": migraine is not negated). Other mentions between
    the cue and this one are lists ("no fever or cough")."""
    lo = max(0, start - 80)
    prefix = _blank(text, [(m.start, m.end) for m in ments if m.end <= start], lo, start)
    prefix = prefix[max((m.end() for m in _CLAUSE.finditer(prefix)), default=0):]
    prefix = prefix[max((m.end() for m in _NEG_STOP.finditer(prefix)), default=0):]
    words = prefix.split()[-4:]
    return bool(_NEG.search(" ".join(words)))


def _family_history(text: str, m: _Mention, ments: Sequence[_Mention]) -> bool:
    """Whether a condition is a relative's ("family history of asthma and migraine")."""
    lo, _ = _clause_bounds(text, m.start, m.end)
    for c in _FAMILY.finditer(text, lo, m.start):
        gap = _blank(text, [(x.start, x.end) for x in ments if x is not m], c.end(), m.start)
        if _gap_words(gap) == 0:
            return True
    return False


def _purpose_of(text: str, m: _Mention, drugs: Sequence[_Mention], taken: Sequence[_Mention]) -> bool:
    """Whether a disease is what a drug the patient takes is for ("on warfarin for AF")."""
    before = [d for d in drugs if d.end <= m.start]
    if not before:
        return False
    d = max(before, key=lambda x: x.end)
    gap = text[d.end:m.start]
    return d in taken and bool(re.fullmatch(r"\s*(?:\S+\s+){0,3}?for\s+(?:\w+\s+){0,2}?", gap + " ")) \
        and _gap_words(gap.replace("for", " ")) <= 3


def _clause_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    lo = max((m.end() for m in _CLAUSE.finditer(text, 0, start)), default=0)
    nxt = _CLAUSE.search(text, end)
    return lo, (nxt.start() if nxt else len(text))


def _gap_words(gap: str) -> int:
    gap = _DOSE.sub(" ", gap)
    gap = _FILLER.sub(" ", gap)
    return len(re.findall(r"[A-Za-z0-9]+", gap))


def _blank(text: str, spans: Sequence[tuple[int, int]], lo: int, hi: int) -> str:
    """text[lo:hi] with the given spans replaced by spaces."""
    chars = list(text[lo:hi])
    for s, e in spans:
        for i in range(max(s, lo), min(e, hi)):
            chars[i - lo] = " "
    return "".join(chars)


def _classify(text: str, m: _Mention, drugs: Sequence[_Mention], kinds: Sequence[str],
              post: bool = False) -> tuple[str | None, str | None]:
    """The role the nearest cue gives a drug mention (None: no cue reaches it). A drug in
    brackets right after another ("an MAOI (phenelzine)") takes that one's role."""
    head = next((d for d in drugs if d.end <= m.start and re.fullmatch(r"\s*[(\[,]\s*(?:e\.g\.,?\s*|eg\s+|such as\s+)?",
                                                                          text[d.end:m.start])), None)
    if head is not None and text[head.end:m.start].strip().startswith(("(", "[")):
        return _classify(text, head, drugs, kinds, post)
    lo, hi = _clause_bounds(text, m.start, m.end)
    others = [(d.start, d.end) for d in drugs if d is not m]
    between_drugs = [d for d in drugs if d is not m and lo <= d.start and d.end <= m.start]
    best: tuple[int, int, str, str] | None = None  # (end, -start, kind, text)
    for kind in kinds:
        rx = _RX[kind]
        for c in rx.finditer(text, lo, m.start):
            if c.end() > m.start:
                continue
            intervening = [d for d in between_drugs if d.start >= c.end()]
            if kind in NARROW:
                if intervening or _gap_words(text[c.end():m.start]) > 1:
                    continue
            elif kind.startswith("taken") and c.group(0).lower() in (
                    "on", "his", "her", "their", "existing", "current", "with"):  # "on X and Y"
                if _gap_words(_blank(text, others, c.end(), m.start)) > (0 if intervening else 1):
                    continue
            else:
                gap = _blank(text, others, c.end(), m.start)
                if _gap_words(gap) > MAX_GAP_WORDS:
                    continue
            cand = (c.end(), -c.start(), kind, c.group(0))
            if best is None or cand[:2] > best[:2]:
                best = cand
    post_kind = None
    if post:
        suffix = _blank(text, others, m.end, hi)
        suffix = _DOSE.sub(" ", suffix)
        if _POST["avoid"].search(suffix):
            post_kind = "avoid"
        elif _POST["recommend"].search(suffix):
            post_kind = "recommend"
    if post_kind == "avoid" and (best is None or best[2] not in ("avoid", "avoid_narrow", "taken", "taken_answer")):
        return "avoid", "after: " + (_POST["avoid"].search(suffix).group(0).strip())  # type: ignore[union-attr]
    if best is not None:
        return best[2], best[3]
    if post_kind == "recommend":
        return "recommend", "after: " + _POST["recommend"].search(suffix).group(0).strip()  # type: ignore[union-attr]
    return None, None


def _target_cue(text: str, m: _Mention, ments: Sequence[_Mention]) -> str | None:
    """The cue saying a disease is what a drug is for ("for", "treatment of", ...)."""
    lo, _ = _clause_bounds(text, m.start, m.end)
    best: re.Match[str] | None = None
    for c in _RX["target"].finditer(text, lo, m.start):
        gap = text[c.end():m.start]
        if _gap_words(re.sub(r"\b(?:mild|moderate|severe|acute|chronic|persistent|uncomplicated|"
                             r"newly diagnosed|new|recurrent|stable|early|his|her|their|the|a|an|"
                             r"episodic|intermittent|active|resistant|refractory|moderate-to-severe)\b",
                             " ", gap, flags=re.I)) == 0:
            best = c
    return best.group(0).lower() if best else None


def _diagnosis_cue(text: str, m: _Mention, ments: Sequence[_Mention]) -> str | bool | None:
    """A diagnostic cue (str), an explicit rejection (False), or nothing (None)."""
    lo, hi = _clause_bounds(text, m.start, m.end)
    prefix_cues = [(c.end(), c.group(0), "yes") for c in _RX["diagnosis"].finditer(text, lo, m.start)
                   if _gap_words(text[c.end():m.start]) <= 2]
    prefix_cues += [(c.end(), c.group(0), "no") for c in _RX["not_diagnosis"].finditer(text, lo, m.start)
                    if _gap_words(text[c.end():m.start]) <= 3]
    suffix = text[m.end:hi]
    if _POST["not_diagnosis"].search(suffix):
        return False
    if prefix_cues:
        end, cue, kind = max(prefix_cues)
        if kind == "no":
            return False
        if cue.lower() in ("is", "due to", "caused by"):
            return None
        return cue.lower()
    if _POST["diagnosis"].search(suffix):
        return "after: " + _POST["diagnosis"].search(suffix).group(0).strip()  # type: ignore[union-attr]
    if m.hedged:
        return "hedged"
    return None
