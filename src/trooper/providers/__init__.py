"""Providers: one module per upstream kind, built from settings."""

from __future__ import annotations

from collections.abc import Mapping

from trooper.config import ProviderSettings
from trooper.providers.anthropic import AnthropicProvider
from trooper.providers.base import Provider
from trooper.providers.gemini import GeminiProvider
from trooper.providers.ollama import OllamaProvider
from trooper.providers.openai import OpenAIProvider

KINDS: dict[str, type[Provider]] = {
    "anthropic": AnthropicProvider,
    "gemini": GeminiProvider,
    "openai": OpenAIProvider,
    "ollama": OllamaProvider,
}


def build(settings: list[ProviderSettings], env: Mapping[str, str], default_window: int = 6144) -> list[Provider]:
    return [KINDS[s.kind](s, env, default_window) for s in settings]


__all__ = ["KINDS", "Provider", "build"]
