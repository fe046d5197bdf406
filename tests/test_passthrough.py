"""Routes that can't leak or escape: on every route (the pipeline in each client format, and
the vendor pass-throughs), a request carrying an Anthropic, an OpenAI and a Gemini key reaches
each vendor's fake with that vendor's key only; paths that leave the API prefix and injected
model names are refused with a 400 before any upstream call; a path no vendor has is a 404
naming the routes; a CORS preflight is answered by Trooper, never by a provider; organisation
endpoints never go with the operator's key; a pass-through stream that breaks ends with an
error line and an aborted body, never a clean end."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import CLOSED, chain_env, run_trooper
from tests.fakes.upstream import Error, FakeUpstream, ResetAfter, Text

ANTHROPIC_KEY = "sk-ant-api03-client-anthropic-key"
OPENAI_KEY = "sk-proj-client-openai-key"
GEMINI_KEY = "AIzaSy-client-gemini-key"
ALL_KEYS = {"x-api-key": ANTHROPIC_KEY, "authorization": f"Bearer {OPENAI_KEY}", "x-goog-api-key": GEMINI_KEY}
# What each vendor's fake may see: its own key, in its own header, and nothing else.
OWN = {
    "anthropic": {"x-api-key": ANTHROPIC_KEY},
    "openai": {"authorization": f"Bearer {OPENAI_KEY}"},
    "gemini": {"x-goog-api-key": GEMINI_KEY},
    "ollama": {},
}
CREDENTIAL_HEADERS = ("x-api-key", "authorization", "x-goog-api-key", "cookie")
ASK = "Compare the two deploy logs and explain why the second one failed."  # complex: not answered locally

Fakes = dict[str, FakeUpstream]


@asynccontextmanager
async def keyless_chain() -> AsyncIterator[tuple[Fakes, str]]:
    """Claude → Gemini → OpenAI → Ollama at four fakes, no operator key anywhere: every
    cloud provider is asked with the client's own key for its vendor."""
    async with FakeUpstream() as claude, FakeUpstream() as gemini, FakeUpstream() as openai_fake, FakeUpstream() as ollama:
        env = {
            "CLAUDE_URL": claude.url, "GEMINI_URL": gemini.url, "OPENAI_URL": openai_fake.url + "/v1",
            "FALLBACK_URL": ollama.url + "/api/chat", "LOCAL_EMBEDDED": "off",
        }
        async with run_trooper(env) as trooper:
            yield {"anthropic": claude, "gemini": gemini, "openai": openai_fake, "ollama": ollama}, trooper.url


def assert_each_saw_only_its_own_key(fakes: Fakes) -> None:
    for vendor, fake in fakes.items():
        for request in fake.requests:
            credentials = {name: request.headers[name] for name in CREDENTIAL_HEADERS if name in request.headers}
            assert credentials == OWN[vendor], (vendor, request.path, credentials)
            own = "".join(OWN[vendor].values())
            others = [key for key in (ANTHROPIC_KEY, OPENAI_KEY, GEMINI_KEY) if key not in own]
            seen = request.body.decode("utf-8", "replace") + request.path + json.dumps(request.query)
            assert not [key for key in others if key in seen], (vendor, request.path)


PIPELINE_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("/v1/messages", {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": ASK}]}),
    ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": ASK}]}),
    ("/v1/responses", {"model": "gpt-4o-mini", "input": ASK}),
    ("/v1beta/models/gemini-2.0-flash:generateContent", {"contents": [{"role": "user", "parts": [{"text": ASK}]}]}),
]


@pytest.mark.parametrize(("path", "body"), PIPELINE_CALLS, ids=[p for p, _ in PIPELINE_CALLS])
async def test_pipeline_routes_give_each_vendor_only_its_own_key(path: str, body: dict[str, Any]) -> None:
    """Every cloud provider fails over (529), so all four are asked: each got only its key."""
    async with keyless_chain() as (fakes, url), aiohttp.ClientSession() as http:
        for vendor in ("anthropic", "gemini", "openai"):
            fakes[vendor].script(Error(529))
        fakes["ollama"].script(Text("Local answer."))
        async with http.post(url + path, json=body, headers=ALL_KEYS) as resp:
            assert resp.status == 200, await resp.text()
            assert resp.headers["x-trooper-provider"] == "ollama"
    assert all(len(fake.generation_requests()) == 1 for fake in fakes.values())
    assert_each_saw_only_its_own_key(fakes)


PASS_THROUGH_CALLS: list[tuple[str, str, str, dict[str, Any] | None, dict[str, str]]] = [
    ("anthropic", "POST", "/v1/messages/count_tokens",
     {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}]}, {"anthropic-version": "2023-06-01"}),
    ("anthropic", "GET", "/v1/models/claude-haiku-4-5", None, {"anthropic-version": "2023-06-01"}),
    ("openai", "GET", "/v1/models/gpt-4o", None, {}),
    ("gemini", "POST", "/v1beta/models/gemini-2.0-flash:countTokens", {"contents": [{"parts": [{"text": "hi"}]}]}, {}),
    ("gemini", "GET", "/v1beta/models/gemini-2.0-flash", None, {}),
    ("ollama", "GET", "/api/tags", None, {}),
]


