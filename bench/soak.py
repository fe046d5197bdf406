"""A soak of mixed traffic against a real `trooper serve`: does memory stay flat and the
database stay bounded? Prints the proxy's RSS and the SQLite file's size over time.

    python bench/soak.py                      # 10 minutes, a line every 30 s
    python bench/soak.py --seconds 90 --every 5 --json soak.json

Traffic, from --concurrency workers, against bench/upstream.py (the fast fake) as Claude,
OpenAI and Ollama: agents growing conversations turn by turn (Anthropic and OpenAI
formats, streamed and whole); two histories alternating under one session id; edited
turns resent; one-shot sessions with fresh ids; Claude answering 429 so the answer falls
over to OpenAI; and hostile requests (a 100,000-character word, an oversized body,
invalid JSON, nesting 5,000 deep, a cross-site POST).

The store runs with small caps (--max-sessions, --max-messages, --max-requests) so the
bound is reached within minutes rather than days: the database must stop growing once it
is. tests/test_soak.py runs 90 seconds of this and asserts on it.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).parent))
from run import free_port, rss_mb, wait_http  # noqa: E402

HERE = Path(__file__).parent
ROOT = HERE.parent
CLAUDE_MODEL = "claude-haiku-4-5"
OPENAI_MODEL = "gpt-4o-mini"
TURNS_PER_AGENT = 40


@dataclass
class Sample:
    seconds: float
    requests: int
    rss_mb: float
    db_mb: float


@dataclass
class Soak:
    url: str
    rng: random.Random
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    ids: itertools.count = field(default_factory=itertools.count)

    async def post(self, http: aiohttp.ClientSession, path: str, body: bytes, headers: dict[str, str]) -> int:
        try:
            async with http.post(self.url + path, data=body, headers={"content-type": "application/json", **headers}) as r:
                await r.read()
                status = r.status
        except aiohttp.ClientError as exc:
            self.failures.append(f"{path}: {type(exc).__name__}")
            status = 0
        self.requests += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        return status

    # --- what the traffic is made of ---

    async def agent(self, http: aiohttp.ClientSession) -> None:
        """One agent growing its conversation turn by turn, resending it each time."""
        session = f"agent-{next(self.ids)}"
        openai_format = self.rng.random() < 0.4
        history: list[dict] = []
        for turn in range(self.rng.randint(5, TURNS_PER_AGENT)):
            history.append({"role": "user", "content": f"Turn {turn} of {session}: run the tests, fix what fails. "
                                                       f"TODO check host-{turn}.internal and step {turn}."})
            stream = self.rng.random() < 0.5
            if openai_format:
                body = {"model": OPENAI_MODEL, "messages": history, "stream": stream}
                path = "/v1/chat/completions"
            else:
                body = {"model": CLAUDE_MODEL, "max_tokens": 64, "messages": history, "stream": stream}
                path = "/v1/messages"
            headers = {"x-session-id": session}
            if self.rng.random() < 0.1:
                headers["x-bench-fail"] = "429"  # Claude is rate limited: the answer falls over
            await self.post(http, path, json.dumps(body).encode(), headers)
            history.append({"role": "assistant", "content": f"✅ Step {turn} done: fixed test_{turn}.py. {'=' * 40}"})

    async def divergent(self, http: aiohttp.ClientSession) -> None:
        """Two histories alternating under one session id, and an edited turn resent."""
        session = f"diverge-{next(self.ids)}"
        branches: list[list[dict]] = [[], []]
        for turn in range(self.rng.randint(5, 20)):
            for side, branch in enumerate(branches):
                branch.append({"role": "user", "content": f"Branch {side} turn {turn}: plan option {side}."})
                body = {"model": CLAUDE_MODEL, "max_tokens": 64, "messages": branch}
                await self.post(http, "/v1/messages", json.dumps(body).encode(), {"x-session-id": session})
                branch.append({"role": "assistant", "content": f"Option {side}, step {turn}: noted."})
            edited = [*branches[0][:-2], {"role": "user", "content": f"Edited turn {turn}."}]
            body = {"model": CLAUDE_MODEL, "max_tokens": 64, "messages": edited}
            await self.post(http, "/v1/messages", json.dumps(body).encode(), {"x-session-id": session})

    async def one_shot(self, http: aiohttp.ClientSession) -> None:
        body = {"model": CLAUDE_MODEL, "max_tokens": 64, "messages": [
            {"role": "user", "content": f"Question {next(self.ids)}: why would a deploy fail after a config change?"}]}
        await self.post(http, "/v1/messages", json.dumps(body).encode(), {})

    async def hostile(self, http: aiohttp.ClientSession) -> None:
        base = {"model": CLAUDE_MODEL, "max_tokens": 16}
        shapes = [
            (json.dumps({**base, "messages": [{"role": "user", "content": "Z" * 100_000}]}).encode(), {}),
            (b'{"model": ' + b'"x' * 10, {}),  # invalid JSON
            (json.dumps({**base, "messages": [{"role": "user", "content": "hi"}]}).encode()[:-1]
             + b', "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", {}),
            (json.dumps({**base, "messages": [{"role": "user", "content": "hi"}]}).encode(),
             {"origin": "https://evil.example", "content-type": "text/plain"}),
        ]
        body, headers = self.rng.choice(shapes)
        await self.post(http, "/v1/messages", body, headers)

    async def worker(self, http: aiohttp.ClientSession, until: float) -> None:
        kinds = [self.agent] * 5 + [self.divergent] * 2 + [self.one_shot] * 2 + [self.hostile]
        while time.monotonic() < until:
            await self.rng.choice(kinds)(http)


def db_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file()) / 1_048_576


async def drive(url: str, seconds: float, concurrency: int, every: float, pid: int, db: Path, seed: int) -> tuple[Soak, list[Sample]]:
    soak = Soak(url, random.Random(seed))
    started = time.monotonic()
    until = started + seconds
    samples = [Sample(0.0, 0, rss_mb(pid), db_mb(db))]
    print(f"{'seconds':>8} {'requests':>9} {'rss MB':>8} {'db MB':>8}", flush=True)
    print(f"{0:>8.0f} {0:>9} {samples[0].rss_mb:>8.1f} {samples[0].db_mb:>8.2f}", flush=True)

    async def sample_forever() -> None:
        while True:
            await asyncio.sleep(every)
            sample = Sample(time.monotonic() - started, soak.requests, rss_mb(pid), db_mb(db))
            samples.append(sample)
            print(f"{sample.seconds:>8.0f} {sample.requests:>9} {sample.rss_mb:>8.1f} {sample.db_mb:>8.2f}", flush=True)

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        sampler = asyncio.create_task(sample_forever())
        await asyncio.gather(*(soak.worker(http, until) for _ in range(concurrency)))
        sampler.cancel()
    await asyncio.sleep(2)  # the store's last flush
    samples.append(Sample(time.monotonic() - started, soak.requests, rss_mb(pid), db_mb(db)))
    return soak, samples


def run(seconds: float, concurrency: int, every: float, max_sessions: int, max_messages: int, max_requests: int,
        seed: int = 1) -> dict:
    """Start the fake upstream and `trooper serve`, soak, stop both; the figures."""
    with tempfile.TemporaryDirectory(prefix="trooper-soak-") as folder:
        work = Path(folder)
        upstream_port, port = free_port(), free_port()
        db = work / "trooper.db"
        pipeline = work / "soak.toml"
        pipeline.write_text(f"[store]\nmax_sessions = {max_sessions}\nmax_messages = {max_messages}\n"
                            f"max_requests = {max_requests}\n[stages.failover.breaker]\nthreshold = 1000000\n")
        upstream_url = f"http://127.0.0.1:{upstream_port}"
        env = {
            "PATH": os.environ.get("PATH", ""), "HOME": folder, "TROOPER_PORT": str(port), "TROOPER_DB": str(db),
            "TROOPER_LOG_LEVEL": "warning", "TROOPER_LOG_FORMAT": "json", "LOCAL_EMBEDDED": "off",
            "CLAUDE_URL": upstream_url, "CLAUDE_API_KEY": "sk-ant-soak-key-0123456789",
            "OPENAI_URL": upstream_url + "/v1", "OPENAI_API_KEY": "sk-soak-openai-key-0123456789",
            "GEMINI_URL": "http://127.0.0.1:9", "FALLBACK_URL": upstream_url + "/api/chat",
        }
        if "PYTHONPATH" in os.environ:
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        with open(work / "upstream.log", "wb") as up_log, open(work / "trooper.log", "wb") as log:
            upstream = subprocess.Popen([sys.executable, str(HERE / "upstream.py"), "--port", str(upstream_port),
                                         "--chunks", "20"], stdout=up_log, stderr=subprocess.STDOUT, env=env)
            trooper = subprocess.Popen([sys.executable, "-m", "trooper.cli", "serve", "--pipeline", str(pipeline)],
                                       stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        try:
            why = wait_http(f"{upstream_url}/v1/models", upstream, 30) or wait_http(f"http://127.0.0.1:{port}/health", trooper, 60)
            if why:
                raise RuntimeError(f"soak could not start: {why}\n{(work / 'trooper.log').read_text()[-2000:]}")
            soak, samples = asyncio.run(drive(f"http://127.0.0.1:{port}", seconds, concurrency, every, trooper.pid, db, seed))
            exited = trooper.poll()
        finally:
            for proc in (trooper, upstream):
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(15)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
        log_text = (work / "trooper.log").read_text(errors="replace")
    return {
        "samples": [s.__dict__ for s in samples], "requests": soak.requests, "statuses": soak.statuses,
        "client_failures": soak.failures[:20], "exited_early": exited, "errors_logged": log_text.count('"level": "error"'),
        "tracebacks": log_text.count("Traceback"),
    }


def growth_after(samples: list[dict], warmup: float) -> tuple[float, float]:
    """RSS at the end of warm-up, and the most it grew past that."""
    after = [s for s in samples if s["seconds"] >= warmup]
    base = after[0]["rss_mb"]
    return base, max(s["rss_mb"] for s in after) - base


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="how long to soak (default 600)")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples (default 30)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before RSS growth is counted (default 60)")
    parser.add_argument("--max-sessions", type=int, default=300)
    parser.add_argument("--max-messages", type=int, default=200)
    parser.add_argument("--max-requests", type=int, default=100)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    result = run(args.seconds, args.concurrency, args.every, args.max_sessions, args.max_messages, args.max_requests)
    base, grown = growth_after(result["samples"], args.warmup)
    final = result["samples"][-1]
    print(f"requests {result['requests']} statuses {result['statuses']}; RSS after warm-up {base:.1f} MB, "
          f"grew at most {grown:+.1f} MB; database {final['db_mb']:.1f} MB at the end")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
