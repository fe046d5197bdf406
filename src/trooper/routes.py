"""Which way a request goes, decided from its method, path and headers alone, before any
upstream is called:

- the pipeline, in the client's wire format (Messages, Chat Completions, Responses, Gemini's
  generateContent and streamGenerateContent);
- Gemini's countTokens;
- a pass-through to a provider of the vendor whose API the path is (Anthropic, OpenAI, Gemini,
  Ollama), and only to one: a path no vendor has is a 404 naming the routes there are;
- Trooper's own pages (health, models, sessions, dashboard...);
- refused: a path that escapes the API prefix once normalised (`/v1/../admin`, `%2e%2e`,
  doubly encoded or odd characters), a model name unfit for a URL. Organisation and key
  management endpoints pass only with the client's own key, never the operator's.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple
from urllib.parse import parse_qsl, urlencode

from trooper.conversation import ApiError

PIPELINE_ROUTES = {
    "/v1/messages": "anthropic",
    "/v1/chat/completions": "openai",
    "/chat/completions": "openai",
    "/v1/responses": "responses",
    "/responses": "responses",
}

# A model name that may go into a URL path: Gemini's (gemini-2.0-flash, gemini-2.5-pro-exp-03-25).
URL_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
# Any model name a client may send in a body: letters, digits and . _ - : / @ + [ ] (Ollama's
# qwen2.5:3b, OpenRouter's meta-llama/llama-3, fine-tunes' ft:gpt-4o:org::id, Claude Code's
# sonnet[1m]); no "..", no space, quote, control character or anything else a URL or a header
# would read differently.
BODY_MODEL = re.compile(r"[A-Za-z0-9._:/@+\[\]-]{1,256}\Z")
_GEMINI_CALL = re.compile(r"/v1(?:beta)?/models/([^/:]+):([A-Za-z]+)\Z")
_GEMINI_GENERATE = {"generateContent": False, "streamGenerateContent": True}
# A path segment after percent-decoding: RFC 3986's unreserved and sub-delims, ":" and "@".
# A "%" left after decoding means the client encoded twice: refused, never decoded again.
_SEGMENT = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@-]+\Z")

# What each vendor's API is, by path prefix (a prefix matches itself and what is below it).
PASSTHROUGH_PATHS: dict[str, tuple[str, ...]] = {
    "anthropic": ("/v1/messages", "/v1/complete", "/v1/files", "/v1/models", "/v1/skills"),
    "openai": (
        "/v1/chat/completions", "/v1/responses", "/v1/conversations", "/v1/completions", "/v1/embeddings",
        "/v1/moderations", "/v1/audio", "/v1/images", "/v1/files", "/v1/uploads", "/v1/batches",
        "/v1/vector_stores", "/v1/models", "/v1/fine_tuning",
    ),
    "gemini": ("/v1beta/models", "/v1beta/files", "/v1beta/cachedContents", "/v1/models"),
    "ollama": ("/api/tags", "/api/show", "/api/version", "/api/ps", "/api/embed", "/api/embeddings", "/api/generate", "/api/chat"),
}
# Organisation, admin and key management: never with the operator's key.
ORGANISATION_PATHS: dict[str, tuple[str, ...]] = {
    "anthropic": ("/v1/organizations",),  # the Admin API: users, workspaces, API keys
    "openai": ("/v1/organization",),  # projects, users, admin API keys, usage and costs
}
# Paths that are a vendor's API space: anything below them is a pass-through or a 404.
API_PREFIXES = ("/v1/", "/v1beta/", "/api/")
# Shared by two vendors: Anthropic's SDKs send anthropic-version, OpenAI's don't.
_SHARED = frozenset({"/v1/files", "/v1/models"})

Handler = Literal["pipeline", "count_tokens", "passthrough", "admin", "refused"]


class Target(NamedTuple):
    """Where a request goes, and what to tell the client if nowhere."""

    handler: Handler
    wire: str = "openai"  # the client's wire format, or the pass-through's vendor: errors are in its shape
    error: ApiError | None = None
    query: str = ""  # the query string to forward (Gemini's alt and key taken out)
    client_key_only: bool = False  # organisation endpoints: the client's own key or nothing


def route(method: str, path: str, query: str, headers: dict[str, str]) -> Target:
    if method == "POST" and path in PIPELINE_ROUTES:
        return Target("pipeline", PIPELINE_ROUTES[path], query=query)
    if not path.startswith(API_PREFIXES) or (path == "/v1/models" and method == "GET"):
        return Target("admin")
    wire = _vendor_guess(path, headers)
    problem = path_problem(path)
    if problem:
        return Target("refused", wire, ApiError(400, "invalid_request", problem))
    gemini = _GEMINI_CALL.match(path)
    if gemini is not None and method == "POST":
        return _gemini_route(gemini.group(1), gemini.group(2), query)
    for organisation, prefixes in ORGANISATION_PATHS.items():
        if _under(path, prefixes):
            return Target("passthrough", organisation, query=query, client_key_only=True)
    vendor = pass_through_vendor(path, headers)
    if vendor is None:
        message = f"{method} {path} is not a route Trooper serves. {supported_routes()}"
        return Target("refused", wire, ApiError(404, "not_found", message))
    return Target("passthrough", vendor, query=_without(query, ("key",)) if vendor == "gemini" else query)


def _gemini_route(model: str, verb: str, query: str) -> Target:
    if not URL_MODEL.match(model):
        return Target("refused", "gemini", ApiError(400, "invalid_request", f"model name {model[:80]!r} is not valid"))
    forwarded = _without(query, ("alt", "key"))
    if verb == "countTokens":
        return Target("count_tokens", "gemini", query=forwarded)
    stream = _GEMINI_GENERATE.get(verb)
    if stream is None:
        return Target("passthrough", "gemini", query=_without(query, ("key",)))  # embedContent, batchEmbedContents...
    if stream and ("alt", "sse") not in parse_qsl(query):
        message = "streamGenerateContent is served as server-sent events only: add ?alt=sse (the SDKs do)"
        return Target("refused", "gemini", ApiError(400, "invalid_request", message))
    return Target("pipeline", "gemini", query=forwarded)


def path_problem(path: str) -> str:
    """Why a path can't be forwarded as it is, or "": dot segments, empty segments, characters
    outside a path segment's set (a "%" left after decoding: encoded twice)."""
    for segment in path.split("/")[1:]:
        if segment in (".", ".."):
            return f"path {path[:120]!r} has a '{segment}' segment: it would leave the API prefix"
        if not segment or not _SEGMENT.match(segment):
            return f"path {path[:120]!r} is not a plain API path (empty segment, or characters that need encoding)"
    return ""


