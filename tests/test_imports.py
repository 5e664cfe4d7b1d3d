"""`import kb` and `medkb --help` stay light, and imports flow one way (DESIGN §2)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ('torch', 'transformers', 'sentence_transformers', 'faiss')


def _heavy_after(code: str) -> str:
    probe = (f"{code}; import sys; print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_import_kb_does_not_import_torch() -> None:
    assert _heavy_after("import kb, kb.store, kb.records, kb.ledger, kb.models, kb.graph") == ""


def test_import_medkb_and_its_cli_stay_light() -> None:
    assert _heavy_after("import medkb, medkb.cli") == ""


def test_medkb_help_does_not_import_torch() -> None:
    code = ("import sys; sys.argv = ['medkb', '--help']\n"
            "from medkb.cli import app\n"
            "try:\n    app()\nexcept SystemExit:\n    pass")
    probe = code + ("\nprint('HEAVY=' + ','.join(m for m in "
                    f"{HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "Usage" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "HEAVY="


ALLOWED = {
    "kb": {"kb"},
    "ingest": {"kb", "ingest"},
    "retrieval": {"kb", "retrieval"},
    "generation": {"kb", "retrieval", "generation"},
    "medkb": {"kb", "ingest", "retrieval", "generation", "medkb"},
}


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_imports_flow_one_way() -> None:
    """Every module, the lazy imports inside functions included; no exemptions."""
    bad = []
    for pkg, allowed in ALLOWED.items():
        for f in (ROOT / pkg).rglob("*.py"):
            for n in _imports(f):
                top = n.split(".")[0]
                if top in ALLOWED and top not in allowed:
                    bad.append(f"{f.relative_to(ROOT)} imports {n}")
    assert not bad, bad


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    """The walker finds a lazy upward import (so the test above can fail)."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from generation.answer import x\n")
    assert "generation.answer" in _imports(f)
