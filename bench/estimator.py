"""The token estimator against a real BPE tokenizer (Claude's, see reference_tokenizer.py),
per kind of text: mean relative error, worst underestimate, worst overestimate.

    pip install tokenizers faker && python bench/estimator.py

Samples: prose (the design notes and seed READMEs in ../shared, this README), code (the
standard library's asyncio sources), JSON (the labelled agent conversations), and
non-Latin scripts (Faker's Chinese, Japanese, Russian and Arabic word lists, plus the
labelled non-English turns, which include Hindi and Korean).
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from trooper.signals.tokens import estimate_text  # noqa: E402

SAMPLE_CHARS = (300, 3000)


def _chunks(text: str, rng: random.Random, count: int) -> list[str]:
    out = []
    for _ in range(count):
        size = rng.randint(*SAMPLE_CHARS)
        if len(text) <= size:
            out.append(text)
            continue
        start = rng.randrange(0, len(text) - size)
        out.append(text[start : start + size])
    return out


def corpora(seed: int = 7) -> dict[str, list[str]]:
    rng = random.Random(seed)
    shared = ROOT.parent / "shared"
    documents = [*sorted(shared.glob("*.md")), *sorted((shared / "seeds").glob("*.txt")), ROOT / "README.md"]
    prose = "\n".join(p.read_text(encoding="utf-8") for p in documents if p.exists())
    prose = "\n".join(line for line in prose.splitlines() if line and not line.startswith(("    ", "```", "|", "$ ", "#")))
    code = "\n".join(p.read_text(encoding="utf-8") for p in sorted(Path(asyncio.__file__).parent.glob("*.py")))
    conversations = sorted((ROOT / "tests" / "data" / "agent_conversations").glob("*.json"))
    data = "\n".join(json.dumps(json.loads(p.read_text(encoding="utf-8"))["messages"], ensure_ascii=False) for p in conversations)
    kinds = {"prose (en)": _chunks(prose, rng, 60), "code (python)": _chunks(code, rng, 60), "json": _chunks(data, rng, 60)}
    try:
        from faker import Faker

        for label, locale in (("chinese", "zh_CN"), ("japanese", "ja_JP"), ("russian", "ru_RU"), ("arabic", "ar_AA")):
            fake = Faker(locale)
            fake.seed_instance(seed)
            kinds[label] = [fake.text(rng.randint(*SAMPLE_CHARS)) for _ in range(40)]
    except ImportError:
        print("(faker not installed: the non-Latin rows below come from the labelled turns only)")
    turns = [json.loads(line) for line in (ROOT / "tests" / "data" / "classifier_turns.jsonl").read_text(encoding="utf-8").splitlines()]
    other = [t["messages"][-1]["content"] for t in turns if t.get("lang") and not _latin_script(t["messages"][-1]["content"])]
    kinds["non-latin turns"] = [" ".join(other[i : i + 5]) for i in range(0, len(other), 5)]
    return kinds


def _latin_script(text: str) -> bool:
    """Mostly Latin letters (Polish, Turkish, Vietnamese…): by the script, not the language code."""
    letters = [c for c in text if c.isalpha()]
    return sum(c < "\u0250" for c in letters) > len(letters) / 2


def measure(tokenizer, samples: list[str]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    errors = []
    for text in samples:
        real = len(tokenizer.encode(text, add_special_tokens=False).ids)
        if real:
            errors.append((estimate_text(text) - real) / real)
    return {
        "samples": len(errors),
        "mean_abs": statistics.fmean(abs(e) for e in errors),
        "mean": statistics.fmean(errors),
        "worst_under": min(errors),
        "worst_over": max(errors),
    }


def main() -> None:
    from reference_tokenizer import load

    tokenizer = load()
    draws = [corpora(seed) for seed in range(6)]
    print("six independent draws of samples, pooled")
    print(f"{'kind':<18} {'samples':>7} {'mean |err|':>11} {'mean err':>9} {'worst under':>12} {'worst over':>11}")
    for kind in draws[0]:
        m = measure(tokenizer, [sample for draw in draws for sample in draw[kind]])
        print(f"{kind:<18} {m['samples']:>7} {m['mean_abs']:>11.1%} {m['mean']:>+9.1%} {m['worst_under']:>+12.1%} {m['worst_over']:>+11.1%}")
    print("targets: mean |err| ≤ 10% per kind; never under by more than 15%")


if __name__ == "__main__":
    main()
