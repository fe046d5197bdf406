"""bench/judged.py: signal figures scored by a blind judge's verdicts on pairs of texts, the
word matcher standing in for pairs no judge saw; and the kept verdicts stay tied to labels
that exist."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load(name: str):  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


judged = _load("judged")


def _never(label: str, item: str) -> bool:
    return False


def test_a_judges_yes_counts_where_the_words_differ_and_unjudged_pairs_fall_back_to_the_matcher() -> None:
    labels = ["PR not opened: push denied", "waiting on finance to approve the refund"]
    items = ["git push failed: permission denied", "refund over $500 needs approval", "ran the linter"]
    verdicts = {
        ("s1", "open_loops", labels[0], items[0]): {"j1": True},
        ("s1", "open_loops", labels[0], items[1]): {"j1": False},
        ("s1", "open_loops", labels[0], items[2]): {"j1": False},
    }
    tally = judged.Judged()
    tally.judge("s1", "open_loops", labels, items, verdicts, _never)
    assert (tally.recalled, tally.labels) == (1, 2)
    assert (tally.correct, tally.items) == (1, 3)
    assert (tally.pairs, tally.unjudged) == (6, 3)


def test_a_pair_is_the_same_matter_only_if_every_judge_said_so() -> None:
    label, item = "restarted nginx on web-2", "restarted nginx"
    verdicts = {("s1", "completed_steps", label, item): {"j1": True, "j2": False}}
    tally = judged.Judged()
    tally.judge("s1", "completed_steps", [label], [item], verdicts, _never)
    assert tally.recalled == 0
    assert (tally.both_judged, tally.judges_agreed) == (1, 0)


def test_a_judges_index_lists_become_one_verdict_per_pair(tmp_path: Path) -> None:
    sessions = [{"id": "s1",
                 "completed_steps": {"labels": ["created RMA-55120"], "items": ["created RMA-55120 for order 9", "emailed"]},
                 "open_loops": {"labels": [], "items": ["waiting on the carrier"]}}]
    pairs, said, into = tmp_path / "pairs.json", tmp_path / "said.json", tmp_path / "verdicts.jsonl"
    pairs.write_text(json.dumps(sessions))
    said.write_text(json.dumps({"s1": {"completed_steps": [[0]], "open_loops": []}}))
    assert judged.take(pairs, said, "j9", into) == 2
    kept = judged.load_verdicts(into)
    assert kept[("s1", "completed_steps", "created RMA-55120", "created RMA-55120 for order 9")] == {"j9": True}
    assert kept[("s1", "completed_steps", "created RMA-55120", "emailed")] == {"j9": False}


def test_every_kept_verdict_names_a_label_of_its_session() -> None:
    bench = judged.bench
    labels = {}
    for directory in (bench.DATA, bench.VALIDATION, bench.HELDOUT):
        for path in directory.glob("*.json"):
            raw = json.loads(path.read_text(encoding="utf-8"))
            labels[raw.get("id", path.stem)] = raw["labels"]
    verdicts = judged.load_verdicts()
    assert verdicts, "no verdicts kept"
    for session, kind, label, _item in verdicts:
        assert kind in judged.KINDS
        assert label in (labels[session].get(kind) or []), (session, kind, label)
