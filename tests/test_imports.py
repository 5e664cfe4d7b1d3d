"""`import kb` stays light, and imports flow one way (DESIGN §2)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_kb_does_not_import_torch() -> None:
    code = ("import sys, kb, kb.cli, kb.store, kb.records, kb.ledger, kb.models, kb.graph;"
            "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'faiss')"
            " if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


ALLOWED = {
    "kb": {"kb"},
    "ingest": {"kb", "ingest"},
    "retrieval": {"kb", "retrieval"},
    "generation": {"kb", "retrieval", "generation"},
}


def test_imports_flow_one_way() -> None:
    bad = []
    for pkg, allowed in ALLOWED.items():
        for f in (ROOT / pkg).rglob("*.py"):
            if f.name.startswith("cli") and pkg == "kb":
                continue  # the CLI modules wire everything together
            tree = ast.parse(f.read_text())
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for n in names:
                    top = n.split(".")[0]
                    if top in ALLOWED and top not in allowed:
                        bad.append(f"{f.relative_to(ROOT)} imports {n}")
    assert not bad, bad
