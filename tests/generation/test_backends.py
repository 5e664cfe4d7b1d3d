"""Generation backends: the scripted fake, the local transformers backend with a tiny random
model and (slow) with the real SmolLM2. The OpenAI-compatible one: test_openai_compat.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from generation.backends import (
    Generator,
    LocalTransformersBackend,
    ScriptedBackend,
)
from kb.config import DEFAULT_GENERATOR
from kb.errors import BackendError, ModelError

CHAT = [
    {"role": "system", "content": "Answer from the passages; cite them as [1]."},
    {"role": "user", "content": "What is the first-line treatment for mild asthma?"},
]


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
