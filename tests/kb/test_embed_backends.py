"""Embedding backends: agreement with fp32, when vectors may share a KB, which embedder
searches a KB, and that `import kb` stays free of torch and onnxruntime."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from kb import embed_select
from kb.embed_select import COS_MIN, TOP10_MIN, agreement, agrees
from kb.embedder import (
    HashEmbedder,
    SentenceTransformerEmbedder,
    backend_name,
    embedder_for_manifest,
    int8_kernels,
    may_mix,
)
from kb.errors import KBError


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_agreement_identical_and_perturbed():
    rng = np.random.default_rng(0)
    ref = _unit(rng.normal(size=(60, 32)))
    same = agreement(ref.copy(), ref, n_queries=10)
    assert same["cos_min"] == pytest.approx(1.0, abs=1e-6) and same["top10"] == 1.0
    assert agrees(same)
    noisy = _unit(ref + rng.normal(scale=0.3, size=ref.shape))
    worse = agreement(noisy, ref, n_queries=10)
    assert worse["cos_min"] < COS_MIN and worse["top10"] < 1.0
    assert not agrees(worse)
    assert not agrees(None) and not agrees({"cos_min": 0.9995, "top10": TOP10_MIN - 0.01})


def _block(backend: str, cos: float = 1.0, top10: float = 1.0, model: str = "m") -> dict:
    return {"model": model, "dim": 384, "backend": backend,
            "agreement": {"cos_min": cos, "top10": top10}}


def test_may_mix_only_agreeing_backends():
    assert may_mix(_block("onnx-int8", 0.98, 0.9), _block("onnx-int8", 0.98, 0.9))
    assert may_mix(_block("torch-fp32"), _block("onnx-fp32", 0.99999, 1.0))
    assert may_mix(_block("torch-bf16", 0.99997, 0.995), _block("onnx-fp32", 1.0, 1.0))
    assert not may_mix(_block("torch-fp32"), _block("onnx-int8", 0.988, 0.92))
    assert not may_mix(_block("torch-bf16", 0.99997, 0.995), {"model": "m", "dim": 384,
                                                              "backend": "onnx-int8"})
    assert not may_mix(_block("onnx-fp32"), _block("onnx-fp32", model="other"))
    # manifests from before backends were recorded: torch with their precision
    assert may_mix({"model": "m", "dim": 384, "precision": "fp32"}, _block("torch-fp32"))


def test_int8_vectors_of_different_kernels_do_not_share_a_kb():
    """VNNI/AMX int8 sums exactly; AVX2 without VNNI clips pairwise sums (cosine ~0.986
    between the two on the probe set): an int8 KB is updated only on the same kind of CPU."""
    vnni = {"model": "x", "features": ["avx2", "avx512f", "avx512_vnni"]}
    avx2 = {"model": "y", "features": ["avx2", "fma"]}
    assert int8_kernels(vnni) == "exact" and int8_kernels(avx2) == "saturating"
    assert int8_kernels({"features": ["avx2", "avx_vnni"]}) == "exact"
    a, b = _block("onnx-int8", 0.988, 0.9), _block("onnx-int8", 0.983, 0.9)
    assert not may_mix({**a, "cpu": vnni}, {**b, "cpu": avx2})
    assert may_mix({**a, "cpu": vnni}, {**b, "cpu": {**vnni, "model": "other"}})
    assert may_mix(_block("onnx-fp32", 1.0, 1.0) | {"cpu": vnni},
                   _block("onnx-fp32", 1.0, 1.0) | {"cpu": avx2})  # fp32 agrees anywhere


def test_embedder_for_manifest_follows_the_kb(monkeypatch):
    assert isinstance(embedder_for_manifest({"model": "hash-64", "dim": 64}), HashEmbedder)
    old = embedder_for_manifest({"model": "all-MiniLM-L6-v2", "dim": 384, "precision": "bf16"})
    assert isinstance(old, SentenceTransformerEmbedder) and backend_name(old) == "torch-bf16"
    onnx = embedder_for_manifest(_block("onnx-int8", model="all-MiniLM-L6-v2"))
    assert backend_name(onnx) == "onnx-int8"

    import kb.onnx_embedder as ox

    monkeypatch.setattr(ox, "onnxruntime_available", lambda: False)
    fallback = embedder_for_manifest(_block("onnx-fp32", 0.99999, 1.0, model="all-MiniLM-L6-v2"))
    assert backend_name(fallback) == "torch-fp32"
    with pytest.raises(KBError, match="onnxruntime"):
        embedder_for_manifest(_block("onnx-int8", 0.988, 0.92, model="all-MiniLM-L6-v2"))

    import kb.openvino_embedder as ovx

    ov_block = _block("openvino-bf16", 0.99997, 0.997, model="all-MiniLM-L6-v2")
    assert backend_name(embedder_for_manifest(ov_block)) == "openvino-bf16"
    monkeypatch.setattr(ovx, "openvino_available", lambda: False)
    assert backend_name(embedder_for_manifest(ov_block)) == "torch-fp32"  # they agree
    with pytest.raises(KBError, match="needs openvino"):
        embedder_for_manifest(_block("openvino-bf16", 0.99, 0.9, model="all-MiniLM-L6-v2"))


def test_cpu_info_and_candidates():
    info = embed_select.cpu_info()
    assert info["model"] and isinstance(info["features"], list)
    cands = embed_select.candidates()
    assert cands[0] == "torch-fp32"
    assert ("torch-bf16" in cands) == embed_select.has_bf16()


def test_probe_set_is_fixed_data():
    probe = embed_select.load_probe()
    assert probe is not None and len(probe["queries"]) >= 40 and len(probe["passages"]) >= 200
    assert probe["sha256"] and "MedQuAD" in probe["source"]


def test_unknown_backend_is_refused():
    with pytest.raises(KBError, match="unknown embedding backend"):
        embed_select.choose("all-MiniLM-L6-v2", "tpu-fp8")


def test_import_kb_stays_light():
    code = ("import sys, kb, kb.embedder, kb.embed_select, kb.onnx_embedder, "
            "kb.openvino_embedder, retrieval.search; "
            "print(sorted(m for m in ('torch', 'onnxruntime', 'openvino', 'sentence_transformers') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_onnx_backends_match_torch_on_the_real_model():
    """The exported fp32 graph gives fp32's vectors; int8 is close but measured, not assumed."""
    from kb.embedder import make_backend

    probe = embed_select.load_probe()
    texts = probe["queries"][:8] + probe["passages"][:24]
    ref = make_backend("all-MiniLM-L6-v2", "torch-fp32").embed(texts)
    fp32 = make_backend("all-MiniLM-L6-v2", "onnx-fp32")
    assert fp32.max_tokens == 256 and fp32.dim == 384
    m = agreement(fp32.embed(texts), ref, 8)
    assert m["cos_min"] > 0.9999
    q = agreement(make_backend("all-MiniLM-L6-v2", "onnx-int8").embed(texts), ref, 8)
    assert 0.95 < q["cos_min"] < 1.0


