"""Ollama's native /api/chat: the local tier."""

from __future__ import annotations

from trooper.providers.base import Provider


class OllamaProvider(Provider):
    kind = "ollama"
    endpoint_suffixes = ("/api/chat",)

    def endpoint(self, model: str, stream: bool) -> str:
        return self.base_url + "/api/chat"

    def health_url(self) -> str:
        return self.base_url + "/api/tags"
