"""Floors for signal extraction, measured by bench/signals.py on the labelled agent
transcripts in tests/data/agent_conversations/ (the same code and the same matching the
bench prints): completed-step recall at least 90%, and resume_from exact on every
transcript of numbered work."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from trooper.conversation import ToolUseBlock

BENCH = Path(__file__).resolve().parent.parent / "bench" / "signals.py"


def _bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_signals", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_signals"] = module
    spec.loader.exec_module(module)
    return module


bench = _bench()
CASES = bench.load()


def test_there_is_enough_labelled_data() -> None:
    assert len(CASES) >= 20
    assert {case["format"] for case in CASES} == {"anthropic", "openai"}
    with_tools = [c for c in CASES if any(type(b) is ToolUseBlock for m in c["conversation"].messages for b in m.content)]
    assert len(with_tools) >= len(CASES) // 2


def test_completed_step_recall_floor() -> None:
    figures = bench.evaluate(CASES)
    assert figures["completed_step_recall"] >= 0.9, [m for m in figures["misses"] if "step missed" in m]


@pytest.mark.parametrize("case", [c for c in CASES if c["labels"].get("resume_from") is not None], ids=lambda c: c["id"])
def test_resume_from_exact_on_numbered_work(case) -> None:  # type: ignore[no-untyped-def]
    assert bench.signals_of(case).resume_from == case["labels"]["resume_from"]


def test_the_matcher_is_strict_about_numbers() -> None:
    assert bench.matches("Completed PR #2", "Completed PR #2: middleware is up")
    assert not bench.matches("Completed PR #2", "Completed PR #3: the endpoint")
    assert bench.matches("still waiting on the security review", "We're still waiting on the security review from Dana")
    assert not bench.matches("the venue contract hasn't been signed", "Signed the catering order")
