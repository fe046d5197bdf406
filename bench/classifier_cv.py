"""How well the turn classifier carries to turns written by someone else: leave-one-batch-out
cross-validation on the dev turns, for the rules and for a small learned model, side by side.

    python bench/classifier_cv.py                         # every fold: train on two batches, test on the third
    python bench/classifier_cv.py --rules-at cdccea8      # the same with the rule tables of an older commit
    python bench/classifier_cv.py --rules-at cdccea8 --test bd_t   # ...one fold only
    python bench/classifier_cv.py --max-complex-to-simple 0.039     # the model at the rules' share sent local
    python bench/classifier_cv.py --rules-at cf07e21 --test-from bd_t0601   # a later batch neither saw
    python bench/classifier_cv.py --veto 0.7     # rules+veto: the model may only turn a simple decision complex

The dev turns come in three batches, by id prefix: `c…` (issue 5), `dv_t…` (written from the
labelling guide), `bd_t…` (written blind from the guide). The rules were tuned on all three, so
their figure per batch is what they score on phrasings they were fitted to: optimistic. Their
figure on a batch they had not seen comes from an older commit (`--rules-at`): cdccea8 is the
last commit before the bd_t turns were added, so its rules saw c and dv_t only, and its figure
on bd_t is the rules' own transfer to a batch written by someone else (82.2%, complex→simple
3.9%: the same share the current rules send local on the blind held-out split).

The model (classifier_model.py) is logistic regression over which rule tables fire on the turn,
its words and word pairs, and its shape (length, numbers, history, tools). Trained on two
batches; its decision threshold is chosen by an inner leave-one-batch-out over those two, as
the highest that keeps complex→simple ≤ 2% there, then applied unchanged to the third batch.
Its figure on the held-back batch is the closest to a held-out figure the dev split can give.
With `--rules-at`, the model's rule-table features are the older commit's tables too: rules
fitted to the training batches and a model trained over them, both tested on a batch neither
saw, which is the situation the shipped classifier is in on held-out turns. cf07e21 is the last
commit before bd_t0601-1200 were added (`--test-from bd_t0601`): a second such fold, with more
training turns.

What it showed (issue 18, round four), on the two folds neither side saw (cdccea8 / cf07e21):
- the model alone, at the 2% the issue asks for, loses 2-3 points of accuracy to the rules
  (which send about 4% local there): 79.1 vs 82.2%, 83.5 vs 85.3%;
- at the rules' own share sent local (--max-complex-to-simple 0.039) it matches or beats them;
- as a veto on the rules' simple decisions (P ≥ 0.5) each complex turn it keeps from the local
  model costs about one simple turn sent to the cloud (81.9% / 3.0%, 85.3% / 2.7%);
- the hybrid (the model decides where the rules fell back, plus the veto) beats the rules on
  both (83.5% / 3.3%, 87.3% / 3.6%), but it was put together after looking at the first fold,
  still sends over 3% local, and on the folds the rules were tuned on it costs 4 points;
- its features (every rule table run over the turn) take over twice as long as the rules'
  whole decision (about 110 µs against 49, best of five runs over the dev turns), which is
  already near the 50 µs a decision may take.
So the classifier ships rules only.
Nothing here reads the held-out split.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from classifier import DATA, by_source, load  # noqa: E402
from classifier_model import (  # noqa: E402
    MAX_COMPLEX_TO_SIMPLE,
    Signals,
    fit_with_threshold,
    rule_signals,
    signals_from_json,
)

BATCHES = ("c", "dv_t", "bd_t")


def figures(labels: list[str], predicted: list[str]) -> tuple[float, int, float]:
    """Accuracy, complex→simple errors, and their share of complex turns."""
    wrong = sum(a != b for a, b in zip(labels, predicted))
    complex_count = sum(label == "complex" for label in labels)
    costly = sum(a == "complex" and b == "simple" for a, b in zip(labels, predicted))
    return 1 - wrong / len(labels), costly, costly / max(complex_count, 1)


def signals_at(commit: str) -> dict[str, Signals]:
    """The rule tables' and the rules' decisions of an older commit, on today's dev turns: its src
    is unpacked to a temporary directory and run in a subprocess of its own."""
    with tempfile.TemporaryDirectory() as scratch:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src"], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", scratch], input=archive.stdout, check=True)
        env = {**os.environ, "PYTHONPATH": str(Path(scratch) / "src")}
        dumped = subprocess.run([sys.executable, str(ROOT / "bench" / "classifier_model.py"), "--dump-signals"],
                                check=True, capture_output=True, env=env, text=True)
    return signals_from_json(json.loads(dumped.stdout))


def cells(labels: list[str], predicted: list[str]) -> str:
    accuracy, costly, share = figures(labels, predicted)
    return f"{accuracy:>8.1%}{f'{share:.1%} ({costly})':>13}"


def fell_back(reason: str) -> bool:
    """A decision the rules reach by default rather than by a sign: nothing simple matched, too
    long to look at, tools on offer. The hybrid lets the model decide these."""
    return reason == "not clearly simple" or reason == "tools defined" or reason.endswith(" words")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rules-at", metavar="COMMIT", help="use the rule tables and decisions of an older commit")
    parser.add_argument("--test", choices=BATCHES, action="append", help="the held-back batch (default: each in turn)")
    parser.add_argument("--test-from", metavar="ID", help="one fold: test on the turns of ID's batch from ID on "
                        "(bd_t0601: the 600 turns added after cf07e21), train on every other turn")
    parser.add_argument("--max-complex-to-simple", type=float, default=MAX_COMPLEX_TO_SIMPLE, metavar="SHARE",
                        help="the share of complex turns the model's threshold may send local (default 0.02)")
    parser.add_argument("--veto", type=float, default=0.5, metavar="P",
                        help="rules+veto: the rules decide, and a simple turn the model gives P(complex) ≥ P is complex")
    args = parser.parse_args()
    # the three writers' batches; `pr_t…` (probe turns the developer wrote in round five) stay out, so the
    # model's figures above still come from the same training turns
    rows = [row for row in load(DATA) if re.match(r"(c|dv_t|bd_t)\d", row["id"])]
    batches = by_source(rows)
    folds = list(args.test or BATCHES)
    if args.test_from:  # the batch split in two: its earlier turns train, its later ones test
        name = next(name for name in BATCHES if args.test_from.startswith(name))
        batches[f"{name}<{args.test_from}"] = [row for row in batches[name] if row["id"] < args.test_from]
        batches[name] = [row for row in batches[name] if row["id"] >= args.test_from]
        folds = [name]
    started = time.perf_counter()
    signals = signals_at(args.rules_at) if args.rules_at else rule_signals(rows)
    signals_us = (time.perf_counter() - started) / len(rows) * 1e6
    tables = f"rules at {args.rules_at}" if args.rules_at else "rules as they are (tuned on all three batches)"
    cap = args.max_complex_to_simple
    print(f"leave-one-batch-out on {len(rows)} dev turns; {tables}")
    systems = ("rules", f"model (complex→simple ≤ {cap:.1%} in inner folds)", f"rules+veto (P ≥ {args.veto})",
               "hybrid (model decides the rules' fallbacks, and the veto)")
    pooled: dict[str, list[str]] = {name: [] for name in ("label", *systems)}
    for held in folds:
        train = [row for name, group in batches.items() if name != held for row in group]
        test = batches[held]
        model = fit_with_threshold(train, signals, by_source(train), cap)
        labels = [row["label"] for row in test]
        rules = [signals[row["id"]].decision for row in test]
        chances = [model.probability(row, signals[row["id"]]) for row in test]
        learned = ["complex" if p >= model.threshold else "simple" for p in chances]
        vetoed = ["complex" if p >= args.veto else decided for decided, p in zip(rules, chances)]
        hybrid = [learned_label if fell_back(signals[row["id"]].reason) else veto_label
                  for row, learned_label, veto_label in zip(test, learned, vetoed)]
        print(f"held back {held} ({len(test)} turns), trained on {len(train)}; model threshold {model.threshold:.3f}")
        for name, found in zip(systems, (rules, learned, vetoed, hybrid)):
            pooled[name] += found
            print(f"  {name:<58}{cells(labels, found)}")
        pooled["label"] += labels
    if len(folds) > 1:
        print(f"all folds ({len(pooled['label'])} turns)")
        for name in systems:
            print(f"  {name:<58}{cells(pooled['label'], pooled[name])}")
    print("(accuracy, then complex→simple as a share of complex turns)")
    if not args.rules_at:
        print(f"(the rules' decision and every rule table run over the turn for the model's features: "
              f"{signals_us:.0f} µs per turn on this machine now; bench/classifier.py times the decision alone)")
        print("(the rules' figures are optimistic: they were tuned on every batch; --rules-at cdccea8 --test bd_t "
              "and --rules-at cf07e21 --test-from bd_t0601 show rules and model on turns neither saw)")


if __name__ == "__main__":
    main()
