"""A key can't reach a log line through a traceback, in either log format (issue 14)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROGRAM = """
import structlog
from trooper import logs, redact
logs.configure({fmt!r}, "info", cache=False)
redact.remember(["sk-ant-operator-key-0123456789"])
api_key = "sk-ant-operator-key-0123456789"
try:
    raise RuntimeError(f"upstream said: bad key {{api_key}} and sk-SECRET456")
except RuntimeError:
    structlog.get_logger().exception("request_failed")
"""


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_a_traceback_is_scrubbed_before_it_is_written(fmt: str) -> None:
    result = subprocess.run([sys.executable, "-c", PROGRAM.format(fmt=fmt)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "request_failed" in result.stderr and "RuntimeError" in result.stderr  # the traceback is there...
    assert "sk-ant-operator-key-0123456789" not in result.stderr  # ...without the configured key
    assert "sk-SECRET456" not in result.stderr  # ...or a short key-shaped one
