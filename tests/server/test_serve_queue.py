"""Generation behind the bounded queue (full -> 503 with Retry-After, not a hang), other
endpoints concurrent meanwhile, and a KB version published by `update` picked up without a
restart while the request in flight finishes on its own version. The answering backend is the
OpenAI-compatible one against a loopback chat server that holds its answers until told."""

from __future__ import annotations

import threading
import time

import httpx
from medkb_serving import held_chat_server, serve_kb
from medkb_testutil import TINY_RECORDS, build_hash_kb, write_jsonl

import medkb

QUESTION = "What is the first-line treatment for mild asthma?"
REPLY = "Inhaled corticosteroids are the first-line controller treatment for mild persistent asthma [1]."
NEW_RECORD = {"_id": "gout-1", "title": "Gout",
              "text": "Colchicine and allopurinol are used in gout; urate crystals inflame joints."}


def wait_for(predicate, what: str, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def test_queue_full_is_503_others_concurrent_and_new_version_without_restart(tmp_path):
    kb_path = build_hash_kb(tmp_path, TINY_RECORDS)
    old_version = medkb.open(kb_path).info().kb_version
    with held_chat_server(REPLY) as chat, serve_kb(
            kb_path, "--backend", "openai", "--backend", "extractive",
            "--default-backend", "openai", "--queue-size", "1",
            env={"MEDKB_LLM_BASE_URL": chat.url, "MEDKB_LLM_MODEL": "held"}) as server:
        client = httpx.Client(base_url=server.url, timeout=180)
        results: dict[str, httpx.Response] = {}

        def ask(name: str) -> None:
            results[name] = httpx.post(server.url + "/api/ask", json={"question": QUESTION},
                                       timeout=180)

        first = threading.Thread(target=ask, args=("first",))
        first.start()
        assert chat.arrived.acquire(timeout=120), "the first generation never reached the LLM"
        second = threading.Thread(target=ask, args=("second",))
        second.start()
        wait_for(lambda: client.get("/health").json()["generation_queue"]["waiting"] == 1,
                 "the second ask to queue")

        # The queue (1 running + 1 waiting) is full: refused at once, with a retry hint.
        full = client.post("/api/ask", json={"question": QUESTION})
        assert full.status_code == 503
        assert int(full.headers["Retry-After"]) >= 1
        assert "queue is full" in full.json()["error"]

        # Everything else still answers while generation is held.
        assert client.post("/api/search", json={"query": "asthma"}).status_code == 200
        assert client.post("/api/check", json={"question": QUESTION,
                                               "answer": "Albuterol relieves symptoms."}
                           ).status_code == 200
        assert "first" not in results  # the first ask is still in flight

        # Publish a new version while it is in flight; the server moves to it by itself.
        write_jsonl(tmp_path / "corpus" / "records.jsonl", [*TINY_RECORDS, NEW_RECORD])
        report = medkb.build([tmp_path / "corpus"], kb_path,
                             medkb.BuildSettings(embedder="hash-256"), update=True)
        new_version = report["kb_version"]
        assert new_version != old_version
        wait_for(lambda: client.get("/api/info").json()["kb_version"] == new_version,
                 "the server to serve the new version")
        hits = client.post("/api/search", json={"query": "colchicine gout", "k": 1}).json()
        assert hits["kb_version"] == new_version
        assert hits["results"][0]["external_id"] == "gout-1"

        chat.release.set()
        first.join(120)
        second.join(120)
        assert results["first"].status_code == 200, results["first"].text
        assert results["first"].json()["kb_version"] == old_version  # finished on its version
        assert results["first"].json()["model"] == "openai:held"
        assert results["second"].status_code == 200
        assert results["second"].json()["kb_version"] == new_version

        # The queue drains: a new ask is admitted again.
        assert client.post("/api/ask", json={"question": QUESTION,
                                             "backend": "extractive"}).status_code == 200
        stats = client.get("/health").json()["generation_queue"]
        assert stats["refused"] == 1 and stats["waiting"] == 0
        client.close()
