"""Signal extraction figures on labelled agent sessions: intent keyword hit rate, open-loop
and completed-step precision and recall, resume_from exact-match rate, µs per extraction
(cold, and warm as on an agent's next turn), for the dev split and the blind held-out split
side by side, with the gap between them.

    python bench/signals.py            # dev and held-out figures, and the gap
    python bench/signals.py --misses   # also list every miss and false hit on the dev split
    python bench/signals.py --split dev --misses   # dev only (never loads the held-out split), with
                                                   # its blind-written bd_ sessions apart as well, and
                                                   # the validation split's figures beside
    python bench/signals.py --split validation     # the validation split alone

Dev: tests/data/agent_conversations/*.json (the rules may be tuned on it). Validation:
tests/data/validation/agent_conversations/*.json, written blind from the labelling guide like
the held-out split; developers measure it while tuning, to see whether a change carries to
sessions nobody fitted, but never read it: only its aggregate figures are printed, never its
items or misses. A round's validation batch joins dev once the round is measured, and a fresh
one takes its place.

Held-out:
tests/data/heldout/agent_conversations/*.json, written and labelled blind from the labelling
guide (tests/data/README.md) and never read while tuning; only its aggregate figures are
printed, never its items.

A session is decoded by Trooper's own codec for its wire format ("anthropic" or "openai"),
exactly as a request carrying it would be, then given to `extract`.

Matching is by words, not by exact strings: an extracted item hits a labelled one when
one contains the other, or when it holds at least 60% of the label's content words; and
any number in the label must appear in the item ("PR #2" never matches "PR #3").
"""

from __future__ import annotations

import argparse
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
HELDOUT = ROOT / "tests" / "data" / "heldout" / "agent_conversations"
VALIDATION = ROOT / "tests" / "data" / "validation" / "agent_conversations"

# Dev sessions written blind from the labelling guide (as the held-out split is), kept in the
# dev split: `--split dev` prints them apart as well.
BLIND_PREFIX = "bd_"

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
                      "style": raw.get("style", ""), "domain": raw.get("domain", ""),
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
        extract_module._stems.cache_clear()  # first sight: nothing stemmed before either
        for case in cases:
            started = time.perf_counter()
            extract(case["conversation"].messages, case["conversation"].system)
            cold += time.perf_counter() - started
            started = time.perf_counter()
            extract(case["conversation"].messages, case["conversation"].system)
            warm += time.perf_counter() - started
    runs = rounds * len(cases)
    return {"us_cold": cold / runs * 1e6, "us_warm": warm / runs * 1e6}


ROWS = (
    ("sessions", "transcripts", "{:.0f}"),
    ("intent keywords", "intent_keyword_hit_rate", "{:.0%}"),
    ("open loops P", "open_loop_precision", "{:.0%}"),
    ("open loops R", "open_loop_recall", "{:.0%}"),
    ("completed steps P", "completed_step_precision", "{:.0%}"),
    ("completed steps R", "completed_step_recall", "{:.0%}"),
    ("resume_from exact (plans)", "resume_from_exact_numbered", "{:.0%}"),
    ("sessions with a plan", "numbered_tasks", "{:.0f}"),
    ("resume_from exact (all)", "resume_from_exact", "{:.0%}"),
    ("µs cold / session", "us_cold", "{:.0f}"),
    ("µs warm / session", "us_warm", "{:.0f}"),
)


def heldout_batches(cases: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Held-out sessions by the blind batch that wrote them, from the id's first part."""
    batches: dict[str, list[dict[str, Any]]] = {}
    for case in cases:
        batches.setdefault(case["id"].split("_", 1)[0], []).append(case)
    return batches


def table(figures: dict[str, dict[str, Any]]) -> list[str]:
    """The figures of each split side by side, and held-out (or validation) minus dev."""
    names = list(figures)
    unseen = "held-out" if "held-out" in figures else "validation"  # the gap: what no rule was fitted to, minus dev
    both = "dev" in figures and unseen in figures
    lines = [f"{'measure':<27}" + "".join(f"{name:>12}" for name in names) + ("       gap" if both else "")]
    for title, key, fmt in ROWS:
        cells = [fmt.format(figures[name][key]) for name in names]
        gap = ""
        if both and "%" in fmt:
            gap = f"{(figures[unseen][key] - figures['dev'][key]) * 100:+.0f} pt"
        lines.append(f"{title:<27}" + "".join(f"{cell:>12}" for cell in cells) + f"{gap:>10}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--misses", action="store_true", help="list the dev split's misses and false hits")
    parser.add_argument("--split", choices=("dev", "validation", "heldout", "both"), default="both",
                        help="which split to measure (dev and validation never load the held-out split)")
    args = parser.parse_args()
    figures: dict[str, dict[str, Any]] = {}
    dev = load(DATA) if args.split in ("dev", "both") else []
    if dev:
        figures["dev"] = evaluate(dev)
    blind = [case for case in dev if case["id"].startswith(BLIND_PREFIX)]
    if blind and args.split == "dev":  # dev sessions written blind from the guide, beside the rest
        figures["dev bd_"] = evaluate(blind)
        figures["dev other"] = evaluate([case for case in dev if not case["id"].startswith(BLIND_PREFIX)])
    validation = load(VALIDATION) if args.split in ("dev", "validation") and VALIDATION.is_dir() else []
    if validation:  # aggregate figures only: nobody reads these sessions while tuning
        figures["validation"] = evaluate(validation)
    heldout = load(HELDOUT) if args.split in ("heldout", "both") and HELDOUT.is_dir() else []
    if heldout:
        figures["held-out"] = evaluate(heldout)
        batches = heldout_batches(heldout)
        if len(batches) > 1:  # each blind batch apart: `ho` (issue 18's first round), `h2` (its third)
            for batch, cases in batches.items():
                figures[f"held-out {batch}"] = evaluate(cases)
    for line in table(figures):
        print(line)
    if args.split in ("heldout", "both") and not heldout:
        print(f"(no held-out split at {HELDOUT.relative_to(ROOT)})")
    print("targets on held-out: completed steps R ≥ 90% with P ≥ 80%, open loops R ≥ 85%, intent ≥ 90%, "
          "resume_from exact ≥ 95%")
    if args.misses and "dev" in figures:
        for line in figures["dev"]["misses"]:
            print("  " + line)


def signals_of(case: dict[str, Any]) -> Signals:
    conv = case["conversation"]
    return extract(conv.messages, conv.system)


if __name__ == "__main__":
    main()
