"""Hard bounds on every input, against a real `trooper serve`: body size, nesting, numbers
out of range, slow headers, slow bodies and too many connections each get a clear answer
(in the client's error shape where there is a client format to answer in), and the
server keeps serving everyone else."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import chain_env
from tests.fakes.upstream import FakeUpstream, Text
from tests.served import Served, serving

LIMITS = """
[server]
max_body_mb = 1
body_timeout = 1.0
header_timeout = 1.0
max_connections = 20
"""


@pytest.fixture
async def trooper(tmp_path: Path, claude: FakeUpstream, openai_fake: FakeUpstream):  # type: ignore[no-untyped-def]
    claude.default = Text("fine")
    openai_fake.default = Text("fine")
    pipeline = tmp_path / "limits.toml"
    pipeline.write_text(LIMITS)
    env = chain_env(claude=claude, openai=openai_fake, TROOPER_DB=str(tmp_path / "t.db"))
    async with serving(tmp_path, env, "--pipeline", str(pipeline)) as served:
        yield served


async def post(url: str, path: str, body: bytes) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.post(url + path, data=body, headers={"content-type": "application/json"}) as response:
            return response.status, await response.json(content_type=None)


def anthropic_body(**extra: object) -> dict:
    return {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}], **extra}


def openai_body(**extra: object) -> dict:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **extra}


def anthropic_error(body: dict) -> tuple[str, str]:
    return body["error"]["type"], body["error"]["message"]


def openai_error(body: dict) -> tuple[str, str]:
    return body["error"]["type"], body["error"]["message"]


FORMATS = [("/v1/messages", anthropic_body, anthropic_error), ("/v1/chat/completions", openai_body, openai_error)]


@pytest.mark.parametrize(("path", "make", "error_of"), FORMATS, ids=["anthropic", "openai"])
async def test_hostile_bodies_get_a_400_or_413_in_the_clients_shape(trooper: Served, path: str, make, error_of) -> None:  # type: ignore[no-untyped-def]
    deep = json.dumps(make()).encode()[:-1] + b', "x_deep": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    status, body = await post(trooper.url, path, deep)
    assert status == 400 and "too deeply" in error_of(body)[1], body
    huge_number = json.dumps(make()).encode()[:-1] + b', "x_unknown": 1e400}'
    status, body = await post(trooper.url, path, huge_number)
    assert status == 400 and "out of range" in error_of(body)[1].lower(), body
    big = json.dumps(make(x_padding="a" * 1_100_000)).encode()
    status, body = await post(trooper.url, path, big)
    assert status == 413 and "1 MB" in error_of(body)[1], body
    # And the next ordinary request is answered.
    status, body = await post(trooper.url, path, json.dumps(make()).encode())
    assert status == 200, body
    assert "Traceback" not in trooper.log() and "unhandled_error" not in trooper.log()


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), 30)  # until the server closes


async def test_slow_headers_and_slow_bodies_are_cut_with_a_408(trooper: Served) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", trooper.port)
    writer.write(b"POST /v1/messages HTTP/1.1\r\nhost: localhost\r\n")  # and never the end of the headers
    answer = await read_answer(reader)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    writer.close()

    reader, writer = await asyncio.open_connection("127.0.0.1", trooper.port)
    writer.write(b"POST /v1/messages HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n"
                 b"content-length: 1000\r\n\r\n{\"model\": ")  # and never the rest of the body
    await writer.drain()
    answer = await read_answer(reader)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer
    assert json.loads(body)["error"]["type"] == "timeout_error"  # Anthropic's shape
    writer.close()
    assert "body_too_slow" in trooper.log()


async def test_connections_beyond_the_cap_are_refused_and_the_rest_served(trooper: Served) -> None:
    idle = [await asyncio.open_connection("127.0.0.1", trooper.port) for _ in range(20)]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", trooper.port)
        writer.write(b"GET /health HTTP/1.1\r\nhost: localhost\r\n\r\n")
        answer = await read_answer(reader)
        assert answer.startswith(b"HTTP/1.1 503"), answer
        writer.close()
    finally:
        for _, idle_writer in idle:
            idle_writer.close()
    async with aiohttp.ClientSession() as http:
        for _ in range(100):  # the server notices the closed connections as it reads them
            async with http.get(trooper.url + "/health") as response:
                if response.status == 200:
                    break
            await asyncio.sleep(0.1)
        assert response.status == 200
    assert "connection_refused" in trooper.log()
