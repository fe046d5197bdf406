"""A real redis-server for the tests, on a free loopback port, with nothing persisted
unless a test asks (`save()` before `stop()` keeps the data across a restart). Never a
mock: `.ci/run` installs Debian's redis-server. Missing, the fixture fails clearly;
TROOPER_SKIP_REDIS_TESTS=1 skips instead (for a machine without it)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--dbfilename", "dump.rdb", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            try:
                if self.command("PING") == "+PONG":
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def command(self, *args: str) -> str:
        """One command over a plain socket (the test's own line, independent of the store's client)."""
        payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(payload.encode())
            return sock.recv(65536).decode().split("\r\n")[0]

    def save(self) -> None:
        assert self.command("SAVE") == "+OK"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if not shutil.which("redis-server"):
        if os.environ.get("TROOPER_SKIP_REDIS_TESTS") == "1":
            pytest.skip("redis-server not installed (TROOPER_SKIP_REDIS_TESTS=1)")
        pytest.fail("redis-server is not installed: `apt-get install redis-server` (.ci/run does), "
                    "or set TROOPER_SKIP_REDIS_TESTS=1 to skip the Redis tests", pytrace=False)
    server = RedisServer(tmp_path / "redis")
    server.directory.mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()
