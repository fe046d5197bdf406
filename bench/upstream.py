"""A fake LLM upstream built for speed, for the benchmarks (tests/fakes/upstream.py is the
one built for correctness tests; this one answers the happy path and a 429 as cheaply as
a Python process can).

    python bench/upstream.py --port 9100 [--latency-ms 0] [--chunks 200] [--chunk-gap-ms 0]

Answers, over HTTP/1.1 with keep-alive:

    POST /v1/messages            Anthropic Messages, whole or SSE-streamed ("stream": true)
    POST /v1/chat/completions    OpenAI Chat Completions, whole or SSE-streamed
    POST /api/chat               Ollama, whole ("stream": false) or NDJSON-streamed (default)
    GET  /v1/models, /api/tags   metadata (health checks)
    GET  /__stats                {"vendor status": count, ...} since start (for the bench)

Failing on purpose, for the fallback scenario: a path prefix `/fail429` (so a proxy's
Anthropic base URL can be `http://127.0.0.1:P/fail429`), or the request header
`x-bench-fail: 429`, or `--fail-anthropic 429` for every Anthropic request, answers
that status in the vendor's error shape with `retry-after: 30` (as the real API does).
A path prefix `/gapN` paces that request's stream at N ms a chunk (overriding
--chunk-gap-ms), so one upstream serves burst and paced streams side by side.

Streams carry, in each text delta, `@t<19-digit CLOCK_MONOTONIC ns>;` stamped when the
chunk is written, so a client on this machine can measure each chunk's delay through a
proxy (bench/load.py does). Everything else is precomputed bytes: a raw asyncio protocol
on uvloop, a hand-rolled HTTP/1.1 request parser, one write per whole answer.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import re
import signal
import sys
import time

TS_WIDTH = 19
TS_SLOT = b"@t" + b"0" * TS_WIDTH + b";"
_MODEL = re.compile(rb'"model"\s*:\s*"([^"\\]{0,200})"')
_STREAM_TRUE = re.compile(rb'"stream"\s*:\s*true')
_STREAM_FALSE = re.compile(rb'"stream"\s*:\s*false')
_INCLUDE_USAGE = re.compile(rb'"include_usage"\s*:\s*true')
_monotonic_ns = time.monotonic_ns

WHOLE_TEXT = "Hello from the bench upstream: a short, complete answer."
CREATED_AT = "2025-01-01T00:00:00.000000Z"

REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 429: b"Too Many Requests", 500: b"Internal Server Error",
           503: b"Service Unavailable", 529: b"Overloaded"}


def _j(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def head(status: int, content_type: bytes, extra: tuple[tuple[bytes, bytes], ...] = (), length: int | None = None) -> bytes:
    lines = [b"HTTP/1.1 %d %s" % (status, REASONS.get(status, b"Status")), b"content-type: " + content_type]
    lines += [name + b": " + value for name, value in extra]
    lines.append(b"content-length: %d" % length if length is not None else b"transfer-encoding: chunked")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def whole(status: int, content_type: bytes, body: bytes, extra: tuple[tuple[bytes, bytes], ...] = ()) -> bytes:
    return head(status, content_type, extra, len(body)) + body


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


# --- the three wire formats: whole answers, stream templates, errors ---

class Stream:
    """A stream as chunked-encoding pieces. `pieces[i]` is (before, after): bytes around an
    optional timestamp slot (after is None when the piece has no slot)."""

    __slots__ = ("head", "pieces")

    def __init__(self, head_bytes: bytes, events: list[bytes]) -> None:
        self.head = head_bytes
        self.pieces: list[tuple[bytes, bytes | None]] = []
        for event in events:
            framed = chunk(event)
            at = framed.find(TS_SLOT)
            if at < 0:
                self.pieces.append((framed, None))
            else:
                self.pieces.append((framed[: at + 2], framed[at + 2 + TS_WIDTH :]))
        self.pieces.append((b"0\r\n\r\n", None))


def _token(i: int) -> str:
    return f"w{i} {TS_SLOT.decode()} "


def anthropic_whole(model: str) -> bytes:
    body = {
        "id": "msg_bench0000000000000000001", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": WHOLE_TEXT}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 11},
    }
    return whole(200, b"application/json", _j(body), ((b"request-id", b"req_bench0001"),))


def anthropic_stream(model: str, chunks: int) -> Stream:
    def ev(kind: str, **fields: object) -> bytes:
        return b"event: " + kind.encode() + b"\ndata: " + _j({"type": kind, **fields}) + b"\n\n"

    usage = {"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}
    message = {"id": "msg_bench0000000000000000001", "type": "message", "role": "assistant", "model": model,
               "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}
    events = [ev("message_start", message=message),
              ev("content_block_start", index=0, content_block={"type": "text", "text": ""}), ev("ping")]
    events += [ev("content_block_delta", index=0, delta={"type": "text_delta", "text": _token(i)}) for i in range(chunks)]
    events += [ev("content_block_stop", index=0),
               ev("message_delta", delta={"stop_reason": "end_turn", "stop_sequence": None}, usage={"output_tokens": chunks}),
               ev("message_stop")]
    return Stream(head(200, b"text/event-stream", ((b"request-id", b"req_bench0001"), (b"cache-control", b"no-cache"))), events)


def anthropic_error(status: int) -> bytes:
    kind = {429: "rate_limit_error", 529: "overloaded_error", 500: "api_error", 400: "invalid_request_error"}.get(status, "api_error")
    body = {"type": "error", "error": {"type": kind, "message": f"bench: answering {status} on purpose"}}
    return whole(status, b"application/json", _j(body), ((b"retry-after", b"30"), (b"request-id", b"req_bench0001")))


def _openai_usage(completion: int) -> dict[str, int]:
    return {"prompt_tokens": 12, "completion_tokens": completion, "total_tokens": 12 + completion}


def openai_whole(model: str) -> bytes:
    body = {
        "id": "chatcmpl-bench0001", "object": "chat.completion", "created": 1735689600, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": WHOLE_TEXT, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": _openai_usage(11), "system_fingerprint": "fp_bench",
    }
    return whole(200, b"application/json", _j(body), ((b"x-request-id", b"req_bench0001"),))


def openai_stream(model: str, chunks: int, include_usage: bool) -> Stream:
    base: dict[str, object] = {"id": "chatcmpl-bench0001", "object": "chat.completion.chunk", "created": 1735689600,
                               "model": model, "system_fingerprint": "fp_bench"}
    if include_usage:
        base["usage"] = None

    def ev(delta: dict[str, object], finish: str | None = None) -> bytes:
        return b"data: " + _j({**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}) + b"\n\n"

    events = [ev({"role": "assistant", "content": ""})]
    events += [ev({"content": _token(i)}) for i in range(chunks)]
    events.append(ev({}, "stop"))
    if include_usage:
        events.append(b"data: " + _j({**base, "choices": [], "usage": _openai_usage(chunks)}) + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return Stream(head(200, b"text/event-stream", ((b"x-request-id", b"req_bench0001"),)), events)


def openai_error(status: int) -> bytes:
    body = {"error": {"message": f"bench: answering {status} on purpose", "type": "requests", "param": None,
                      "code": "rate_limit_exceeded" if status == 429 else None}}
    return whole(status, b"application/json", _j(body), ((b"retry-after", b"30"),))


_OLLAMA_STATS = {"total_duration": 1_000_000, "load_duration": 1000, "prompt_eval_count": 12,
                 "prompt_eval_duration": 1000, "eval_duration": 1000}


def ollama_whole(model: str) -> bytes:
    body = {"model": model, "created_at": CREATED_AT, "message": {"role": "assistant", "content": WHOLE_TEXT},
            "done_reason": "stop", "done": True, **_OLLAMA_STATS, "eval_count": 11}
    return whole(200, b"application/json", _j(body))


def ollama_stream(model: str, chunks: int) -> Stream:
    def line(content: str, **rest: object) -> bytes:
        return _j({"model": model, "created_at": CREATED_AT, "message": {"role": "assistant", "content": content}, **rest}) + b"\n"

    events = [line(_token(i), done=False) for i in range(chunks)]
    events.append(line("", done_reason="stop", done=True, **_OLLAMA_STATS, eval_count=chunks))
    return Stream(head(200, b"application/x-ndjson"), events)


def ollama_error(status: int) -> bytes:
    return whole(status, b"application/json", _j({"error": f"bench: answering {status} on purpose"}))


def not_found(path: str) -> bytes:
    return whole(404, b"application/json", _j({"error": {"type": "not_found_error", "message": f"bench upstream: no route {path}"}}))


META = {
    b"/v1/models": whole(200, b"application/json", _j({"object": "list", "data": [{"id": "bench", "object": "model"}]})),
    b"/api/tags": whole(200, b"application/json", _j({"models": [{"name": "qwen2.5:3b", "model": "qwen2.5:3b"}]})),
    b"/api/version": whole(200, b"application/json", _j({"version": "0.12.6"})),
}

VENDORS = {b"/v1/messages": "anthropic", b"/v1/chat/completions": "openai", b"/chat/completions": "openai", b"/api/chat": "ollama"}


class Upstream:
    def __init__(self, latency_ms: float, chunks: int, chunk_gap_ms: float, fail_anthropic: int) -> None:
        self.latency = latency_ms / 1000
        self.chunks = chunks
        self.gap = chunk_gap_ms / 1000
        self.fail_anthropic = fail_anthropic
        self.cache: dict[tuple, object] = {}
        self.stats: collections.Counter[str] = collections.Counter()

    def answer(self, method: bytes, target: bytes, headers: dict[bytes, bytes], body: bytes) -> tuple[bytes | Stream, float]:
        """What to send for one request: whole bytes, or a Stream to write chunk by chunk,
        and the pause between its chunks."""
        path = target.split(b"?", 1)[0]
        fail = 0
        gap = self.gap
        while path.startswith((b"/fail", b"/gap")):  # prefixes: /fail429, /gap5 (ms per chunk)
            segment, slash, rest = path[1:].partition(b"/")
            path = slash + rest
            if segment.startswith(b"fail"):
                fail = int(segment[4:] or b"429")
            else:
                gap = float(segment[3:] or b"0") / 1000
        if b"x-bench-fail" in headers:
            fail = int(headers[b"x-bench-fail"])
        if method == b"GET":
            if path == b"/__stats":
                return whole(200, b"application/json", _j(dict(self.stats))), 0.0
            meta = META.get(path)
            return (meta if meta is not None else not_found(path.decode("latin-1"))), 0.0
        vendor = VENDORS.get(path)
        if vendor is None or method != b"POST":
            self.stats["none 404"] += 1
            return not_found(path.decode("latin-1")), 0.0
        if vendor == "anthropic" and self.fail_anthropic:
            fail = self.fail_anthropic
        if fail:
            self.stats[f"{vendor} {fail}"] += 1
            key = ("error", vendor, fail)
            cached = self.cache.get(key)
            if cached is None:
                cached = self.cache[key] = {"anthropic": anthropic_error, "openai": openai_error, "ollama": ollama_error}[vendor](fail)
            return cached, 0.0  # type: ignore[return-value]
        found = _MODEL.search(body)
        model = found.group(1).decode() if found else "bench"
        if vendor == "ollama":
            stream = _STREAM_FALSE.search(body) is None  # Ollama streams unless told not to
        else:
            stream = _STREAM_TRUE.search(body) is not None
        usage = vendor == "openai" and stream and _INCLUDE_USAGE.search(body) is not None
        self.stats[f"{vendor} 200{' stream' if stream else ''}"] += 1
        key = (vendor, model, stream, usage)
        cached = self.cache.get(key)
        if cached is None:
            if len(self.cache) > 1000:
                self.cache.clear()
            if vendor == "anthropic":
                cached = anthropic_stream(model, self.chunks) if stream else anthropic_whole(model)
            elif vendor == "openai":
                cached = openai_stream(model, self.chunks, usage) if stream else openai_whole(model)
            else:
                cached = ollama_stream(model, self.chunks) if stream else ollama_whole(model)
            self.cache[key] = cached
        return cached, gap  # type: ignore[return-value]


class BadRequest(Exception):
    pass


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection. Requests are answered in order (a pipelined
    request waits for the stream before it)."""

    __slots__ = ("server", "loop", "transport", "buffer", "queue", "busy", "closing", "paused", "_resume")

    def __init__(self, server: Upstream) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.queue: collections.deque[tuple[bytes, bytes, dict[bytes, bytes], bytes]] = collections.deque()
        self.busy = False
        self.closing = False
        self.paused = False
        self._resume: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.closing = True
        if self._resume is not None and not self._resume.done():
            self._resume.set_result(None)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self._resume is not None and not self._resume.done():
            self._resume.set_result(None)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        try:
            while True:
                request = self._parse()
                if request is None:
                    break
                self.queue.append(request)
        except BadRequest as exc:
            self._write(whole(400, b"text/plain", str(exc).encode(), ((b"connection", b"close"),)))
            self._close()
            return
        if not self.busy:
            self._next()

    def _parse(self) -> tuple[bytes, bytes, dict[bytes, bytes], bytes] | None:
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > 65536:
                raise BadRequest("header section too large")
            return None
        lines = bytes(buffer[:end]).split(b"\r\n")
        try:
            method, target, _version = lines[0].split(b" ", 2)
        except ValueError:
            raise BadRequest("bad request line") from None
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body, used = _dechunk(buffer, start)
            if body is None:
                return None
            del buffer[:used]
        else:
            length = int(headers.get(b"content-length", b"0") or 0)
            if len(buffer) < start + length:
                return None
            body = bytes(buffer[start : start + length])
            del buffer[: start + length]
        return method, target, headers, body

    def _next(self) -> None:
        while self.queue and not self.closing:
            method, target, headers, body = self.queue.popleft()
            if headers.get(b"connection", b"").lower() == b"close":
                self.closing = True
            answer, gap = self.server.answer(method, target, headers, body)
            latency = self.server.latency
            if isinstance(answer, bytes) and not latency:
                self._write(answer)
                continue
            self.busy = True
            self.loop.create_task(self._deliver(answer, latency, gap))
            return
        if self.closing:
            self._close()

    async def _deliver(self, answer: bytes | Stream, latency: float, gap: float) -> None:
        try:
            if latency:
                await asyncio.sleep(latency)
            if isinstance(answer, bytes):
                self._write(answer)
            else:
                await self._stream(answer, gap)
        finally:
            self.busy = False
        if self.transport is not None:
            self._next()

    async def _stream(self, stream: Stream, gap: float) -> None:
        if not gap:  # a burst: every chunk in one write, all stamped now
            stamp = b"%019d" % _monotonic_ns()
            out = [stream.head]
            for before, after in stream.pieces:
                out.append(before)
                if after is not None:
                    out.append(stamp)
                    out.append(after)
            self._write(b"".join(out))
            return
        self._write(stream.head)
        pieces = stream.pieces
        last = len(pieces) - 1
        for index, (before, after) in enumerate(pieces):
            if self.transport is None:
                return
            if after is None:
                self._write(before)
            else:
                self._write(before + (b"%019d" % _monotonic_ns()) + after)
                if index < last:
                    await asyncio.sleep(gap)
            if self.paused:
                self._resume = self.loop.create_future()
                await self._resume

    def _write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None


