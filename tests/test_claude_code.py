"""The real Claude Code CLI (npm @anthropic-ai/claude-code, installed by scripts/test) in
`claude -p` mode through a real `trooper serve`, against a scripted fake Anthropic upstream
and a fake Ollama that record every request:

(a) healthy: Claude's Write tool call creates the file and its final text arrives;
(b) Claude answers 429 from the second model call on: Ollama issues the Write call and
    the final answer;
(c) Claude's stream is cut inside the Write call's JSON arguments: Ollama issues the call;
(d) two runs of the same prompt are two sessions, and `--continue` stays in its session.

Each run: the file is written, exit code 0, one session in /sessions named by Claude Code's
own session id; what reached the fake Claude is what Claude Code sent (the ?beta=true query,
its anthropic-* headers and User-Agent, its key in the form it used).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import CLOSED
from tests.fakes.upstream import Behaviour, Error, Exchange, FakeUpstream, Recorded, ResetAfterFrame, Text, ToolCall
from tests.served import agent_cli, serving
from trooper import __version__

ROOT = Path(__file__).parent.parent
API_KEY = "sk-ant-api03-test-key-for-claude-code-0123456789"
OAUTH_TOKEN = "sk-ant-oat01-test-subscription-token-0123456789"
LOCAL_MODEL = "qwen2.5:0.5b"  # a model the fake Ollama lists, so /api/show gives its window
READ_THEN_WRITE = "Read notes.txt, then write its greeting into hello.txt"
QUOTA = Error(429, headers={"retry-after": "30"}, message="Number of request tokens has exceeded your per-minute rate limit")


@pytest.fixture(scope="module")
def claude_cli() -> str:
    return agent_cli("claude", "@anthropic-ai/claude-code")


THINKING_RULE = (
    "messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{found}`. When `thinking` "
    "is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of "
    "`tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid "
    "this requirement, disable `thinking`."
)


@dataclass(frozen=True)
class EnforcesThinkingRule(Behaviour):
    """`answer`, unless the request breaks the rule Anthropic's API enforces with thinking on:
    in a tool loop, the last assistant turn must start with a thinking block. A turn another
    tier answered has none; the API's 400 (its wording) is what comes back then."""

    answer: Behaviour

    def render(self, ex: Exchange):  # type: ignore[no-untyped-def]
        body = ex.recorded.json
        messages = body["messages"]
        in_tool_loop = isinstance(messages[-1]["content"], list) and any(
            block.get("type") == "tool_result" for block in messages[-1]["content"])
        thinking_on = body.get("thinking", {"type": "disabled"})["type"] != "disabled"
        index, last = next((i, m) for i, m in reversed(list(enumerate(messages))) if m["role"] == "assistant")
        first = last["content"][0]["type"] if isinstance(last["content"], list) else "text"
        if thinking_on and in_tool_loop and first not in ("thinking", "redacted_thinking"):
            return Error(400, message=THINKING_RULE.format(index=index, found=first)).render(ex)
        return self.answer.render(ex)


@dataclass
class Run:
    returncode: int
    result: dict[str, Any]
    stderr: str


@asynccontextmanager
async def trooper_serve(claude: FakeUpstream, ollama: FakeUpstream, directory: Path) -> AsyncIterator[str]:
    """The real `trooper serve` with no key of its own: Claude is asked with the client's."""
    env = {
        "CLAUDE_URL": claude.url,
        "GEMINI_URL": CLOSED,
        "OPENAI_URL": CLOSED + "/v1",
        "FALLBACK_URL": ollama.url + "/api/chat",
        "OLLAMA_MODEL": LOCAL_MODEL,
        # Claude Code's 24 tools alone are ~16k tokens: the local tier gets a window they fit.
        "CONTEXT_WINDOW": "131072",
        "LOCAL_EMBEDDED": "off",
        "TROOPER_DB": str(directory / "trooper.db"),
    }
    async with serving(directory, env, "--pipeline", str(ROOT / "pipeline.toml")) as served:
        yield served.url


async def run_claude(cli: str, url: str, workdir: Path, prompt: str, credential: dict[str, str], *flags: str) -> Run:
    """`claude -p PROMPT --output-format json` in `workdir`, offline but for `url`."""
    home = workdir.parent / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": url,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        **credential,
    }
    proc = await asyncio.create_subprocess_exec(
        cli, "-p", prompt, "--output-format", "json", "--allowedTools", "Read", "Write", *flags,
        cwd=workdir, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 300)  # a hang guard, not a speed check
    except TimeoutError:
        proc.kill()
        raise
    text = stdout.decode()
    result = json.loads(text) if text.strip().startswith("{") else {"raw": text}
    return Run(proc.returncode or 0, result, stderr.decode())


