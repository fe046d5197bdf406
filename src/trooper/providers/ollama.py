"""Ollama's native /api/chat: the local tier."""

from __future__ import annotations

import urllib.request

import msgspec

from trooper.conversation import Conversation
from trooper.formats import ollama
from trooper.providers.base import Provider


class OllamaProvider(Provider):
    kind = "ollama"
    endpoint_suffixes = ("/api/chat",)
    # Ollama's templates leave a final assistant message open, so the model carries it on.
    prefill_by_default = True

    @property
    def unreachable_hint(self) -> str:
        return " (is Ollama running? set FALLBACK_URL)"

    def endpoint(self, model: str, stream: bool, wire: str = "") -> str:
        return self.base_url + "/api/chat"

    def encode_request(self, conversation: Conversation, model: str, wire: str = "") -> bytes:
        return ollama.encode_request(self.answer_within_window(conversation), model, context_window=self.context_window)

    def health_url(self) -> str:
        return self.base_url + "/api/tags"

    def prepare(self) -> None:
        """At start-up (`trooper serve`): cap the window at the model's own context length,
        and learn whether the model calls tools and sees images (`capabilities`), unless
        the settings say. The cap is all it takes of the length: CONTEXT_WINDOW stays the
        budget, because num_ctx sizes Ollama's memory and many models claim 128k. Ollama
        not running leaves everything as it is."""
        shown = self.show()
        if shown is None:
            return
        lengths = [v for k, v in shown.model_info.items() if k.endswith(".context_length") and isinstance(v, int)]
        if lengths and self.context_window is not None and lengths[0] < self.context_window:
            self.context_window = lengths[0]
        if shown.capabilities is not None:  # Ollama 0.6.4 and later
            if self.settings.tools is None:
                self.tools = "tools" in shown.capabilities
            if self.settings.images is None:
                self.images = "vision" in shown.capabilities

    def model_context_length(self, timeout: float = 2.0) -> int | None:
        """`model_info`'s `<architecture>.context_length` from POST /api/show, if Ollama says."""
        shown = self.show(timeout)
        if shown is None:
            return None
        lengths = [v for k, v in shown.model_info.items() if k.endswith(".context_length") and isinstance(v, int)]
        return lengths[0] if lengths else None

    def show(self, timeout: float = 2.0) -> _Show | None:
        """What POST /api/show says of the model, or None when Ollama doesn't answer."""
        request = urllib.request.Request(
            self.base_url + "/api/show", data=msgspec.json.encode({"model": self.model}),
            headers={"Content-Type": "application/json"}, method="POST",
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # as the aiohttp session: no *_proxy
        try:
            with opener.open(request, timeout=timeout) as response:
                return msgspec.json.decode(response.read(), type=_Show)
        except (OSError, ValueError, msgspec.DecodeError):
            return None


class _Show(msgspec.Struct):
    model_info: dict[str, object] = {}
    capabilities: list[str] | None = None
