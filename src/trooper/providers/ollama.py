"""Ollama's native /api/chat: the local tier."""

from __future__ import annotations

import urllib.request

import msgspec

from trooper.conversation import Conversation
from trooper.formats import ollama
from trooper.providers.base import Provider
from trooper.signals.tokens import estimate_conversation


class OllamaProvider(Provider):
    kind = "ollama"
    endpoint_suffixes = ("/api/chat",)
    # Ollama's templates leave a final assistant message open, so the model carries it on.
    prefill_by_default = True

    def endpoint(self, model: str, stream: bool, wire: str = "") -> str:
        return self.base_url + "/api/chat"

    def encode_request(self, conversation: Conversation, model: str, wire: str = "") -> bytes:
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

    def prepare(self) -> None:
        """At start-up (`trooper serve`): cap the window at the model's own context length.
        The cap is all it takes from the model: CONTEXT_WINDOW stays the budget, because
        num_ctx sizes Ollama's memory and many models claim 128k. Ollama not running
        leaves the window as it is."""
        length = self.model_context_length()
        if length is not None and self.context_window is not None and length < self.context_window:
            self.context_window = length

    def model_context_length(self, timeout: float = 2.0) -> int | None:
        """`model_info`'s `<architecture>.context_length` from POST /api/show, if Ollama says."""
        request = urllib.request.Request(
            self.base_url + "/api/show", data=msgspec.json.encode({"model": self.model}),
            headers={"Content-Type": "application/json"}, method="POST",
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # as the aiohttp session: no *_proxy
        try:
            with opener.open(request, timeout=timeout) as response:
                shown = msgspec.json.decode(response.read(), type=_Show)
        except (OSError, ValueError, msgspec.DecodeError):
            return None
        lengths = [v for k, v in shown.model_info.items() if k.endswith(".context_length") and isinstance(v, int)]
        return lengths[0] if lengths else None


class _Show(msgspec.Struct):
    model_info: dict[str, object] = {}
