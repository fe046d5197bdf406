"""The real Codex CLI (npm @openai/codex, installed by scripts/test) in `codex exec` mode
through a real `trooper serve`, its model provider's base_url pointed at Trooper with a dummy
key (config.toml in a temporary CODEX_HOME), against a scripted fake OpenAI speaking the
Responses API and a fake Ollama:

(a) healthy: OpenAI's exec_command call creates the file (Codex runs it), then its answer;
(b) OpenAI answers 429 throughout: the local tier (Ollama) issues the call and the answer,
    translated into the Responses API's events;
(c) OpenAI's stream is cut inside the call's arguments: Ollama issues the call in the same
    response, carried on with OpenAI's ids and sequence numbers.

Each run: the file is written, exit code 0, one session (named by Codex's own session id).
What reached OpenAI is what Codex sent (POST /v1/responses with its body fields and headers:
store false, reasoning items included, its session headers), with the operator's key, never
the dummy one. Codex speaks only the Responses API (`wire_api = "responses"`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.conftest import CLOSED
from tests.fakes.upstream import Error, FakeUpstream, Recorded, ResetAfterFrame, Text, ToolCall
from tests.served import agent_cli, serving
from tests.test_claude_code import get_json, one_session

ROOT = Path(__file__).parent.parent
OPENAI_KEY = "sk-test-operator-openai-key-0123456789"
DUMMY_KEY = "dummy-codex-key"  # what Codex sends: Trooper holds the real key
MODEL = "gpt-5-codex"
PROMPT = "Create hello.txt containing the words hello from codex, using the shell"
QUOTA = Error(429, headers={"retry-after": "30"}, message="Rate limit reached for requests")


@pytest.fixture(scope="module")
def codex_cli() -> str:
    return agent_cli("codex", "@openai/codex")


@asynccontextmanager
async def trooper_serve(openai_fake: FakeUpstream, ollama: FakeUpstream, directory: Path) -> AsyncIterator[str]:
    env = {
        "CLAUDE_URL": CLOSED,
        "GEMINI_URL": CLOSED,
        "OPENAI_URL": openai_fake.url + "/v1",
        "OPENAI_API_KEY": OPENAI_KEY,
        "FALLBACK_URL": ollama.url + "/api/chat",
        "OLLAMA_MODEL": "qwen2.5:0.5b",
        "CONTEXT_WINDOW": "131072",  # Codex's instructions and tools: a window they fit
        "LOCAL_EMBEDDED": "off",
        "TROOPER_DB": str(directory / "trooper.db"),
    }
    async with serving(directory, env, "--pipeline", str(ROOT / "pipeline.toml")) as served:
        yield served.url


async def run_codex(cli: str, url: str, workdir: Path) -> tuple[int, str, str]:
    """`codex exec PROMPT` in `workdir` with a CODEX_HOME whose only provider is Trooper."""
    home = workdir.parent / "codex-home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(
        f'model = "{MODEL}"\nmodel_provider = "trooper"\n\n'
        "[model_providers.trooper]\n"
        'name = "Trooper"\n'
        f'base_url = "{url}/v1"\n'
        'env_key = "TROOPER_CODEX_KEY"\n'
        'wire_api = "responses"\n'
    )
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "CODEX_HOME": str(home), "TROOPER_CODEX_KEY": DUMMY_KEY}
    proc = await asyncio.create_subprocess_exec(
        cli, "exec", "--skip-git-repo-check", "--sandbox", "danger-full-access", PROMPT,
        cwd=workdir, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 300)  # a hang guard, not a speed check
    except TimeoutError:
        proc.kill()
        raise
    return proc.returncode or 0, stdout.decode(), stderr.decode()


def shell_call(workdir: Path) -> ToolCall:
    return ToolCall([("exec_command", {"cmd": "printf 'hello from codex\\n' > hello.txt", "workdir": str(workdir)})],
                    text="Creating the file.")


def assert_sent_as_codex_sends(request: Recorded) -> str:
    """What reached OpenAI is Codex's own request, with the operator's key; its session id."""
    assert (request.method, request.path) == ("POST", "/v1/responses")
    body = request.json
    assert body["model"] == MODEL and body["stream"] is True and body["store"] is False
    assert body["include"] == ["reasoning.encrypted_content"] and "reasoning" in body
    assert "exec_command" in [tool.get("name") for tool in body["tools"]]
    assert body["input"][0]["role"] == "developer"
    headers = request.headers
    assert headers["authorization"] == f"Bearer {OPENAI_KEY}"  # never the dummy key Codex holds
    assert DUMMY_KEY not in str(dict(headers))
    assert headers["user-agent"].startswith("codex_exec/")
    return headers["session-id"]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


async def test_a_healthy_run_writes_the_file(codex_cli: str, openai_fake: FakeUpstream, ollama: FakeUpstream, workdir: Path) -> None:
    openai_fake.script(shell_call(workdir), Text("Created hello.txt."))
    async with trooper_serve(openai_fake, ollama, workdir.parent) as url:
        code, out, err = await run_codex(codex_cli, url, workdir)
        calls = openai_fake.generation_requests()
        session_id = assert_sent_as_codex_sends(calls[0])
        session = await one_session(url, session_id)
    assert code == 0, err[-3000:]
    assert (workdir / "hello.txt").read_text() == "hello from codex\n"
    assert "Created hello.txt." in out
    assert len(calls) == 2 and not ollama.generation_requests()
    assert_sent_as_codex_sends(calls[1])
    outputs = [item for item in calls[1].json["input"] if item.get("type") == "function_call_output"]
    assert len(outputs) == 1  # the command's result went back to the model
    summary = session["detail"]["session"]
    assert summary["providers"] == ["openai"] and summary["requests"] == 2


async def test_b_quota_hit_the_local_tier_answers(codex_cli: str, openai_fake: FakeUpstream, ollama: FakeUpstream, workdir: Path) -> None:
    openai_fake.script(QUOTA, QUOTA)
    ollama.script(shell_call(workdir), Text("Created hello.txt locally."))
    async with trooper_serve(openai_fake, ollama, workdir.parent) as url:
        code, out, err = await run_codex(codex_cli, url, workdir)
        session_id = assert_sent_as_codex_sends(openai_fake.generation_requests()[0])
        session = await one_session(url, session_id)
        listed = await get_json(url + "/sessions")
    assert code == 0, err[-3000:]
    assert (workdir / "hello.txt").read_text() == "hello from codex\n"
    assert "Created hello.txt locally." in out
    assert len(openai_fake.generation_requests()) == 2 and len(ollama.generation_requests()) == 2
    # The local tier got the conversation translated, the command's output included.
    second = ollama.generation_requests()[1].json["messages"]
    assert [m["role"] for m in second if m["role"] == "tool"] == ["tool"]
    assert listed["total"] == 1
    summary = session["detail"]["session"]
    assert summary["providers"] == ["ollama"] and summary["requests"] == 2


async def test_c_stream_cut_inside_the_call_continues_on_the_local_tier(
    codex_cli: str, openai_fake: FakeUpstream, ollama: FakeUpstream, workdir: Path
) -> None:
    """OpenAI's own stream (the fast path) dies inside exec_command's arguments: Codex never
    sees the half-made call; Ollama makes it whole in the same response (OpenAI's response
    and item ids carried on), Codex runs it, and the next turn is OpenAI's again."""
    openai_fake.script(ResetAfterFrame(b"function_call_arguments.delta", shell_call(workdir)), Text("Created hello.txt."))
    ollama.script(shell_call(workdir))
    async with trooper_serve(openai_fake, ollama, workdir.parent) as url:
        code, out, err = await run_codex(codex_cli, url, workdir)
        session_id = assert_sent_as_codex_sends(openai_fake.generation_requests()[0])
        session = await one_session(url, session_id)
    assert code == 0, err[-3000:]
    assert (workdir / "hello.txt").read_text() == "hello from codex\n"
    assert "Created hello.txt." in out
    assert len(openai_fake.generation_requests()) == 2 and len(ollama.generation_requests()) == 1
    summary = session["detail"]["session"]
    assert summary["requests"] == 2 and set(summary["providers"]) == {"openai", "ollama"}
