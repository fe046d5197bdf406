"""Who may spend the operator's keys, whose failures count, and what is never shown: each
as an attacker would try it, against a real `trooper serve`, from loopback with spoofed
headers (a remote caller is a trusted proxy on 127.0.0.1 naming a remote address)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import aiohttp
import anthropic
import openai
import pytest

from tests.conftest import chain_env
from tests.fakes.upstream import Error, FakeUpstream, Text
from tests.served import serve_env, serving
from tests.test_serve_cli import free_port
from trooper.access import Gate
from trooper.config import AccessSettings

OPERATOR_KEY = "sk-ant-test-claude-key-0123456789"  # chain_env's Claude key
CLIENT_TOKEN = "ci-token-0123456789abcdef0123"
ADMIN_TOKEN = "admin-token-0123456789abcdef"
BODY = {"model": "claude-haiku-4-5", "max_tokens": 32, "messages": [{"role": "user", "content": "Why is the build red?"}]}
FROM_REMOTE = {"x-forwarded-for": "203.0.113.7"}  # through the trusted proxy at 127.0.0.1


async def post(url: str, headers: dict[str, str], body: bytes | None = None, path: str = "/v1/messages") -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        data = body if body is not None else json.dumps(BODY).encode()
        async with http.post(url + path, data=data, headers={"content-type": "application/json", **headers}) as response:
            return response.status, await response.json(content_type=None)


async def test_a_web_page_or_a_spoofed_proxy_header_cannot_spend_the_keys(tmp_path: Path, claude: FakeUpstream) -> None:
    claude.default = Text("fine")
    env = chain_env(claude=claude, TROOPER_DB=str(tmp_path / "t.db"))
    refused = [
        # A CSRF-shaped POST: text/plain needs no preflight, so the browser sends it as is.
        {"content-type": "text/plain", "host": "evil.example", "origin": "https://evil.example"},
        {"origin": "https://evil.example"},
        {"origin": "null"},  # a sandboxed frame
        {"sec-fetch-site": "cross-site"},
        {"host": "rebound.evil.example:3000"},  # DNS rebinding to 127.0.0.1
        *({name: "127.0.0.1"} for name in ("true-client-ip", "cf-connecting-ip", "x-client-ip", "x-real-ip",
                                             "x-forwarded-for", "forwarded")),
    ]
    async with serving(tmp_path, env) as trooper:
        for headers in refused:
            status, body = await post(trooper.url, headers)
            assert status == 403, headers
            assert body["type"] == "error" and body["error"]["type"] == "permission_error", body
        # The pass-through routes spend keys too.
        status, _ = await post(trooper.url, {"origin": "https://evil.example"}, path="/v1/messages/count_tokens")
        assert status == 403
        # A program on this machine, or a page served from localhost, is let in.
        assert (await post(trooper.url, {}))[0] == 200
        assert (await post(trooper.url, {"origin": "http://localhost:5173", "sec-fetch-site": "same-site"}))[0] == 200
        async with aiohttp.ClientSession() as http, http.get(trooper.url + "/metrics") as response:
            metrics = await response.text()
    assert len(claude.generation_requests()) == 2
    assert 'trooper_client_requests_total{client="local",status="200"} 2' in metrics
    assert "caller_refused" in trooper.log()


async def test_beyond_loopback_a_client_token_is_needed_and_never_forwarded(tmp_path: Path, claude: FakeUpstream,
                                                                            openai_fake: FakeUpstream) -> None:
    claude.default = Text("fine")
    openai_fake.default = Text("fine")
    env = chain_env(claude=claude, openai=openai_fake, TROOPER_DB=str(tmp_path / "t.db"),
                    TROOPER_CLIENT_TOKENS=f"ci:{CLIENT_TOKEN}", TROOPER_TRUSTED_PROXIES="127.0.0.1",
                    TROOPER_ADMIN_TOKEN=ADMIN_TOKEN)
    async with serving(tmp_path, env) as trooper:
        for headers in (FROM_REMOTE, {**FROM_REMOTE, "x-api-key": "sk-ant-someone-elses-key-123456"},
                        {"x-forwarded-for": "127.0.0.1, 203.0.113.7"},  # a forged first hop, then the real one
                        {}):  # the trusted proxy naming nobody
            status, body = await post(trooper.url, headers)
            assert status == 401 and body["error"]["type"] == "authentication_error", (headers, body)
            assert "client token" in body["error"]["message"]
        # The token as the Anthropic SDK's own key, and as the OpenAI SDK's Bearer.
        sdk = anthropic.AsyncAnthropic(base_url=trooper.url, api_key=CLIENT_TOKEN, max_retries=0,
                                       default_headers={**FROM_REMOTE, "x-session-id": "ci-session"})
        answer = await sdk.messages.create(**BODY)
        assert answer.content[0].text == "fine"
        oai = openai.AsyncOpenAI(base_url=trooper.url + "/v1", api_key=CLIENT_TOKEN, max_retries=0,
                                 default_headers=FROM_REMOTE)
        completion = await oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert completion.choices[0].message.content
        await asyncio.sleep(1.2)  # the store's flush
        async with aiohttp.ClientSession(headers={"authorization": f"Bearer {ADMIN_TOKEN}"}) as http:
            async with http.get(trooper.url + "/sessions/ci-session") as response:
                session = await response.json()
            async with http.get(trooper.url + "/metrics") as response:
                metrics = await response.text()
    sent = claude.generation_requests()[0].headers
    assert sent["x-api-key"] == OPERATOR_KEY  # the operator's key is spent
    assert all(CLIENT_TOKEN not in value for r in claude.requests + openai_fake.requests for value in r.headers.values())
    assert session["requests"][0]["client"] == "ci"
    assert 'trooper_client_requests_total{client="ci",status="200"}' in metrics
    assert CLIENT_TOKEN not in trooper.log()


def test_serve_refuses_to_listen_beyond_loopback_without_tokens(tmp_path: Path) -> None:
    import subprocess

    port = free_port()
    env = serve_env(port, **chain_env(TROOPER_DB=str(tmp_path / "t.db")), TROOPER_BIND="0.0.0.0")
    done = subprocess.run([sys.executable, "-m", "trooper.cli", "serve"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("trooper: error: refusing to listen on 0.0.0.0"), done.stderr
    assert "TROOPER_CLIENT_TOKENS" in lines[0] and "TROOPER_TRUSTED_NETWORK" in lines[0]


async def test_an_explicitly_trusted_network_may_listen_beyond_loopback(tmp_path: Path) -> None:
    env = chain_env(TROOPER_DB=str(tmp_path / "t.db"), TROOPER_BIND="0.0.0.0", TROOPER_TRUSTED_NETWORK="true")
    async with serving(tmp_path, env) as trooper:
        # Still no web page of another site.
        assert (await post(trooper.url, {"origin": "https://evil.example"}))[0] == 403


async def test_a_clients_bad_key_never_opens_the_providers_circuit(tmp_path: Path, claude: FakeUpstream,
                                                                   ollama: FakeUpstream) -> None:
    bad_key = "sk-ant-client-bad-key-9876543210"
    claude.script(*[Error(400, message=f"API key not valid: {bad_key}", kind="invalid_request_error")] * 4)
    claude.default = Text("from claude")
    ollama.default = Text("from ollama")
    env = chain_env(ollama=ollama, CLAUDE_URL=claude.url, TROOPER_DB=str(tmp_path / "t.db"))  # no operator key
    async with serving(tmp_path, env) as trooper:
        for _ in range(4):
            status, body = await post(trooper.url, {"x-api-key": bad_key})
            assert status == 200 and body["content"][0]["text"] == "from ollama"  # fell over
        status, body = await post(trooper.url, {"x-api-key": "sk-ant-another-good-key-1234567"})
        assert status == 200 and body["content"][0]["text"] == "from claude"  # no circuit open for this client
        async with aiohttp.ClientSession() as http, http.get(trooper.url + "/metrics") as response:
            metrics = await response.text()
    assert 'trooper_circuit_state{provider="claude",state="closed"} 1' in metrics
    assert len(claude.generation_requests()) == 5
    assert bad_key not in trooper.log()


async def test_secrets_in_upstream_errors_and_urls_are_never_kept_or_shown(tmp_path: Path, claude: FakeUpstream) -> None:
    echoed = f"upstream trace: used key {OPERATOR_KEY} and sk-SECRET456 and client's sk-ant-client-own-1234"
    claude.default = Error(500, message=echoed)
    claude.script_meta(Error(400, message=echoed))  # a pass-through call's error, echoing the key too
    db = tmp_path / "t.db"
    env = chain_env(claude=claude, TROOPER_DB=str(db), OPENAI_URL="http://alice:pa55word@127.0.0.1:9/v1",
                    GEMINI_URL="http://127.0.0.1:9/?key=AIzaGeminiUrlKey1234567890")
    secrets = (OPERATOR_KEY, "sk-SECRET456", "sk-ant-client-own-1234", "pa55word", "AIzaGeminiUrlKey1234567890")
    async with serving(tmp_path, env) as trooper:
        async with aiohttp.ClientSession() as http:
            async with http.get(trooper.url + "/events") as events:
                status, body = await post(trooper.url, {"x-session-id": "leaky", "authorization": "Bearer sk-ant-client-own-1234"})
                assert status == 503 and "server_error" in body["error"]["message"]
                streamed = b""
                while b'"request":{' not in streamed:
                    streamed += await asyncio.wait_for(events.content.readany(), 10)
            async with http.get(trooper.url + "/sessions/leaky") as response:
                session = await response.text()
            async with http.post(trooper.url + "/v1/messages/count_tokens", json=BODY,
                                 headers={"anthropic-version": "2023-06-01"}) as response:
                assert response.status == 400
                session += await response.text()
            async with http.get(trooper.url + "/health") as response:
                health = await response.text()
            async with http.get(trooper.url + "/health/ready") as response:
                health += await response.text()
        await asyncio.sleep(1.2)  # on disk
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("t.db*"))
    for secret in secrets:
        assert secret not in json.dumps(body), secret
        assert secret not in streamed.decode(), secret
        assert secret not in session, secret
        assert secret not in health, secret
        assert secret.encode() not in stored, secret
        assert secret not in trooper.log(), secret
    assert "[redacted]" in json.dumps(body) and "127.0.0.1:9" in health


async def test_admin_sign_in_is_a_revocable_expiring_session_and_guessing_is_throttled(tmp_path: Path) -> None:
    env = chain_env(TROOPER_DB=str(tmp_path / "t.db"), TROOPER_ADMIN_TOKEN=ADMIN_TOKEN, TROOPER_TRUSTED_PROXIES="127.0.0.1")
    remote = {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"}
    form = {"content-type": "application/x-www-form-urlencoded"}
    async with serving(tmp_path, env) as trooper:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            async with http.post(trooper.url + "/login", data=f"token={ADMIN_TOKEN}", headers={**remote, **form},
                                 allow_redirects=False) as response:
                assert response.status == 303
                cookie = response.headers["set-cookie"]
            attributes = cookie.lower()
            assert "secure" in attributes and "httponly" in attributes and "max-age=" in attributes
            session = cookie.split(";")[0]
            assert ADMIN_TOKEN not in session
            async with http.get(trooper.url + "/sessions", headers={**remote, "cookie": session}) as response:
                assert response.status == 200
            async with http.post(trooper.url + "/logout", headers={**remote, "cookie": session}, allow_redirects=False):
                pass
            async with http.get(trooper.url + "/sessions", headers={**remote, "cookie": session}) as response:
                assert response.status == 401  # revoked: the old cookie is worth nothing
            # Over plain HTTP (no TLS anywhere) the cookie is not marked Secure.
            plain = {"x-forwarded-for": "203.0.113.8"}
            async with http.post(trooper.url + "/login", data=f"token={ADMIN_TOKEN}", headers={**plain, **form},
                                 allow_redirects=False) as response:
                assert "secure" not in response.headers["set-cookie"].lower()
            # Guessing: five wrong tokens, then even the right one waits.
            guesser = {"x-forwarded-for": "198.51.100.9"}
            statuses = []
            for token in ["wrong"] * 5 + [ADMIN_TOKEN]:
                async with http.get(trooper.url + "/sessions", headers={**guesser, "authorization": f"Bearer {token}"}) as r:
                    statuses.append(r.status)
                    retry_after = r.headers.get("retry-after")
            assert statuses == [401] * 5 + [429] and retry_after is not None and int(retry_after) > 0
            # A header the client writes itself doesn't make it someone else.
            async with http.get(trooper.url + "/sessions", headers={**guesser, "x-real-ip": "192.0.2.55",
                                                                   "authorization": "Bearer wrong"}) as r:
                assert r.status == 429
            async with http.get(trooper.url + "/sessions", headers={**plain, "authorization": f"Bearer {ADMIN_TOKEN}"}) as r:
                assert r.status == 200  # another client is not held back
            # The open sign-in form reads no more than a small body.
            async with http.post(trooper.url + "/login", data=b"token=" + b"x" * 1_000_000, headers={**plain, **form}) as r:
                assert r.status == 413


async def test_a_websocket_upgrade_is_refused_clearly(tmp_path: Path) -> None:
    async with serving(tmp_path, chain_env(TROOPER_DB=str(tmp_path / "t.db"))) as trooper:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(trooper.url + "/v1/messages")
    assert refused.value.status == 426


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def test_a_token_sent_as_a_gemini_query_key_is_recognised_and_taken_out() -> None:
    gate = Gate(AccessSettings(clients={"ci": CLIENT_TOKEN}))
    scope = {"client": ("203.0.113.7", 5000), "scheme": "http", "query_string": f"alt=sse&key={CLIENT_TOKEN}".encode(),
             "headers": [(b"host", b"trooper.example"), (b"x-goog-api-key", CLIENT_TOKEN.encode())]}
    admission = gate.admit(scope)
    assert admission.client == "ci" and admission.error is None
    assert scope["query_string"] == b"alt=sse" and scope["headers"] == [(b"host", b"trooper.example")]
    refused = gate.admit({"client": ("203.0.113.7", 5000), "scheme": "http", "query_string": b"key=guess-0123456789abcdef",
                          "headers": [(b"host", b"trooper.example")]})
    assert refused.error is not None and refused.error.status == 401


async def test_a_key_pasted_into_the_conversation_is_never_stored_or_shown(tmp_path: Path, claude: FakeUpstream) -> None:
    """People paste keys into chats and tools print them: the transcript, the signals and the
    database keep the conversation without them (the upstream still gets the request as sent)."""
    claude.default = Text("Rotated. The new key is live.")
    pasted, printed, passed = "sk-proj-PastedIntoChat0123456789", "sk_live_PrintedByTool012345", "AIzaPassedAsToolInput0123456789"
    body = {
        "model": "claude-haiku-4-5", "max_tokens": 64,
        "messages": [
            {"role": "user", "content": f"my key {pasted} leaked, rotate it and update the vault (ticket OPS-4471)"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "vault_put",
                                               "input": {"path": "payments/stripe", "value": passed}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                          "content": f"stored; previous value was {printed}"}]},
        ],
    }
    db = tmp_path / "t.db"
    async with serving(tmp_path, chain_env(claude=claude, TROOPER_DB=str(db))) as trooper:
        status, _ = await post(trooper.url, {"x-session-id": "pasted"}, json.dumps(body).encode())
        assert status == 200
        await asyncio.sleep(1.2)  # on disk
        async with aiohttp.ClientSession() as http:
            async with http.get(trooper.url + "/sessions/pasted") as response:
                session = await response.text()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("t.db*"))
    assert "OPS-4471" in session and "[redacted]" in session  # the conversation is kept, less the keys
    for secret in (pasted, printed, passed):
        assert secret in json.dumps(claude.requests[-1].json)  # what the provider was asked is the client's
        assert secret not in session, secret
        assert secret.encode() not in stored, secret
