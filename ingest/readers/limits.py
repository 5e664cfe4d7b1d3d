"""Limits every reader runs within, so that one hostile file costs a line in the build
report and never the build: sizes of what is read into memory, decompressed sizes, and the
time and memory of the PDF parser's child process (ingest.readers.sandbox).
"""

from __future__ import annotations

from dataclasses import dataclass

MB = 1 << 20


@dataclass(frozen=True)
class ReadLimits:
    # Text and XML files are read whole; PubMed baseline files are ~200 MB, so 512 MB is room.
    max_file_bytes: int = 512 * MB
    # One JSONL record or one line of a text file; real records stay far below (a full paper
    # is about 100 kB), a multi-megabyte line is a broken export or an attack.
    max_line_bytes: int = 16 * MB
    # What a .gz may inflate to; the full MedQuAD set inflates to about 30 MB.
    max_decompressed_bytes: int = 4096 * MB
    # Per PDF: the child parser is killed past this, and its address space is capped.
    pdf_timeout_s: float = 120.0
    pdf_memory_mb: int = 2048


DEFAULT_LIMITS = ReadLimits()


def human_bytes(n: int) -> str:
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GB"
    if n >= MB:
        return f"{n / MB:.1f} MB"
    return f"{n / 1024:.1f} kB" if n >= 1024 else f"{n} bytes"
