"""Anthropic's Messages API."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from trooper.formats.common import ANY_JSON, JSON_ENCODER, RAW_OBJECT
from trooper.providers.base import Provider, sent_as_bearer

DEFAULT_VERSION = "2023-06-01"
OAUTH_PREFIX = "sk-ant-oat"
FORWARDED_PREFIXES = ("anthropic-", "x-stainless-", "x-app", "x-claude-code-")
THINKING_REFUSAL = (b"must start with a thinking block", b"Expected `thinking` or `redacted_thinking`")


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

    def amend_refused(self, body: bytes | None, error: bytes) -> tuple[bytes, str] | None:
        # With thinking on, Anthropic refuses a tool loop whose last assistant turn has no
        # thinking block: what that turn looks like when another tier answered it (Claude was
        # out of quota, and is back). Its own advice: turn thinking off for this request.
        if body is None or not any(marker in error for marker in THINKING_REFUSAL):
            return None
        amended = without_thinking(body)
        return (amended, "thinking off: the last assistant turn came from another tier") if amended else None

    def health_url(self) -> str:
        return self.base_url + "/v1/models"


def without_thinking(body: bytes) -> bytes | None:
    """The request with `thinking` off (and the context edits that need it), every other
    field as the client wrote it; None when thinking wasn't on."""
    try:
        fields = RAW_OBJECT.decode(body)
        management = ANY_JSON.decode(fields["context_management"]) if "context_management" in fields else None
    except msgspec.DecodeError:
        return None
    if fields.pop("thinking", None) is None:
        return None
    if isinstance(management, dict) and isinstance(management.get("edits"), list):
        edits = [e for e in management["edits"] if not (isinstance(e, dict) and str(e.get("type", "")).startswith("clear_thinking"))]
        if edits:
            fields["context_management"] = msgspec.Raw(JSON_ENCODER.encode({**management, "edits": edits}))
        else:
            del fields["context_management"]
    return JSON_ENCODER.encode(fields)
