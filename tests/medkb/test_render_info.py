"""`medkb info` says in words which embedder built the KB and whether its vectors agree
with fp32 or were admitted by the retrieval gate (the JSON keeps the whole block)."""

from __future__ import annotations

from medkb.cli.render import embedder, info


def test_an_int8_kb_says_it_is_a_kb_of_its_own_with_the_gate_figures():
    block = {"model": "all-MiniLM-L6-v2", "dim": 384, "backend": "onnx-int8",
             "cpu": {"model": "AMD EPYC", "isa_caps": {"ONEDNN_MAX_CPU_ISA": "AVX2"}},
             "chosen_by": "calibration", "int8_kernels": "saturating",
             "agreement": {"cos_min": 0.9884, "top10": 0.898, "agrees": False},
             "retrieval": {"ndcg10": 0.934, "r1": 0.8529, "queries": 333,
                           "fp32": {"ndcg10": 0.9313, "r1": 0.8498}}}
    text = embedder(block)
    assert text.startswith("all-MiniLM-L6-v2 (384 dims) on onnx-int8, built on AMD EPYC "
                           "[ONEDNN_MAX_CPU_ISA=AVX2], chosen by calibration")
    assert "a KB of its own" in text and "0.934 / 0.8529 vs fp32 0.9313 / 0.8498" in text
    assert "int8 kernels: saturating" in text


def test_an_agreeing_or_old_kb_reads_plainly(capsys):
    agreeing = {"model": "m", "dim": 384, "backend": "openvino-bf16",
                "agreement": {"cos_min": 0.99997, "top10": 0.996, "agrees": True}}
    assert "may share a KB with other agreeing backends" in embedder(agreeing)
    assert "retrieval" not in embedder(agreeing)
    info({"kb_version": "v1", "embedder": {"model": "m", "dim": 8, "precision": "fp32"},
          "failed": []})
    out = capsys.readouterr().out
    assert "embedder: m (8 dims) on torch-fp32" in out and "failed" not in out
