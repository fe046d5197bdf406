"""A small learned turn classifier, for measuring against the rules (bench/classifier_cv.py):
logistic regression over what the rule tables see in the turn, its words and its shape.

Features of a turn (its last user message, lower-cased):
- which of the classifier's rule tables fire on it (CODE, REASONING, WORKS_OUT, LOOKUP, ...):
  what the turn asks for, as the rules name it, without the rules' order of precedence;
- its words and pairs of adjacent words, its first word and first two words;
- its shape: length (log2 of words), how many numbers, question marks, a line break, a script
  other than ASCII, earlier turns, tools on offer, a system prompt.
Training is full-batch gradient descent (Adam, a fixed number of steps, L2) over a vocabulary of
the features seen in at least two training turns, sorted: the same data gives the same weights.

    python bench/classifier_model.py --dump-signals   # the rule signals of the trooper on PYTHONPATH, as JSON
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if "--dump-signals" not in sys.argv:  # otherwise the trooper on PYTHONPATH (an older commit's) is measured
    sys.path.insert(0, str(ROOT / "src"))

# The rule tables whose hits are features; a table an older commit lacks is left out there.
TABLES = ("CODE", "CODE_MARKS", "REASONING", "REASONING_MARKS", "REFERS_BACK", "ACTS", "WORKS_OUT", "WEIGHS", "CONTEXT",
          "CONTEXT_MARKS", "SMALL_TALK", "LOOKUP", "DEFINITION", "TRANSFORM", "SAY", "TEXT_JOB", "TEXT_JOB_BLOCKS",
          "UNITS", "FOREIGN_QUESTION", "FOREIGN_COMPLEX", "FOREIGN_WEIGHS", "BEYOND_CHAT")
MAX_COMPLEX_TO_SIMPLE = 0.02
L2 = 1.0
STEPS = 300
LEARNING_RATE = 0.3
MIN_COUNT = 2

_WORD = re.compile(r"[^\W_]+")
_NUMBER = re.compile(r"\d+")
_BEYOND_LATIN = re.compile("[^\x00-\u024f]")


@dataclass(frozen=True)
class Signals:
    decision: str  # the rules' label
    reason: str
    hits: tuple[str, ...]  # the rule tables that fire on the turn


def _conversation(row: dict):  # a Conversation of whichever trooper is on the path
    from trooper.conversation import Conversation, Message, TextBlock, Tool

    system = "\n".join(m["content"] for m in row["messages"] if m["role"] == "system")
    messages = tuple(Message(m["role"], (TextBlock(m["content"]),)) for m in row["messages"] if m["role"] != "system")
    tools = (Tool("lookup", "a tool", {"type": "object"}),) if row.get("tools") else ()
    return Conversation(model="m", messages=messages, system=system, tools=tools)


def rule_signals(rows: list[dict]) -> dict[str, Signals]:
    """What the importable trooper's rules decide, and which of its tables fire, for each turn."""
    import trooper.signals.classify as rules

    try:
        from trooper.signals.rules import grams
    except ImportError:  # before the tables had a module of their own
        grams = rules.grams  # type: ignore[attr-defined]
    found = {}
    for row in rows:
        lowered = row["messages"][-1]["content"].strip().lower()
        latin = _BEYOND_LATIN.search(lowered) is None
        seen = grams(lowered)
        hits = []
        for name in TABLES:
            table = getattr(rules, name, None)
            if table is None:
                continue
            try:
                fired = table.search(lowered, latin, seen)
            except TypeError:  # an older table takes no word set
                fired = table.search(lowered, latin)
            if fired:
                hits.append(name)
        decision = rules.classify(_conversation(row))
        found[row["id"]] = Signals(decision.label, decision.reason, tuple(hits))
    return found


def signals_from_json(dumped: dict) -> dict[str, Signals]:
    return {key: Signals(value["decision"], value["reason"], tuple(value["hits"])) for key, value in dumped.items()}


def features(row: dict, signals: Signals) -> list[str]:
    messages = row["messages"]
    text = messages[-1]["content"].strip()
    lowered = text.lower()
    words = _WORD.findall(lowered.replace("'", "").replace("’", ""))
    found = ["bias", *("h:" + name for name in signals.hits)]
    found += ["w:" + word for word in set(words)]
    found += ["w:" + pair for pair in set(map(" ".join, zip(words, words[1:])))]
    spaced = lowered.split()
    if spaced:
        found.append("f:" + spaced[0])
    if len(spaced) > 1:
        found.append("f2:" + " ".join(spaced[:2]))
    found.append("len:%d" % min(int(math.log2(len(spaced) + 1)), 9))
    found.append("numbers:%d" % min(len(_NUMBER.findall(lowered)), 3))
    found.append("questions:%d" % min(lowered.count("?"), 2))
    if "\n" in text:
        found.append("newline")
    if not text.isascii():
        found.append("non-ascii")
    if any(m["role"] in ("user", "assistant") for m in messages[:-1]):
        found.append("history")
    if row.get("tools"):
        found.append("tools")
    if any(m["role"] == "system" for m in messages):
        found.append("system")
    return found


