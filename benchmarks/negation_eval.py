"""Negation and hedging on gold mentions: MedKB's NegEx-style code vs medspaCy ConText.

    python benchmarks/negation_eval.py [tests/fixtures/negation_gold.jsonl]

Each gold line: {"split", "text", "mentions": [{"start", "end", "negated", "hedged"}]}. Every system
is given the gold spans and decides negated / hedged for each; reported: accuracy, and
precision / recall / F1 of the `negated` and `hedged` labels, per split (`dev` was
used to tune kb.negation's cue lists; `test` was written afterwards and not tuned on).

- `negex`: kb.negation (what ingest marks on every mention);
  and the clinical reader (answering) applies to every mention;
- `context`: medspaCy ConText with its default rules on a blank spaCy pipeline, run only when
  `medspacy` is importable (it is not a MedKB dependency: see the README).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kb.negation import assertion  # noqa: E402
from kb.sentences import sentence_spans  # noqa: E402
from kb.vocabulary import fold  # noqa: E402

GOLD = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "negation_gold.jsonl"


def negex(text: str, spans: list[tuple[int, int]]) -> list[tuple[bool, bool]]:
    folded = fold(text)
    sents = sentence_spans(text) or [(0, len(text))]
    out = []
    for s, e in spans:
        ss, se = next(((a, b) for a, b in sents if a <= s < b), (0, len(text)))
        out.append(assertion(folded, s, e, ss, se))
    return out


def context_system():
    import medspacy  # noqa: F401  (only for this comparison)
    import spacy
    from medspacy.context import ConText
    from spacy.tokens import Span

    try:
        from loguru import logger  # PyRuSH logs every token at DEBUG

        logger.remove()
    except ImportError:
        pass
    nlp = spacy.blank("en")
    nlp.add_pipe("medspacy_pyrush")  # sentence splitter
    ctx = ConText(nlp)

    def run(text: str, spans: list[tuple[int, int]]) -> list[tuple[bool, bool]]:
        doc = nlp(text)
        ents = []
        for s, e in spans:
            sp = doc.char_span(s, e, label="FINDING", alignment_mode="expand")
            ents.append(sp)
        doc.ents = [Span(doc, sp.start, sp.end, label="FINDING") for sp in ents]
        doc = ctx(doc)
        by_span = {(x.start_char, x.end_char): x for x in doc.ents}
        out = []
        for sp in ents:
            x = by_span[(sp.start_char, sp.end_char)]
            out.append((bool(x._.is_negated), bool(x._.is_uncertain or x._.is_hypothetical)))
        return out

    return run


def score(gold: list[dict], system) -> dict[str, float]:
    tp = {"negated": 0, "hedged": 0}
    fp = dict(tp)
    fn = dict(tp)
    right = total = 0
    misses = []
    for rec in gold:
        spans = [(m["start"], m["end"]) for m in rec["mentions"]]
        if not spans:
            continue
        for m, (neg, hed) in zip(rec["mentions"], system(rec["text"], spans), strict=True):
            total += 1
            ok = neg == m["negated"] and hed == m["hedged"]
            right += ok
            if neg != m["negated"]:
                misses.append(f"{'FP' if neg else 'FN'} negated: {m['text']!r} in {rec['text']!r}")
            if hed != m["hedged"]:
                misses.append(f"{'FP' if hed else 'FN'} hedged: {m['text']!r} in {rec['text']!r}")
            for key, pred in (("negated", neg), ("hedged", hed)):
                if pred and m[key]:
                    tp[key] += 1
                elif pred:
                    fp[key] += 1
                elif m[key]:
                    fn[key] += 1
    out: dict[str, float] = {"mentions": total, "accuracy": right / max(total, 1)}
    for key in tp:
        p = tp[key] / max(tp[key] + fp[key], 1)
        r = tp[key] / max(tp[key] + fn[key], 1)
        out[f"{key}_p"], out[f"{key}_r"] = p, r
        out[f"{key}_f1"] = 2 * p * r / max(p + r, 1e-9)
    out["misses"] = misses  # type: ignore[assignment]
    return out


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    args = [a for a in argv if a != "-v"]
    path = Path(args[0]) if args else GOLD
    gold = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    systems = {"negex": negex}
    try:
        systems["context"] = context_system()
    except ImportError as e:
        print(f"context: skipped ({e}); pip install medspacy to compare")
    splits = sorted({r.get("split", "all") for r in gold})
    for split, name in [(sp, n) for sp in splits for n in systems]:
        system = systems[name]
        s = score([r for r in gold if r.get("split", "all") == split], system)
        misses = s.pop("misses")
        print(f"{split:5s} {name:13s} n={s['mentions']} acc={s['accuracy']:.3f} "
              f"negated P/R/F1={s['negated_p']:.2f}/{s['negated_r']:.2f}/{s['negated_f1']:.2f} "
              f"hedged P/R/F1={s['hedged_p']:.2f}/{s['hedged_r']:.2f}/{s['hedged_f1']:.2f}")
        if verbose:
            for m in misses:
                print("   ", m)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