def _dechunk(buffer: bytearray, start: int) -> tuple[bytes | None, int]:
    """A chunked request body from buffer[start:]: (body, bytes used) or (None, 0) if incomplete."""
    parts = []
    at = start
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None, 0
        try:
            size = int(bytes(buffer[at:line_end]).split(b";")[0], 16)
        except ValueError:
            raise BadRequest("bad chunk size") from None
        at = line_end + 2
        if size == 0:
            trailer_end = buffer.find(b"\r\n\r\n", at - 2)
            if trailer_end < 0:
                return None, 0
            return b"".join(parts), trailer_end + 4
        if len(buffer) < at + size + 2:
            return None, 0
        parts.append(bytes(buffer[at : at + size]))
        at += size + 2


async def serve(args: argparse.Namespace) -> None:
    server = Upstream(args.latency_ms, args.chunks, args.chunk_gap_ms, args.fail_anthropic)
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(lambda: Connection(server), args.host, args.port, backlog=4096, reuse_address=True)
    port = listener.sockets[0].getsockname()[1]
    print(f"bench upstream listening on http://{args.host}:{port}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if args.max_seconds:
            await asyncio.wait_for(stop.wait(), args.max_seconds)
        else:
            await stop.wait()
    except TimeoutError:
        pass
    listener.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="wait before answering (default 0)")
    parser.add_argument("--chunks", type=int, default=200, help="text deltas in a streamed answer (default 200)")
    parser.add_argument("--chunk-gap-ms", type=float, default=0.0, help="pause between stream chunks (default 0: one burst)")
    parser.add_argument("--fail-anthropic", type=int, default=0, metavar="STATUS", help="answer every Anthropic request with STATUS")
    parser.add_argument("--max-seconds", type=float, default=0.0, help="exit by itself after this long (default: never)")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the bench upstream only listens on loopback")
    try:
        import uvloop

        uvloop.run(serve(args))
    except ImportError:
        asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
