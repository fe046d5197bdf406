"""How long an upstream asks us to wait after a 429, from whichever hint it gives:
`retry-after-ms`, `retry-after` (seconds or an HTTP date), Anthropic's
`anthropic-ratelimit-*-reset` (RFC 3339 time) or OpenAI's `x-ratelimit-reset-*`
(durations like `1s`, `6m0s`, `20ms`)."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def retry_delay(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait, or None when the upstream gave no usable hint."""
    now = time.time() if now is None else now
    lowered = {name.lower(): value for name, value in headers.items()}
    if "retry-after-ms" in lowered:
        value = _number(lowered["retry-after-ms"])
        if value is not None:
            return value / 1000
    if "retry-after" in lowered:
        value = _number(lowered["retry-after"])
        if value is None:
            value = _http_date_delay(lowered["retry-after"], now)
        if value is not None:
            return value
    resets = [
        delay
        for name, value in lowered.items()
        if (name.startswith("anthropic-ratelimit-") and name.endswith("-reset")) or name.startswith("x-ratelimit-reset-")
        for delay in (_reset_delay(value, now),)
        if delay is not None
    ]
    return min(resets) if resets else None


def _number(value: str) -> float | None:
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return max(number, 0.0)


def _http_date_delay(value: str, now: float) -> float | None:
    try:
        return max(parsedate_to_datetime(value).timestamp() - now, 0.0)
    except (TypeError, ValueError):
        return None


def _reset_delay(value: str, now: float) -> float | None:
    value = value.strip()
    parts = _DURATION_PART.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    try:
        return max(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() - now, 0.0)
    except ValueError:
        return None
