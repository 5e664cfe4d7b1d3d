"""Sources (files and folders) -> the readable files under them, in a stable order.

A folder may hold a `.medkbignore` with gitignore-like patterns, relative to that folder:
`full/` skips a folder, `README.md` a file at any depth, `docs/*.md` an anchored path.
Hidden files and folders are skipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

IGNORE_FILE = ".medkbignore"
EXTENSIONS = (".pdf", ".xml", ".nxml", ".jsonl", ".jsonl.gz", ".txt", ".md")


def is_readable_name(name: str) -> bool:
    return name.lower().endswith(EXTENSIONS)


@dataclass(frozen=True)
class _Rule:
    base: Path
    pattern: str
    dir_only: bool
    anchored: bool

    def matches(self, path: Path, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        if self.anchored:
            try:
                rel = path.relative_to(self.base).as_posix()
            except ValueError:
                return False
            return fnmatchcase(rel, self.pattern)
        return fnmatchcase(path.name, self.pattern)


def _load_rules(folder: Path) -> list[_Rule]:
    ignore = folder / IGNORE_FILE
    if not ignore.is_file():
        return []
    rules = []
    for raw in ignore.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        dir_only = line.endswith("/")
        pattern = line.strip("/")
        if pattern:
            anchored = "/" in line.rstrip("/")
            rules.append(_Rule(folder, pattern.lstrip("/"), dir_only, anchored))
    return rules


def _walk(folder: Path, rules: list[_Rule], seen_dirs: set[Path], out: list[Path]) -> None:
    real = folder.resolve()
    if real in seen_dirs:  # a symlink loop
        return
    seen_dirs.add(real)
    rules = rules + _load_rules(folder)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = folder / entry.name
        is_dir = entry.is_dir()
        if any(rule.matches(path, is_dir) for rule in rules):
            continue
        if is_dir:
            _walk(path, rules, seen_dirs, out)
        elif entry.is_file() and is_readable_name(entry.name):
            out.append(path)


def discover(sources: list[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Readable files under `sources` (folders recursively, each sorted by name) and
    `(source, error)` for sources that are missing or of an unsupported type.

    Files come back as the paths given, joined with the names found, so that a document's
    `source` reads as the user wrote it; a file reached twice is listed once.
    """
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    for source in sources:
        source = Path(source)
        if source.is_dir():
            _walk(source, [], set(), files)
        elif source.is_file():
            if is_readable_name(source.name):
                files.append(source)
            else:
                problems.append(
                    (
                        str(source),
                        f"{source}: unsupported file type; MedKB reads {', '.join(EXTENSIONS)}",
                    )
                )
        elif source.exists():
            problems.append((str(source), f"{source}: not a regular file or folder"))
        else:
            problems.append((str(source), f"{source}: no such file or folder"))
    unique: list[Path] = []
    seen: set[Path] = set()
    for path in files:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique, problems
