"""Anthropic's Messages API."""

from __future__ import annotations

from collections.abc import Mapping

from trooper.providers.base import Provider, sent_as_bearer

DEFAULT_VERSION = "2023-06-01"
OAUTH_PREFIX = "sk-ant-oat"
FORWARDED_PREFIXES = ("anthropic-", "x-stainless-", "x-app", "x-claude-code-")


class AnthropicProvider(Provider):
    kind = "anthropic"
    endpoint_suffixes = ("/v1/messages", "/messages", "/v1")
    prefill_by_default = True

    def owns_model(self, model: str) -> bool:
        return model.startswith("claude")

    def endpoint(self, model: str, stream: bool, wire: str = "") -> str:
        return self.base_url + "/v1/messages"

    def auth_headers(self, key: str, client_headers: Mapping[str, str] | None = None) -> dict[str, str]:
        # An OAuth token (a Claude subscription: Claude Code's `sk-ant-oat…`) is only ever
        # taken as a bearer token; a client that sent its key as one keeps that form.
        if key.startswith(OAUTH_PREFIX) or sent_as_bearer(key, client_headers):
            return {"Authorization": f"Bearer {key}"}
        return {"x-api-key": key}

    def request_headers(self, key: str, client_headers: Mapping[str, str] | None) -> dict[str, str]:
        headers = super().request_headers(key, client_headers)
        headers.setdefault("anthropic-version", DEFAULT_VERSION)
        return headers

    def forwarded_headers(self, client_headers: Mapping[str, str]) -> dict[str, str]:
        # anthropic-version, every anthropic-beta and the rest of the vendor's own headers,
        # the SDK's x-stainless-* and the agent's own (Claude Code: x-app, its session id).
        return {name: value for name, value in client_headers.items() if name.startswith(FORWARDED_PREFIXES)}

    def health_url(self) -> str:
        return self.base_url + "/v1/models"
