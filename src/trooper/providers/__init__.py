"""Providers: one module per upstream kind, built from settings."""

from __future__ import annotations

from collections.abc import Mapping

from trooper.config import ProviderSettings
from trooper.providers.anthropic import AnthropicProvider
from trooper.providers.base import Provider
from trooper.providers.embedded import EmbeddedProvider
from trooper.providers.gemini import GeminiProvider
from trooper.providers.local import LocalOpenAIProvider
from trooper.providers.ollama import OllamaProvider
from trooper.providers.openai import OpenAIProvider

KINDS: dict[str, type[Provider]] = {
    "anthropic": AnthropicProvider,
    "gemini": GeminiProvider,
    "openai": OpenAIProvider,
    "ollama": OllamaProvider,
    "embedded": EmbeddedProvider,
}


def build(settings: list[ProviderSettings], env: Mapping[str, str], default_window: int = 6144) -> list[Provider]:
    return [_class(s)(s, env, default_window) for s in settings]


def _class(settings: ProviderSettings) -> type[Provider]:
    if settings.kind == "openai" and settings.is_local:
        return LocalOpenAIProvider  # a local server: always asked for its own model
    return KINDS[settings.kind]


__all__ = ["KINDS", "Provider", "build"]
