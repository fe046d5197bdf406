"""Ollama's native /api/chat: the local tier."""

from __future__ import annotations

import msgspec

from trooper.conversation import Conversation
from trooper.formats import ollama
from trooper.providers.base import Provider
from trooper.signals.tokens import estimate_conversation


class OllamaProvider(Provider):
    kind = "ollama"
    endpoint_suffixes = ("/api/chat",)

    def endpoint(self, model: str, stream: bool) -> str:
        return self.base_url + "/api/chat"

    def encode_request(self, conversation: Conversation, model: str) -> bytes:
        window = self.context_window
        if window is not None:
            asked = conversation.sampling.max_tokens
            room = max(window - estimate_conversation(conversation), 64)
            if asked is None or asked > room:  # the answer must fit in what the prompt leaves
                sampling = msgspec.structs.replace(conversation.sampling, max_tokens=room)
                conversation = msgspec.structs.replace(conversation, sampling=sampling)
        return ollama.encode_request(conversation, model, context_window=window)

    def health_url(self) -> str:
        return self.base_url + "/api/tags"
