"""Completed steps and open loops as a reader judges them, beside the word matcher's figures.

bench/signals.py scores an extracted item against a labelled one by shared words. That is
deterministic and cheap, but it misses a reader's matches ("PR not opened: the push was denied"
for "git push failed: permission denied") and can take a wordy item for one it is not. Here a
judge who never read Trooper's code or rules, given only a session's labelled items and the
extracted ones, says which extracted items state the same matter as each label (the brief:
bench/JUDGE.md). Their verdicts are kept per pair of texts in tests/data/judged/verdicts.jsonl,
so they stay valid while the extractor changes: a pair nobody judged yet (a new wording) is
scored by the word matcher, and the figures say how many were.

    python bench/judged.py                       # dev, validation and held-out: matcher and judged P/R
    python bench/judged.py --export DIR          # the sessions with unjudged pairs, for a judge
    python bench/judged.py --take PAIRS VERDICTS --judge NAME   # a judge's verdicts, kept

Two judges may see the same pair: a pair counts as the same matter only if every judge who
saw it said so, and the figures print how often the judges agreed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import signals as bench  # noqa: E402

VERDICTS = bench.ROOT / "tests" / "data" / "judged" / "verdicts.jsonl"
KINDS = ("completed_steps", "open_loops")

Pair = tuple[str, str, str, str]  # session, kind, label, item


def load_verdicts(path: Path = VERDICTS) -> dict[Pair, dict[str, bool]]:
    """Each judged pair and what each judge said of it."""
    verdicts: dict[Pair, dict[str, bool]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                pair = (row["session"], row["kind"], row["label"], row["item"])
                verdicts.setdefault(pair, {})[row["judge"]] = row["same"]
    return verdicts


def extracted(case: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    signals = bench.signals_of(case)
    return {
        kind: {"labels": list(case["labels"].get(kind) or []), "items": list(getattr(signals, kind))}
        for kind in KINDS
    }


class Judged(bench.Tally):
    """Recall and precision of one kind of item over many sessions (the bench's tally), scored
    by the verdicts where a judge saw the pair and by the word matcher where none did."""

    def __init__(self) -> None:
        super().__init__()
        self.pairs = self.unjudged = self.both_judged = self.judges_agreed = 0

    def judge(self, session: str, kind: str, labels: list[str], items: list[str],
              verdicts: dict[Pair, dict[str, bool]], matches: Callable[[str, str], bool]) -> None:
        same_items: set[int] = set()
        for label in labels:
            hit = False
            for index, item in enumerate(items):
                said = verdicts.get((session, kind, label, item))
                self.pairs += 1
                if said is None:
                    self.unjudged += 1
                    same = matches(label, item)
                else:
                    same = all(said.values())
                    if len(said) > 1:
                        self.both_judged += 1
                        self.judges_agreed += len(set(said.values())) == 1
                if same:
                    hit = True
                    same_items.add(index)
            self.recalled += hit
        self.labels += len(labels)
        self.items += len(items)
        self.correct += len(same_items)


def evaluate(cases: list[dict[str, Any]], verdicts: dict[Pair, dict[str, bool]]) -> dict[str, Any]:
    """Per kind: the word matcher alone (bench/signals.py's own tally), and the verdicts (the
    matcher where none)."""
    figures: dict[str, Any] = {}
    for kind in KINDS:
        figures[f"{kind} matcher"], figures[f"{kind} judged"] = bench.Tally(), Judged()
    for case in cases:
        for kind, lists in extracted(case).items():
            figures[f"{kind} matcher"].add(lists["labels"], lists["items"])
            figures[f"{kind} judged"].judge(case["id"], kind, lists["labels"], lists["items"], verdicts, bench.matches)
    return figures


def report(name: str, figures: dict[str, Any]) -> list[str]:
    lines = []
    for kind, title in (("completed_steps", "completed steps"), ("open_loops", "open loops")):
        matcher, judged = figures[f"{kind} matcher"], figures[f"{kind} judged"]
        seen = judged.pairs - judged.unjudged
        agreement = (f", judges agreed on {judged.judges_agreed}/{judged.both_judged} seen twice"
                     if judged.both_judged else "")
        lines.append(
            f"{name:<14}{title:<17} P/R matcher {matcher.precision:4.0%} / {matcher.recall:4.0%}"
            f"   judged {judged.precision:4.0%} / {judged.recall:4.0%}"
            f"   ({seen}/{judged.pairs} pairs judged{agreement})"
        )
    return lines


def unjudged_sessions(cases: list[dict[str, Any]], verdicts: dict[Pair, dict[str, bool]]) -> Iterator[dict[str, Any]]:
    """Each session that has a pair no judge has seen: its labels and items, as a judge reads them."""
    for case in cases:
        lists = extracted(case)
        if any((case["id"], kind, label, item) not in verdicts
               for kind in KINDS for label in lists[kind]["labels"] for item in lists[kind]["items"]):
            yield {"id": case["id"], **lists}


def take(pairs_path: Path, verdicts_path: Path, judge: str, into: Path = VERDICTS) -> int:
    """A judge's verdicts (per session and kind, one list of item indices per label) as one
    row per pair of texts, appended to the kept verdicts. Returns the rows written."""
    sessions = json.loads(pairs_path.read_text(encoding="utf-8"))
    said = json.loads(verdicts_path.read_text(encoding="utf-8"))
    rows = []
    for session in sessions:
        verdict = said.get(session["id"])
        if verdict is None:
            continue
        for kind in KINDS:
            labels, items = session[kind]["labels"], session[kind]["items"]
            chosen = verdict[kind]
            if len(chosen) != len(labels):
                raise SystemExit(f"{session['id']} {kind}: {len(chosen)} verdicts for {len(labels)} labels")
            for label, indices in zip(labels, chosen, strict=True):
                for index, item in enumerate(items):
                    rows.append({"session": session["id"], "kind": kind, "label": label, "item": item,
                                 "same": index in indices, "judge": judge})
    into.parent.mkdir(parents=True, exist_ok=True)
    with into.open("a", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", choices=("dev", "validation", "heldout", "both"), default="both")
    parser.add_argument("--export", type=Path, help="write the sessions with unjudged pairs here, one file per split")
    parser.add_argument("--take", nargs=2, type=Path, metavar=("PAIRS", "VERDICTS"),
                        help="keep a judge's verdicts on an exported file")
    parser.add_argument("--judge", default="", help="the judge's name, with --take")
    args = parser.parse_args()
    if args.take:
        if not args.judge:
            raise SystemExit("--take needs --judge NAME")
        print(f"{take(*args.take, args.judge)} verdicts kept in {VERDICTS.relative_to(bench.ROOT)}")
        return
    verdicts = load_verdicts()
    splits = {}
    if args.split in ("dev", "both"):
        splits["dev"] = bench.load(bench.DATA)
    if args.split in ("validation", "both") and bench.VALIDATION.is_dir():
        splits["validation"] = bench.load(bench.VALIDATION)
    if args.split in ("heldout", "both") and bench.HELDOUT.is_dir():
        splits["held-out"] = bench.load(bench.HELDOUT)
    for name, cases in splits.items():
        if args.export:
            args.export.mkdir(parents=True, exist_ok=True)
            todo = list(unjudged_sessions(cases, verdicts))
            path = args.export / f"{name}.json"
            path.write_text(json.dumps(todo, indent=1, ensure_ascii=False), encoding="utf-8")
            print(f"{name}: {len(todo)} sessions with unjudged pairs -> {path}")
            continue
        for line in report(name, evaluate(cases, verdicts)):
            print(line)
        if name == "held-out":
            for batch, batch_cases in bench.heldout_batches(cases).items():
                for line in report(f"held-out {batch}", evaluate(batch_cases, verdicts)):
                    print(line)


if __name__ == "__main__":
    main()
