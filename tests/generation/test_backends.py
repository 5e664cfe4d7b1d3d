"""Generation backends: the OpenAI-compatible client against a mock server, the scripted fake,
the local transformers backend with a tiny random model and (slow) with the real SmolLM2."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from generation.backends import (
    Generator,
    LocalTransformersBackend,
    OpenAICompatBackend,
    ScriptedBackend,
)
from kb.config import DEFAULT_GENERATOR
from kb.errors import BackendError, ModelError

CHAT = [
    {"role": "system", "content": "Answer from the passages; cite them as [1]."},
    {"role": "user", "content": "What is the first-line treatment for mild asthma?"},
]


def completion(content: object) -> dict:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}


# --------------------------------------------------------------------------- OpenAI-compatible


def test_openai_posts_a_deterministic_chat_completion():
    seen: list[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=completion("  Inhaled corticosteroids [1].\n"))

    backend = OpenAICompatBackend(
        "http://llm.local:8000/v1/",
        "llama3",
        api_key="sk-test",
        transport=httpx.MockTransport(server),
    )
    assert backend.name == "openai:llama3"
    assert isinstance(backend, Generator)

    assert backend.generate(CHAT, max_new_tokens=42) == "Inhaled corticosteroids [1]."

    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "http://llm.local:8000/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    body = json.loads(request.content)
    assert body["model"] == "llama3"
    assert body["messages"] == CHAT
    assert body["temperature"] == 0
    assert body["max_tokens"] == 42
    backend.close()


def test_openai_without_key_sends_no_authorization():
    def server(request: httpx.Request) -> httpx.Response:
        assert "authorization" not in request.headers
        return httpx.Response(200, json=completion("ok"))

    backend = OpenAICompatBackend("http://x/v1", "m", transport=httpx.MockTransport(server))
    assert backend.generate(CHAT) == "ok"


def test_openai_http_error_names_url_and_status():
    transport = httpx.MockTransport(lambda _req: httpx.Response(500, text="model crashed"))
    backend = OpenAICompatBackend("http://llm.local/v1", "m", transport=transport)
    with pytest.raises(BackendError) as info:
        backend.generate(CHAT)
    message = str(info.value)
    assert "http://llm.local/v1/chat/completions" in message
    assert "500" in message
    assert "model crashed" in message


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>not json</html>"),
        httpx.Response(200, json={"choices": []}),
        httpx.Response(200, json=completion(None)),
    ],
)
def test_openai_malformed_reply_is_a_backend_error(response):
    backend = OpenAICompatBackend(
        "http://llm.local/v1", "m", transport=httpx.MockTransport(lambda _req: response)
    )
    with pytest.raises(BackendError, match="http://llm.local/v1/chat/completions"):
        backend.generate(CHAT)


def test_openai_unreachable_server_is_a_backend_error():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    backend = OpenAICompatBackend(
        "http://127.0.0.1:9/v1", "m", transport=httpx.MockTransport(refuse)
    )
    with pytest.raises(BackendError, match=r"127\.0\.0\.1:9/v1/chat/completions.*refused"):
        backend.generate(CHAT)


# --------------------------------------------------------------------------- scripted fake


def test_scripted_replies_in_order_and_records_calls():
    backend = ScriptedBackend(["first", "second"])
    assert isinstance(backend, Generator)
    assert backend.generate(CHAT) == "first"
    assert backend.generate(CHAT[1:], max_new_tokens=7) == "second"
    assert backend.calls == [CHAT, CHAT[1:]]
    assert backend.max_new_tokens == [256, 7]
    with pytest.raises(BackendError, match="2 replies"):
        backend.generate(CHAT)


def test_scripted_calls_are_copies():
    messages = [dict(m) for m in CHAT]
    backend = ScriptedBackend("same")
    backend.generate(messages)
    messages[1]["content"] = "changed"
    assert backend.calls[0] == CHAT
    assert backend.generate(messages) == "same"


def test_scripted_function_sees_the_messages():
    backend = ScriptedBackend(lambda messages: messages[-1]["content"].upper())
    assert backend.generate(CHAT) == CHAT[-1]["content"].upper()


# --------------------------------------------------------------------------- local transformers


def test_local_constructor_only_stores_settings():
    backend = LocalTransformersBackend("/no/such/model", threads=2, temperature=0.0)
    assert backend.name == "local:/no/such/model"
    assert isinstance(backend, Generator)
    assert LocalTransformersBackend().name == f"local:{DEFAULT_GENERATOR}"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 1-layer Llama with a word-level tokenizer and a chat template, built offline."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = (
        "what is the first-line treatment for mild asthma ? answer from passages cite them as [1] ."
    )
    specials = ["<unk>", "<s>", "</s>", "<|user|>", "<|system|>", "<|assistant|>"]
    vocab = {tok: i for i, tok in enumerate(specials + sorted(set(words.split())))}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=raw, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="</s>"
    )
    tokenizer.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} </s> {% endfor %}"
        "{% if add_generation_prompt %}<|assistant|> {% endif %}"
    )
    config = transformers.LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=64,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-llama")
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_local_generates_deterministically_with_a_tiny_model(tiny_model):
    import torch

    threads_before = torch.get_num_threads()
    backend = LocalTransformersBackend(str(tiny_model))
    first = backend.generate(CHAT, max_new_tokens=5)
    assert isinstance(first, str)
    assert backend.generate(CHAT, max_new_tokens=5) == first  # greedy
    assert torch.get_num_threads() == threads_before  # the thread setting is restored


def test_local_prompt_longer_than_the_context_is_a_backend_error(tiny_model):
    backend = LocalTransformersBackend(str(tiny_model))
    long_chat = [{"role": "user", "content": "what is asthma ? " * 30}]
    with pytest.raises(BackendError, match="context"):
        backend.generate(long_chat, max_new_tokens=8)


def test_local_missing_default_model_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDKB_CACHE", str(tmp_path))
    monkeypatch.setenv("MEDKB_NO_AUTO_PULL", "1")
    with pytest.raises(ModelError, match="medkb models pull"):
        LocalTransformersBackend().generate(CHAT)


@pytest.mark.slow
def test_real_smollm2_answers_a_short_chat():
    backend = LocalTransformersBackend()
    reply = backend.generate(
        [{"role": "user", "content": "Name one symptom of asthma in a few words."}],
        max_new_tokens=16,
    )
    assert reply.strip()
    assert backend.name == "local:SmolLM2-135M-Instruct"