def pass_through_vendor(path: str, headers: dict[str, str]) -> str | None:
    """The vendor whose API `path` is, or None when it is no vendor's."""
    if path.startswith("/v1/models/") and ":" in path.rsplit("/", 1)[-1]:
        return "gemini"  # /v1/models/{model}:embedContent: Gemini's v1 form
    anthropic = "anthropic-version" in headers
    for vendor, prefixes in PASSTHROUGH_PATHS.items():
        if not _under(path, prefixes):
            continue
        shared = any(_under(path, (prefix,)) for prefix in _SHARED)
        if vendor == "gemini" and path.startswith("/v1/"):
            continue
        if shared and vendor in ("anthropic", "openai") and (vendor == "anthropic") != anthropic:
            continue
        return vendor
    return None


def supported_routes() -> str:
    pipeline = ", ".join(f"POST {path}" for path in PIPELINE_ROUTES)
    gemini = "POST /v1beta/models/{model}:generateContent, :streamGenerateContent?alt=sse, :countTokens (and /v1/models/...)"
    others = "; ".join(f"{vendor}: {', '.join(prefixes)}" for vendor, prefixes in PASSTHROUGH_PATHS.items())
    return f"Routes: {pipeline}; {gemini}; passed through to the vendor's provider: {others}."


def _vendor_guess(path: str, headers: dict[str, str]) -> str:
    """Whose error shape a refusal is written in, before the path is known to be anyone's."""
    if path.startswith("/v1beta/") or _GEMINI_CALL.match(path):
        return "gemini"
    if path.startswith("/api/"):
        return "ollama"
    if path.startswith("/v1/messages") or "anthropic-version" in headers:
        return "anthropic"
    return "openai"


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") or path.startswith(prefix + ":") for prefix in prefixes)


def query_key(query: str) -> str:
    """A Gemini client's key sent as `?key=` (REST callers do; the SDKs use x-goog-api-key)."""
    return next((v for k, v in parse_qsl(query) if k == "key"), "") if "key=" in query else ""


def without_key(query: str) -> str:
    return _without(query, ("key",))


def _without(query: str, names: tuple[str, ...]) -> str:
    if not query:
        return ""
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in names]
    return urlencode(kept)