@pytest.mark.parametrize(("vendor", "method", "path", "body", "extra"), PASS_THROUGH_CALLS,
                         ids=[f"{v}:{p}" for v, _, p, _, _ in PASS_THROUGH_CALLS])
async def test_pass_through_goes_to_the_paths_vendor_with_only_its_key(
    vendor: str, method: str, path: str, body: dict[str, Any] | None, extra: dict[str, str]
) -> None:
    async with keyless_chain() as (fakes, url), aiohttp.ClientSession() as http:
        async with http.request(method, url + path, json=body, headers={**ALL_KEYS, **extra}) as resp:
            assert resp.status == 200, await resp.text()
    assert [r.path for r in fakes[vendor].requests] == [path]
    assert all(not fake.requests for name, fake in fakes.items() if name != vendor)
    assert_each_saw_only_its_own_key(fakes)


async def test_a_gemini_key_in_the_query_goes_as_the_header_and_only_to_gemini() -> None:
    async with keyless_chain() as (fakes, url), aiohttp.ClientSession() as http:
        async with http.get(url + f"/v1beta/models?key={GEMINI_KEY}&pageSize=5") as resp:
            assert resp.status == 200
    [request] = fakes["gemini"].requests
    assert request.headers["x-goog-api-key"] == GEMINI_KEY
    assert request.query == {"pageSize": "5"}


async def raw_request(url: str, method: str, target: str) -> tuple[int, dict[str, Any]]:
    """An HTTP/1.1 request with its target exactly as written (clients normalise dot segments)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = b'{"model": "claude-haiku-4-5", "max_tokens": 5, "messages": []}'
    writer.write(
        f"{method} {target} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"x-api-key: {ANTHROPIC_KEY}\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        size, _, rest = payload.partition(b"\r\n")
        payload = rest[: int(size, 16)]
    return status, json.loads(payload)


ESCAPES = [
    "/v1/../../admin",
    "/v1/%2e%2e/%2e%2e/admin",
    "/v1/messages/..%2f..%2fadmin",
    "/v1/files/%252e%252e/secrets",
    "/v1//admin",
    "/v1beta/models/../../admin:generateContent",
    "/api/../v1/organizations/users",
]


@pytest.mark.parametrize("target", ESCAPES)
async def test_paths_that_escape_the_api_prefix_are_refused_before_any_upstream_call(target: str) -> None:
    async with keyless_chain() as (fakes, url):
        status, answer = await raw_request(url, "POST", target)
    assert status == 400, answer
    assert "path" in json.dumps(answer)
    assert all(not fake.requests for fake in fakes.values())


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"model": "gemini-2.0-flash:generateContent?key=x#", "messages": [{"role": "user", "content": ASK}]}),
        ("/v1/messages", {"model": "gemini-../../v1/admin", "max_tokens": 5, "messages": [{"role": "user", "content": ASK}]}),
        ("/v1/responses", {"model": "gemini 2.0\r\nx-injected: 1", "input": ASK}),
        ("/v1beta/models/gemini-2.0-flash%3Fkey%3Dstolen:generateContent", {"contents": [{"parts": [{"text": ASK}]}]}),
    ],
    ids=["query", "traversal", "header_injection", "path_model"],
)
async def test_injected_model_names_are_refused_before_any_upstream_call(path: str, body: dict[str, Any]) -> None:
    async with keyless_chain() as (fakes, url), aiohttp.ClientSession() as http:
        async with http.post(url + path, json=body, headers=ALL_KEYS) as resp:
            status, text = resp.status, await resp.text()
    assert status == 400, text
    assert "model" in text
    assert all(not fake.requests for fake in fakes.values())


async def test_a_path_no_vendor_has_is_a_404_naming_the_routes() -> None:
    async with keyless_chain() as (fakes, url), aiohttp.ClientSession() as http:
        async with http.post(url + "/v1/admin/keys", json={}, headers=ALL_KEYS) as resp:
            status, answer = resp.status, await resp.json()
    assert status == 404
    message = answer["error"]["message"]
    assert "/v1/admin/keys" in message and "POST /v1/responses" in message and ":generateContent" in message
    assert all(not fake.requests for fake in fakes.values())


PREFLIGHTS = ["/v1/chat/completions", "/chat/completions", "/v1/messages", "/v1/responses",
              "/v1beta/models/gemini-2.0-flash:streamGenerateContent", "/v1/files", "/api/chat"]


@pytest.mark.parametrize("origin", ["http://localhost:3000", "https://elsewhere.example"], ids=["local_page", "other_site"])
async def test_a_cors_preflight_is_answered_here_and_never_reaches_a_provider(origin: str) -> None:
    """A web page's preflight to any proxy route, from a page on this machine (which the gate
    admits) or another site: 204 with nothing allowed, so the browser sends no request; no
    vendor's fake is asked, whatever keys the preflight carries."""
    preflight = {"origin": origin, "access-control-request-method": "POST",
                 "access-control-request-headers": "content-type, authorization"}
    async with keyless_chain() as (fakes, url), aiohttp.ClientSession() as http:
        for path in PREFLIGHTS:
            async with http.options(url + path, headers={**preflight, **ALL_KEYS}) as resp:
                assert resp.status == 204, (path, await resp.text())
                assert not [name for name in resp.headers if name.lower().startswith("access-control-")], path
                assert await resp.read() == b""
    assert all(not fake.requests for fake in fakes.values())


