"""Signal extraction figures on the labelled agent transcripts in
tests/data/agent_conversations/*.json: intent keyword hit rate, open-loop and
completed-step precision and recall, resume_from exact-match rate, µs per extraction (cold, and warm as on an agent's next turn).

    python bench/signals.py            # figures, for the dev and held-out splits
    python bench/signals.py --misses   # also list every miss and false hit on the dev split

A transcript is decoded by Trooper's own codec for its wire format ("anthropic" or
"openai"), exactly as a request carrying it would be, then given to `extract`.

Matching is by words, not by exact strings: an extracted item hits a labelled one when
one contains the other, or when it holds at least 60% of the label's content words; and
any number in the label must appear in the item ("PR #2" never matches "PR #3").

The held-out split (about 30% of transcripts, chosen by a hash of the id) is the honest
figure for transcripts the rules were not tuned on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from trooper.conversation import Conversation  # noqa: E402
from trooper.formats import codec  # noqa: E402
from trooper.signals import extract as extract_module  # noqa: E402
from trooper.signals.extract import Signals, extract  # noqa: E402

DATA = ROOT / "tests" / "data" / "agent_conversations"

_STOP = frozenset(
    "a an the to of on in for and or is are was were be been it its this that with from by at as we i you our "
    "your they their has have had do does did not no so now".split()
)
_WORD = re.compile(r"[a-z0-9]+(?:[.#/_-][a-z0-9]+)*")


def load(directory: Path = DATA) -> list[dict[str, Any]]:
    cases = []
    for path in sorted(directory.glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        cases.append({"id": raw.get("id", path.stem), "format": raw["format"], "labels": raw["labels"],
                      "conversation": conversation(raw)})
    return cases


def conversation(raw: dict[str, Any]) -> Conversation:
    """The transcript as the request that carries it would decode."""
    body: dict[str, Any] = {"model": "m", "max_tokens": 1024, "messages": raw["messages"]}
    if raw.get("system"):
        body["system"] = raw["system"]
    if raw.get("tools"):
        body["tools"] = raw["tools"]
    return codec(raw["format"]).decode_request(json.dumps(body).encode())


def held_out(case: dict[str, Any]) -> bool:
    return hashlib.sha256(case["id"].encode()).digest()[0] % 10 < 3


def words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+(?:\.\d+)*", text))


def matches(label: str, item: str) -> bool:
    label_words, item_words = words(label), words(item)
    if not label_words or not item_words:
        return False
    if not _numbers(label) <= _numbers(item):
        return False
    joined_label, joined_item = " ".join(label_words), " ".join(item_words)
    if joined_label in joined_item or (len(item_words) >= 2 and joined_item in joined_label):
        return True
    shared = set(label_words) & set(item_words)
    return len(shared) / len(set(label_words)) >= 0.6


class Tally:
    """Precision and recall summed over transcripts (micro-averaged)."""

    def __init__(self) -> None:
        self.labels = self.recalled = self.items = self.correct = 0

    def add(self, labels: list[str], items: list[str]) -> tuple[list[str], list[str]]:
        missed = [label for label in labels if not any(matches(label, item) for item in items)]
        false = [item for item in items if not any(matches(label, item) for label in labels)]
        self.labels += len(labels)
        self.recalled += len(labels) - len(missed)
        self.items += len(items)
        self.correct += len(items) - len(false)
        return missed, false

    @property
    def precision(self) -> float:
        return self.correct / self.items if self.items else 1.0

    @property
    def recall(self) -> float:
        return self.recalled / self.labels if self.labels else 1.0


def evaluate(cases: list[dict[str, Any]]) -> dict[str, Any]:
    keywords = hits = 0
    loops, steps = Tally(), Tally()
    resume_exact = numbered = numbered_exact = 0
    misses: list[str] = []
    for case in cases:
        labels = case["labels"]
        conv = case["conversation"]
        signals = extract(conv.messages, conv.system)
        for keyword in labels.get("intent_keywords", []):
            keywords += 1
            if keyword.lower() in signals.intent.lower():
                hits += 1
            else:
                misses.append(f"{case['id']} intent lacks {keyword!r}: {signals.intent!r}")
        missed, false = loops.add(labels.get("open_loops", []), signals.open_loops)
        misses += [f"{case['id']} open loop missed: {m!r}" for m in missed]
        misses += [f"{case['id']} open loop false: {f!r}" for f in false]
        missed, false = steps.add(labels.get("completed_steps", []), signals.completed_steps)
        misses += [f"{case['id']} step missed: {m!r}" for m in missed]
        misses += [f"{case['id']} step false: {f!r}" for f in false]
        want = labels.get("resume_from")
        resume_exact += signals.resume_from == want
        if want is not None:
            numbered += 1
            numbered_exact += signals.resume_from == want
        if signals.resume_from != want:
            misses.append(f"{case['id']} resume_from {signals.resume_from} (want {want})")
    return {
        "transcripts": len(cases),
        "intent_keyword_hit_rate": hits / keywords if keywords else 1.0,
        "open_loop_precision": loops.precision,
        "open_loop_recall": loops.recall,
        "completed_step_precision": steps.precision,
        "completed_step_recall": steps.recall,
        "resume_from_exact": resume_exact / len(cases) if cases else 1.0,
        "numbered_tasks": numbered,
        "resume_from_exact_numbered": numbered_exact / numbered if numbered else 1.0,
        **_timing(cases),
        "misses": misses,
    }


def _timing(cases: list[dict[str, Any]], rounds: int = 5) -> dict[str, float]:
    """µs per whole-transcript extraction: cold (no message seen before) and warm (every
    message already read once, as for an agent's next turn, which resends them all)."""
    if not cases:
        return {"us_cold": 0.0, "us_warm": 0.0}
    cold = warm = 0.0
    for _ in range(rounds):
        extract_module._CACHE.clear()
        for case in cases:
            started = time.perf_counter()
            extract(case["conversation"].messages, case["conversation"].system)
            cold += time.perf_counter() - started
            started = time.perf_counter()
            extract(case["conversation"].messages, case["conversation"].system)
            warm += time.perf_counter() - started
    runs = rounds * len(cases)
    return {"us_cold": cold / runs * 1e6, "us_warm": warm / runs * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--misses", action="store_true", help="list the dev split's misses and false hits")
    args = parser.parse_args()
    cases = load()
    splits = {"dev": [c for c in cases if not held_out(c)], "held-out": [c for c in cases if held_out(c)], "all": cases}
    print(f"{'split':<9} {'files':>5} {'intent kw':>9} {'loop P':>7} {'loop R':>7} {'step P':>7} {'step R':>7} "
          f"{'resume':>7} {'numbered':>9} {'µs cold':>8} {'µs warm':>8}")
    for name, subset in splits.items():
        f = evaluate(subset)
        numbered = f"{f['resume_from_exact_numbered']:.0%} of {f['numbered_tasks']}"
        print(
            f"{name:<9} {f['transcripts']:>5} {f['intent_keyword_hit_rate']:>9.0%} {f['open_loop_precision']:>7.0%} "
            f"{f['open_loop_recall']:>7.0%} {f['completed_step_precision']:>7.0%} {f['completed_step_recall']:>7.0%} "
            f"{f['resume_from_exact']:>7.0%} {numbered:>9} {f['us_cold']:>8.0f} {f['us_warm']:>8.0f}"
        )
    print("floors (tests/test_signals_bench.py): completed-step recall ≥ 90%, resume_from exact on every numbered task")
    if args.misses:
        for line in evaluate(splits["dev"])["misses"]:
            print("  " + line)


def signals_of(case: dict[str, Any]) -> Signals:
    conv = case["conversation"]
    return extract(conv.messages, conv.system)


if __name__ == "__main__":
    main()
