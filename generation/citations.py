"""Parse citation keys out of model output; strip keys the model invented."""

from __future__ import annotations

import re
from dataclasses import dataclass

_MARK = re.compile(r"\s*\[(?:(?:passage|source|ref)\s*)?(\d+(?:\s*[,;\-\u2013]\s*\d+)*)\]", re.I)


@dataclass(frozen=True)
class ParsedSentence:
    text: str            # the sentence with its citation markers removed
    keys: tuple[int, ...]  # valid keys, in order of appearance
    invented: tuple[int, ...]  # keys outside 1..n_passages


def _expand(group: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*[,;]\s*", group.strip()):
        if re.fullmatch(r"\d+\s*[\-\u2013]\s*\d+", part):
            a, b = (int(x) for x in re.split(r"\s*[\-\u2013]\s*", part))
            if 0 < b - a < 20:
                out.extend(range(a, b + 1))
                continue
        if part.isdigit():
            out.append(int(part))
    return out


def parse_sentence(sentence: str, n_passages: int) -> ParsedSentence:
    keys: list[int] = []
    invented: list[int] = []
    for m in _MARK.finditer(sentence):
        for k in _expand(m.group(1)):
            target = keys if 1 <= k <= n_passages else invented
            if k not in target:
                target.append(k)
    text = _MARK.sub("", sentence).strip()
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return ParsedSentence(text=text, keys=tuple(keys), invented=tuple(invented))
