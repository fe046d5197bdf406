"""A real `trooper serve` process for the attack-shaped tests: started with an exact
environment (never the developer's), its log in a file the test can read at any time."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.test_serve_cli import _wait_healthy, free_port


@dataclass
class Served:
    url: str
    port: int
    process: asyncio.subprocess.Process
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def agent_cli(command: str, package: str) -> str:
    """The path of an agent CLI the suite drives; missing, a failure that says how to get it."""
    found = shutil.which(command)
    if found is None:
        pytest.fail(f"the {command} CLI is not installed: `bash scripts/test` installs it (npm install -g {package})")
    return found


def serve_env(port: int, **more: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", ""), "TROOPER_PORT": str(port), "TROOPER_LOG_FORMAT": "json", **more}
    if "PYTHONPATH" in os.environ:  # run the code under test, wherever it is imported from
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


@asynccontextmanager
async def serving(directory: Path, env: dict[str, str], *args: str) -> AsyncIterator[Served]:
    """`trooper serve` with `env` (plus PATH, a free port and JSON logs), healthy when yielded."""
    port = free_port()
    log_path = directory / f"trooper-{port}.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "trooper.cli", "serve", *args, env=serve_env(port, **env),
            stdout=asyncio.subprocess.DEVNULL, stderr=log,
        )
    served = Served(f"http://127.0.0.1:{port}", port, process, log_path)
    try:
        try:
            await _wait_healthy(port, process)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{served.log()}") from None
        yield served
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