async def claude_through_trooper(
    cli: str, claude: FakeUpstream, ollama: FakeUpstream, workdir: Path, prompt: str, credential: dict[str, str]
) -> tuple[Run, dict[str, Any]]:
    """Run the CLI through a fresh `trooper serve`; its result, and its session as
    /sessions/{id} shows it (summary, signals, request timeline, transcript)."""
    async with trooper_serve(claude, ollama, workdir.parent) as url:
        run = await run_claude(cli, url, workdir, prompt, credential)
        session = await one_session(url, run.result.get("session_id", "?"))
    return run, session["detail"]


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def settled_sessions(url: str, requests: int) -> dict[str, Any]:
    """/sessions once the store holds all `requests` and none is still being answered."""
    for _ in range(600):  # a bound for a loaded machine, not a speed check
        listed = await get_json(url + "/sessions")
        sessions = listed["sessions"]
        if sum(s["requests"] for s in sessions) == requests and not any(s["in_flight"] for s in sessions):
            return listed
        await asyncio.sleep(0.1)
    raise AssertionError(f"the sessions never held {requests} finished requests: {listed}")


async def one_session(url: str, session_id: str) -> dict[str, Any]:
    """The single session in /sessions, once its last answer is recorded."""
    for _ in range(600):  # a bound for a loaded machine, not a speed check
        listed = await get_json(url + "/sessions")
        detail = await get_json(f"{url}/sessions/{session_id}") if listed["total"] == 1 else None
        if detail is not None and detail["session"]["in_flight"] == 0:
            return {"listed": listed, "detail": detail}
        await asyncio.sleep(0.1)
    raise AssertionError(f"not one finished session {session_id}: {listed}")


def assert_sent_as_claude_code_sends(request: Recorded, credential: tuple[str, str]) -> None:
    """What reached the upstream is what Claude Code sent: query, headers, key form, body."""
    assert request.path == "/v1/messages" and request.query == {"beta": "true"}
    headers = request.headers
    assert "mid-conversation-system-2026-04-07" in headers["anthropic-beta"].split(",")
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["x-app"] == "cli"
    assert headers["x-claude-code-session-id"]
    assert headers["user-agent"].startswith("claude-cli/") and headers["user-agent"].endswith(f" trooper/{__version__}")
    name, value = credential
    assert headers[name] == value
    other = "x-api-key" if name == "authorization" else "authorization"
    assert other not in headers  # the key went in the form the client used, and only that
    body = request.json
    assert [m["role"] for m in body["messages"]][:2] == ["user", "system"]  # mid-conversation system, as sent
    assert {"thinking", "context_management", "metadata", "output_config"} <= body.keys()
    assert len(body["tools"]) >= 20


def assert_written(workdir: Path, run: Run, text: str) -> None:
    assert run.returncode == 0, (run.result, run.stderr[-2000:])
    assert run.result.get("is_error") is False, run.result
    assert (workdir / "hello.txt").read_text() == text


def write_call(workdir: Path, content: str, text: str | None = "Writing the file.") -> ToolCall:
    return ToolCall([("Write", {"file_path": str(workdir / "hello.txt"), "content": content})], text=text)


def read_call(workdir: Path) -> ToolCall:
    return ToolCall([("Read", {"file_path": str(workdir / "notes.txt")})], text="Reading the notes first.")


def decisions(session: dict[str, Any]) -> list[str]:
    """The session's timeline as the dashboard shows it: who answered each turn, and why."""
    return [request["decision"] for request in session["requests"]]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    (path / "notes.txt").write_text("greeting: hello from the notes\n")
    return path


async def test_a_healthy_run_writes_the_file(
    claude_cli: str, claude: FakeUpstream, ollama: FakeUpstream, workdir: Path
) -> None:
    claude.script(write_call(workdir, "hello\n"), Text("Wrote hello.txt."))
    run, session = await claude_through_trooper(claude_cli, claude, ollama, workdir, "Create hello.txt saying hello",
                                                {"ANTHROPIC_AUTH_TOKEN": OAUTH_TOKEN})
    summary = session["session"]
    assert_written(workdir, run, "hello\n")
    assert run.result["result"] == "Wrote hello.txt."
    calls = claude.generation_requests()
    assert len(calls) == 2 and not ollama.generation_requests()
    for request in calls:
        # An OAuth (subscription) token stays a bearer token; it never becomes x-api-key.
        assert_sent_as_claude_code_sends(request, ("authorization", f"Bearer {OAUTH_TOKEN}"))
        assert request.headers["x-claude-code-session-id"] == run.result["session_id"]
    assert summary["providers"] == ["claude"] and summary["requests"] == 2
    # The dashboard reads the user, not the harness: no <system-reminder>, no catalogue.
    assert summary["intent"] == "Create hello.txt saying hello"


