"""How fast each session store applies observations, outside the proxy.

    python bench/store.py [--observations 20000] [--sessions 1,200] [--stores sqlite,redis,redis×2]

Feeds a store the observations of agent turns (two per request: the request, then its
answer) as fast as it takes them, and prints observations applied per second and the
seconds the backlog took to clear. Two shapes: every request in one session (a stateless
app whose requests share a fingerprint: the proxy benchmark's shape, where the transcript
grows by one answer per request) and many sessions of growing conversations. Redis runs
as a real redis-server on a free loopback port (Debian's redis-server must be installed).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from trooper.config import StoreSettings
from trooper.conversation import Conversation, Message, Response, TextBlock, Usage
from trooper.store import EmbeddedStore, Observation, RequestRecord
from trooper.store.redis import RedisStore

sys.path.insert(0, str(Path(__file__).parent))
from run import free_port, redis_command, wait_port  # noqa: E402

SYSTEM = "You are a careful coding agent working in a Python repository."


def text(role: str, words: str) -> Message:
    return Message(role, (TextBlock(words),))  # type: ignore[arg-type]


def record() -> RequestRecord:
    return RequestRecord(seq=0, at=time.time(), client_format="anthropic", model="claude-haiku-4-5", stream=False,
                         route="direct", decision="claude (direct)", provider="claude",
                         answered_model="claude-haiku-4-5", status=200, ms=12.0, tokens_in=40, tokens_out=12)


def observations(total: int, sessions: int) -> list[Observation]:
    """`total` observations: round-robin over `sessions` conversations, each turn resending
    its whole history."""
    histories: list[list[Message]] = [[] for _ in range(sessions)]
    out: list[Observation] = []
    ref = 0
    while len(out) < total:
        for s in range(sessions):
            history = histories[s]
            if sessions == 1:  # the stateless shape: the same one-message request every time
                history = [text("user", "Say hello in five words.")]
            else:
                history.append(text("user", f"Step {len(history) // 2 + 1}: run the tests for module {s}."))
            ref += 1
            asked = Conversation(model="claude-haiku-4-5", messages=tuple(history), system=SYSTEM)
            now = time.time()
            out.append(Observation(ref, f"bench-{s}", "request", now, asked))
            answer = f"Done: the tests for module {s} pass (step {len(history) // 2 + 1})."
            response = Response("msg", "claude-haiku-4-5", (TextBlock(answer),), usage=Usage(40, 12))
            out.append(Observation(ref, f"bench-{s}", "answer", now + 0.01, asked, response, record()))
            if sessions > 1:
                history.append(text("assistant", answer))
            if len(out) >= total:
                break
    return out


async def drain(stores: list[EmbeddedStore | RedisStore], feed: list[Observation]) -> tuple[float, int]:
    """Feed in waves the stores' buffers can hold, each request (both its observations)
    to one store in turn; the seconds until all are applied."""
    started = time.perf_counter()
    for i in range(0, len(feed), 500):
        while any(store.stats().queued > 1000 for store in stores):  # the embedded store holds 2,000
            await asyncio.sleep(0.001)
        for n, observation in enumerate(feed[i:i + 500], start=i):
            stores[(n // 2) % len(stores)].observe(observation)
        await asyncio.sleep(0)
    while any(store.stats().queued for store in stores):
        await asyncio.sleep(0.001)
    return time.perf_counter() - started, sum(store.stats().dropped for store in stores)


async def measure(kind: str, total: int, sessions: int, url: str, directory: Path) -> None:
    """`redis×2`: two Redis stores (two instances, here in one process) sharing the
    sessions, every other request through each: the shared store's contention."""
    settings = StoreSettings(path=str(directory / f"{kind}-{sessions}.db"), url=url if kind != "sqlite" else "",
                             max_age_days=0, max_sessions=0)
    stores: list[EmbeddedStore | RedisStore] = (
        [EmbeddedStore(settings)] if kind == "sqlite" else [RedisStore(settings) for _ in range(2 if "2" in kind else 1)]
    )
    for store in stores:
        await store.start()
    try:
        feed = observations(total, sessions)
        seconds, dropped = await drain(stores, feed)
        listed, count = await stores[0].sessions(limit=1)
        requests = sum(s.requests for s in listed)
        print(f"| {kind:7} | {sessions:>8} | {len(feed):>12} | {len(feed) / seconds:>10,.0f} | {seconds:>8.2f} "
              f"| {dropped:>7} | {count:>8} |" + (f" {requests} requests in the hot session" if sessions == 1 else ""),
              flush=True)
    finally:
        for store in stores:
            await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--observations", type=int, default=20_000)
    parser.add_argument("--sessions", default="1,200", help="comma-separated session counts")
    parser.add_argument("--stores", default="sqlite,redis,redis×2")
    args = parser.parse_args()
    kinds = args.stores.split(",")
    server = None
    url = ""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        if any(kind.startswith("redis") for kind in kinds):
            port = free_port()
            command = redis_command(port)
            if command is None:
                sys.exit("redis-server is not installed (apt-get install redis-server)")
            server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
            url = f"redis://127.0.0.1:{port}/0"
            wait_port(port)
        try:
            print("| store   | sessions | observations | applied/s  | seconds  | dropped | sessions |")
            print("|---------|---------:|-------------:|-----------:|---------:|--------:|---------:|")
            for sessions in [int(s) for s in args.sessions.split(",")]:
                for kind in kinds:
                    if kind.startswith("redis"):
                        subprocess.run(["redis-cli", "-p", url.rsplit(":", 1)[1].split("/")[0], "FLUSHALL"],
                                       stdout=subprocess.DEVNULL, check=False)
                    await measure(kind, args.observations, sessions, url, directory)
        finally:
            if server is not None:
                server.terminate()
                server.wait(10)


if __name__ == "__main__":
    asyncio.run(main())
