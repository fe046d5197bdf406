"""One command for the whole benchmark: Trooper and LiteLLM's proxy side by side against a
direct call (the floor), same fast fake upstream, same machine, same run.

    python bench/run.py [--quick] [--duration S] [--systems direct,trooper,litellm]
    python bench/run.py --memory [--quick]        # RSS over 100,000 requests in 10,000 sessions

It starts bench/upstream.py, then each system in turn (Trooper as `trooper serve`, LiteLLM
as `litellm --config` from its own venv at bench/.venv-litellm, installed here on first
use), drives each scenario with bench/load.py (each its own process), reads the proxies'
CPU time and RSS from /proc, and prints the tables as Markdown. Everything listens on and
sends to 127.0.0.1 only; every step is bounded in time. Raw results go to bench/out/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
VENV = HERE / ".venv-litellm"
# Pinned: releases after 1.82.6 include two that were published by an attacker (1.82.7,
# 1.82.8); a reviewed pin keeps the bench from running whatever is newest. Override with
# --litellm-spec or BENCH_LITELLM_SPEC.
LITELLM_SPEC = "litellm[proxy]==1.82.6"

CLAUDE_MODEL = "claude-haiku-4-5"
LOCAL_MODEL = "qwen2.5:3b"
ANTHROPIC_HEADERS = ["anthropic-version: 2023-06-01"]
PACED_GAP_MS = 5  # the paced stream: a chunk every 5 ms, a fast model's 200 tokens/s
P99_BUDGET_MS = 50.0
ROUTED_NA = "n/a until the route stage classifies"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- request bodies ---


# A cloud turn: Trooper's classifier must not call it simple (a simple turn goes local).
CLOUD_TURN = "Write a Python function that parses an ISO-8601 date and returns a datetime; handle time zones."


def small_body(stream: bool = False, model: str = CLAUDE_MODEL) -> dict:
    body: dict = {"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": CLOUD_TURN}]}
    if stream:
        body["stream"] = True
    return body


def long_body(turns: int = 100) -> dict:
    """An agent's conversation: `turns` messages before the new user turn, with a tool call
    and its result every tenth exchange, a system prompt, ~50 KB in all. Deterministic."""
    system = "You are a careful coding agent working in a Python repository. " * 30
    messages: list[dict] = []
    for i in range(turns):
        if i % 2 == 0:
            if i % 20 == 10:
                messages.append({"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": f"toolu_{i - 1:04d}",
                     "content": f"$ pytest -q tests/test_{i}.py\n" + "." * 40 + f"\n{i} passed in 0.{i:02d}s\n"}]})
            else:
                messages.append({"role": "user", "content": f"Step {i}: please look at module_{i}.py and tell me what "
                                 f"function handle_{i} does, then suggest one small improvement. " * 3})
        elif i % 20 == 9:
            messages.append({"role": "assistant", "content": [
                {"type": "text", "text": f"I'll run the tests for step {i}."},
                {"type": "tool_use", "id": f"toolu_{i:04d}", "name": "bash", "input": {"command": f"pytest -q tests/test_{i + 1}.py"}}]})
        else:
            messages.append({"role": "assistant", "content": f"handle_{i} parses the input, validates it and returns a "
                             f"result object; I would extract the validation into its own function. " * 3})
    messages.append({"role": "user", "content": "Now summarise what we did in one sentence."})
    return {"model": CLAUDE_MODEL, "max_tokens": 256, "system": system, "messages": messages}


def routed_body() -> dict:
    """A simple, stateless turn: what a rule-based router should send to the local model."""
    return {"model": CLAUDE_MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "What is the capital of France?"}]}


def ollama_body() -> dict:
    return {"model": LOCAL_MODEL, "stream": False, "messages": [{"role": "user", "content": "Hello! Say something short."}]}


# --- processes ---


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, seconds: float = 5.0) -> None:
    """Until something listens on the loopback port (bounded: a process that never does
    fails at its first use, with its own error)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)


@contextlib.asynccontextmanager
async def trooper_in_process(pipeline: Path, env: dict[str, str]) -> AsyncIterator[int]:
    """A Trooper served by hypercorn in this process, so its stages can be timed; yields
    its port. (The other scenarios run `trooper serve` as a process of its own.)"""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from trooper.app import TrooperApp
    from trooper.config import load
    from trooper.pipeline import build_stages
    from trooper.runtime import Runtime

    port = free_port()
    settings = load(pipeline, env=env, port=port)
    runtime = Runtime(settings, env=env)
    app = TrooperApp(runtime, build_stages(settings.stages, settings.stage_options, runtime))
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = config.errorlog = None
    stop = asyncio.Event()
    server = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    await asyncio.to_thread(wait_port, port)
    try:
        yield port
    finally:
        stop.set()
        await server


def redis_command(port: int) -> list[str] | None:
    """Debian's redis-server on a loopback port with nothing persisted (None: not installed)."""
    server = shutil.which("redis-server")
    return None if server is None else [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                        "--appendonly", "no"]


def wait_http(url: str, proc: subprocess.Popen, timeout: float) -> str:
    """'' once `url` answers 200, else why not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exited with code {proc.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return ""
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    return f"did not answer {url} within {timeout:.0f}s"


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


class Processes:
    """Every process this run started, stopped by pid (group) at the end."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.dir = OUT

    def start(self, cmd: list[str], env: dict[str, str], log_name: str, cwd: Path = ROOT) -> subprocess.Popen:
        out = open(self.dir / log_name, "wb")
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        out.close()
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # the group it leads: its own workers, never ours
            except ProcessLookupError:
                pass
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs)):
            self.stop(proc)


