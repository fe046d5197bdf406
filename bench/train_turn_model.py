"""Trains the turn model that second-guesses the classifier's rules
(src/trooper/signals/turn_model.py) on the dev turns only, and writes its weights.

    python bench/train_turn_model.py          # 5-fold cross-validation figures, then train on all and write
    python bench/train_turn_model.py --cv     # the cross-validation figures only

Folds are by a hash of each turn's id. The thresholds are chosen on the out-of-fold
probabilities: the highest accuracy whose complex→simple count is no more than the rules'
own. The held-out split is never read here. Needs numpy and scipy (training-time tools only).
"""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from pathlib import Path

import numpy as np
from scipy import optimize, sparse, special

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from trooper.signals.classify import grams, rules_decision  # noqa: E402
from trooper.signals.turn_model import WEIGHTS_PATH, features, reason_kind  # noqa: E402

DATA = ROOT / "tests" / "data" / "classifier_turns.jsonl"
FOLDS = 5
L2 = 1.0
MIN_COUNT = 2
CANDIDATE_WEAK = ("not clearly simple", "words", "reasoning, judgment or a task",
                  "an estimate, a computation or several operations", "a judgment, advice or a plan")


class Turn:
    def __init__(self, row: dict) -> None:
        self.id = row["id"]
        self.simple = row["label"] == "simple"
        self.tools = bool(row.get("tools"))
        text = row["messages"][-1]["content"]
        has_history = any(m["role"] in ("user", "assistant") for m in row["messages"][:-1])
        self.rules = rules_decision(text, has_history)
        lowered = text.strip().lower()
        self.features = features(lowered, grams(lowered), has_history, self.rules.reason)
        self.fold = zlib.crc32(self.id.encode()) % FOLDS


def fit(turns: list[Turn]) -> tuple[float, dict[str, float]]:
    """L2-regularised logistic regression (the bias unpenalised), solved with L-BFGS."""
    counts: dict[str, int] = {}
    for turn in turns:
        for feature in set(turn.features):
            counts[feature] = counts.get(feature, 0) + 1
    vocabulary = sorted(f for f, n in counts.items() if n >= MIN_COUNT)
    index = {f: i for i, f in enumerate(vocabulary)}
    rows, columns = [], []
    for row, turn in enumerate(turns):
        for feature in turn.features:
            if feature in index:
                rows.append(row)
                columns.append(index[feature])
        rows.append(row)
        columns.append(len(vocabulary))  # the bias
    x = sparse.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(len(turns), len(vocabulary) + 1))
    y = np.array([t.simple for t in turns], dtype=float)
    penalty = np.full(x.shape[1], L2)
    penalty[-1] = 0.0

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w
        value = np.sum(np.logaddexp(0, z) - y * z) + 0.5 * np.sum(penalty * w * w)
        return value, x.T @ (special.expit(z) - y) + penalty * w

    w = optimize.minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B").x
    return float(w[-1]), {f: round(float(w[i]), 4) for f, i in index.items() if abs(w[i]) >= 1e-3}


def probability(model: tuple[float, dict[str, float]], turn: Turn) -> float:
    bias, weights = model
    return float(1 / (1 + np.exp(-(bias + sum(weights.get(f, 0.0) for f in turn.features)))))


def decide(turn: Turn, p: float, weak: tuple[str, ...], promote_at: float, demote_below: float) -> bool:
    if turn.tools:
        return False
    if turn.rules.simple:
        return p >= demote_below
    return reason_kind(turn.rules.reason) in weak and p >= promote_at


def score(turns: list[Turn], probabilities: list[float], weak: tuple[str, ...], promote_at: float,
          demote_below: float) -> tuple[float, int]:
    right, costly = 0, 0
    for turn, p in zip(turns, probabilities):
        simple = decide(turn, p, weak, promote_at, demote_below)
        right += simple == turn.simple
        costly += simple and not turn.simple
    return right / len(turns), costly


def choose(turns: list[Turn], probabilities: list[float], ceiling: int) -> tuple[tuple[str, ...], float, float]:
    best: tuple[float, tuple[str, ...], float, float] = (-1.0, (), 1.01, 0.0)
    grid = [round(0.05 * k, 2) for k in range(1, 20)] + [0.97, 0.99, 1.01]
    for size in range(len(CANDIDATE_WEAK) + 1):
        weak = CANDIDATE_WEAK[:size]
        for promote_at in grid:
            for demote_below in [0.0] + grid[:12]:
                accuracy, costly = score(turns, probabilities, weak, promote_at, demote_below)
                if costly <= ceiling and accuracy > best[0] + 1e-9:
                    best = (accuracy, weak, promote_at, demote_below)
    return best[1], best[2], best[3]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cv", action="store_true", help="print the cross-validation figures only")
    args = parser.parse_args()
    turns = [Turn(json.loads(line)) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    complex_count = sum(not t.simple for t in turns)
    rules_accuracy, rules_costly = score(turns, [0.5] * len(turns), (), 1.01, 0.0)
    out_of_fold = [0.0] * len(turns)
    for fold in range(FOLDS):
        model = fit([t for t in turns if t.fold != fold])
        for i, turn in enumerate(turns):
            if turn.fold == fold:
                out_of_fold[i] = probability(model, turn)
    model_alone = sum((p >= 0.5) == t.simple for p, t in zip(out_of_fold, turns)) / len(turns)
    print(f"dev turns {len(turns)}; rules: {rules_accuracy:.1%} accuracy, {rules_costly} complex→simple "
          f"({rules_costly / complex_count:.1%}); model alone, {FOLDS}-fold CV: {model_alone:.1%}")
    # Thresholds chosen within each fold's training part and scored on the fold (nested), so the
    # figure printed is not the one the thresholds were fitted to.
    nested_right, nested_costly = 0, 0
    for fold in range(FOLDS):
        inside = [(t, p) for t, p in zip(turns, out_of_fold) if t.fold != fold]
        outside = [(t, p) for t, p in zip(turns, out_of_fold) if t.fold == fold]
        inside_costly = score([t for t, _ in inside], [p for _, p in inside], (), 1.01, 0.0)[1]
        weak, promote_at, demote_below = choose([t for t, _ in inside], [p for _, p in inside], inside_costly)
        accuracy, costly = score([t for t, _ in outside], [p for _, p in outside], weak, promote_at, demote_below)
        nested_right += round(accuracy * len(outside))
        nested_costly += costly
    print(f"rules + model, {FOLDS}-fold CV with thresholds chosen inside each fold: "
          f"{nested_right / len(turns):.1%} accuracy, {nested_costly} complex→simple ({nested_costly / complex_count:.1%})")
    weak, promote_at, demote_below = choose(turns, out_of_fold, rules_costly)
    accuracy, costly = score(turns, out_of_fold, weak, promote_at, demote_below)
    print(f"chosen on all out-of-fold scores: weak reasons {list(weak)}, promote at ≥ {promote_at}, "
          f"demote below {demote_below}: {accuracy:.1%} accuracy, {costly} complex→simple")
    if args.cv:
        return
    bias, weights = fit(turns)
    document = {"bias": round(bias, 4), "weights": dict(sorted(weights.items())), "promote_at": promote_at,
                "demote_below": demote_below, "weak_reasons": list(weak)}
    WEIGHTS_PATH.write_text(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {WEIGHTS_PATH.relative_to(ROOT)}: {len(weights)} weights")


if __name__ == "__main__":
    main()
