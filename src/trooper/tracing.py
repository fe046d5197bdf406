"""OpenTelemetry traces (the `otel` extra): a span per proxied request and a child span per
provider attempt, with the GenAI semantic conventions' attributes and Trooper's own,
exported over OTLP/HTTP to the endpoint the standard OTEL_EXPORTER_OTLP_* variables name.
A client's `traceparent` is continued: the request span is its child.

Off the request path: once a request has finished (its answer's last byte sent), the
observe stage queues a `TraceRecord` of plain values; a thread of its own builds the spans
with the times recorded during the request, and the SDK's BatchSpanProcessor exports them
in batches from its own thread. A full queue drops records (counted), never waits.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING

import msgspec
import structlog

from trooper import __version__

if TYPE_CHECKING:  # the otel extra may be absent at run time
    from opentelemetry.util.types import AttributeValue

log = structlog.get_logger("trooper")

QUEUE_LIMIT = 10_000
# gen_ai.provider.name for each provider kind (the semantic conventions' well-known values
# where there is one).
PROVIDER_NAMES = {"anthropic": "anthropic", "openai": "openai", "gemini": "gcp.gemini", "ollama": "ollama",
                  "embedded": "llama_cpp"}


class AttemptTrace(msgspec.Struct, array_like=True):
    provider: str
    provider_kind: str
    model: str
    server: str  # the provider's base URL
    start_ns: int
    end_ns: int
    ok: bool
    status: int | None
    reason: str
    detail: str


class TraceRecord(msgspec.Struct):
    """What one request's spans say, in plain values."""

    method: str
    path: str
    request_id: str
    traceparent: str
    tracestate: str
    start_ns: int
    end_ns: int
    client_format: str
    session_id: str
    stream: bool
    request_model: str
    response_model: str
    response_id: str
    provider: str
    provider_kind: str
    decision: str
    fallback_reasons: list[str]
    status: int | None
    input_tokens: int
    output_tokens: int
    finish_reason: str
    error: str
    attempts: list[AttemptTrace]


def enabled(env: Mapping[str, str]) -> bool:
    """Tracing is asked for: an OTLP endpoint is set, and the SDK is not switched off."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def from_env(env: Mapping[str, str]) -> Tracer | None:
    """A Tracer when tracing is asked for and the `otel` extra is installed, else None
    (with a warning naming the extra when it was asked for but is missing)."""
    if not enabled(env):
        return None
    try:
        return Tracer(env)
    except ImportError:
        log.warning("otel_not_installed", hint="OTEL_EXPORTER_OTLP_ENDPOINT is set: pip install 'trooper-gateway[otel]'")
        return None


def traces_endpoint(env: Mapping[str, str]) -> str:
    """The OTLP/HTTP traces URL, as the specification builds it from the variables."""
    specific = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if specific:
        return specific
    return env["OTEL_EXPORTER_OTLP_ENDPOINT"].strip().rstrip("/") + "/v1/traces"


def otlp_headers(env: Mapping[str, str]) -> dict[str, str]:
    """`k=v,k2=v2` (values URL-encoded) from OTEL_EXPORTER_OTLP_HEADERS and its traces variant."""
    headers: dict[str, str] = {}
    for name in ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"):
        for pair in env.get(name, "").split(","):
            key, sep, value = pair.partition("=")
            if sep and key.strip():
                headers[key.strip()] = urllib.parse.unquote(value.strip())
    return headers


class Tracer:
    def __init__(self, env: Mapping[str, str]) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.endpoint = traces_endpoint(env)
        resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or "trooper",
                                    "service.version": __version__})
        self.provider = TracerProvider(resource=resource)
        exporter = OTLPSpanExporter(endpoint=self.endpoint, headers=otlp_headers(env) or None)
        delay = env.get("OTEL_BSP_SCHEDULE_DELAY")
        self.provider.add_span_processor(
            BatchSpanProcessor(exporter, schedule_delay_millis=float(delay) if delay else None)
        )
        self.tracer = self.provider.get_tracer("trooper", __version__)
        self.dropped = 0
        self._queue: queue.Queue[TraceRecord | None] = queue.Queue(QUEUE_LIMIT)
        self._thread = threading.Thread(target=self._build_forever, name="trooper-tracing", daemon=True)
        self._thread.start()
        log.info("tracing", endpoint=self.endpoint)

    def submit(self, record: TraceRecord) -> None:
        """Queue one request's record; its spans are built on the tracing thread."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float = 5.0) -> None:
        """Build what is queued, export it, stop."""
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)
        self.provider.shutdown()

    def _build_forever(self) -> None:
        while (record := self._queue.get()) is not None:
            try:
                self.build(record)
            except Exception:
                log.exception("trace_failed", request_id=record.request_id)

    def build(self, record: TraceRecord) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        carrier = {"traceparent": record.traceparent, "tracestate": record.tracestate} if record.traceparent else {}
        parent = TraceContextTextMapPropagator().extract(carrier)
        span = self.tracer.start_span(
            f"{record.method} {record.path}", context=parent, kind=SpanKind.SERVER,
            attributes=_request_attributes(record), start_time=record.start_ns,
        )
        if (record.status or 0) >= 500 or (record.error and record.status is None):
            span.set_status(Status(StatusCode.ERROR, record.error[:200] or f"HTTP {record.status}"))
        inside = trace.set_span_in_context(span)
        for attempt in record.attempts:
            child = self.tracer.start_span(
                f"chat {attempt.model}".rstrip(), context=inside, kind=SpanKind.CLIENT,
                attributes=_attempt_attributes(record, attempt), start_time=attempt.start_ns,
            )
            if not attempt.ok:
                child.set_status(Status(StatusCode.ERROR, f"{attempt.reason}: {attempt.detail}"[:200]))
            child.end(end_time=attempt.end_ns)
        span.end(end_time=record.end_ns)