# --- /proc readings: the proxy and the processes it started ---


def _tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    total = 0
    for each in _tree(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    total = 0
    for each in _tree(pid):
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


# --- systems ---


@dataclass
class Target:
    url: str
    body: dict
    headers: list[str] = field(default_factory=list)
    expect: str = ""  # name=value every answer must carry for the figure to count


@dataclass
class System:
    name: str
    label: str
    pid: int = 0  # the process measured for CPU and RSS (0: none, the floor)
    metrics: str = ""  # Trooper's /metrics: its session store's backlog and drops
    note: str = ""  # why it has no figures, when it has none
    targets: dict[str, Target | str] = field(default_factory=dict)  # scenario -> target, or why n/a


def machine() -> dict[str, str]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cpu": model or platform.processor(), "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}", "loadavg_start": loadavg(), "trooper": trooper_version()}


def trooper_version() -> str:
    """Which Trooper was measured: the commit, and whether the work tree differed from it."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src", "pipeline.toml"], cwd=ROOT, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"
    return f"{sha}{' + uncommitted changes in src/' if dirty else ''}" if sha else "?"


def loadavg() -> str:
    """The 1-minute load average: another busy process on this machine skews every figure."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.procs = Processes()
        self.deadline = time.monotonic() + args.max_minutes * 60
        self.upstream_port = 0
        self.results: dict = {"machine": machine(), "command": "python " + shlex.join(sys.argv), "systems": {}}
        # This run's logs, configs and bodies: its own folder, so runs side by side don't mix.
        self.dir = Path(args.out) / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.procs.dir = self.dir

    # -- one load run --

    def load(self, target: Target, concurrency: int, *, duration: float | None = None, rate: float = 0.0,
             requests: int = 0, sessions: int = 0, warmup: float | None = None) -> dict:
        text = json.dumps(target.body)
        body_file = self.dir / f"body-{hashlib.sha1(text.encode()).hexdigest()[:12]}.json"
        if not body_file.exists():
            body_file.write_text(text)
        cmd = [sys.executable, str(HERE / "load.py"), "--url", target.url, "--body-file", str(body_file),
               "--concurrency", str(concurrency), "--duration", str(duration if duration is not None else self.args.duration),
               "--warmup", str(warmup if warmup is not None else self.args.warmup), "--timeout", "30"]
        for header in target.headers:
            cmd += ["--header", header]
        if target.expect:
            cmd += ["--expect-header", target.expect]
        if rate:
            cmd += ["--rate", f"{rate:.1f}"]
        if requests:
            cmd += ["--requests", str(requests)]
        if sessions:
            cmd += ["--sessions", str(sessions)]
        bound = (duration or self.args.duration) + (warmup or self.args.warmup) + 120 if not requests else 3600
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=bound)
        if done.returncode != 0:
            raise RuntimeError(f"load.py failed: {done.stderr.strip()[-500:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def out_of_time(self) -> bool:
        return time.monotonic() > self.deadline

    # -- starting things --

    def start_upstream(self) -> None:
        self.upstream_port = free_port()
        bound = str(self.args.max_minutes * 60 + 120)
        proc = self.procs.start([sys.executable, str(HERE / "upstream.py"), "--port", str(self.upstream_port),
                                 "--chunks", str(self.args.chunks), "--max-seconds", bound], dict(os.environ), "upstream.log")
        why = wait_http(f"{self.upstream_url}/v1/models", proc, 15)
        if why:
            raise RuntimeError(f"bench upstream {why}; see {self.dir / 'upstream.log'}")

    @property
    def upstream_url(self) -> str:
        return f"http://127.0.0.1:{self.upstream_port}"

    def direct(self) -> System:
        up = self.upstream_url
        system = System("direct", "direct (floor)")
        system.targets = {
            "small": Target(f"{up}/v1/messages", small_body(), ANTHROPIC_HEADERS),
            "long": Target(f"{up}/v1/messages", long_body(), ANTHROPIC_HEADERS),
            "stream": Target(f"{up}/v1/messages", small_body(stream=True), ANTHROPIC_HEADERS),
            "paced": Target(f"{up}/gap{PACED_GAP_MS}/v1/messages", small_body(stream=True), ANTHROPIC_HEADERS),
            # The floor of the fallback and routed paths is the model that answers them: local.
            "fallback": Target(f"{up}/api/chat", ollama_body()),
            "routed": Target(f"{up}/api/chat", ollama_body()),
        }
        return system

    def trooper_env(self, port: int, claude_url: str, name: str = "trooper") -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CLAUDE_", "OPENAI_", "GEMINI_", "OLLAMA_", "TROOPER_", "ANTHROPIC_", "FALLBACK_", "CONTEXT_", "LOCAL_"))}
        env.update({
            "CLAUDE_URL": claude_url,
            "CLAUDE_API_KEY": "bench-key-not-a-real-one",
            "OPENAI_URL": f"{self.upstream_url}/v1",  # no OPENAI_API_KEY: skipped, so 429 falls to local
            "FALLBACK_URL": f"{self.upstream_url}/api/chat",
            "OLLAMA_MODEL": LOCAL_MODEL,
            "TROOPER_PORT": str(port),
            # The default embedded store (SQLite file), but this run's own file, never the user's.
            "TROOPER_DB": str(self.dir / f"{name}.db"),
            # The optional in-process model (`pip install '.[local]'`) stays out: it would sit
            # behind Ollama, unused here, and the figures must not depend on whether it is installed.
            "LOCAL_EMBEDDED": "false",
        })
        for item in self.args.trooper_env:
            key, _, value = item.partition("=")
            env[key] = value
        return env

    def start_trooper(
        self, name: str, claude_url: str, pipeline: Path = ROOT / "pipeline.toml", *,
        workers: int = 1, extra_env: dict[str, str] | None = None,
    ) -> tuple[subprocess.Popen | None, str, str]:
        port = free_port()
        trooper = shutil.which("trooper")
        cmd = [trooper] if trooper else [sys.executable, "-m", "trooper.cli"]
        cmd += ["serve", "--pipeline", str(pipeline)]
        if workers > 1:
            cmd += ["--workers", str(workers)]
        env = self.trooper_env(port, claude_url, name) | (extra_env or {})
        proc = self.procs.start(cmd, env, f"{name}.log")
        url = f"http://127.0.0.1:{port}"
        why = wait_http(f"{url}/health", proc, 30)
        if why:
            self.procs.stop(proc)
            return None, url, f"trooper serve {why}; see {self.dir}/{name}.log"
        return proc, url, ""

    def trooper(self) -> System:
        return self._trooper(System("trooper", "trooper"))

    def redis2w(self) -> System:
        """Trooper with two worker processes sharing one Redis store (the shared store, for
        a fleet), against the same upstream: beside the one-worker SQLite row."""
        system = System("redis2w", "trooper, 2 workers + redis")
        port = free_port()
        command = redis_command(port)
        if command is None:
            system.note = "redis-server is not installed (apt-get install redis-server)"
            return system
        self.procs.start(command, dict(os.environ), "redis.log")
        wait_port(port)
        system = self._trooper(system, workers=2, extra_env={"TROOPER_STORE": f"redis://127.0.0.1:{port}/0"})
        for scenario in ("paced", "fallback"):  # those run on instances of their own, one worker each
            system.targets[scenario] = "n/a: measured on the one-worker row"
        return system

    def _trooper(self, system: System, **start: Any) -> System:
        proc, url, why = self.start_trooper(system.name, self.upstream_url, **start)
        if proc is None:
            system.note = why
            return system
        system.pid = proc.pid
        system.metrics = f"{url}/metrics"
        claude = "x-trooper-provider=claude"  # a cloud scenario answered by another provider is counted
        system.targets = {
            "small": Target(f"{url}/v1/messages", small_body(), ANTHROPIC_HEADERS, expect=claude),
            "long": Target(f"{url}/v1/messages", long_body(), ANTHROPIC_HEADERS, expect=claude),
            "stream": Target(f"{url}/v1/messages", small_body(stream=True), ANTHROPIC_HEADERS, expect=claude),
            # Separate instances: Trooper's chain comes from env, one upstream URL per provider.
            "paced": f"instance:{self.upstream_url}/gap{PACED_GAP_MS}",
            "fallback": f"instance:{self.upstream_url}/fail429",
            "routed": Target(f"{url}/v1/messages", routed_body(), ANTHROPIC_HEADERS, expect="x-trooper-provider=ollama"),
        }
        return system

    def litellm_ready(self) -> str:
        """'' when bench/.venv-litellm has LiteLLM's proxy, installing it if needed; else why not."""
        exe = VENV / "bin" / "litellm"
        if exe.exists():
            return ""
        spec = self.args.litellm_spec
        log(f"installing {spec} into {VENV} (first run only; a few minutes)")
        try:
            if not (VENV / "bin" / "python").exists():
                subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True, timeout=300)
            done = subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", spec],
                                  capture_output=True, text=True, timeout=1500)
        except (subprocess.SubprocessError, OSError) as exc:
            return f"LiteLLM could not be installed: {type(exc).__name__}: {exc}"[:300]
        if done.returncode != 0 or not exe.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            return f"LiteLLM could not be installed ({spec}): {tail[0][:200]}"
        return ""

    def litellm(self) -> System:
        system = System("litellm", "litellm")
        why = self.litellm_ready()
        if why:
            system.note = why
            return system
        port = free_port()
        up = self.upstream_url
        config = self.dir / "litellm-config.yaml"
        # JSON is YAML: the same shape LiteLLM's docs show for config.yaml.
        config.write_text(json.dumps({
            "model_list": [
                {"model_name": CLAUDE_MODEL, "litellm_params": {"model": f"anthropic/{CLAUDE_MODEL}", "api_base": up, "api_key": "bench-key-not-a-real-one"}},
                {"model_name": "claude-paced", "litellm_params": {"model": f"anthropic/{CLAUDE_MODEL}", "api_base": f"{up}/gap{PACED_GAP_MS}", "api_key": "bench-key-not-a-real-one"}},
                {"model_name": "claude-fail", "litellm_params": {"model": f"anthropic/{CLAUDE_MODEL}", "api_base": f"{up}/fail429", "api_key": "bench-key-not-a-real-one"}},
                {"model_name": "local", "litellm_params": {"model": f"ollama_chat/{LOCAL_MODEL}", "api_base": up}},
            ],
            # Same policy as Trooper's: a 429 whose retry-after is long goes straight to the fallback.
            "router_settings": {"num_retries": 0, "fallbacks": [{"claude-fail": ["local"]}]},
            "litellm_settings": {"num_retries": 0, "telemetry": False},
        }, indent=1))
        home = self.dir / "litellm-home"
        home.mkdir(exist_ok=True)
        env = {"PATH": f"{VENV / 'bin'}:/usr/bin:/bin", "HOME": str(home), "LITELLM_LOCAL_MODEL_COST_MAP": "True",
               "LANG": "C.UTF-8"}
        proc = self.procs.start([str(VENV / "bin" / "litellm"), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
                                env, "litellm.log", cwd=home)
        url = f"http://127.0.0.1:{port}"
        why = wait_http(f"{url}/health/liveliness", proc, 120)
        if why:
            self.procs.stop(proc)
            system.note = f"LiteLLM proxy {why}; see {self.dir}/litellm.log"
            return system
        system.pid = proc.pid
        version = subprocess.run([str(VENV / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                                 capture_output=True, text=True, timeout=60).stdout.strip()
        self.results["litellm_version"] = version or "?"
        system.targets = {
            "small": Target(f"{url}/v1/messages", small_body(), ANTHROPIC_HEADERS),
            "long": Target(f"{url}/v1/messages", long_body(), ANTHROPIC_HEADERS),
            "stream": Target(f"{url}/v1/messages", small_body(stream=True), ANTHROPIC_HEADERS),
            "paced": Target(f"{url}/v1/messages", small_body(stream=True, model="claude-paced"), ANTHROPIC_HEADERS),
            "fallback": Target(f"{url}/v1/messages", small_body(model="claude-fail"), ANTHROPIC_HEADERS),
            "routed": "n/a: no rule-based router (LiteLLM routes by model name)",
        }
        return system

    # -- the scenarios of one system --

    def run_system(self, system: System) -> dict:
        result: dict = {"label": system.label, "note": system.note, "scenarios": {}}
        if system.note:
            log(f"{system.name}: {system.note}")
            return result
        pid = system.pid
        if pid:
            result["rss_idle_mb"] = round(rss_mb(pid), 1)
        levels = self.args.concurrency
        for scenario in ("small", "long", "stream", "paced", "fallback", "routed"):
            if scenario not in self.args.scenarios:
                continue
            if self.out_of_time():
                result["scenarios"][scenario] = {"na": "skipped: --max-minutes reached"}
                continue
            target = system.targets.get(scenario)
            instance = None
            if isinstance(target, str) and target.startswith("instance:"):
                pipeline = no_breaker_pipeline(self.dir) if scenario == "fallback" else ROOT / "pipeline.toml"
                instance, url, why = self.start_trooper(f"trooper-{scenario}", target.removeprefix("instance:"), pipeline)
                if instance is None:
                    result["scenarios"][scenario] = {"na": why}
                    continue
                body = small_body(stream=True) if scenario == "paced" else small_body()
                expect = "x-trooper-provider=claude" if scenario == "paced" else "x-trooper-provider=ollama"
                target = Target(f"{url}/v1/messages", body, ANTHROPIC_HEADERS, expect=expect)
            if not isinstance(target, Target):
                result["scenarios"][scenario] = {"na": target or "n/a"}
                continue
            try:
                figures: dict = {}
                before = self.upstream_stats()
                metrics = system.metrics if instance is None else f"{target.url.rsplit('/v1/', 1)[0]}/metrics"
                if self.args.prewarm:
                    log(f"{system.name}: {scenario}: {self.args.prewarm} requests before the runs (not recorded)")
                    self.load(target, 50, requests=self.args.prewarm, warmup=0)
                    self.settle(metrics)
                for c in levels:
                    log(f"{system.name}: {scenario} at concurrency {c}")
                    settled = self.settle(metrics)
                    dropped0 = store_figures(metrics).get("trooper_store_dropped_total", 0.0)
                    cpu0 = cpu_seconds(pid) if pid else 0.0
                    run = self.load(target, c)
                    if metrics:
                        run["store_settle_s"] = settled
                        run["store_dropped"] = int(store_figures(metrics).get("trooper_store_dropped_total", 0.0) - dropped0)
                    if pid and instance is None:
                        # The store's work for this run's requests counts too: wait until it is applied.
                        run["store_after_s"] = self.settle(metrics)
                        run["proxy_cpu_s"] = round(cpu_seconds(pid) - cpu0, 3)
                    figures[f"c{c}"] = run
                figures["upstream"] = diff_stats(before, self.upstream_stats())
                runs = [f for k, f in figures.items() if k.startswith("c")]
                if target.expect:
                    figures["expect"] = target.expect
                if scenario == "routed" and sum(f.get("unexpected", 0) for f in runs) * 2 > sum(f.get("ok", 0) for f in runs):
                    figures = {"na": ROUTED_NA, "measured": figures}
                result["scenarios"][scenario] = figures
                if pid and instance is None:
                    result.setdefault("cpu_s_per_1k_by_scenario", {})[scenario] = cpu_per_1k(figures)
                if scenario == "small" and pid:
                    result["rss_warm_mb"] = round(rss_mb(pid), 1)
                    result["cpu_s_per_1k"] = cpu_per_1k(figures)
            finally:
                if instance is not None:
                    self.procs.stop(instance)
        if "throughput" in self.args.scenarios and isinstance(system.targets.get("small"), Target) and not self.out_of_time():
            result["throughput"] = self.search_rate(system, system.targets["small"], result)  # type: ignore[arg-type]
        return result

    def settle(self, metrics: str, bound: float = 60.0) -> float:
        """Wait (bounded) until Trooper's session store has applied what earlier runs queued,
        so one run's backlog does not bill the next. Returns the seconds waited."""
        if not metrics:
            return 0.0
        started = time.monotonic()
        while time.monotonic() - started < bound:
            if store_figures(metrics).get("trooper_store_queued", 0.0) <= 0:
                break
            time.sleep(0.2)
        return round(time.monotonic() - started, 2)

    def upstream_stats(self) -> dict[str, int]:
        try:
            return get_json(f"{self.upstream_url}/__stats")
        except (urllib.error.URLError, OSError, ValueError):
            return {}

    def search_rate(self, system: System, target: Target, result: dict) -> dict:
        """The highest arrival rate at which p99 stays under 50 ms with <1% errors, by an
        open-loop search: grow or shrink from the closed-loop rate, then bisect. Bounded."""
        small = result["scenarios"].get("small", {})
        start = max((run.get("rps", 0) for key, run in small.items() if key.startswith("c")), default=0) or 100.0
        duration = self.args.search_duration
        tried: list[dict] = []

        def ok(rate: float) -> bool:
            log(f"{system.name}: throughput at {rate:.0f} req/s")
            self.settle(system.metrics)
            dropped0 = store_figures(system.metrics).get("trooper_store_dropped_total", 0.0)
            run = self.load(target, self.args.search_connections, duration=duration, rate=rate, warmup=self.args.warmup)
            dropped = int(store_figures(system.metrics).get("trooper_store_dropped_total", 0.0) - dropped0)
            latency = run.get("latency_ms") or {}
            errors = sum(run.get("errors", {}).values())
            due = max(run.get("due", 0), 1)
            good = bool(latency) and latency["p99"] < P99_BUDGET_MS and errors / due < 0.01 and run.get("ok", 0) >= 0.98 * due
            tried.append({"rate": round(rate), "p99_ms": latency.get("p99"), "rps": run.get("rps"), "errors": errors, "ok": good,
                          "store_dropped": dropped})
            return good

        steps = self.args.search_steps
        lo, hi = 0.0, 0.0
        rate = start * 0.9
        while steps > 0 and not self.out_of_time():
            steps -= 1
            if ok(rate):
                lo = rate
                rate = rate * 1.3 if not hi else (lo + hi) / 2
            else:
                hi = rate
                rate = rate * 0.6 if not lo else (lo + hi) / 2
            if lo and hi and (hi - lo) / hi < 0.05:
                break
        at = next((step for step in tried if step["ok"] and step["rate"] == round(lo)), {})
        return {"sustained_rps": round(lo), "budget_p99_ms": P99_BUDGET_MS, "store_dropped": at.get("store_dropped", 0), "tried": tried}

    # -- memory --

    def memory(self, system: System) -> dict:
        if system.note or not system.pid or not isinstance(system.targets.get("small"), Target):
            return {"na": system.note or "n/a"}
        target: Target = system.targets["small"]  # type: ignore[assignment]
        total, sessions, c = self.args.memory_requests, self.args.memory_sessions, self.args.memory_concurrency
        rate = self.args.memory_rate
        first = max(total // 10, 1)
        dropped0 = store_figures(system.metrics).get("trooper_store_dropped_total", 0.0)
        log(f"{system.name}: memory: warm-up")
        self.load(target, c, requests=max(first // 10, 100), warmup=0)
        self.settle(system.metrics)
        warm = rss_mb(system.pid)
        log(f"{system.name}: memory: {first} requests over {sessions} sessions")
        cpu0 = cpu_seconds(system.pid)
        t0 = time.monotonic()
        a = self.load(target, c, requests=first, sessions=sessions, warmup=0, rate=rate)
        self.settle(system.metrics)
        at_first = rss_mb(system.pid)
        log(f"{system.name}: memory: {total - first} more requests (same sessions)")
        b = self.load(target, c, requests=total - first, sessions=sessions, warmup=0, rate=rate)
        self.settle(system.metrics)
        at_total = rss_mb(system.pid)
        return {
            "requests": total, "sessions": sessions, "concurrency": c, "rate": rate, "first": first, "rss_warm_mb": round(warm, 1),
            "rss_after_first_mb": round(at_first, 1), "rss_after_total_mb": round(at_total, 1),
            "growth_mb": round(at_total - at_first, 1), "per_session_kb": round((at_first - warm) * 1024 / sessions, 2),
            "errors": sum(a.get("errors", {}).values()) + sum(b.get("errors", {}).values()),
            "store_dropped": int(store_figures(system.metrics).get("trooper_store_dropped_total", 0.0) - dropped0),
            "seconds": round(time.monotonic() - t0, 1), "cpu_s": round(cpu_seconds(system.pid) - cpu0, 1),
        }

    # -- the whole run --

    def run(self) -> dict:
        log(f"machine: {self.results['machine']}")
        self.start_upstream()
        try:
            for name in self.args.systems:
                if self.out_of_time():
                    self.results["systems"][name] = {"label": name, "note": "skipped: --max-minutes reached", "scenarios": {}}
                    continue
                system = getattr(self, name)()
                try:
                    if self.args.memory:
                        self.results["systems"][name] = {"label": system.label, "note": system.note, "memory": self.memory(system)}
                    else:
                        self.results["systems"][name] = self.run_system(system)
                finally:
                    if system.pid:
                        for proc in list(self.procs.procs):
                            if proc.pid == system.pid:
                                self.procs.stop(proc)
        finally:
            self.procs.stop_all()
        self.results["loadavg_end"] = loadavg()
        return self.results


def no_breaker_pipeline(folder: Path) -> Path:
    """The repo's pipeline.toml with the failover breaker out of the way, so that every
    request of the fallback scenario pays the primary's 429 (with it, Trooper skips the
    primary after 3 failures and the fallback costs what a direct call costs)."""
    text = (ROOT / "pipeline.toml").read_text()
    marker = "[stages.failover]\n"
    if marker in text:
        text = text.replace(marker, marker + "breaker = { threshold = 1000000000 }\n", 1)
    path = folder / "pipeline-fallback.toml"
    path.write_text(text)
    return path


def store_figures(url: str) -> dict[str, float]:
    """trooper_store_* gauges and counters from Trooper's /metrics ({} when it has none).
    With several workers, whichever answers reports every worker's figures added up."""
    if not url:
        return {}
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
    except (urllib.error.URLError, OSError):
        return {}
    figures: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("trooper_store_"):
            name, _, value = line.partition(" ")
            try:
                figures[name] = float(value)
            except ValueError:
                pass
    return figures


def diff_stats(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def cpu_per_1k(figures: dict) -> float | None:
    cpu = sum(run.get("proxy_cpu_s", 0) for key, run in figures.items() if key.startswith("c"))
    done = sum(run.get("completed", 0) for key, run in figures.items() if key.startswith("c"))
    return round(cpu / done * 1000, 3) if done and cpu else None


# --- the tables ---


def fmt(value: float | None, added: bool = False, digits: int = 2) -> str:
    if value is None:
        return "–"
    if added:
        return f"{value:+.{digits}f}"
    return f"{value:.{digits}f}"


def pct(run: dict | None, metric: str, q: str) -> float | None:
    if not run:
        return None
    figures = run.get(metric)
    return figures.get(q) if figures else None


def render(results: dict, args: argparse.Namespace) -> str:
    m = results["machine"]
    lines = [
        f"- machine: {m['nproc']} cores, {m['cpu']}, Python {m['python']}, {m['os']} "
        f"(load average {m.get('loadavg_start', '?')} at start, {results.get('loadavg_end', '?')} at end)",
        f"- command: `{results['command']}`",
        f"- trooper: {m.get('trooper', '?')}; litellm: {results.get('litellm_version', 'not run')}",
        "- upstream: bench/upstream.py (one process, uvloop); load: bench/load.py (one process per run, "
        + (f"{args.memory_requests} requests over {args.memory_sessions} sessions)" if args.memory else
           f"closed loop {'/'.join(str(c) for c in args.concurrency)}; open loop for the sustained rate); "
           f"{args.duration:g} s recorded per run after {args.warmup:g} s warm-up"),
        "",
    ]
    systems = results["systems"]
    if args.memory:
        return "\n".join(lines + render_memory(systems))
    levels = [f"c{c}" for c in args.concurrency]

    def scenario_of(name: str, scenario: str) -> dict:
        return systems.get(name, {}).get("scenarios", {}).get(scenario, {})

    # Added latency
    head = "| scenario | system |" + "".join(f" c={c[1:]} p50 | c={c[1:]} p99 |" for c in levels) + f" req/s at c={levels[-1][1:]} | errors |"
    lines += ["Latency, ms: the direct call's own, then each proxy's added latency (its p50/p99 minus the direct call's).", "",
              head, "|" + "---|" * (head.count("|") - 1)]
    names = {"small": "small, non-streamed", "long": "100-turn conversation", "stream": "stream, 200 chunks (whole stream)",
             "paced": f"stream, 200 chunks at {PACED_GAP_MS} ms (whole stream)", "fallback": "fallback: 429 → local",
             "routed": "routed: simple turn → local"}
    for scenario in ("small", "long", "stream", "fallback", "routed"):
        if scenario not in args.scenarios:
            continue
        floor = scenario_of("direct", scenario)
        for name, system in systems.items():
            label = system.get("label", name)
            if system.get("note"):
                lines.append(f"| {names[scenario]} | {label} | {system['note']} |")
                continue
            figures = scenario_of(name, scenario)
            if "na" in figures:
                lines.append(f"| {names[scenario]} | {label} | {figures['na']} |")
                continue
            cells = []
            for c in levels:
                for q in ("p50", "p99"):
                    value = pct(figures.get(c), "latency_ms", q)
                    if name == "direct":
                        cells.append(fmt(value))
                    else:
                        base = pct(floor.get(c), "latency_ms", q)
                        cells.append(fmt(value - base if value is not None and base is not None else None, added=True))
            last = figures.get(levels[-1]) or {}
            errors: int | str = sum(sum((figures.get(c) or {}).get("errors", {}).values()) for c in levels)
            unexpected = sum((figures.get(c) or {}).get("unexpected", 0) for c in levels)
            if unexpected:
                errors = f"{errors}; {unexpected} answers lacked {figures.get('expect')}"
            rps = last.get("rps")
            lines.append(f"| {names[scenario]} | {label} | " + " | ".join(cells) + f" | {rps:.0f} | {errors} |" if rps is not None
                         else f"| {names[scenario]} | {label} | " + " | ".join(cells) + f" | – | {errors} |")
    lines.append("")
    for name, system in systems.items():
        drops = []
        for scenario, figures in system.get("scenarios", {}).items():
            for c in levels:
                run = figures.get(c) or {}
                if run.get("store_dropped"):
                    drops.append(f"{names.get(scenario, scenario)} at c={c[1:]}: {run['store_dropped']} of {2 * run.get('completed', 0)}")
        if drops:
            lines.append(f"- {system.get('label', name)}'s session store dropped observations (queue full): " + "; ".join(drops) + ".")
        up = scenario_of(name, "fallback").get("upstream") or {}
        answers = sum(v for k, v in up.items() if k.startswith("ollama 200"))
        if name != "direct" and answers:
            lines.append(f"- fallback, {system.get('label', name)}: the primary answered 429 to {up.get('anthropic 429', 0)} "
                         f"requests, the local model answered {answers}.")
    lines.append("")

    # Streams
    if "stream" in args.scenarios or "paced" in args.scenarios:
        head = "| system | figure |" + "".join(f" c={c[1:]} p50 | c={c[1:]} p99 |" for c in levels)
        lines += [f"Streams of {args.chunks} chunks, ms: the direct call's own figures, then each proxy's added. TTFB: request "
                  "written → first byte of the answer. Chunk delay: upstream writes a chunk → client reads it (both stamp "
                  "CLOCK_MONOTONIC). Burst: the upstream writes the whole stream at once; paced: one chunk every "
                  f"{PACED_GAP_MS} ms, as a model streams. Chunk gap (paced): the client-side gap between chunks, as is.",
                  "", head, "|" + "---|" * (head.count("|") - 1)]
        rows = [("stream", "ttfb_ms", "TTFB, burst"), ("paced", "ttfb_ms", "TTFB, paced"),
                ("paced", "chunk_delay_ms", "chunk delay, paced"), ("paced", "chunk_gap_ms", "chunk gap, paced")]
        for name, system in systems.items():
            label = system.get("label", name)
            if system.get("note"):
                lines.append(f"| {label} | {system['note']} |")
                continue
            for scenario, metric, what in rows:
                if scenario not in args.scenarios:
                    continue
                mine, floor = scenario_of(name, scenario), scenario_of("direct", scenario)
                if "na" in mine:
                    lines.append(f"| {label} | {what} | {mine['na']} |")
                    continue
                cells = []
                for c in levels:
                    for q in ("p50", "p99"):
                        value = pct(mine.get(c), metric, q)
                        base = pct(floor.get(c), metric, q)
                        if name == "direct" or metric == "chunk_gap_ms":
                            cells.append(fmt(value, digits=3))
                        else:
                            cells.append(fmt(value - base if value is not None and base is not None else None, added=True, digits=3))
                lines.append(f"| {label} | {what}{'' if name == 'direct' or metric == 'chunk_gap_ms' else ', added'} | " + " | ".join(cells) + " |")
        lines.append("")

    # Capacity and cost
    lite = systems.get("litellm", {}).get("throughput", {}).get("sustained_rps")
    head = f"| system | sustained req/s, p99 < {P99_BUDGET_MS:.0f} ms | × LiteLLM | CPU-s per 1,000 req | RSS idle, MB | RSS warm, MB |"
    lines += ["Capacity and cost: sustained rate from an open-loop search (small request); CPU from /proc/<pid>/stat over "
              "the small-request runs; RSS of the proxy process (and its children).", "", head, "|---|---|---|---|---|---|"]
    for name, system in systems.items():
        if system.get("note"):
            lines.append(f"| {system.get('label', name)} | {system['note']} |")
            continue
        rps = system.get("throughput", {}).get("sustained_rps")
        ratio = f"{rps / lite:.1f}×" if rps and lite else "–"
        dropped = system.get("throughput", {}).get("store_dropped")
        shown = f"{rps} ({dropped} observations dropped)" if rps is not None and dropped else rps
        lines.append(f"| {system.get('label', name)} | {shown if rps is not None else '–'} | {ratio} | "
                     f"{fmt(system.get('cpu_s_per_1k'), digits=3)} | {fmt(system.get('rss_idle_mb'), digits=1)} | "
                     f"{fmt(system.get('rss_warm_mb'), digits=1)} |")
    lines.append("")
    by_scenario = {name: system["cpu_s_per_1k_by_scenario"] for name, system in systems.items()
                   if system.get("cpu_s_per_1k_by_scenario")}
    if by_scenario:
        lines += ["CPU-s per 1,000 requests by scenario (every concurrency level; each run counted until the session "
                  "store has applied its observations):", ""]
        for name, cpu in by_scenario.items():
            label = systems[name].get("label", name)
            lines.append(f"- {label}: " + ", ".join(f"{names.get(s, s)} {fmt(v, digits=3)}" for s, v in cpu.items()))
        lines.append("")
    lines += render_targets(systems, levels)
    return "\n".join(lines)


def render_memory(systems: dict) -> list[str]:
    rate = next((s.get("memory", {}).get("rate") for s in systems.values() if s.get("memory", {}).get("rate") is not None), None)
    how = f"open loop at {rate:g} req/s" if rate else "closed loop"
    lines = ["Memory: RSS of the proxy over a fixed number of small requests spread round-robin over sessions (X-Session-ID), "
             f"{how}; RSS read once Trooper's session store has applied its queue.", "",
             "| system | requests / sessions | RSS warm, MB | after first 10%, MB | after all, MB | growth 10%→100%, MB | per session, KB | errors | observations dropped | s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, system in systems.items():
        mem = system.get("memory", {})
        if system.get("note") or "na" in mem:
            lines.append(f"| {system.get('label', name)} | {system.get('note') or mem.get('na')} |")
            continue
        lines.append(f"| {system.get('label', name)} | {mem['requests']} / {mem['sessions']} | {mem['rss_warm_mb']} | "
                     f"{mem['rss_after_first_mb']} | {mem['rss_after_total_mb']} | {mem['growth_mb']:+.1f} | "
                     f"{mem['per_session_kb']} | {mem['errors']} | {mem.get('store_dropped', '–') if name == 'trooper' else '–'} | {mem['seconds']} |")
    trooper = systems.get("trooper", {}).get("memory", {})
    if "growth_mb" in trooper:
        verdict = "met" if trooper["growth_mb"] <= 20 else "NOT met"
        lines += ["", f"- Target RSS growth 10k→100k ≤ 20 MB: trooper {trooper['growth_mb']:+.1f} MB — {verdict}"
                  + ("" if trooper["requests"] == 100000 else f" (measured over {trooper['requests']} requests, not 100,000)")]
    return lines


def render_targets(systems: dict, levels: list[str]) -> list[str]:
    trooper = systems.get("trooper", {})
    if trooper.get("note") or not trooper.get("scenarios"):
        return []
    direct = systems.get("direct", {}).get("scenarios", {})
    lines = ["Targets (Trooper):", ""]

    def added(scenario: str, c: str, metric: str, q: str) -> float | None:
        mine = pct(trooper["scenarios"].get(scenario, {}).get(c), metric, q)
        base = pct(direct.get(scenario, {}).get(c), metric, q)
        return mine - base if mine is not None and base is not None else None

    def line(what: str, value: float | None, limit: float, unit: str = "ms") -> None:
        if value is None:
            lines.append(f"- {what}: not measured")
        else:
            lines.append(f"- {what}: {value:+.2f} {unit} (≤ {limit:g}) — {'met' if value <= limit else 'NOT met'}")

    c1 = "c1" if "c1" in levels else levels[0]
    line("added latency c=1 p50", added("small", c1, "latency_ms", "p50"), 1.0)
    line("added latency c=1 p99", added("small", c1, "latency_ms", "p99"), 3.0)
    line("added TTFB c=1 p50, paced stream (a model's pace)", added("paced", c1, "ttfb_ms", "p50"), 1.0)
    line("added TTFB c=1 p50, burst stream (200 chunks in one write)", added("stream", c1, "ttfb_ms", "p50"), 1.0)
    line("added per-chunk delay c=1 p50, paced stream", added("paced", c1, "chunk_delay_ms", "p50"), 1.0)
    c50 = levels[-1]
    line(f"added per-chunk delay c={c50[1:]} p99, paced stream", added("paced", c50, "chunk_delay_ms", "p99"), 1.0)
    mine = trooper.get("throughput", {}).get("sustained_rps")
    lite = systems.get("litellm", {}).get("throughput", {}).get("sustained_rps")
    if mine and lite:
        ratio = mine / lite
        lines.append(f"- throughput ≥ 5× LiteLLM: {mine} vs {lite} req/s = {ratio:.1f}× — {'met' if ratio >= 5 else 'NOT met'}")
    else:
        lines.append("- throughput ≥ 5× LiteLLM: not measured (LiteLLM row missing)")
    lines.append("- RSS growth 10k→100k ≤ 20 MB: see `python bench/run.py --memory`")
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs: a first look in about two minutes")
    parser.add_argument("--duration", type=float, help="seconds recorded per load run (default 10; --quick 2)")
    parser.add_argument("--warmup", type=float, help="seconds of load before each recording (default 1; --quick 0.3)")
    parser.add_argument("--systems", default="direct,trooper,litellm",
                        help="comma-separated: direct,trooper,litellm,redis2w (2 workers sharing a Redis store)")
    parser.add_argument("--scenarios", default="small,long,stream,paced,fallback,routed,throughput",
                        help="comma-separated subset of small,long,stream,paced,fallback,routed,throughput")
    parser.add_argument("--concurrency", default="1,50", help="concurrency levels (default 1,50)")
    parser.add_argument("--chunks", type=int, default=200, help="chunks in a streamed answer (default 200)")
    parser.add_argument("--prewarm", type=int, default=0,
                        help="requests sent to each scenario, unrecorded, before its runs: 5000 takes the scenario's "
                             "session past the store's per-session cap (5,000 messages), where a long-lived agent ends up")
    parser.add_argument("--memory", action="store_true", help="the memory run instead: RSS over --memory-requests requests")
    parser.add_argument("--memory-requests", type=int, default=100_000)
    parser.add_argument("--memory-sessions", type=int, default=10_000)
    parser.add_argument("--memory-rate", type=float, default=150.0,
                        help="requests/s in the memory run, open loop (default 150: every system keeps up, and Trooper's "
                             "session store records every request); 0: closed loop")
    parser.add_argument("--memory-concurrency", type=int, default=64, help="most connections in the memory run (default 64)")
    parser.add_argument("--search-steps", type=int, help="open-loop runs in the throughput search (default 8; --quick 4)")
    parser.add_argument("--search-duration", type=float, help="seconds per search run (default 4; --quick 1.5)")
    parser.add_argument("--search-connections", type=int, default=128, help="most connections in the open-loop search")
    parser.add_argument("--trooper-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for `trooper serve` (repeatable), e.g. LOCAL_EMBEDDED=auto")
    parser.add_argument("--litellm-spec", default=os.environ.get("BENCH_LITELLM_SPEC", LITELLM_SPEC))
    parser.add_argument("--max-minutes", type=float, default=45.0, help="stop starting new runs after this long")
    parser.add_argument("--out", default=str(OUT), help="where logs, configs and results go (default bench/out)")
    parser.add_argument("--json", help="write all results here too (default bench/out/results-TIME.json)")
    args = parser.parse_args(argv)
    args.duration = args.duration if args.duration is not None else (2.0 if args.quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (0.3 if args.quick else 1.0)
    args.search_steps = args.search_steps if args.search_steps is not None else (4 if args.quick else 8)
    args.search_duration = args.search_duration if args.search_duration is not None else (1.5 if args.quick else 4.0)
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(args.systems) - {"direct", "trooper", "litellm", "redis2w"}
    if unknown:
        parser.error(f"unknown system(s): {', '.join(sorted(unknown))}")
    args.scenarios = {s.strip() for s in args.scenarios.split(",") if s.strip()}
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    if args.memory and "direct" in args.systems:
        args.systems.remove("direct")  # no proxy process to measure
    if args.quick and args.memory and args.memory_requests == 100_000:
        args.memory_requests, args.memory_sessions, args.memory_rate = 10_000, 1_000, 300.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench = Bench(args)
    results = bench.run()
    table = render(results, args)
    results["table"] = table
    path = Path(args.json) if args.json else Path(args.out) / f"results-{time.strftime('%Y%m%d-%H%M%S')}{'-memory' if args.memory else ''}.json"
    path.write_text(json.dumps(results, indent=1))
    print(table)
    print(f"\n(raw figures: {path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
