"""A small logistic model over a turn's words that second-guesses the rules' weaker
decisions (classify.py). Its weights ship beside this file (turn_model.json, trained on the
dev turns only by bench/train_turn_model.py); nothing is downloaded.

The features are strings looked up in a dict of weights, so a decision costs one pass
over the turn's words, and the same turn always scores the same.
"""

from __future__ import annotations

import math
from pathlib import Path

import msgspec

WEIGHTS_PATH = Path(__file__).with_name("turn_model.json")
_LENGTHS = (1, 2, 3, 5, 8, 12, 20, 40)


class TurnModel(msgspec.Struct, frozen=True):
    bias: float
    weights: dict[str, float]
    # Rules' complex decisions it may turn simple when the model's probability of simple is
    # at least `promote_at`; rules' simple decisions it turns complex below `demote_below`.
    promote_at: float
    demote_below: float
    weak_reasons: list[str]

    def simple_probability(self, features: list[str]) -> float:
        weights = self.weights
        # fsum is exact, so the order of the features (a set's, which varies between
        # processes) cannot move a score across a threshold.
        score = self.bias + math.fsum(weights.get(feature, 0.0) for feature in features)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, score))))


def features(lowered: str, turn_grams: frozenset[str], has_history: bool, reason: str) -> list[str]:
    """What the model sees: the turn's words and word pairs (from classify.grams), its first
    words, its length, whether there were earlier turns, and the rules' own reason."""
    words = lowered.split()
    length = len(words)
    found = [f"g:{gram}" for gram in turn_grams]
    found.append(f"rule:{reason_kind(reason)}")
    found.append(f"len:{next((bound for bound in _LENGTHS if length <= bound), 'more')}")
    if words:
        found.append(f"first:{words[0]}")
        if length > 1:
            found.append(f"first2:{words[0]} {words[1]}")
    if has_history:
        found.append("history")
    if lowered.endswith("?"):
        found.append("ends?")
    if any(ch.isdigit() for ch in lowered):
        found.append("digit")
    if not lowered.isascii():
        found.append("non-ascii")
    return found


def reason_kind(reason: str) -> str:
    """The rules' reason without its count ("34 words" → "words")."""
    head, _, tail = reason.partition(" ")
    return tail if head.isdigit() else reason


def load(path: Path = WEIGHTS_PATH) -> TurnModel:
    return msgspec.json.decode(path.read_bytes(), type=TurnModel)


__all__ = ["TurnModel", "WEIGHTS_PATH", "features", "load", "reason_kind"]
