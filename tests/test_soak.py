"""A bounded soak, run with the suite: 90 seconds of mixed traffic (agents, diverging
histories, one-shot sessions, fallbacks, hostile requests) against a real `trooper serve`
with small store caps (bench/soak.py; `python bench/soak.py` is the 10-minute version).
Memory must stay flat after warm-up and the database bounded, with every request
answered and nothing crashing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
from soak import growth_after, run  # noqa: E402

SECONDS = 90.0
WARMUP = 30.0
RSS_GROWTH_MB = 20.0
DB_MB = 64.0  # 300 sessions x (200 messages + 100 records) at most, plus the WAL

pytestmark = [pytest.mark.soak, pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")]


def test_memory_stays_flat_and_the_database_bounded() -> None:
    result = run(SECONDS, concurrency=4, every=5.0, max_sessions=300, max_messages=200, max_requests=100)
    assert result["exited_early"] is None, result
    assert result["tracebacks"] == 0 and result["errors_logged"] == 0, result
    assert result["client_failures"] == [], result
    statuses = {int(status) for status in result["statuses"]}
    assert statuses <= {200, 400, 403, 413}, result["statuses"]  # no 5xx, no dropped connection
    assert result["requests"] > 1000, result["requests"]
    base, grown = growth_after(result["samples"], WARMUP)
    assert grown <= RSS_GROWTH_MB, (base, grown, result["samples"])
    assert result["samples"][-1]["db_mb"] <= DB_MB, result["samples"]
