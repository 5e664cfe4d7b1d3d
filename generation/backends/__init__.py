"""Chat-completion backends behind one small `Generator` protocol.

- `LocalTransformersBackend`: the default, an in-process transformers model (SmolLM2 offline);
- `OpenAICompatBackend`: any OpenAI-compatible server (vLLM, llama.cpp server, Ollama);
- `ScriptedBackend`: a deterministic fake for tests.

None of them imports torch at import time.
"""

from generation.backends.base import Generator, Message
from generation.backends.fake import ScriptedBackend
from generation.backends.local import LocalTransformersBackend
from generation.backends.openai_compat import OpenAICompatBackend

__all__ = [
    "Generator",
    "LocalTransformersBackend",
    "Message",
    "OpenAICompatBackend",
    "ScriptedBackend",
]