async def test_b_quota_hit_mid_session_continues_on_the_local_tier(
    claude_cli: str, claude: FakeUpstream, ollama: FakeUpstream, workdir: Path
) -> None:
    claude.script(read_call(workdir), QUOTA, QUOTA, QUOTA, QUOTA)
    ollama.script(write_call(workdir, "hello from the notes\n"), Text("Done: hello.txt holds the greeting."))
    run, session = await claude_through_trooper(claude_cli, claude, ollama, workdir, READ_THEN_WRITE, {"ANTHROPIC_API_KEY": API_KEY})
    summary = session["session"]
    assert_written(workdir, run, "hello from the notes\n")
    assert run.result["result"] == "Done: hello.txt holds the greeting."
    for request in claude.generation_requests():
        assert_sent_as_claude_code_sends(request, ("x-api-key", API_KEY))
    local = ollama.generation_requests()
    assert len(local) == 2
    asked = local[0].json
    assert "Write" in [tool["function"]["name"] for tool in asked["tools"]]
    roles = [m["role"] for m in asked["messages"]]
    assert roles[0] == "system" and "tool" in roles  # Read's result reached the local model
    assert "Available agent types" in asked["messages"][0]["content"]  # the mid-conversation system message
    assert summary["providers"] == ["claude", "ollama"]
    assert summary["requests"] == 3 and summary["fallbacks"] >= 2
    assert decisions(session) == ["claude (direct)", "ollama (fallback: rate_limit)", "ollama (fallback: rate_limit)"]
    assert summary["intent"].startswith("Read notes.txt")


async def test_c_stream_cut_inside_the_tool_call_continues_on_the_local_tier(
    claude_cli: str, claude: FakeUpstream, ollama: FakeUpstream, workdir: Path
) -> None:
    claude.script(read_call(workdir), ResetAfterFrame(b"input_json_delta", write_call(workdir, "half", text=None)))
    claude.default = EnforcesThinkingRule(Text("Done: hello.txt is written."))  # every later call
    ollama.script(write_call(workdir, "hello from the notes\n"))
    run, session = await claude_through_trooper(claude_cli, claude, ollama, workdir, READ_THEN_WRITE, {"ANTHROPIC_API_KEY": API_KEY})
    summary = session["session"]
    # The half-made call never reached Claude Code; Ollama's whole one did, and ran.
    assert_written(workdir, run, "hello from the notes\n")
    assert run.result["result"] == "Done: hello.txt is written."
    assert len(claude.generation_requests()) == 4 and len(ollama.generation_requests()) == 1
    for request in claude.generation_requests()[:3]:
        assert_sent_as_claude_code_sends(request, ("x-api-key", API_KEY))
    assert summary["providers"] == ["claude", "ollama"] and summary["requests"] == 3
    # The second turn began on Claude, lost its connection mid-call and was finished by Ollama.
    assert decisions(session) == ["claude (direct)", "ollama (fallback: network)", "claude (direct)"]
    # Claude, back for the third call, refused the tool loop Ollama's call left without a
    # thinking block (as the real API does); the same request with thinking off was taken.
    refused, amended = claude.generation_requests()[2:]
    assert refused.json["thinking"] == {"type": "adaptive"}
    # Only thinking and its context edit (clear_thinking) are gone; the rest is as sent.
    assert amended.json == {k: v for k, v in refused.json.items() if k not in ("thinking", "context_management")}
    assert amended.headers["x-api-key"] == API_KEY and amended.query == {"beta": "true"}
    assert session["requests"][2]["attempts"][0][:3] == ["claude", 400, "amended"]
    assert [attempt[:3] for attempt in session["requests"][1]["attempts"] if attempt[0] != "ollama"][:2] == [
        ["claude", 200, ""], ["claude", 200, "network"]]


async def test_d_each_run_is_its_own_session_and_continue_stays_in_it(
    claude_cli: str, claude: FakeUpstream, ollama: FakeUpstream, workdir: Path
) -> None:
    claude.script(Text("Hi."), Text("Hi again."), Text("Still here."))
    key = {"ANTHROPIC_API_KEY": API_KEY}
    async with trooper_serve(claude, ollama, workdir.parent) as url:
        first = await run_claude(claude_cli, url, workdir, "Say hi", key)
        second = await run_claude(claude_cli, url, workdir, "Say hi", key)
        resumed = await run_claude(claude_cli, url, workdir, "Are you still there?", key, "--continue")
        listed = await settled_sessions(url, requests=3)
    ids = [run.result.get("session_id") for run in (first, second, resumed)]
    assert all(run.returncode == 0 for run in (first, second, resumed)), [r.stderr[-500:] for r in (first, second, resumed)]
    # The same prompt twice is two sessions (a fingerprint of it would have made one);
    # --continue is the same session as the run it continues.
    assert ids[0] != ids[1] and ids[2] == ids[1]
    sessions = {s["id"]: s for s in listed["sessions"]}
    assert sessions.keys() == {ids[0], ids[1]}
    assert sessions[ids[1]]["requests"] == 2 and sessions[ids[0]]["requests"] == 1
