"""One root error type; each says what went wrong and what to do about it."""

from __future__ import annotations


class MedKBError(Exception):
    """An error the user can act on: the CLI prints it and exits 1."""


class InputError(MedKBError):
    """A source file or record cannot be read; names the file and the reason."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class KBError(MedKBError):
    """The knowledge base is missing, damaged or was built differently."""


class ModelError(MedKBError):
    """A model is missing or does not match what was expected."""


class BackendError(MedKBError):
    """A generation backend failed (server unreachable, bad response)."""
