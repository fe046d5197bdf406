"""Hostile inputs for the turn classifier and the signal extractor: each shape (runs of the
characters the rules' quantifiers overlap on, long hyphenated words, numbered lines, a
todo list of N items, a text agent's N calls, a redirecting turn of N spaces …) at growing
sizes, with the time of one `classify` or `extract` on it (best of `--rounds`). Time must
grow at most linearly with N; the last column is the growth from the first size to the last.

    python bench/hostile.py                    # 1k, 10k, 100k, 1M characters (or items / 20)
    python bench/hostile.py --sizes 1000,10000 --only redirect
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from trooper.conversation import Conversation, Message, TextBlock, ToolResultBlock, ToolUseBlock  # noqa: E402
from trooper.signals import extract as extract_module  # noqa: E402
from trooper.signals.classify import classify  # noqa: E402
from trooper.signals.extract import extract  # noqa: E402

TEXTS: dict[str, Callable[[int], str]] = {
    "one word": lambda n: "a" * n,
    "spaces": lambda n: "a" + " " * n + "b",
    "mixed whitespace": lambda n: " \t\n" * (n // 3),
    "1.": lambda n: "1." * (n // 2),
    "hyphenated words": lambda n: ("a-" * 30 + " ") * (n // 61),
    "dotted words": lambda n: ("x." * 30 + " ") * (n // 61),
    "numbered lines": lambda n: "".join(f"{i % 99}. do thing {i}\n" for i in range(n // 15)),
    "sentences": lambda n: "Fixed the build. " * (n // 17),
    "steps listed": lambda n: "Completed steps 1" + (", 1" + " " * 60) * (n // 63),
    "dash clauses": lambda n: "Done: fixed it" + (" " * 60 + "—") * (n // 61),
    "todo reminders": lambda n: "<system-reminder>todo list [" * (n // 28),
}


def user(text: str) -> Message:
    return Message("user", (TextBlock(text),))


def assistant(text: str) -> Message:
    return Message("assistant", (TextBlock(text),))


def result(text: str) -> list[Message]:
    return [user("fix it"), Message("assistant", (ToolUseBlock("t1", "Bash", {"command": "cat log"}),)),
            Message("user", (ToolResultBlock("t1", (TextBlock(text),)),))]


def todos(n: int) -> list[Message]:
    items = [{"content": f"check host-{i}", "status": "pending"} for i in range(n // 20)]
    return [user("check the hosts"), Message("assistant", (ToolUseBlock("t1", "TodoWrite", {"todos": items}),))]


def trace(n: int) -> list[Message]:
    return [user("check the orders"), assistant("Action: get_order[A-1]\nObservation: open\n" * (n // 40))]


def redirect(n: int) -> list[Message]:
    return [user("Please refund order A-1001."), assistant("Queued."), user("Actually, instead please a" + " " * n + "b")]


def cases() -> dict[str, Callable[[int], Callable[[], object]]]:
    found: dict[str, Callable[[int], Callable[[], object]]] = {}
    for name, shape in TEXTS.items():
        found[f"classify: {name}"] = lambda n, s=shape: lambda: classify(Conversation("m", (user(s(n)),)))
        found[f"extract user: {name}"] = lambda n, s=shape: lambda: extract([user(s(n))])
        found[f"extract answer: {name}"] = lambda n, s=shape: lambda: extract([user("go"), assistant(s(n))])
        found[f"extract result: {name}"] = lambda n, s=shape: lambda: extract(result(s(n)))
    found["extract: todo list of n/20 items"] = lambda n: lambda: extract(todos(n))
    found["extract: text agent, n/40 calls"] = lambda n: lambda: extract(trace(n))
    found["extract: redirect with n spaces"] = lambda n: lambda: extract(redirect(n))
    return found


def best(run: Callable[[], object], rounds: int) -> float:
    fastest = float("inf")
    for _ in range(rounds):
        extract_module._CACHE.clear()
        gc.disable()
        start = time.perf_counter()
        run()
        fastest = min(fastest, time.perf_counter() - start)
        gc.enable()
    return fastest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", default="", help="only the cases whose name holds this")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    print(f"{'case':44}" + "".join(f"{size:>11,}" for size in sizes) + "   growth (ms)")
    for name, make in cases().items():
        if args.only not in name:
            continue
        times = [best(make(size), args.rounds) * 1e3 for size in sizes]
        growth = times[-1] / max(times[0], 1e-3)
        print(f"{name:44}" + "".join(f"{t:11.2f}" for t in times) + f"   x{growth:.0f} for x{sizes[-1] // sizes[0]}",
              flush=True)


if __name__ == "__main__":
    main()
