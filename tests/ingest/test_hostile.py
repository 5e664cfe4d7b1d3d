"""Hostile input, generated here: each bad file costs exactly one clear line in the build
report, and every good file beside it is ingested."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from medkb_testutil import BILLION_LAUGHS, EXTERNAL_ENTITY, ROOT, TINY_RECORDS, write_jsonl

from ingest.pipeline import BuildOptions, build
from ingest.readers.limits import MB, ReadLimits
from ingest.readers.sandbox import PdfSandbox
from kb.errors import InputError
from kb.faults import ENV

FORMATS = ROOT / "corpora" / "formats"
LIMITS = ReadLimits(pdf_timeout_s=30, pdf_memory_mb=256, max_decompressed_bytes=64 * MB)


# -- generators ------------------------------------------------------------------------------
def minimal_pdf(stream: bytes, *, flate: bool = False) -> bytes:
    """A one-page PDF whose page content is `stream` (Helvetica as /F1)."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d%s >>\nstream\n" % (len(stream), b" /Filter /FlateDecode" if flate
                                               else b"") + stream + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def text_pdf(text: str) -> bytes:
    return minimal_pdf(b"BT /F1 12 Tf 72 700 Td (%s) Tj ET" % text.encode("latin-1"))


def bomb_pdf(inflated_mb: int = 200) -> bytes:
    """~2.5 kB of deflate per MB of text-drawing operators: 200 MB of `Tj` from 0.5 MB,
    which MuPDF turns into ~20 GB of text structures."""
    chunk = (b"BT /F1 1 Tf 10 10 Td (" + b"A" * 1000 + b") Tj ET\n") * 1000
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = raw.compress(chunk) + raw.flush(zlib.Z_FULL_FLUSH)  # resets: blocks repeat
    tail = raw.flush()
    adler = 1
    for _ in range(inflated_mb):
        adler = zlib.adler32(chunk, adler)
    return minimal_pdf(b"\x78\xda" + block * inflated_mb + tail + adler.to_bytes(4, "big"),
                       flate=True)


def encrypted_pdf(path: Path) -> None:
    import pymupdf

    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "Secret asthma protocol")
    doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="owner", user_pw="user")
    doc.close()


