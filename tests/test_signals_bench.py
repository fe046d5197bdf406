"""Floors for signal extraction, measured by bench/signals.py (the same code and the same
matching the bench prints) on the labelled agent sessions: the dev split in
tests/data/agent_conversations/ guards against regressions, the blind held-out split in
tests/data/heldout/agent_conversations/ holds the figures the README reports; its floors
are asserted at what is achieved there, and the test skips only when that split is absent."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from trooper.conversation import ToolUseBlock
from trooper.signals.extract import INTENT_LENGTH, ITEM_LENGTH, shown

BENCH = Path(__file__).resolve().parent.parent / "bench" / "signals.py"


def _bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_signals", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_signals"] = module
    spec.loader.exec_module(module)
    return module


bench = _bench()
DEV = bench.load(bench.DATA)

# What the extractor achieves on the blind held-out split (python bench/signals.py --split heldout:
# 361 sessions, the 51 of round two, the 48 of round three (h2_), the 72 of issue 18's fifth round
# (h3_), the 72 of its sixth (h4_), the 60 of its seventh (h5_) and the 58 of its eighth (h6_), each
# batch frozen before any figure on it was printed), measured once at the end of the eighth round,
# asserted as floors. The targets (steps R 90% / P 80%, loops R 85%, intent 90%, resume_from
# 95%) are far above them: the README says so beside the figures. Measured: intent 85.7%, loops P/R
# 23.2/22.2%, steps P/R 53.8/53.3%, resume_from 57.1%; the round's starting rules (3dd8a45) read
# 84.8 / 22.3/21.4 / 53.4/52.8 / 56.3% on the same 361 sessions. On the fresh batch h6_ the round
# moved nothing but intent (84.2 -> 84.8%).
HELDOUT_FLOORS = {
    "completed_step_recall": 0.53,
    "completed_step_precision": 0.53,
    "open_loop_recall": 0.22,
    "open_loop_precision": 0.23,
    "intent_keyword_hit_rate": 0.85,
    "resume_from_exact_numbered": 0.57,
}
# Regression guards on the dev split (bench/signals.py --split dev), 5 points under what the
# extractor achieves there: 209 sessions, 96 of them written blind from the guide (bd_…), which
# are harder than the rest (steps R 54% there, 78% on the other 113). Since the eighth round dev
# also holds the seventh round's validation batch (56 sessions, bd_e…–bd_h…): 265 sessions, steps
# P/R 61/62%, loops 37/32%, intent 90%, resume_from 70%, all above these floors.
DEV_FLOORS = {
    "completed_step_recall": 0.60,
    "completed_step_precision": 0.57,
    "open_loop_recall": 0.27,
    "open_loop_precision": 0.35,
    "intent_keyword_hit_rate": 0.87,
    "resume_from_exact_numbered": 0.68,
}
# The same, on the dev sessions written before the blind ones (the other 113), where the
# extractor's figures were first measured (steps R 58%, loops R 34% before this round).
DEV_EARLIER_FLOORS = {
    "completed_step_recall": 0.72,
    "completed_step_precision": 0.60,
    "open_loop_recall": 0.37,
    "intent_keyword_hit_rate": 0.88,
    "resume_from_exact_numbered": 0.69,
}


def test_the_dev_corpus_covers_both_wire_formats_and_tool_calling() -> None:
    assert len(DEV) >= 20
    assert {case["format"] for case in DEV} == {"anthropic", "openai"}
    with_tools = [c for c in DEV if any(type(b) is ToolUseBlock for m in c["conversation"].messages for b in m.content)]
    assert len(with_tools) >= len(DEV) // 2


@pytest.mark.parametrize("measure", sorted(DEV_FLOORS))
def test_dev_floor(measure: str) -> None:
    figures = bench.evaluate(DEV)
    assert figures[measure] >= DEV_FLOORS[measure], [m for m in figures["misses"]]


@pytest.mark.parametrize("measure", sorted(DEV_EARLIER_FLOORS))
def test_dev_floor_on_the_sessions_written_before_the_blind_ones(measure: str) -> None:
    earlier = [case for case in DEV if not case["id"].startswith(bench.BLIND_PREFIX)]
    figures = bench.evaluate(earlier)
    assert figures[measure] >= DEV_EARLIER_FLOORS[measure], f"{measure} = {figures[measure]:.3f}"


@pytest.fixture(scope="module")
def heldout_figures() -> dict:
    if not bench.HELDOUT.is_dir() or not any(bench.HELDOUT.glob("*.json")):
        pytest.skip(f"no blind held-out split at {bench.HELDOUT} (it is written separately, from the labelling guide)")
    figures = bench.evaluate(bench.load(bench.HELDOUT))
    figures.pop("misses")  # the held-out split is blind: its misses are never shown
    return figures


@pytest.mark.parametrize("measure", sorted(HELDOUT_FLOORS))
def test_heldout_floor(heldout_figures: dict, measure: str) -> None:
    assert heldout_figures[measure] >= HELDOUT_FLOORS[measure], f"{measure} = {heldout_figures[measure]:.3f}"


def test_the_matcher_is_strict_about_numbers() -> None:
    assert bench.matches("Completed PR #2", "Completed PR #2: middleware is up")
    assert not bench.matches("Completed PR #2", "Completed PR #3: the endpoint")
    assert bench.matches("still waiting on the security review", "We're still waiting on the security review from Dana")
    assert not bench.matches("the venue contract hasn't been signed", "Signed the catering order")


# The bench's matcher has no penalty for length (an item hits when it holds 60% of a label's
# words), so an item grown into a paragraph would score better while reading worse. The
# dashboard shows the intent as one line and each loop and step as one list entry: they are
# bounded at the sizes the extractor had before issue 18's second round (signals/extract.py).
@pytest.mark.parametrize("kind", ["intent", "completed_steps", "open_loops"])
def test_extracted_items_stay_dashboard_sized(kind: str) -> None:
    limit = INTENT_LENGTH if kind == "intent" else ITEM_LENGTH
    items = []
    for case in DEV:
        signals = bench.signals_of(case)
        items += [signals.intent] if kind == "intent" else list(getattr(signals, kind))
    assert items and max(map(len, items)) <= limit


def test_an_item_is_cut_at_a_word_and_a_repeated_gloss_is_said_once() -> None:
    said = "moved L-8R — Both moved: 8R is in Lab 3 — both moved: 8R is in Lab 3 — from 20 Jan"
    assert shown(said, 240) == "moved L-8R — Both moved: 8R is in Lab 3 — from 20 Jan"
    assert shown("word " * 100, 30) == "word word word word word…"  # 25 characters and the ellipsis
