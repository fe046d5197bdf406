"""OpenTelemetry: a real OTLP/HTTP receiver on loopback decodes the protobuf the exporter
sends (ExportTraceServiceRequest) and the spans are checked attribute by attribute: one
span per request continuing the client's traceparent, one child per provider attempt, with
the GenAI semantic conventions' names and Trooper's own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from aiohttp import web

from tests.conftest import chain_env, run_trooper
from tests.fakes.upstream import Error, FakeUpstream, Text

trace_service = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
FAST = """
[stages.failover]
retry_429 = false
timeouts = { connect = 2, first_byte = 2, idle = 2, total = 5 }
"""


class Receiver:
    """An OTLP/HTTP traces endpoint: POST /v1/traces, protobuf in, protobuf out."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.resources: list[dict[str, Any]] = []
        self.content_types: list[str] = []
        self.url = ""

    async def traces(self, request: web.Request) -> web.Response:
        self.content_types.append(request.headers.get("content-type", ""))
        message = trace_service.ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        for resource_spans in message.resource_spans:
            self.resources.append(attributes_of(resource_spans.resource.attributes))
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend(scope_spans.spans)
        answer = trace_service.ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=answer, content_type="application/x-protobuf")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/v1/traces", receiver.traces)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.url = f"http://127.0.0.1:{port}"
    yield receiver
    await runner.cleanup()


def attributes_of(key_values: Any) -> dict[str, Any]:
    def value(any_value: Any) -> Any:
        kind = any_value.WhichOneof("value")
        if kind == "array_value":
            return [value(v) for v in any_value.array_value.values]
        return getattr(any_value, kind)
    return {kv.key: value(kv.value) for kv in key_values}


async def test_spans_follow_the_genai_conventions_and_continue_the_client_trace(
    claude: FakeUpstream, ollama: FakeUpstream, receiver: Receiver, tmp_path: Path
) -> None:
    pipeline = tmp_path / "pipeline.toml"
    pipeline.write_text(FAST)
    claude.script(Error(429))
    ollama.script(Text("Four.", input_tokens=14, output_tokens=3))
    env = chain_env(claude=claude, ollama=ollama, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
                    OTEL_SERVICE_NAME="trooper-under-test")
    async with run_trooper(env, pipeline) as trooper:
        client = anthropic.AsyncAnthropic(base_url=trooper.url, api_key="client-key", max_retries=0)
        async with client.messages.stream(
            model="claude-haiku-4-5", max_tokens=64,
            messages=[{"role": "user", "content": "Explain why my deploy keeps failing after the migration."}],
            extra_headers={"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01", "x-session-id": "deploy-42",
                           "x-request-id": "req-from-client-1"},
        ) as stream:
            message = await stream.get_final_message()
            headers = stream.response.headers
    # Leaving run_trooper stopped the server, which flushed the exporter.
    assert message.content[0].text == "Four."  # type: ignore[union-attr]
    assert headers["x-request-id"] == "req-from-client-1"
    assert receiver.content_types == ["application/x-protobuf"] * len(receiver.content_types)
    assert receiver.resources[0]["service.name"] == "trooper-under-test"

    by_name = {span.name: span for span in receiver.spans}
    request = by_name["POST /v1/messages"]
    assert request.trace_id.hex() == CLIENT_TRACE and request.parent_span_id.hex() == CLIENT_SPAN
    assert request.kind == request.SPAN_KIND_SERVER
    attributes = attributes_of(request.attributes)
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "claude-haiku-4-5"
    assert attributes["gen_ai.provider.name"] == "ollama"
    assert attributes["gen_ai.response.model"] == "qwen2.5:3b"
    assert attributes["gen_ai.usage.input_tokens"] == 14 and attributes["gen_ai.usage.output_tokens"] == 3
    assert attributes["gen_ai.response.finish_reasons"] == ["end_turn"]
    assert attributes["trooper.decision"] == "ollama (fallback: rate_limit)"
    assert attributes["trooper.fallback_reason"] == "rate_limit"
    assert attributes["session.id"] == "deploy-42"
    assert attributes["trooper.request_id"] == "req-from-client-1"
    assert attributes["http.response.status_code"] == 200 and attributes["trooper.stream"] is True

    attempts = [span for span in receiver.spans if span.parent_span_id == request.span_id]
    assert [attributes_of(a.attributes)["trooper.provider"] for a in attempts] == ["claude", "ollama"]
    assert all(a.trace_id == request.trace_id and a.kind == a.SPAN_KIND_CLIENT for a in attempts)
    claude_try, ollama_try = (attributes_of(a.attributes) for a in attempts)
    assert attempts[0].name == "chat claude-haiku-4-5" and attempts[1].name == "chat qwen2.5:3b"
    assert claude_try["gen_ai.provider.name"] == "anthropic" and claude_try["http.response.status_code"] == 429
    assert claude_try["error.type"] == "rate_limit" and attempts[0].status.code == attempts[0].status.STATUS_CODE_ERROR
    assert "gen_ai.usage.input_tokens" not in claude_try
    assert ollama_try["gen_ai.usage.output_tokens"] == 3 and ollama_try["server.address"] == "127.0.0.1"
    # Children sit inside their parent, in order.
    assert request.start_time_unix_nano <= attempts[0].start_time_unix_nano <= attempts[0].end_time_unix_nano
    assert attempts[0].end_time_unix_nano <= attempts[1].start_time_unix_nano + 1_000_000
    assert attempts[1].end_time_unix_nano <= request.end_time_unix_nano


async def test_a_request_without_traceparent_starts_a_trace_and_errors_are_marked(
    receiver: Receiver, tmp_path: Path
) -> None:
    env = chain_env(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=receiver.url + "/v1/traces")
    async with run_trooper(env) as trooper:
        client = anthropic.AsyncAnthropic(base_url=trooper.url, api_key="sk-ant-client-key-0123456789", max_retries=0)
        with pytest.raises(anthropic.APIStatusError):
            await client.messages.create(model="claude-haiku-4-5", max_tokens=8,
                                         messages=[{"role": "user", "content": "Plan the rollout in three steps."}])
    request = next(span for span in receiver.spans if span.name == "POST /v1/messages")
    assert request.parent_span_id == b""  # a root span
    attributes = attributes_of(request.attributes)
    assert attributes["http.response.status_code"] == 503 and attributes["error.type"] == "503"
    assert request.status.code == request.status.STATUS_CODE_ERROR
    assert "sk-ant-client-key" not in str(receiver.spans)  # a key never reaches a span


async def test_no_endpoint_no_tracing(claude: FakeUpstream) -> None:
    claude.script(Text("hi"))
    async with run_trooper(chain_env(claude=claude)) as trooper:
        assert trooper.runtime.tracer is None