def gzip_bomb(line: bytes, member_mb: int, members: int) -> bytes:
    """Gzip members may be concatenated: one small member repeated inflates `members` times."""
    one = gzip.compress(line * (member_mb * MB // len(line)), compresslevel=9)
    return one * members


# bad file -> words its one report line must contain
BAD = {
    "zero.pdf": "empty",
    "truncated.pdf": "PDF",
    "encrypted.pdf": "password",
    "not-a-pdf.pdf": "not a PDF",
    "bomb.pdf": "memory limit",
    "laughs.xml": "entity declarations are not allowed",
    "xxe.nxml": "entity declarations are not allowed",
    "bad-utf8.jsonl": "line 2: not UTF-8",
    "bad-utf8.txt": "not UTF-8",
    "huge-line.txt": "limit for one line",
    "bomb-lines.jsonl.gz": "gzip bomb",
    "bomb-oneline.jsonl.gz": "limit for one record",
}


def hostile_corpus(root: Path) -> tuple[Path, dict[str, int]]:
    """The corpus and, per good file, how many documents it holds."""
    root.mkdir()
    (root / "zero.pdf").write_bytes(b"")
    (root / "truncated.pdf").write_bytes(text_pdf("Cut short")[:180])
    encrypted_pdf(root / "encrypted.pdf")
    (root / "not-a-pdf.pdf").write_text("<html>this is a web page</html>", "utf-8")
    (root / "bomb.pdf").write_bytes(bomb_pdf())
    (root / "laughs.xml").write_text(BILLION_LAUGHS, "utf-8")
    secret = root.parent / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT", "utf-8")
    (root / "xxe.nxml").write_text(EXTERNAL_ENTITY.format(secret=secret), "utf-8")
    (root / "bad-utf8.jsonl").write_bytes(
        b'{"id": "a", "text": "fine"}\n{"id": "b", "text": "caf\xe9 \xff"}\n')
    (root / "bad-utf8.txt").write_bytes(b"Title\n\nDose 5 \xb5g daily\n")
    with open(root / "huge-line.txt", "wb") as fh:
        fh.write(b"Title\n" + b"word " * (10 * MB))  # one 50 MB line
    (root / "bomb-lines.jsonl.gz").write_bytes(
        gzip_bomb(b" " * (MB - 1) + b"\n", member_mb=64, members=32))  # 2 GB of blank lines
    (root / "bomb-oneline.jsonl.gz").write_bytes(gzip_bomb(b"\0" * 4096, 64, 16))  # 1 GB, no \n

    good = {"good.pdf": 1, "good.jsonl": len(TINY_RECORDS), "good.txt": 1, "good.md": 1,
            "good.jsonl.gz": 2, "pubmed.xml": 1, "article.nxml": 1}
    (root / "good.pdf").write_bytes(text_pdf("Albuterol relieves acute bronchospasm in asthma"))
    write_jsonl(root / "good.jsonl", TINY_RECORDS)
    (root / "good.txt").write_text("Gout\n\nColchicine treats acute gout flares.", "utf-8")
    (root / "good.md").write_text("# Heart failure\n\nLoop diuretics relieve congestion.", "utf-8")
    (root / "good.jsonl.gz").write_bytes(gzip.compress(
        b'{"id": "g1", "text": "Statins lower LDL cholesterol."}\n'
        b'{"id": "g2", "text": "Aspirin prevents secondary cardiovascular events."}\n'))
    shutil.copy(FORMATS / "pubmed" / "pubmed-29768149.xml", root / "pubmed.xml")
    shutil.copy(FORMATS / "jats" / "pone.0000217.nxml", root / "article.nxml")
    return root, good


# -- the whole corpus ------------------------------------------------------------------------
def test_hostile_corpus_one_line_per_bad_file_and_every_good_file_ingested(tmp_path: Path) -> None:
    corpus, good = hostile_corpus(tmp_path / "corpus")
    t0 = time.perf_counter()
    report = build([corpus], tmp_path / "kb",
                   BuildOptions(embedder="hash-256", graph_seeds=None, limits=LIMITS))
    seconds = time.perf_counter() - t0

    failed = {Path(f["source"]).name: f["error"] for f in report["failed"]}
    assert len(report["failed"]) == len(failed) == len(BAD), report["failed"]
    for name, words in BAD.items():
        error = failed[name]
        assert str(corpus / name) in error and words in error, (name, error)
        assert "\n" not in error and len(error) < 400 and "TOP-SECRET" not in error

    from kb.store import KnowledgeBase

    version = KnowledgeBase(tmp_path / "kb").current()
    origins = {}
    for (origin,) in version.db.execute("SELECT origin FROM documents"):
        origins[Path(origin).name] = origins.get(Path(origin).name, 0) + 1
    assert origins == good
    assert report["documents"] == sum(good.values())
    assert seconds < 60


# -- the PDF sandbox -------------------------------------------------------------------------
def test_pdf_parser_crash_costs_one_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("a.pdf", "crash.pdf", "b.pdf"):
        (tmp_path / name).write_bytes(text_pdf(f"Document {name} about asthma"))
    monkeypatch.setenv(ENV, "pdf:crash.pdf@SIGSEGV")  # the child segfaults on this file
    with PdfSandbox(LIMITS) as sandbox:
        assert sandbox.read(tmp_path / "a.pdf")[0].text.startswith("Document a.pdf")
        with pytest.raises(InputError, match=r"crashed \(SIGSEGV\)") as err:
            sandbox.read(tmp_path / "crash.pdf")
        assert err.value.source == str(tmp_path / "crash.pdf")
        assert sandbox.read(tmp_path / "b.pdf")[0].text.startswith("Document b.pdf")
        assert sandbox.starts == 2


def test_pdf_time_limit(tmp_path: Path) -> None:
    (tmp_path / "slow.pdf").write_bytes(bomb_pdf())
    (tmp_path / "ok.pdf").write_bytes(text_pdf("Still fine"))
    with PdfSandbox(ReadLimits(pdf_timeout_s=1.0, pdf_memory_mb=8192)) as sandbox:
        t0 = time.perf_counter()
        with pytest.raises(InputError, match="time limit"):
            sandbox.read(tmp_path / "slow.pdf")
        assert time.perf_counter() - t0 < 30  # includes starting the child on a busy machine
        assert sandbox.read(tmp_path / "ok.pdf")[0].text == "Still fine"


def test_pdf_documents_match_in_process_reader() -> None:
    from ingest.readers import read_source

    pdf = next((FORMATS / "pdf").glob("*.pdf"))
    with PdfSandbox() as sandbox:
        assert sandbox.read(pdf) == list(read_source(pdf))


def test_pdf_child_dies_with_the_build(tmp_path: Path) -> None:
    """A build killed by SIGKILL takes its PDF parser with it (no orphan chewing a bomb)."""
    (tmp_path / "ok.pdf").write_bytes(text_pdf("Hello"))
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from ingest.readers.sandbox import PdfSandbox\n"
        "s = PdfSandbox(); s.read(Path(sys.argv[1]))\n"
        "print(s._proc.pid, flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "ok.pdf")],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for _ in range(100):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail("the PDF parser outlived the build")


# -- readers within limits -------------------------------------------------------------------
def test_text_limits(tmp_path: Path) -> None:
    from ingest.readers import read_source

    path = tmp_path / "long.txt"
    path.write_text("Title\n" + "x" * 2000 + "\nshort\n", "utf-8")
    with pytest.raises(InputError, match="line 2 is longer than the 1.0 kB limit"):
        list(read_source(path, ReadLimits(max_line_bytes=1024)))
    with pytest.raises(InputError, match="over the 1.0 kB limit for text files"):
        list(read_source(path, ReadLimits(max_file_bytes=1024)))
    assert list(read_source(path, ReadLimits(max_line_bytes=4096)))


def test_jsonl_limits_and_bad_bytes(tmp_path: Path) -> None:
    from ingest.readers import read_source

    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"id": "a", "text": "ok"}\n{"id": "b", "text": "' + b"y" * 3000 + b'"}\n')
    with pytest.raises(InputError, match="line 2 is longer than the 2.0 kB limit"):
        list(read_source(path, ReadLimits(max_line_bytes=2048)))
    assert len(list(read_source(path))) == 2

    gz = tmp_path / "r.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(InputError, match="decompresses to more than the 2.0 kB limit"):
        list(read_source(gz, ReadLimits(max_decompressed_bytes=2048)))

    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b'\xef\xbb\xbf{"id": "a", "text": "with a byte order mark"}\n')
    assert [d.external_id for d in read_source(bom)] == ["a"]


def test_xml_size_limit(tmp_path: Path) -> None:
    from ingest.readers import read_source

    path = tmp_path / "p.xml"
    shutil.copy(FORMATS / "pubmed" / "pubmed-29768149.xml", path)
    with pytest.raises(InputError, match="limit for XML files"):
        list(read_source(path, ReadLimits(max_file_bytes=1024)))


def test_cli_build_reports_failures(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from medkb.cli import app

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_jsonl(corpus / "good.jsonl", TINY_RECORDS)
    (corpus / "zero.pdf").write_bytes(b"")
    (corpus / "bad.txt").write_bytes(b"\xff\xfe\x00")
    result = CliRunner().invoke(app, ["build", str(corpus), "--kb", str(tmp_path / "kb"),
                                      "--embedder", "hash-256", "--no-graph", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert sorted(Path(f["source"]).name for f in report["failed"]) == ["bad.txt", "zero.pdf"]
    assert report["documents"] == len(TINY_RECORDS)
