"""OpenAI Chat Completions, and every server that speaks it (Groq, Mistral, Together,
vLLM, llama.cpp, LM Studio): they differ only by URL."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from trooper.conversation import Conversation
from trooper.providers.base import Provider

_OPENAI_MODEL_PREFIXES = ("gpt-", "o1", "o3", "o4", "chatgpt-", "ft:gpt-")


_FORWARDED_PREFIXES = ("openai-", "x-codex-")
_FORWARDED_NAMES = frozenset({"session-id", "thread-id", "originator", "x-client-request-id"})


class OpenAIProvider(Provider):
    kind = "openai"
    endpoint_suffixes = ("/chat/completions", "/responses")
    native_formats = frozenset({"responses"})

    def owns_model(self, model: str) -> bool:
        return model.startswith(_OPENAI_MODEL_PREFIXES)

    def endpoint(self, model: str, stream: bool, wire: str = "") -> str:
        return self.base_url + ("/responses" if wire == "responses" else "/chat/completions")

    def encode_request(self, conversation: Conversation, model: str, wire: str = "") -> bytes:
        body = super().encode_request(conversation, model, wire)
        if not self.prefill or wire == "responses" or not conversation.messages or conversation.messages[-1].role != "assistant":
            return body
        # A server configured with `prefill = true` is asked to continue the final assistant
        # message: vLLM does only when told so; llama.cpp's server does on its own and
        # ignores fields it doesn't know. (OpenAI's own API takes no prefill.)
        fields = msgspec.json.decode(body)
        fields |= {"continue_final_message": True, "add_generation_prompt": False}
        return msgspec.json.encode(fields)

    def passthrough_url(self, path: str, query: str) -> str:
        # The base already ends in /v1 (https://api.openai.com/v1); the client's path starts with it.
        if self.base_url.endswith("/v1") and path.startswith("/v1/"):
            path = path[3:]
        return super().passthrough_url(path, query)

    def auth_headers(self, key: str, client_headers: Mapping[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"} if key else {}

    def forwarded_headers(self, client_headers: Mapping[str, str]) -> dict[str, str]:
        # OpenAI's own headers, and the ones Codex CLI sends with each turn (its session,
        # thread and turn metadata, which OpenAI uses to route and cache).
        return {name: value for name, value in client_headers.items()
                if name.startswith(_FORWARDED_PREFIXES) or name in _FORWARDED_NAMES}

    def health_url(self) -> str:
        return self.base_url + "/models"
