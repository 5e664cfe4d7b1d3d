"""MedKB base package: records, errors, configuration and the on-disk knowledge base.

Importing `kb` must stay light (no torch): the CLI starts from here.
"""

from kb.errors import MedKBError

__all__ = ["MedKBError"]
__version__ = "0.1.0"