def _request_attributes(record: TraceRecord) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": record.request_model,
        "http.request.method": record.method,
        "http.route": record.path,
        "trooper.request_id": record.request_id,
        "trooper.client_format": record.client_format,
        "trooper.stream": record.stream,
    }
    optional = {
        "gen_ai.provider.name": PROVIDER_NAMES.get(record.provider_kind, record.provider_kind),
        "gen_ai.response.model": record.response_model,
        "gen_ai.response.id": record.response_id,
        "trooper.provider": record.provider,
        "trooper.decision": record.decision,
        "trooper.fallback_reason": ",".join(record.fallback_reasons),
        "session.id": record.session_id,
    }
    attributes.update({name: value for name, value in optional.items() if value})
    if record.status is not None:
        attributes["http.response.status_code"] = record.status
    # error.type: the status answered, or the exception that ended the request (client gone).
    if record.status is not None and record.status >= 400:
        attributes["error.type"] = str(record.status)
    elif record.error:
        attributes["error.type"] = record.error.split(":", 1)[0]
    if record.provider:
        attributes["gen_ai.usage.input_tokens"] = record.input_tokens
        attributes["gen_ai.usage.output_tokens"] = record.output_tokens
    if record.finish_reason:
        attributes["gen_ai.response.finish_reasons"] = [record.finish_reason]
    return attributes


def _attempt_attributes(record: TraceRecord, attempt: AttemptTrace) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": PROVIDER_NAMES.get(attempt.provider_kind, attempt.provider_kind),
        "gen_ai.request.model": attempt.model,
        "trooper.provider": attempt.provider,
    }
    url = urllib.parse.urlsplit(attempt.server)
    if url.hostname:
        attributes["server.address"] = url.hostname
        attributes["server.port"] = url.port or (443 if url.scheme == "https" else 80)
    if attempt.status is not None:
        attributes["http.response.status_code"] = attempt.status
    if not attempt.ok:
        attributes["error.type"] = attempt.reason or "error"
        attributes["trooper.fallback_reason"] = attempt.reason
        return attributes
    if attempt.provider == record.provider:  # the answer came from here
        attributes["gen_ai.response.model"] = record.response_model
        attributes["gen_ai.usage.input_tokens"] = record.input_tokens
        attributes["gen_ai.usage.output_tokens"] = record.output_tokens
        if record.finish_reason:
            attributes["gen_ai.response.finish_reasons"] = [record.finish_reason]
    return attributes


def wall_ns(perf: float, now_perf: float, now_ns: int) -> int:
    """A time.perf_counter() reading as wall-clock nanoseconds (the spans' time base)."""
    return now_ns - int((now_perf - perf) * 1e9)


def now() -> tuple[float, int]:
    return time.perf_counter(), time.time_ns()
