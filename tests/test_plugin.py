"""A third-party stage, installed as its own package, declared between two built-ins in
pipeline.toml, runs there and changes the request before it goes upstream."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import chain_env, run_trooper
from tests.fakes.upstream import FakeUpstream, Text

PLUGIN = Path(__file__).parent.parent / "plugins" / "trooper-redact"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """pip-install the example plugin into a private directory and put it on sys.path,
    so the developer's environment is left as it was."""
    target = tmp_path_factory.mktemp("plugin-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(PLUGIN)],
        check=True, timeout=300,
    )
    sys.path.insert(0, str(target))
    yield target
    sys.path.remove(str(target))


def test_stages_command_shows_the_plugin_and_its_package(plugin_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(plugin_path)}
    result = subprocess.run([sys.executable, "-m", "trooper.cli", "stages"], capture_output=True, text=True, env=env, timeout=30)
    row = next(line for line in result.stdout.splitlines() if line.startswith("redact"))
    assert "trooper-redact 0.1.0" in row and "trooper_redact:Redact" in row


async def test_plugin_runs_between_builtins_and_changes_the_request(
    plugin_path: Path, claude: FakeUpstream, tmp_path: Path
) -> None:
    pipeline = tmp_path / "pipeline.toml"
    pipeline.write_text(
        '[pipeline]\nstages = ["normalize", "redact", "route", "failover", "headers", "observe"]\n'
        '[stages.redact]\npatterns = ["email"]\nreplacement = "<email>"\n'
    )
    claude.script(Text("ok"))
    import aiohttp

    async with run_trooper(chain_env(claude=claude), pipeline) as trooper, aiohttp.ClientSession() as http:
        body = {"model": "claude-haiku-4-5", "max_tokens": 10,
                "messages": [{"role": "user", "content": "Mail ada@example.com the report"}]}
        async with http.post(trooper.url + "/v1/messages", json=body) as resp:
            assert resp.status == 200
            headers = resp.headers
    # It ran after normalize (it had a conversation to change) and before failover
    # (the upstream saw its change), and its header survived to the response.
    assert claude.requests[-1].json["messages"][0]["content"] == "Mail <email> the report"
    assert headers["x-trooper-redacted"] == "1"
    assert headers["x-trooper-provider"] == "claude"


def test_plugin_options_are_validated(plugin_path: Path, tmp_path: Path) -> None:
    pipeline = tmp_path / "pipeline.toml"
    pipeline.write_text('[pipeline]\nstages = ["normalize", "redact", "failover"]\n[stages.redact]\npatterns = ["ssn"]\n')
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(plugin_path)}
    result = subprocess.run([sys.executable, "-m", "trooper.cli", "serve", "--pipeline", str(pipeline)],
                            capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 2
    assert result.stderr.startswith("trooper: error: [stages.redact] 'patterns[0]'")
