"""The linter and the type checker are part of the suite, so the README's test command
guards them: ruff over the code and its tests, and mypy strict over src/trooper, both with
the settings in pyproject.toml ([tool.ruff], [tool.mypy])."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "--no-cache", "src", "tests", "bench", "plugins")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing_in_src() -> None:
    result = _run("mypy")  # which files, and how strict, from [tool.mypy]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