def _sparse(rows_features: list[list[str]], vocabulary: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    columns: list[int] = []
    starts = [0]
    for found in rows_features:
        columns += sorted({vocabulary[f] for f in found if f in vocabulary})
        starts.append(len(columns))
    return np.array(columns, dtype=np.int64), np.array(starts, dtype=np.int64)


def _scores(matrix: tuple[np.ndarray, np.ndarray], weights: np.ndarray) -> np.ndarray:
    columns, starts = matrix
    row_of = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    return np.bincount(row_of, weights=weights[columns], minlength=len(starts) - 1)


def train(rows_features: list[list[str]], labels: list[int]) -> dict[str, float]:
    """Feature → weight (features seen in at least MIN_COUNT turns), by full-batch Adam with L2."""
    counts = Counter(f for found in rows_features for f in set(found))
    vocabulary = {f: i for i, f in enumerate(sorted(f for f, n in counts.items() if n >= MIN_COUNT))}
    matrix = _sparse(rows_features, vocabulary)
    columns, starts = matrix
    target = np.array(labels, dtype=np.float64)
    size = len(vocabulary)
    weights, first, second = np.zeros(size), np.zeros(size), np.zeros(size)
    for step in range(1, STEPS + 1):
        predicted = 1 / (1 + np.exp(-_scores(matrix, weights)))
        gradient = np.bincount(columns, weights=np.repeat(predicted - target, np.diff(starts)), minlength=size)
        gradient = (gradient + L2 * weights) / len(labels)
        first = 0.9 * first + 0.1 * gradient
        second = 0.999 * second + 0.001 * gradient * gradient
        weights -= LEARNING_RATE * (first / (1 - 0.9**step)) / (np.sqrt(second / (1 - 0.999**step)) + 1e-8)
    return {f: float(weights[i]) for f, i in vocabulary.items()}


def probability(weights: dict[str, float], found: list[str]) -> float:
    score = sum(weights.get(f, 0.0) for f in dict.fromkeys(found))
    return 1 / (1 + math.exp(-score))


def threshold_for(probabilities: list[float], labels: list[int], cap: float = MAX_COMPLEX_TO_SIMPLE) -> float:
    """The highest threshold (complex when p ≥ it) that sends at most `cap` of complex turns local."""
    complex_probabilities = sorted(p for p, label in zip(probabilities, labels) if label)
    allowed = int(cap * len(complex_probabilities))
    return complex_probabilities[allowed] if allowed < len(complex_probabilities) else 1.0


@dataclass(frozen=True)
class Model:
    weights: dict[str, float]
    threshold: float

    def probability(self, row: dict, signals: Signals) -> float:
        return probability(self.weights, features(row, signals))

    def label(self, row: dict, signals: Signals) -> str:
        return "complex" if self.probability(row, signals) >= self.threshold else "simple"


def fit_with_threshold(rows: list[dict], signals: dict[str, Signals], batches: dict[str, list[dict]],
                       cap: float = MAX_COMPLEX_TO_SIMPLE) -> Model:
    """Weights from all `rows`; the threshold from an inner leave-one-batch-out over `batches`."""
    held_probabilities: list[float] = []
    held_labels: list[int] = []
    for held, test in batches.items():
        train_rows = [row for name, group in batches.items() if name != held for row in group]
        weights = train([features(r, signals[r["id"]]) for r in train_rows],
                        [int(r["label"] == "complex") for r in train_rows])
        held_probabilities += [probability(weights, features(r, signals[r["id"]])) for r in test]
        held_labels += [int(r["label"] == "complex") for r in test]
    weights = train([features(r, signals[r["id"]]) for r in rows], [int(r["label"] == "complex") for r in rows])
    return Model(weights, threshold_for(held_probabilities, held_labels, cap))


if __name__ == "__main__":
    if "--dump-signals" in sys.argv:
        data = ROOT / "tests" / "data" / "classifier_turns.jsonl"
        turns = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
        print(json.dumps({key: {"decision": s.decision, "reason": s.reason, "hits": list(s.hits)}
                          for key, s in rule_signals(turns).items()}))
