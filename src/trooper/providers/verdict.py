"""What an upstream's failure status means: fall over to the next provider, or give the
answer back to the client. Reasons are short, stable tokens used in headers and logs."""

from __future__ import annotations

import re

import msgspec

# 400 bodies that mean "this account can't pay / this key is unusable", not "your request is wrong".
_CREDIT_MARKERS = ("credit balance", "billing", "insufficient_quota", "exceeded your current quota", "payment")
_INVALID_KEY_MARKERS = ("invalid x-api-key", "invalid api key", "invalid_api_key", "incorrect api key", "api key not valid")
# The provider won't serve this account from here at all (Gemini's FAILED_PRECONDITION).
_UNAVAILABLE_MARKERS = ("user location is not supported", "failed_precondition")

# The conversation is longer than the model's window (OpenAI, Anthropic, Gemini, vLLM,
# llama.cpp's server): compacting it to the stated limit can still get it answered.
_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "prompt is too long",
    "maximum context length",
    "exceeds the maximum number of tokens allowed",
    "exceeds the available context size",
)
# Where those messages state the limit, in tokens.
_STATED_LIMITS = (
    re.compile(r"\d[\d,]* tokens? > (\d[\d,]*) maximum"),  # Anthropic
    re.compile(r"maximum context length is (\d[\d,]*)"),  # OpenAI, vLLM
    re.compile(r"maximum number of tokens allowed \((\d[\d,]*)\)"),  # Gemini
    re.compile(r"available context size \((\d[\d,]*) tokens\)"),  # llama.cpp
    re.compile(r'"n_ctx":\s*(\d+)'),  # llama.cpp's error body
)

_SERVER_ERRORS = frozenset({500, 502, 504})
_OVERLOADED = frozenset({503, 529})


class Verdict(msgspec.Struct, frozen=True):
    fall_over: bool
    reason: str


def judge(status: int, body: bytes, quota_codes: frozenset[int]) -> Verdict:
    """The status table. 401/403 are never masked; a 400 falls over only when its body
    says the context is too long, billing or an unusable key, since any other 400 is the
    request's own fault."""
    if status in (401, 403):
        return Verdict(False, "auth")
    text = body[:4096].decode("utf-8", "replace").lower()
    if status == 400 and any(marker in text for marker in _CONTEXT_MARKERS):
        return Verdict(True, "context_too_long")
    if status == 400:
        if 400 in quota_codes:
            if any(marker in text for marker in _CREDIT_MARKERS):
                return Verdict(True, "credit_balance")
            if any(marker in text for marker in _INVALID_KEY_MARKERS):
                return Verdict(True, "invalid_key")
            if any(marker in text for marker in _UNAVAILABLE_MARKERS):
                return Verdict(True, "unavailable")
        return Verdict(False, "bad_request")
    if status == 429:
        # OpenAI says "out of money" with a 429; waiting won't help, so name it for what it is.
        reason = "credit_balance" if "insufficient_quota" in text else "rate_limit"
        return Verdict(429 in quota_codes, reason)
    if status == 402:
        return Verdict(402 in quota_codes, "credit_balance")
    if status in _OVERLOADED:
        return Verdict(status != 529 or 529 in quota_codes, "overloaded")
    if status in _SERVER_ERRORS:
        return Verdict(True, "server_error")
    if status in quota_codes:
        return Verdict(True, f"status_{status}")
    return Verdict(False, "client_error")


def stated_limit(message: str) -> int | None:
    """The context window a "context too long" error names, in tokens, if it names one."""
    for pattern in _STATED_LIMITS:
        found = pattern.search(message)
        if found:
            return int(found.group(1).replace(",", ""))
    return None
