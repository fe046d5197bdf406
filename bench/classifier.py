"""Classifier figures on labelled turns: accuracy, complex→simple errors (the costly kind),
µs per decision, for the dev split and the blind held-out split side by side, with the gap.

    python bench/classifier.py            # dev and held-out figures, and the gap
    python bench/classifier.py --errors   # also list every wrong decision on the dev split
    python bench/classifier.py --split dev --errors   # dev only, by source: what to run while tuning
    python bench/classifier.py --split dev --batch bd_t1201-bd_t1400 --errors   # one batch apart, its errors
    python bench/classifier.py --split validation   # the validation split alone
    python bench/classifier_cv.py     # leave-one-batch-out on the dev turns: rules and a learned model

Dev: tests/data/classifier_turns.jsonl (the rules may be tuned on it). Held-out:
tests/data/heldout/classifier_turns.jsonl, written and labelled blind from the labelling guide
(tests/data/README.md) and never read while tuning; only its aggregate figures are printed.
Validation: tests/data/validation/classifier_turns.jsonl, written blind the same way; measured while
tuning (`--split dev` prints it beside dev) to see whether a change carries, never read: its errors
are never listed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from trooper.conversation import Conversation, Message, TextBlock, Tool  # noqa: E402
from trooper.signals.classify import classify  # noqa: E402

DATA = ROOT / "tests" / "data" / "classifier_turns.jsonl"
HELDOUT = ROOT / "tests" / "data" / "heldout" / "classifier_turns.jsonl"
VALIDATION = ROOT / "tests" / "data" / "validation" / "classifier_turns.jsonl"


def load(path: Path = DATA) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def conversation(row: dict) -> Conversation:
    """The turn as a request carrying it would decode: system messages are the system prompt."""
    system = "\n".join(m["content"] for m in row["messages"] if m["role"] == "system")
    messages = tuple(Message(m["role"], (TextBlock(m["content"]),)) for m in row["messages"] if m["role"] != "system")
    tools = (Tool("lookup", "a tool", {"type": "object"}),) if row.get("tools") else ()
    return Conversation(model="m", messages=messages, system=system, tools=tools)


def evaluate(rows: list[dict]) -> dict:
    conversations = [conversation(r) for r in rows]
    decisions = [classify(c) for c in conversations]
    complex_rows = [r for r in rows if r["label"] == "complex"]
    wrong = [(r, d) for r, d in zip(rows, decisions) if d.label != r["label"]]
    costly = [(r, d) for r, d in wrong if r["label"] == "complex"]
    rounds = 20
    started = time.perf_counter()
    for _ in range(rounds):
        for c in conversations:
            classify(c)
    per_decision_us = (time.perf_counter() - started) / (rounds * len(conversations)) * 1e6
    return {
        "turns": len(rows),
        "accuracy": 1 - len(wrong) / len(rows),
        "complex_to_simple": len(costly),
        "complex_to_simple_share": len(costly) / max(len(complex_rows), 1),
        "us_per_decision": per_decision_us,
        "wrong": wrong,
    }


def by_source(rows: list[dict]) -> dict[str, list[dict]]:
    """Turns by who wrote them, from the id's prefix. Dev: `c…` the first set (issue 5), `dv_t…`
    written from the labelling guide, `bd_t…` written blind from the guide (never seen by whoever
    tunes the rules before they were measured), `pr_t…` probe turns the developer wrote from the guide in
    issue 18's fifth round before changing any rule (then tuned on, like the rest of dev). Held-out: `ho_t…` and `h2_t…`, two blind batches
    written in different rounds."""
    sources: dict[str, list[dict]] = {}
    for row in rows:
        prefix = re.match(r"(.*?)\d+$", row["id"])
        sources.setdefault(prefix.group(1).rstrip("_") if prefix else "?", []).append(row)
    return sources


def in_batch(rows: list[dict], batch: str) -> list[dict]:
    """The turns whose ids run from FIRST to LAST ("bd_t1201-bd_t1400"), same prefix, numbers compared."""
    first, last = batch.split("-")
    prefix, low = re.match(r"(.*?)(\d+)$", first).groups()
    high = int(re.match(r".*?(\d+)$", last).group(1))
    return [row for row in rows if row["id"].startswith(prefix) and row["id"][len(prefix):].isdigit()
            and int(low) <= int(row["id"][len(prefix):]) <= high]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--errors", action="store_true", help="list the dev split's wrong decisions")
    parser.add_argument("--split", choices=("dev", "validation", "heldout", "both"), default="both",
                        help="which split to measure; tune with dev only, so held-out stays unseen")
    parser.add_argument("--batch", action="append", default=[], metavar="FIRST-LAST",
                        help="also a column for the dev turns with ids FIRST..LAST of one prefix (a fresh blind batch, "
                             "measured before tuning on it); with --errors, list only its wrong decisions")
    args = parser.parse_args()
    figures = {}
    if args.split in ("dev", "both"):
        figures["dev"] = evaluate(load(DATA))
    if args.split in ("heldout", "both") and HELDOUT.is_file():
        heldout = load(HELDOUT)
        figures["held-out"] = evaluate(heldout)
        batches = by_source(heldout)
        if len(batches) > 1:  # each blind batch apart: `ho` (issue 18's first round), `h2` (its third)
            for source, rows in batches.items():
                figures[f"held-out {source}"] = evaluate(rows)
    if args.split == "dev":  # how well the rules carry from one writer's phrasings to another's
        for source, rows in by_source(load(DATA)).items():
            figures[f"dev {source}"] = evaluate(rows)
        for batch in args.batch:
            figures[f"dev {batch}"] = evaluate(in_batch(load(DATA), batch))
    if args.split in ("dev", "validation") and VALIDATION.is_file():  # aggregate only: nobody reads it
        figures["validation"] = evaluate(load(VALIDATION))
    names = list(figures)
    unseen = "held-out" if "held-out" in figures else "validation"  # the gap: what no rule was fitted to, minus dev
    both = unseen in figures and "dev" in figures
    width = {name: max(14, len(name) + 2) for name in names}
    print(f"{'measure':<22}" + "".join(f"{name:>{width[name]}}" for name in names) + ("       gap" if both else ""))
    for title, key, fmt, points in (("turns", "turns", "{:.0f}", False), ("accuracy", "accuracy", "{:.1%}", True),
                                    ("complex→simple", "complex_to_simple", "{:.0f}", False),
                                    ("  of complex turns", "complex_to_simple_share", "{:.1%}", True),
                                    ("µs per decision", "us_per_decision", "{:.1f}", False)):
        cells = "".join(f"{fmt.format(figures[name][key]):>{width[name]}}" for name in names)
        gap = f"{(figures[unseen][key] - figures['dev'][key]) * 100:+.1f} pt" if points and both else ""
        print(f"{title:<22}{cells}{gap:>10}")
    if args.split in ("heldout", "both") and not HELDOUT.is_file():
        print(f"(no held-out split at {HELDOUT.relative_to(ROOT)})")
    print("targets on held-out: accuracy ≥ 95%, complex→simple ≤ 2% of complex turns, ≤ 50 µs per decision")
    if args.errors and "dev" in figures:
        listed = [figures[f"dev {batch}"] for batch in args.batch] or [figures["dev"]]
        for row, decision in (wrong for batch in listed for wrong in batch["wrong"]):
            text = row["messages"][-1]["content"].replace("\n", " ")[:110]
            print(f"  {row['id']} want {row['label']:<7} got {decision.label:<7} ({decision.reason}) "
                  f"[{row.get('category', '')}] {text}")


if __name__ == "__main__":
    main()
