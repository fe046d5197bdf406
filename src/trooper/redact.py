"""Secrets out of every text Trooper keeps or shows: upstream error text (kept in the
session's records, shown in 503 bodies, the event stream and the dashboard), log lines,
and URLs.

Three nets: every secret Trooper knows by value (configured provider keys, client
tokens, the admin token, remembered at start-up; and the credentials a client sent with
the request at hand, passed in); anything shaped like a vendor key, however short
(`sk-SECRET456`); and the secret parts of URLs (userinfo, `?key=`). Every pattern is a
literal prefix followed by one character class, so a scan is linear in the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "[redacted]"
MIN_SECRET = 8  # shorter values are too likely to be ordinary words to replace by value

_KEY_SHAPED = re.compile(
    r"(?<![A-Za-z0-9_\-])(?:sk-[A-Za-z0-9_\-]{6,}|AIza[A-Za-z0-9_\-]{10,}|gsk_[A-Za-z0-9]{10,}|xai-[A-Za-z0-9]{10,}"
    r"|sk_(?:live|test)_[A-Za-z0-9]{8,})"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/\-]{8,}=*")
_URL_USERINFO = re.compile(r"(//)[^/\s@:]+:[^/\s@]*@")
_SECRET_PARAM = re.compile(r"(?i)([?&](?:key|api[_-]?key|access[_-]?token|token|secret|password)=)[^&\s#\"']+")
_SECRET_PARAMS = frozenset({"key", "api_key", "apikey", "api-key", "access_token", "token", "secret", "password"})
# The literal each pattern above needs in the text (the case-blind ones in the lowered
# text): looking for it is a C substring search, far cheaper than running the pattern, which
# then runs only where it can match.
_KEY_MARKS = ("sk-", "sk_", "AIza", "gsk_", "xai-")
_PARAM_MARKS = ("key=", "token=", "secret=", "password=")

_known: set[str] = set()


def remember(secrets: Iterable[str]) -> None:
    """Secrets to replace by value wherever they appear (from configuration, at start-up)."""
    _known.update(s for s in secrets if s and len(s) >= MIN_SECRET)


def scrub(text: str, also: Iterable[str] = ()) -> str:
    """`text` with every known secret, every key-shaped string, bearer credentials and the
    secret parts of URLs replaced by [redacted]. `also`: this request's client credentials."""
    for secret in _known:
        if secret in text:  # each at least MIN_SECRET long (remember)
            text = text.replace(secret, REDACTED)
    for secret in also:
        if len(secret) >= MIN_SECRET and secret in text:
            text = text.replace(secret, REDACTED)
    if any(mark in text for mark in _KEY_MARKS):
        text = _KEY_SHAPED.sub(REDACTED, text)
    if "@" in text and "//" in text:
        text = _URL_USERINFO.sub(r"\1" + REDACTED + "@", text)
    if "earer" in text or "EARER" in text:  # Bearer, bearer, BEARER
        text = _BEARER.sub(r"\1" + REDACTED, text)
    if "=" in text:
        lowered = text.lower()
        if any(mark in lowered for mark in _PARAM_MARKS):
            text = _SECRET_PARAM.sub(r"\1" + REDACTED, text)
    return text


def scrub_bytes(body: bytes, also: Iterable[str] = ()) -> bytes:
    text = body.decode("utf-8", "surrogateescape")
    cleaned = scrub(text, also)
    return body if cleaned == text else cleaned.encode("utf-8", "surrogateescape")


def safe_url(url: str) -> str:
    """A URL fit to show: no userinfo, no key-like query parameters."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = [(k, REDACTED if k.lower() in _SECRET_PARAMS else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="[]"), ""))
