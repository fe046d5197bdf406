"""The deployment files: compose.yaml starts Trooper, Redis and Ollama with health checks
(Docker can't run here: its structure is checked, and Trooper's health-check commands, the
Containerfile's and compose's, are run as written against a real Trooper), and the image
installs the Redis extra."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import chain_env, run_trooper
from tests.fakes.upstream import FakeUpstream

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
CONTAINERFILE = (ROOT / "Containerfile").read_text()


def test_compose_starts_trooper_redis_and_ollama_each_health_checked() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"trooper", "redis", "ollama"}
    for name, service in services.items():
        check = service["healthcheck"]
        assert check["test"][0] == "CMD" and len(check["test"]) > 1, name
        assert re.fullmatch(r"\d+s", check["interval"]) and check["retries"] >= 1, name
    trooper = services["trooper"]
    assert trooper["depends_on"] == {"redis": {"condition": "service_healthy"},
                                     "ollama": {"condition": "service_healthy"}}
    env = trooper["environment"]
    assert env["TROOPER_STORE"] == "redis://redis:6379/0"
    assert env["FALLBACK_URL"] == "http://ollama:11434/api/chat"
    assert trooper["build"]["dockerfile"] == "Containerfile" and (ROOT / trooper["build"]["dockerfile"]).exists()
    # Published on the host's loopback only: that is what makes TROOPER_TRUSTED_NETWORK safe.
    assert trooper["ports"] == ["127.0.0.1:3000:3000"] and env["TROOPER_TRUSTED_NETWORK"] == "true"
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert services["ollama"]["healthcheck"]["test"] == ["CMD", "ollama", "list"]
    for volume in (*services["redis"]["volumes"], *services["ollama"]["volumes"]):
        assert volume.split(":", 1)[0] in COMPOSE["volumes"]  # models and data survive a restart


def test_the_image_installs_the_redis_extra_and_its_license() -> None:
    install = next(line for line in CONTAINERFILE.splitlines() if line.startswith("RUN pip install"))
    extras = re.search(r'"\.\[([a-z,]+)\]"', install)
    assert extras and "redis" in extras.group(1).split(",")
    copied = next(line for line in CONTAINERFILE.splitlines() if line.startswith("COPY pyproject.toml"))
    assert "LICENSE" in copied.split()  # pyproject's license-files: the build needs it


@pytest.mark.parametrize("where", ["compose", "Containerfile"])
async def test_the_health_check_commands_work_against_a_real_trooper(where: str, ollama: FakeUpstream) -> None:
    if where == "compose":
        command = COMPOSE["services"]["trooper"]["healthcheck"]["test"][1:]
    else:
        line = re.search(r"CMD (python -c .*?) \|\| exit 1", CONTAINERFILE)
        assert line is not None
        command = shlex.split(line.group(1))
    assert command[0] == "python"
    async with run_trooper(chain_env(ollama=ollama)) as trooper:
        assert await health_check(command, trooper.url) == 0
    async with run_trooper(chain_env()) as trooper:  # no key, no Ollama: not ready, but live
        assert await health_check(command, trooper.url) == (1 if where == "compose" else 0)


async def health_check(command: list[str], url: str) -> int:
    """Run a health-check command as the container would, with TROOPER_PORT set; its exit code."""
    env = {**os.environ, "TROOPER_PORT": url.rsplit(":", 1)[1]}
    proc = await asyncio.create_subprocess_exec(sys.executable, *command[1:], env=env,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    return await asyncio.wait_for(proc.wait(), 30)
