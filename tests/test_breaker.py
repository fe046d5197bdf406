"""The circuit breaker and the rate-limit hints, on their own, with a hand-moved clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from tests.conftest import FakeClock
from trooper.providers.breaker import BreakerSettings, CircuitBreaker
from trooper.providers.ratelimit import retry_delay
from trooper.providers.verdict import judge


def test_opens_after_threshold_failures_within_the_window() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(BreakerSettings(threshold=3, window=60, cooldown=60), clock)
    breaker.record_failure()
    clock.advance(30)
    breaker.record_failure()
    assert breaker.allow() and breaker.state == "closed"
    clock.advance(31)  # the first failure has left the window
    breaker.record_failure()
    assert breaker.state == "closed" and breaker.recent_failures() == 2
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()


def test_half_open_lets_exactly_one_probe_through() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(BreakerSettings(threshold=1, window=60, cooldown=60), clock)
    breaker.record_failure()
    clock.advance(59)
    assert not breaker.allow()
    clock.advance(2)
    assert breaker.allow()  # the probe
    assert breaker.state == "half_open"
    assert not breaker.allow()  # everyone else waits for its verdict
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


def test_a_failed_probe_reopens_for_a_full_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(BreakerSettings(threshold=1, window=60, cooldown=10), clock)
    breaker.record_failure()
    clock.advance(11)
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open"
    clock.advance(9)
    assert not breaker.allow()
    clock.advance(2)
    assert breaker.allow()


def test_retry_delay_hints() -> None:
    now = 1_800_000_000.0
    assert retry_delay({"Retry-After": "3"}, now) == 3
    assert retry_delay({"retry-after-ms": "250"}, now) == 0.25
    date = format_datetime(datetime.fromtimestamp(now + 7, UTC), usegmt=True)
    assert abs(retry_delay({"retry-after": date}, now) - 7) < 1  # type: ignore[operator]
    reset = (datetime.fromtimestamp(now, UTC) + timedelta(seconds=4)).isoformat().replace("+00:00", "Z")
    assert abs(retry_delay({"anthropic-ratelimit-requests-reset": reset}, now) - 4) < 0.01  # type: ignore[operator]
    assert retry_delay({"x-ratelimit-reset-requests": "1m30s", "x-ratelimit-reset-tokens": "20ms"}, now) == 0.02
    assert retry_delay({"x-ratelimit-reset-requests": "6m0s"}, now) == 360
    assert retry_delay({"retry-after": "soon"}, now) is None
    assert retry_delay({}, now) is None


def test_status_table() -> None:
    quota = frozenset({429, 402, 529, 400})
    cases = {
        (429, b'{"error":{"type":"rate_limit_error"}}'): (True, "rate_limit"),
        (429, b'{"error":{"code":"insufficient_quota"}}'): (True, "credit_balance"),
        (402, b""): (True, "credit_balance"),
        (400, b'{"error":{"message":"Your credit balance is too low"}}'): (True, "credit_balance"),
        (400, b'{"error":{"message":"invalid x-api-key"}}'): (True, "invalid_key"),
        (400, b'{"error":{"message":"messages: roles must alternate"}}'): (False, "bad_request"),
        (400, b'{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}'): (True, "unavailable"),
        (401, b""): (False, "auth"),
        (403, b""): (False, "auth"),
        (529, b""): (True, "overloaded"),
        (503, b""): (True, "overloaded"),
        (500, b""): (True, "server_error"),
        (502, b""): (True, "server_error"),
        (504, b""): (True, "server_error"),
        (404, b""): (False, "client_error"),
    }
    for (status, body), (fall_over, reason) in cases.items():
        verdict = judge(status, body, quota)
        assert (verdict.fall_over, verdict.reason) == (fall_over, reason), (status, body)
    # QUOTA_STATUS_CODES without 429: a 429 goes back to the client.
    assert not judge(429, b"", frozenset({402})).fall_over