def test_timing_set_has_the_builds_lengths():
    """Calibration is timed on passages as a build makes them, not the probe's long texts."""
    timing = embed_select.load_timing()
    probe = embed_select.load_probe()
    assert timing is not None and len(timing["passages"]) == 256 and timing["sha256"]
    mid = sorted(len(t) for t in timing["passages"])[128]
    assert mid < 0.7 * sorted(len(t) for t in probe["passages"])[len(probe["passages"]) // 2]
    assert "default build" in timing["source"]


class _FakeBackend:
    """A backend with a modelled cost per text on a fake clock, and vectors that are the
    reference's (agreeing) or perturbed (disagreeing)."""

    clock = [0.0]

    def __init__(self, name: str, cost: float, noise: float) -> None:
        self.backend, _, self.precision = name.partition("-")
        self.model_id, self.cost, self.noise, self.batch_size = "m", cost, noise, 8
        self.seen: list[int] = []

    def embed(self, texts, progress=None):
        self.seen.append(len(texts))
        self.clock[0] += self.cost * len(texts)
        ref = HashEmbedder(64).embed(texts)
        if not self.noise:
            return ref
        rng = np.random.default_rng(len(texts))
        return _unit(ref + rng.normal(scale=self.noise, size=ref.shape))


def test_calibration_takes_the_fastest_agreeing_backend(monkeypatch, tmp_path):
    import kb.embedder

    monkeypatch.setenv("MEDKB_CACHE", str(tmp_path))
    specs = {"torch-fp32": (4.0, 0.0), "torch-bf16": (1.0, 0.0), "onnx-fp32": (2.0, 0.0),
             "onnx-int8": (0.5, 0.4)}  # the fastest disagrees: refused
    made: dict[str, _FakeBackend] = {}

    def make(model, name):
        made[name] = _FakeBackend(name, *specs[name])
        return made[name]

    monkeypatch.setattr(embed_select, "candidates", lambda: list(specs))
    monkeypatch.setattr(kb.embedder, "make_backend", make)
    monkeypatch.setattr(embed_select.time, "perf_counter", lambda: _FakeBackend.clock[0])
    cal = embed_select.calibrate("m", refresh=True)
    assert cal["chosen"] == "torch-bf16"
    assert not cal["backends"]["onnx-int8"]["agrees"]
    assert cal["backends"]["onnx-int8"]["texts_per_s"] > cal["backends"]["torch-bf16"]["texts_per_s"]
    assert cal["backends"]["torch-bf16"]["texts_per_s"] == pytest.approx(1.0)
    assert cal["timing"]["texts"] == 256 and cal["backends"]["onnx-fp32"]["batch_size"] == 8
    probe = embed_select.load_probe()
    n_probe = len(probe["queries"]) + len(probe["passages"])
    retrieval = embed_select.load_retrieval_probe()
    n_ret = len(retrieval["queries"]) + len(retrieval["passages"])
    # warm-up, the probe in two halves (agreement), the timing set in two halves, and the
    # labelled retrieval probe (int8 is 2x the fastest agreeing backend: worth measuring)
    assert sum(made["torch-fp32"].seen[1:]) == n_probe + 256 + n_ret
    gate = cal["backends"]["onnx-int8"]["retrieval"]
    assert not gate["as_well_as_fp32"] and gate["ndcg10"] < cal["retrieval"]["fp32"]["ndcg10"] - 0.005
    assert "retrieval" not in cal["backends"]["onnx-fp32"]  # agrees: nothing to gate
    assert embed_select.calibrate("m") == cal  # cached: measured once per machine


class _RotatedBackend(_FakeBackend):
    """The reference's vectors in a turned basis: every dot product between its own vectors
    (so its retrieval) is the reference's, yet no vector is within cosine 0.999 of the
    reference's, as int8's are not: it may build a KB of its own, never share one."""

    def embed(self, texts, progress=None):
        v = super().embed(texts).copy()
        c, s = np.cos(0.2), np.sin(0.2)
        for i in range(0, v.shape[1], 2):
            v[:, i], v[:, i + 1] = c * v[:, i] - s * v[:, i + 1], s * v[:, i] + c * v[:, i + 1]
        return v


def _calibrate(monkeypatch, tmp_path, specs, kinds=None):
    import kb.embedder

    monkeypatch.setenv("MEDKB_CACHE", str(tmp_path))
    kinds = kinds or {}

    def make(model, name):
        return kinds.get(name, _FakeBackend)(name, *specs[name])

    monkeypatch.setattr(embed_select, "candidates", lambda: list(specs))
    monkeypatch.setattr(kb.embedder, "make_backend", make)
    monkeypatch.setattr(embed_select.time, "perf_counter", lambda: _FakeBackend.clock[0])
    return embed_select.calibrate("m", refresh=True)


def test_a_faster_backend_that_retrieves_as_well_gets_a_kb_of_its_own(monkeypatch, tmp_path):
    """A CPU without bf16: int8 does not agree with fp32, but is twice the speed of the
    fastest agreeing backend and retrieves the labelled probe as well: auto takes it."""
    specs = {"torch-fp32": (4.0, 0.0), "onnx-fp32": (2.0, 0.0), "onnx-int8": (1.0, 0.0)}
    cal = _calibrate(monkeypatch, tmp_path, specs, {"onnx-int8": _RotatedBackend})
    int8 = cal["backends"]["onnx-int8"]
    assert not int8["agrees"] and int8["cos_min"] < 0.999
    assert int8["retrieval"]["as_well_as_fp32"]
    assert int8["retrieval"]["ndcg10"] == pytest.approx(cal["retrieval"]["fp32"]["ndcg10"], abs=1e-4)
    assert cal["chosen"] == "onnx-int8" and "retrieves within 0.005 of fp32" in cal["chosen_by"]
    assert cal["retrieval"]["queries"] == len(embed_select.load_retrieval_probe()["queries"])


def test_a_backend_barely_faster_is_not_worth_a_kb_of_its_own(monkeypatch, tmp_path):
    specs = {"torch-fp32": (4.0, 0.0), "onnx-fp32": (1.1, 0.0), "onnx-int8": (1.0, 0.0)}
    cal = _calibrate(monkeypatch, tmp_path, specs, {"onnx-int8": _RotatedBackend})
    assert cal["chosen"] == "onnx-fp32" and cal["chosen_by"] == "fastest agreeing with fp32"
    assert "retrieval" not in cal["backends"]["onnx-int8"] and "retrieval" not in cal


def test_auto_keeps_a_kb_on_a_backend_its_vectors_share(monkeypatch, tmp_path):
    """Rebuilding or updating an openvino-bf16 KB on a machine whose auto choice is int8:
    the fastest backend that agrees with fp32 is taken, so unchanged passages keep vectors."""
    specs = {"torch-fp32": (4.0, 0.0), "onnx-fp32": (2.0, 0.0), "onnx-int8": (1.0, 0.0)}
    cal = _calibrate(monkeypatch, tmp_path, specs, {"onnx-int8": _RotatedBackend})
    monkeypatch.setattr(embed_select, "calibrate", lambda model: cal)
    bf16_kb = _block("openvino-bf16", 0.9999, 0.995, model="m")
    assert embed_select.choose("m", "auto", keep=bf16_kb)[0] == "onnx-fp32"
    here = embed_select.cpu_info()
    int8_kb = {**_block("onnx-int8", 0.99, 0.9, model="m"), "cpu": here}
    assert embed_select.choose("m", "auto", keep=int8_kb)[0] == "onnx-int8"
    assert embed_select.choose("m", "auto", keep=_block("x", model="other"))[0] == "onnx-int8"
    assert embed_select.choose("m", "onnx-int8", keep=bf16_kb)[0] == "onnx-int8"  # by request
    assert embed_select.choose("m", "auto")[0] == "onnx-int8"  # a fresh KB


def test_retrieval_quality_ranks_each_query_against_its_own_answer():
    v = _unit(np.array([[1, 0, 0], [0, 1, 0],            # two queries
                        [1, 0.1, 0], [0.5, 1, 0.2]], dtype=np.float64))  # their answers
    assert embed_select.retrieval_quality(v, 2) == {"ndcg10": 1.0, "r1": 1.0}
    swapped = v[[0, 1, 3, 2]]  # query 0 now finds query 1's answer first
    q = embed_select.retrieval_quality(swapped, 2)
    assert q["r1"] == 0.0 and q["ndcg10"] == pytest.approx(1 / np.log2(3), abs=1e-4)
    fp32 = {"ndcg10": 0.93, "r1": 0.85}
    assert embed_select.retrieves_as_well({"ndcg10": 0.926, "r1": 0.846}, fp32)
    assert not embed_select.retrieves_as_well({"ndcg10": 0.935, "r1": 0.84}, fp32)


def test_retrieval_probe_is_fixed_labelled_data():
    probe = embed_select.load_retrieval_probe()
    assert probe and len(probe["queries"]) == len(probe["passages"]) >= 300
    assert len(set(probe["passages"])) == len(probe["passages"])
    assert len({q.lower() for q in probe["queries"]}) == len(probe["queries"])  # no repeats
    assert "MedQuAD (CC BY 4.0)" in probe["source"]


def test_an_isa_cap_is_recorded_and_turns_bf16_off(monkeypatch):
    """ONEDNN_MAX_CPU_ISA=AVX2 emulates an AVX2-only CPU: no bf16 candidate, and its own
    calibration (the cap is part of cpu_info, hence of the cache key)."""
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    embed_select.cpu_info.cache_clear()
    try:
        assert embed_select.cpu_info()["isa_caps"] == {"ONEDNN_MAX_CPU_ISA": "AVX2"}
        assert not embed_select.has_bf16()
        assert not {"torch-bf16", "openvino-bf16"} & set(embed_select.candidates())
    finally:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
        embed_select.cpu_info.cache_clear()
    assert "isa_caps" not in embed_select.cpu_info()


def test_openvino_sends_no_telemetry():
    """Importing openvino through MedKB leaves its usage telemetry (Google Analytics events on
    import and on each conversion) unloaded: openvino falls back to its own no-op stub."""
    pytest.importorskip("openvino")
    code = ("import sys; from kb.openvino_embedder import import_openvino; ov = import_openvino(); "
            "import openvino.tools.ovc.telemetry_utils as t; "
            "print(sys.modules['openvino_telemetry'] is None, t.tm.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "openvino.tools.ovc.telemetry_stub"]


@pytest.mark.slow
def test_openvino_backends_agree_with_torch_and_keep_the_order():
    """OpenVINO fp32 gives fp32's vectors; bf16 (where the CPU has it) agrees within the gate.
    Texts come back in the order given (they are embedded longest first, in parallel
    requests), and progress counts every text once."""
    pytest.importorskip("openvino")
    from kb.embedder import make_backend

    probe = embed_select.load_probe()
    texts = probe["queries"][:8] + probe["passages"][:40]
    ref = make_backend("all-MiniLM-L6-v2", "torch-fp32").embed(texts)
    names = [n for n in embed_select.candidates() if n.startswith("openvino")]
    assert "openvino-fp32" in names
    for name in names:
        emb = make_backend("all-MiniLM-L6-v2", name)
        ticks: list[int] = []
        vecs = emb.embed(texts, progress=ticks.append)
        assert vecs.shape == (len(texts), 384) and sum(ticks) == len(texts)
        assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
        m = agreement(vecs, ref, 8)
        assert m["cos_min"] > (0.9999 if name == "openvino-fp32" else COS_MIN), (name, m)
        one = emb.embed([texts[5]])[0]  # the same text alone: its own row
        assert float(one @ vecs[5]) > 0.9999


def test_model_cache_exports_are_all_or_nothing(tmp_path):
    """A conversion (ONNX, OpenVINO) that fails leaves no folder behind; one that succeeds is
    found next time and not made again."""
    from kb.onnx_embedder import cached_export

    def broken(folder):
        (folder / "model.bin").write_bytes(b"half")
        raise RuntimeError("converter crashed")

    with pytest.raises(RuntimeError):
        cached_export(tmp_path / "m", "meta.json", broken)
    assert list(tmp_path.iterdir()) == []
    calls = []

    def good(folder):
        calls.append(folder)
        (folder / "model.bin").write_bytes(b"weights")
        return {"dim": 4}

    first = cached_export(tmp_path / "m", "meta.json", good)
    again = cached_export(tmp_path / "m", "meta.json", good)
    assert first == again == tmp_path / "m" and len(calls) == 1
    assert (first / "model.bin").read_bytes() == b"weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
