"""The token estimator against a real BPE tokenizer (Claude's, fetched once from PyPI by
bench/reference_tokenizer.py): the targets per kind of text, as regression guards."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from trooper.signals.tokens import estimate_text

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
from estimator import corpora, measure  # noqa: E402
from reference_tokenizer import load  # noqa: E402


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    return load()


# Several independent draws of samples, so that a passing figure is not one lucky draw.
DRAWS = [corpora(seed) for seed in range(4)]


@pytest.mark.parametrize("kind", list(DRAWS[0]))
def test_mean_error_within_10_percent_and_never_far_under(tokenizer, kind: str) -> None:  # type: ignore[no-untyped-def]
    for draw in DRAWS:
        figures = measure(tokenizer, draw[kind])
        assert figures["samples"] >= 5
        assert figures["mean_abs"] <= 0.10, figures
        assert figures["worst_under"] >= -0.15, figures


def test_empty_and_tiny() -> None:
    assert estimate_text("") == 0
    assert estimate_text("a") >= 1
