"""Where a stream's first byte waits: added time to first byte at c=1 (burst stream, the
proxy benchmark's request), with the repo's pipeline and with its observe stage removed,
and per-stage marks inside Trooper (milliseconds from the request reaching the app).

    python bench/ttfb.py [--requests 300]

Trooper runs in this process (so its stages can be timed); the fake upstream and the
client are processes of their own. Prints, for each pipeline: the client's added TTFB p50
and the p50 of each mark: proxy entered, provider tried, upstream answered (headers),
first event read, response started, first body byte sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import trooper.relay as relay
import trooper.stages.failover as failover
from trooper.app import TrooperApp

sys.path.insert(0, str(Path(__file__).parent))
from run import free_port, small_body, trooper_in_process  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MARKS: dict[str, list[float]] = {}
STARTED = [0.0]


def mark(name: str) -> None:
    MARKS.setdefault(name, []).append((time.perf_counter() - STARTED[0]) * 1000)


def instrument() -> None:
    """Wrap the app's entry, the provider try, the stream's priming and the ASGI send."""
    call, proxy, attempt, prime = TrooperApp.__call__, TrooperApp.proxy, failover.Failover._try, relay.UpstreamStream.prime

    async def timed_call(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            STARTED[0] = time.perf_counter()
        return await call(self, scope, receive, send)

    async def timed_proxy(self, scope, send, client_format, body):  # type: ignore[no-untyped-def]
        mark("proxy entered")
        first = [True]

        async def timed_send(message):  # type: ignore[no-untyped-def]
            if message["type"] == "http.response.start":
                mark("response started")
            elif message.get("body") and first[0]:
                first[0] = False
                mark("first body byte sent")
            return await send(message)

        return await proxy(self, scope, timed_send, client_format, body)

    async def timed_try(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        mark("provider tried")
        return await attempt(self, *args, **kwargs)

    async def timed_prime(self, first_event_by):  # type: ignore[no-untyped-def]
        mark("upstream answered")
        await prime(self, first_event_by)
        mark("first event read")

    TrooperApp.__call__, TrooperApp.proxy = timed_call, timed_proxy  # type: ignore[method-assign]
    failover.Failover._try, relay.UpstreamStream.prime = timed_try, timed_prime  # type: ignore[method-assign]


CLIENT = r'''
import json, socket, statistics, sys, time
port, count, body = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
head = (f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"anthropic-version: 2023-06-01\r\nx-api-key: bench\r\ncontent-length: {len(body)}\r\n\r\n").encode()
sock = socket.create_connection(("127.0.0.1", port)); sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
ttfb = []
for _ in range(count):
    started = time.perf_counter(); sock.sendall(head + body)
    got = sock.recv(65536); ttfb.append((time.perf_counter() - started) * 1000)
    while not got.endswith(b"0\r\n\r\n"):
        more = sock.recv(65536)
        if not more: break
        got += more
print(statistics.median(ttfb[count // 10:]))
'''


def client_ttfb(port: int, count: int) -> float:
    body = json.dumps(small_body(stream=True))
    done = subprocess.run([sys.executable, "-c", CLIENT, str(port), str(count), body], capture_output=True, text=True,
                          check=True, timeout=300)
    return float(done.stdout)


def without_observe(directory: Path) -> Path:
    config = tomllib.loads((ROOT / "pipeline.toml").read_text())
    stages = [s for s in config["pipeline"]["stages"] if s != "observe"]
    path = directory / "pipeline-without-observe.toml"
    path.write_text(f"[pipeline]\nstages = {json.dumps(stages)}\n")
    return path


async def measure(pipeline: Path, upstream: int, count: int, directory: Path) -> tuple[float, dict[str, float]]:
    env = {"CLAUDE_URL": f"http://127.0.0.1:{upstream}", "CLAUDE_API_KEY": "bench", "GEMINI_URL": "http://127.0.0.1:9",
           "OPENAI_URL": "http://127.0.0.1:9/v1", "FALLBACK_URL": f"http://127.0.0.1:{upstream}/api/chat",
           "LOCAL_EMBEDDED": "off", "TROOPER_DB": str(directory / f"{pipeline.stem}.db")}
    async with trooper_in_process(pipeline, env) as port:
        MARKS.clear()
        added = await asyncio.to_thread(client_ttfb, port, count) - await asyncio.to_thread(client_ttfb, upstream, count)
    return added, {name: statistics.median(values[count // 10:]) for name, values in MARKS.items()}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    instrument()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        upstream = free_port()
        fake = subprocess.Popen([sys.executable, str(ROOT / "bench" / "upstream.py"), "--port", str(upstream),
                                 "--chunks", "200"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await asyncio.sleep(1.0)
            for label, pipeline in (("pipeline.toml", ROOT / "pipeline.toml"),
                                    ("without observe", without_observe(directory))):
                added, marks = await measure(pipeline, upstream, args.requests, directory)
                print(f"{label}: added TTFB p50 {added:+.2f} ms")
                for name, value in marks.items():
                    print(f"    {name:22} {value:6.2f} ms")
        finally:
            fake.terminate()
            fake.wait(10)


if __name__ == "__main__":
    asyncio.run(main())