async def test_organisation_endpoints_never_go_with_the_operators_key(claude: FakeUpstream, openai_fake: FakeUpstream) -> None:
    env = chain_env(claude=claude, openai=openai_fake)  # operator keys for both
    async with run_trooper(env) as trooper, aiohttp.ClientSession() as http:
        async with http.get(trooper.url + "/v1/organizations/users", headers={"anthropic-version": "2023-06-01"}) as resp:
            assert resp.status == 403
            assert "organisation endpoint" in (await resp.json())["error"]["message"]
        async with http.get(trooper.url + "/v1/organization/projects") as resp:
            assert resp.status == 403
        assert claude.requests == [] and openai_fake.requests == []
        admin_key = "sk-ant-admin01-client-own-admin-key"
        async with http.get(trooper.url + "/v1/organizations/users",
                            headers={"anthropic-version": "2023-06-01", "x-api-key": admin_key}) as resp:
            assert resp.status == 404  # the fake has no such endpoint: what matters is who was asked, and how
    [request] = claude.requests
    assert request.path == "/v1/organizations/users"
    assert request.headers["x-api-key"] == admin_key  # the client's own, never CLAUDE_API_KEY


async def read_until_broken(url: str, path: str, body: dict[str, Any] | None, method: str = "POST") -> tuple[bytes, bool]:
    """The body as far as it came, and whether it ended cleanly (False: an aborted body)."""
    got = b""
    async with aiohttp.ClientSession() as http, http.request(method, url + path, json=body) as resp:
        try:
            async for chunk in resp.content.iter_any():
                got += chunk
        except aiohttp.ClientPayloadError:
            return got, False
    return got, True


async def test_a_broken_ndjson_pass_through_ends_with_an_error_line_then_an_aborted_body(ollama: FakeUpstream) -> None:
    request = {"model": "qwen2.5:3b", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    ollama.script(Text("Alpha Bravo Charlie Delta Echo"))
    async with aiohttp.ClientSession() as http, http.post(ollama.url + "/api/chat", json=request) as resp:
        whole = await resp.read()
    ollama.script(ResetAfter(whole.index(b"Charlie"), answer=Text("Alpha Bravo Charlie Delta Echo")))
    async with run_trooper(chain_env(ollama=ollama)) as trooper:
        got, clean = await read_until_broken(trooper.url, "/api/chat", request)
    assert not clean
    lines = got.split(b"\n")
    assert lines[-1] == b""  # every line whole: nothing glued to a partial one
    parsed = [json.loads(line) for line in lines[:-1]]
    assert [p["message"]["content"] for p in parsed[:-1]] == ["Alpha", " Bravo"]
    assert "upstream stream broke" in parsed[-1]["error"]


async def test_a_broken_sse_pass_through_ends_with_an_error_event_then_an_aborted_body() -> None:
    """An Anthropic pass-through stream (batch results, say) cut inside an event: the client
    gets the whole events, then an `event: error` on lines of its own, then no clean end."""

    async def results(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'event: result\ndata: {"n": 1}\n\nevent: result\ndata: {"n": 2, "text": " Halfw')
        await asyncio.sleep(0.05)
        assert request.transport is not None
        request.transport.abort()
        return response

    app = web.Application()
    app.router.add_get("/v1/messages/batches/msgbatch_1/results", results)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        env = {"CLAUDE_URL": f"http://127.0.0.1:{port}", "CLAUDE_API_KEY": "sk-ant-operator", "GEMINI_URL": CLOSED,
               "OPENAI_URL": CLOSED + "/v1", "FALLBACK_URL": CLOSED + "/api/chat", "LOCAL_EMBEDDED": "off"}
        async with run_trooper(env) as trooper:
            got, clean = await read_until_broken(trooper.url, "/v1/messages/batches/msgbatch_1/results", None, "GET")
    finally:
        await runner.cleanup()
    assert not clean
    assert got.startswith(b'event: result\ndata: {"n": 1}\n\n')
    assert b"Halfw" not in got  # the partial event was never forwarded
    assert got.endswith(b"\n\n") and b"event: error\ndata: " in got
    error = json.loads(got.split(b"event: error\ndata: ")[1])
    assert error["type"] == "error" and "upstream stream broke" in error["error"]["message"]
