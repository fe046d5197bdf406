"""What a mid-stream switch costs the client: the extra delay between the moment Trooper
notices a stream is cut and the first byte of the continuation reaching the client, per
fallback habit, split into opening the next provider and the splice's hold-back.

    python bench/splice.py [--runs 20] [--words 60] [--token-ms 20]

A Claude fake streams an answer of `--words` words and resets the connection half way;
the fallback (the correctness fakes' `Habit`, paced at `--token-ms` a token as a model
generates) either carries on from a prefill (Ollama kind), begins with the seam words it
was asked for (OpenAI kind), or starts the answer over (OpenAI kind), whose hold-back is
the time it takes to say again what the client already has; `ignores` answers something
else and the stream ends with an error event (the time shown is until that event).
Trooper, the fakes and the client share this process and its clock. Prints medians in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import trooper.relay as relay  # noqa: E402
from tests.fakes.upstream import Drip, FakeUpstream, Habit, ResetMidStream, Text  # noqa: E402
from trooper import logs  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from run import trooper_in_process  # noqa: E402

CASES = [  # (label, habit, fallback kind)
    ("prefill: carries on", "continues", "ollama"),
    ("no prefill: seam words first", "continues", "openai"),
    ("no prefill: restarts (spliced)", "restarts", "openai"),
    ("no prefill: answers else (refused)", "ignores", "openai"),
]
ASK = [{"role": "user", "content": "Walk me through every phase of the Bluebird project, one code word per phase."}]

marks: dict[str, float] = {}


def instrument() -> None:
    """Stamp when the relay notices the cut and when the next provider's first event is read."""
    switch, prime = relay.Relay._switch, relay.UpstreamStream.prime

    def timed_switch(self, exc, **options):  # type: ignore[no-untyped-def]
        marks.setdefault("cut", time.perf_counter())  # the first cut; a refused splice switches again
        return switch(self, exc, **options)

    async def timed_prime(self, first_event_by):  # type: ignore[no-untyped-def]
        await prime(self, first_event_by)
        if "cut" in marks:
            marks["opened"] = time.perf_counter()

    relay.Relay._switch, relay.UpstreamStream.prime = timed_switch, timed_prime  # type: ignore[method-assign]


async def one_run(url: str) -> float:
    """Stream one answer; the time the first continuation byte (or the error) arrived."""
    body = {"model": "claude-haiku-4-5", "max_tokens": 400, "stream": True, "messages": ASK}
    seen_note = False
    async with aiohttp.ClientSession() as http, http.post(url + "/v1/messages", json=body) as resp:
        async for line in resp.content:
            if line.startswith(b": trooper:"):
                seen_note = True
            elif seen_note and (line.startswith(b"data: {\"type\":\"content_block_delta\"") or line.startswith(b"event: error")):
                return time.perf_counter()
    raise RuntimeError("the stream ended without a continuation")


async def measure(case: tuple[str, str, str], runs: int, words: int, token_ms: float, directory: Path) -> dict[str, float]:
    _, habit, kind = case
    answer = " ".join(f"Word{i}" for i in range(words)) + "."
    async with FakeUpstream() as claude, FakeUpstream() as fallback:
        fallback.default = Drip(token_ms / 1000, answer=Habit(habit, answer))
        url = fallback.url + ("/v1" if kind == "openai" else "/api/chat")
        pipeline = directory / f"{habit}-{kind}.toml"
        pipeline.write_text(
            "[stages.route]\nsimple_to_local = false\n[stages.failover.breaker]\nthreshold = 1000000\n"
            f'[[providers]]\nname = "claude"\nkind = "anthropic"\nurl = "{claude.url}"\nkey_env = "CLAUDE_API_KEY"\n'
            f'model = "claude-haiku-4-5"\n[[providers]]\nname = "fallback"\nkind = "{kind}"\nurl = "{url}"\nmodel = "m"\n'
        )
        env = {"CLAUDE_API_KEY": "sk-ant-bench-0123456789", "LOCAL_EMBEDDED": "off", "TROOPER_DB": ":memory:"}
        totals, openings = [], []
        async with trooper_in_process(pipeline, env) as port:
            for _ in range(runs):
                claude.script(ResetMidStream(3 + words // 2, Text(answer)))  # start, block, ping, half the words
                marks.clear()
                first_byte = await one_run(f"http://127.0.0.1:{port}")
                totals.append((first_byte - marks["cut"]) * 1000)
                openings.append((marks["opened"] - marks["cut"]) * 1000)
    total, opening = statistics.median(totals), statistics.median(openings)
    return {"total": total, "opening": opening, "held": total - opening}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--words", type=int, default=60, help="the answer's length; the cut comes half way")
    parser.add_argument("--token-ms", type=float, default=20.0, help="the fallback's pace, ms a token")
    args = parser.parse_args()
    logs.configure("console", "error", cache=False)
    instrument()
    print(f"cut after {args.words // 2} of {args.words} words; fallback at {args.token_ms:g} ms a token; "
          f"medians of {args.runs} runs")
    print(f"{'fallback':36} {'cut → first byte':>17} {'opening next':>13} {'held back':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            figures = await measure(case, args.runs, args.words, args.token_ms, Path(tmp))
            print(f"{case[0]:36} {figures['total']:14.1f} ms {figures['opening']:10.1f} ms {figures['held']:7.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
