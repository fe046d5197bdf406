"""`trooper doctor`: one line per check (each provider, the local tier, the store, the
port), the fix on every failure, exit 1 when anything failed, and offline it ends fast
with a clear line per provider, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import chain_env, run_trooper
from tests.fakes.upstream import Error, FakeUpstream
from trooper.config import load
from trooper.doctor import Check, diagnose, report
from trooper.providers.llama import default_model_path, llama_installed
from trooper.runtime import Runtime

MODELS = {
    "anthropic": ["claude-haiku-4-5"], "openai": ["gpt-4o-mini"], "gemini": ["gemini-2.0-flash"], "ollama": ["qwen2.5:3b"],
}


@pytest.fixture
async def everything() -> AsyncIterator[FakeUpstream]:
    """One fake answering as all four vendors, with the models the default chain asks for."""
    async with FakeUpstream(models=MODELS) as fake:
        yield fake


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def doctor(env: dict[str, str]) -> dict[str, Check]:
    settings = load(None, env=env)
    return {check.name: check for check in await diagnose(Runtime(settings, env=env))}


async def test_all_good(everything: FakeUpstream, tmp_path: Path) -> None:
    env = chain_env(claude=everything, gemini=everything, openai=everything, ollama=everything,
                    TROOPER_DB=str(tmp_path / "t.db"), TROOPER_PORT=str(free_port()))
    checks = await doctor(env)
    assert list(checks) == ["claude", "gemini", "openai", "ollama", "local tier", "store", "port"]
    assert {c.status for c in checks.values()} == {"ok"}, checks
    assert checks["claude"].detail == "reachable, key accepted, model claude-haiku-4-5 found"
    assert checks["ollama"].detail == "running, model qwen2.5:3b pulled, trained on 131072 tokens"
    assert checks["store"].detail == f"{tmp_path / 't.db'} (0 sessions)"
    text, code = report(list(checks.values()))
    assert code == 0 and text.endswith("all good")
    assert all(line.startswith("✓ ") for line in text.splitlines()[:-1])
    # Free calls only: nothing was generated anywhere.
    assert everything.generation_requests() == []


async def test_each_failure_names_its_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with socket.socket() as squatter:  # another program holds the port
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        async with FakeUpstream(models=MODELS) as claude, FakeUpstream(models=MODELS) as openai_, \
                FakeUpstream(models={"ollama": ["llama3.2:1b"]}) as ollama:
            claude.script_meta(Error(401, message="invalid x-api-key"))
            env = chain_env(claude=claude, openai=openai_, ollama=ollama, OPENAI_MODEL="gpt-9",
                            GEMINI_URL=openai_.url,  # reachable, but no key: a warning, clients may bring theirs
                            TROOPER_DB=str(blocker / "t.db"), TROOPER_PORT=str(squatter.getsockname()[1]))
            checks = await doctor(env)
    assert (checks["claude"].status, checks["claude"].detail) == ("fail", "key rejected (401)")
    assert checks["claude"].fix == "check CLAUDE_API_KEY"
    assert checks["gemini"].status == "warn" and "GEMINI_API_KEY unset" in checks["gemini"].detail
    assert checks["openai"].detail == "key accepted, but model gpt-9 not found"
    assert checks["openai"].fix == "set OPENAI_MODEL to a model your key can use"
    assert checks["ollama"].detail == "running, but model qwen2.5:3b is not pulled"
    assert checks["ollama"].fix == "ollama pull qwen2.5:3b"
    assert checks["local tier"].status == "fail" and "pip install 'trooper-gateway[local]'" in checks["local tier"].fix
    assert checks["store"].status == "fail" and "TROOPER_DB" in checks["store"].fix
    assert checks["port"].status == "fail" and "in use by another program" in checks["port"].detail
    text, code = report(list(checks.values()))
    assert code == 1
    for line in text.splitlines()[:-1]:
        assert line.startswith(("✓", "!")) or " — fix: " in line, line
    assert text.splitlines()[-1] == "6 failed, 1 warning"


async def test_a_running_trooper_on_the_port_is_fine(everything: FakeUpstream) -> None:
    env = chain_env(ollama=everything)
    async with run_trooper(env) as trooper:
        port = trooper.url.rsplit(":", 1)[1]
        checks = await doctor({**env, "TROOPER_PORT": port, "TROOPER_DB": ":memory:"})
    assert checks["port"].status == "ok"
    assert checks["port"].detail == f"127.0.0.1:{port} is in use by a running Trooper 0.1.0"
    assert checks["store"].status == "warn"  # memory only


def test_offline_it_ends_fast_with_one_clear_line_each(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
        "CLAUDE_URL": "https://api.anthropic.invalid", "CLAUDE_API_KEY": "sk-ant-test-0123456789",  # never resolves
        "GEMINI_URL": "http://127.0.0.1:9", "GEMINI_API_KEY": "AIza-test-0123456789",
        "OPENAI_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "sk-test-0123456789abcdef",
        "FALLBACK_URL": "http://127.0.0.1:9/api/chat", "LOCAL_EMBEDDED": "off", "TROOPER_PORT": str(free_port()),
    }
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "trooper.cli", "doctor"], capture_output=True, text=True, env=env, timeout=60)
    elapsed = time.monotonic() - started
    lines = result.stdout.splitlines()
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr and result.stderr == ""
    assert lines[0].startswith("✗ claude") and "cannot reach https://api.anthropic.invalid" in lines[0]
    assert lines[1] == (
        "✗ gemini      cannot reach http://127.0.0.1:9 (connection refused)"
        " — fix: check the network (or a proxy), or GEMINI_URL"
    )
    assert lines[3].startswith("✗ ollama      not running at http://127.0.0.1:9 (connection refused)")
    assert lines[4].startswith("✗ local tier")
    assert lines[5].startswith("✓ store") and lines[6].startswith("✓ port")
    assert lines[-1] == "5 failed, 0 warnings"
    assert elapsed < 15


@pytest.mark.model
async def test_the_embedded_model_is_checked_by_having_it_answer(everything: FakeUpstream) -> None:
    if os.environ.get("TROOPER_SKIP_MODEL_TESTS") == "1":
        pytest.skip("TROOPER_SKIP_MODEL_TESTS=1")
    assert llama_installed() and default_model_path(), "pip install -e '.[local]'"
    checks = await doctor(chain_env(claude=everything, LOCAL_EMBEDDED="auto", TROOPER_DB=":memory:",
                                    TROOPER_PORT=str(free_port())))
    assert checks["embedded"].status == "ok"
    assert checks["embedded"].detail.startswith("SmolLM2-135M-Instruct.Q4_1 answers (")
    assert "window 6144" in checks["embedded"].detail
    assert checks["ollama"].status == "warn" and checks["ollama"].detail.endswith("(fine: embedded answers instead)")
    assert checks["local tier"].detail == "ollama → embedded; embedded answers"


async def test_a_shared_store_that_cannot_be_reached_fails_its_line_without_its_password(tmp_path: Path) -> None:
    """Trooper would still serve (buffering), but its dashboard could not read: the
    doctor says so, names the Redis it tried, and never prints the URL's password."""
    env = chain_env(TROOPER_STORE=f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0", TROOPER_PORT=str(free_port()))
    checks = await doctor(env)
    store = checks["store"]
    assert store.status == "fail"
    assert "cannot reach Redis at redis://:***@127.0.0.1:" in store.detail and "TROOPER_STORE" in store.fix
    assert "hunter2" not in report(list(checks.values()))[0]
