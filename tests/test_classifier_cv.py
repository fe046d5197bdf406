"""The learned classifier the cross-validation bench measures against the rules
(bench/classifier_model.py, bench/classifier_cv.py): training is deterministic, the threshold
keeps its promise on complex turns, and a fitted model separates turns it was shown."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from classifier_cv import fell_back, figures  # noqa: E402
from classifier_model import Model, features, fit_with_threshold, probability, rule_signals, threshold_for, train  # noqa: E402

SIMPLE = ["what is the capital of peru", "define photosynthesis", "convert 12 miles to km", "hi there",
          "who wrote hamlet", "what does ubiquitous mean", "boiling point of water", "translate good night to french"]
COMPLEX = ["why do bridges sway in the wind", "should i rent or buy in my situation", "write a python script to rename files",
           "plan a 5 day trip to japan on a budget", "compare postgres and mysql for analytics",
           "how many liters of paint for a 4x5m room with two coats", "fix this: TypeError: undefined is not a function",
           "what are the second order effects of a sugar tax"]


def turns(batch: str, texts: list[str], label: str) -> list[dict]:
    return [{"id": f"{batch}{i:03d}", "messages": [{"role": "user", "content": text}], "label": label}
            for i, text in enumerate(texts)]


def toy_rows() -> list[dict]:
    """Two batches, each with half the simple and half the complex turns."""
    return (turns("a", SIMPLE[::2], "simple") + turns("a", COMPLEX[::2], "complex")
            + turns("b", SIMPLE[1::2], "simple") + turns("b", COMPLEX[1::2], "complex"))


def test_training_gives_the_same_weights_twice() -> None:
    rows = toy_rows()
    signals = rule_signals(rows)
    found = [features(r, signals[r["id"]]) for r in rows]
    labels = [int(r["label"] == "complex") for r in rows]
    first, second = train(found, labels), train(found, labels)
    assert first == second
    assert first  # features seen in two turns or more: "bias", shape and table hits at least


def test_a_fitted_model_separates_the_turns_it_was_shown() -> None:
    # every turn in both batches, so each of its words is seen twice and kept in the vocabulary
    first, second = turns("a", SIMPLE, "simple") + turns("a", COMPLEX, "complex"), \
        turns("b", SIMPLE, "simple") + turns("b", COMPLEX, "complex")
    rows = first + second
    signals = rule_signals(rows)
    model = fit_with_threshold(rows, signals, {"a": first, "b": second})
    weights = Model(model.weights, 0.5)
    assert [weights.label(r, signals[r["id"]]) for r in rows] == [r["label"] for r in rows]
    assert 0.0 < model.threshold <= 1.0


def test_the_threshold_sends_at_most_the_allowed_share_of_complex_turns_local() -> None:
    # 50 complex turns at p = 0.01 .. 0.50, 50 simple at p = 0.0
    probabilities = [i / 100 for i in range(1, 51)] + [0.0] * 50
    labels = [1] * 50 + [0] * 50
    threshold = threshold_for(probabilities, labels, cap=0.04)  # at most 2 of 50 below it
    sent_local = sum(p < threshold for p, label in zip(probabilities, labels) if label)
    assert sent_local == 2
    assert threshold == 0.03
    assert threshold_for(probabilities, labels, cap=0.0) == 0.01  # none local: the lowest complex p


def test_probability_counts_a_repeated_feature_once() -> None:
    assert probability({"bias": 0.0, "w:why": 2.0}, ["bias", "w:why", "w:why"]) == probability({"w:why": 2.0}, ["w:why"])


def test_figures_count_complex_turns_sent_local() -> None:
    accuracy, costly, share = figures(["complex", "complex", "simple", "simple"], ["simple", "complex", "complex", "simple"])
    assert (accuracy, costly, share) == (0.5, 1, 0.5)


def test_the_hybrid_hands_the_model_only_the_rules_fallbacks() -> None:
    assert fell_back("not clearly simple") and fell_back("tools defined") and fell_back("37 words")
    assert not fell_back("code") and not fell_back("lookup or definition") and not fell_back("depends on earlier turns")


def test_the_bench_prints_every_system_for_a_fold() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "classifier_cv.py"), "--test", "bd_t"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for system in ("rules", "model", "rules+veto", "hybrid"):
        line = next(line for line in done.stdout.splitlines() if line.strip().startswith(system + " "))
        assert re.search(r"\d+\.\d% +\d+\.\d% \(\d+\)$", line), line
