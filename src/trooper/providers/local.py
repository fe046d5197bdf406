"""An OpenAI-compatible server on this machine as the local tier: llama.cpp's server,
LM Studio, vLLM, LocalAI (LOCAL_URL, or a [[providers]] entry of kind "openai" marked
`local = true`)."""

from __future__ import annotations

from trooper.conversation import Conversation
from trooper.providers.openai import OpenAIProvider


class LocalOpenAIProvider(OpenAIProvider):
    """Always asked for its configured model (LOCAL_MODEL): a client's "gpt-4o" or
    "claude-haiku-4-5" names nothing it serves. With none configured, the client's model
    name is sent, which single-model servers (llama.cpp's) ignore. Spoken to in Chat
    Completions only: few local servers take the Responses API."""

    native_formats = frozenset()

    def owns_model(self, model: str) -> bool:
        return bool(self.model) and model == self.model

    def encode_request(self, conversation: Conversation, model: str, wire: str = "") -> bytes:
        # A server asked for more than its window leaves refuses, or stops short unasked.
        return super().encode_request(self.answer_within_window(conversation), model, wire)
