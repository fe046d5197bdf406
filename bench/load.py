"""A load generator for the benchmarks: holds a fixed concurrency (closed loop) or a fixed
arrival rate (open loop) against one URL for a while, and prints what it measured as JSON.

    python bench/load.py --url http://127.0.0.1:3000/v1/messages --body-file body.json \\
        --concurrency 50 --duration 10 [--rate 800] [--warmup 1] [--sessions 10000] \\
        [--requests 100000] [--header 'anthropic-version: 2023-06-01'] [--expect-header x-trooper-provider=ollama]

Per request it records the latency (request written → last byte), the time to first byte
(→ first byte of the status line), and for streams the time to the first token and each
chunk's delay: bench/upstream.py stamps every text delta with CLOCK_MONOTONIC when it
writes it, and this process reads the same clock when the bytes arrive, so a proxy's
added per-chunk delay is measured chunk by chunk, not guessed from totals.

In open-loop mode (--rate) latency is measured from the moment the request was due, not
from when a connection was free to send it, so a server that falls behind shows it in its
percentiles (no coordinated omission). --concurrency is then the most connections used.

It is a raw asyncio protocol on uvloop with a hand-rolled HTTP/1.1 response parser: no
per-request client objects, precomputed request bytes. It reports its own CPU use
(`load_cpu`, share of one core) so a run where the generator itself was the limit shows.
Only loopback targets are accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from array import array
from collections import Counter
from urllib.parse import urlsplit

_MARK = re.compile(rb"@t(\d{19});")
MARK_LEN = 22
_now = time.monotonic_ns


class Stats:
    """Everything measured in the recording window, in nanoseconds."""

    def __init__(self) -> None:
        self.latency = array("q")
        self.ttfb = array("q")
        self.ttft = array("q")
        self.chunk_delay = array("q")
        self.chunk_gap = array("q")
        self.chunks = 0
        self.streams = 0
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.unexpected = 0


class Response:
    __slots__ = ("start", "first_byte", "status", "marks", "unexpected", "error")

    def __init__(self, start: int) -> None:
        self.start = start
        self.first_byte = 0
        self.status = 0
        self.marks: list[tuple[int, int]] = []  # (received ns, stamped ns) per stream chunk
        self.unexpected = False
        self.error = ""


class Client(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self, expect: tuple[bytes, bytes] | None) -> None:
        self.expect = expect
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[Response] | None = None
        self.response: Response | None = None
        self.closed = False
        self._reset()

    def _reset(self) -> None:
        self.head = b""
        self.in_head = True
        self.length = -1  # content-length, -1 when chunked, -2 when read-until-close
        self.chunked = False
        self.received = 0
        self.pending = b""  # unparsed chunked-encoding bytes
        self.remaining = 0  # data bytes left in the current chunk
        self.skip = 0  # CRLF bytes left after a chunk's data
        self.tail = b""  # unscanned end of the body, where a timestamp may be cut
        self.keep_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.done is not None and not self.done.done():
            response = self.response
            if response is not None and self.length == -2 and not self.in_head:
                self.done.set_result(response)
            else:
                assert response is not None
                response.error = "connection_closed"
                self.done.set_result(response)

    def send(self, data: bytes, start: int) -> asyncio.Future[Response]:
        self._reset()
        self.response = Response(start)
        self.done = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(data)
        return self.done

    def data_received(self, data: bytes) -> None:
        now = _now()
        response = self.response
        if response is None or self.done is None or self.done.done():
            return  # bytes after a complete answer: ignored (the server is wrong, not us)
        if self.in_head:
            if not response.first_byte:
                response.first_byte = now
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            self._parse_head(self.head[:end], response)
            data = self.head[end + 4 :]
            self.head = b""
            self.in_head = False
            if self.length == 0:
                self._finish()
                return
        if self.chunked:
            self._feed_chunked(data, now)
        else:
            self.received += len(data)
            self._scan(data, now)
            if 0 <= self.length <= self.received:
                self._finish()

    def _parse_head(self, head: bytes, response: Response) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        response.status = int(parts[1])
        self.length = -2
        expect = self.expect
        seen = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip()
            if name == b"content-length":
                self.length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                self.chunked = True
                self.length = -1
            elif name == b"connection" and value.lower() == b"close":
                self.keep_alive = False
            if expect is not None and name == expect[0]:
                seen = value == expect[1]
        if expect is not None and not seen:
            response.unexpected = True

    def _feed_chunked(self, data: bytes, now: int) -> None:
        buf = self.pending + data if self.pending else data
        self.pending = b""
        pos = 0
        n = len(buf)
        while True:
            if self.remaining:
                take = min(self.remaining, n - pos)
                self._scan(buf[pos : pos + take], now)
                pos += take
                self.remaining -= take
                if self.remaining:
                    return
                self.skip = 2
            if self.skip:
                take = min(self.skip, n - pos)
                pos += take
                self.skip -= take
                if self.skip:
                    return
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                self.pending = buf[pos:]
                return
            size = int(buf[pos:eol].split(b";", 1)[0], 16)
            if size == 0:
                # The last chunk; no trailers expected, so a CRLF ends the body.
                if n - (eol + 2) < 2:
                    self.pending = buf[pos:]
                    return
                self._finish()
                return
            pos = eol + 2
            self.remaining = size

    def _scan(self, piece: bytes, now: int) -> None:
        text = self.tail + piece if self.tail else piece
        if b"@t" not in text:
            self.tail = text[-(MARK_LEN - 1) :]
            return
        last = 0
        marks = self.response.marks  # type: ignore[union-attr]
        for match in _MARK.finditer(text):
            marks.append((now, int(match.group(1))))
            last = match.end()
        self.tail = text[max(last, len(text) - (MARK_LEN - 1)) :]

    def _finish(self) -> None:
        assert self.done is not None and self.response is not None
        if not self.done.done():
            self.done.set_result(self.response)
        if not self.keep_alive and self.transport is not None:
            self.transport.close()


class Load:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        url = urlsplit(args.url)
        if url.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit("load.py only sends to loopback addresses")
        self.host = url.hostname
        self.port = url.port or 80
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        body = open(args.body_file, "rb").read() if args.body_file else args.body.encode()
        method = args.method.upper()
        headers = [f"Host: {url.hostname}:{self.port}", "Content-Type: application/json", *args.header]
        if method != "GET" or body:
            headers.append(f"Content-Length: {len(body)}")
        head = f"{method} {target} HTTP/1.1\r\n" + "".join(h + "\r\n" for h in headers)
        self.prefix = head.encode()
        self.suffix = b"\r\n" + body
        self.sessions = args.sessions
        self.expect: tuple[bytes, bytes] | None = None
        if args.expect_header:
            name, _, value = args.expect_header.partition("=")
            self.expect = (name.strip().lower().encode(), value.strip().encode())
        self.stats = Stats()
        self.count = 0  # requests started (all, warm-up included)
        self.recorded = 0
        self.record_from = 0
        self.stop_at = 0
        self.connections = 0
        self.completed = 0  # answered 200, warm-up included (for CPU per request)
        self.due = 0  # open loop: requests due in the recording window
        self.draining = False

    def request_bytes(self) -> bytes:
        index = self.count
        self.count += 1
        if self.sessions:
            return self.prefix + b"X-Session-ID: bench-%d\r\n" % (index % self.sessions) + self.suffix
        return self.prefix + self.suffix

    async def connect(self) -> Client | None:
        loop = asyncio.get_running_loop()
        try:
            _, client = await asyncio.wait_for(
                loop.create_connection(lambda: Client(self.expect), self.host, self.port), self.args.timeout
            )
        except (OSError, TimeoutError) as exc:
            self.stats.errors[f"connect: {type(exc).__name__}"] += 1
            await asyncio.sleep(0.05)
            return None
        self.connections += 1
        return client  # type: ignore[return-value]

    def done(self) -> bool:
        if _now() >= self.stop_at:
            return True
        return bool(self.args.requests) and self.count >= self.args.requests

    async def one(self, client: Client, due: int) -> bool:
        """Send one request on `client`; record it. False if the connection is unusable now."""
        data = self.request_bytes()
        start = _now()
        try:
            response = await asyncio.wait_for(client.send(data, start), self.args.timeout)
        except TimeoutError:
            response = client.response
            assert response is not None
            response.error = "timeout"
        end = _now()
        if not response.error and response.status == 200:
            self.completed += 1
        self.record(response, due or start, end)
        return not response.error and client.keep_alive and not client.closed

    def record(self, response: Response, start: int, end: int) -> None:
        if start < self.record_from or end > self.stop_at + self.args.grace_ns:
            return
        stats = self.stats
        self.recorded += 1
        if response.error:
            stats.errors[response.error] += 1
            return
        stats.statuses[response.status] += 1
        if response.status != 200:
            stats.errors[f"status {response.status}"] += 1
            return
        if response.unexpected:
            stats.unexpected += 1
        stats.latency.append(end - start)
        stats.ttfb.append(response.first_byte - start)
        marks = response.marks
        if marks:
            stats.streams += 1
            stats.chunks += len(marks)
            stats.ttft.append(marks[0][0] - start)
            delays = stats.chunk_delay
            for received, stamped in marks:
                delays.append(received - stamped)
            gaps = stats.chunk_gap
            previous = marks[0][0]
            for received, _ in marks[1:]:  # the first chunk has no gap before it
                gaps.append(received - previous)
                previous = received

    async def closed_worker(self) -> None:
        client: Client | None = None
        while not self.done():
            if client is None or client.closed:
                client = await self.connect()
                if client is None:
                    continue
            if not await self.one(client, 0):
                if client.transport is not None:
                    client.transport.close()
                client = None
        if client is not None and client.transport is not None:
            client.transport.close()

    async def open_worker(self, queue: asyncio.Queue[int]) -> None:
        client: Client | None = None
        while True:
            due = await queue.get()
            if due < 0:
                break
            if self.draining:
                # Due before the end but never sent: the server fell that far behind.
                if due >= self.record_from:
                    self.stats.errors["unsent"] += 1
                    self.recorded += 1
                continue
            while client is None or client.closed:
                client = await self.connect()
                if self.done() and client is None:
                    break
            if client is None:
                continue
            if not await self.one(client, due):
                if client.transport is not None:
                    client.transport.close()
                client = None
        if client is not None and client.transport is not None:
            client.transport.close()

    async def run(self) -> dict[str, object]:
        args = self.args
        cpu0 = os.times()
        begin = _now()
        self.record_from = begin + int(args.warmup * 1e9)
        self.stop_at = self.record_from + int(args.duration * 1e9)
        if args.rate:
            queue: asyncio.Queue[int] = asyncio.Queue()
            workers = [asyncio.create_task(self.open_worker(queue)) for _ in range(args.concurrency)]
            interval = 1e9 / args.rate
            k = 0
            while not self.done():
                now = _now()
                while begin + k * interval <= now and not (args.requests and k >= args.requests):
                    due = int(begin + k * interval)
                    queue.put_nowait(due)
                    self.due += due >= self.record_from
                    k += 1
                # Timers tick in milliseconds: wake at most every ms and queue all that fell due.
                await asyncio.sleep(max(0.001, (begin + k * interval - _now()) / 1e9))
            # What is queued may still go out within the grace period (its lateness counts in
            # its latency); what is still unsent after it is counted as an error.
            grace_end = _now() + args.grace_ns
            while queue.qsize() and _now() < grace_end:
                await asyncio.sleep(0.001)
            self.draining = True
            for _ in workers:
                queue.put_nowait(-1)
            await asyncio.wait(workers, timeout=args.grace_ns / 1e9 + 1)
        else:
            workers = [asyncio.create_task(self.closed_worker()) for _ in range(args.concurrency)]
            await asyncio.wait(workers, timeout=(self.stop_at - _now()) / 1e9 + args.timeout + 1)
        for task in workers:
            task.cancel()
        cpu1 = os.times()
        # The window: from the warm-up's end to the time limit, or to the last answer when
        # a request count ended the run first.
        window = (min(_now(), self.stop_at) - self.record_from) / 1e9
        return self.summary(max(window, 1e-9), (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / ((_now() - begin) / 1e9))

    def summary(self, window: float, load_cpu: float) -> dict[str, object]:
        s = self.stats
        ok = len(s.latency)
        result: dict[str, object] = {
            "url": self.args.url,
            "mode": f"rate {self.args.rate}/s" if self.args.rate else f"concurrency {self.args.concurrency}",
            "concurrency": self.args.concurrency,
            "rate": self.args.rate,
            "window_s": round(window, 3),
            "requests": self.recorded,
            "ok": ok,
            "completed": self.completed,
            "rps": round(ok / window, 1),
            "errors": dict(s.errors),
            "statuses": {str(k): v for k, v in s.statuses.items()},
            "unexpected": s.unexpected,
            "connections": self.connections,
            "due": self.due,
            "load_cpu": round(load_cpu, 3),
            "latency_ms": percentiles(s.latency),
            "ttfb_ms": percentiles(s.ttfb),
        }
        if s.streams:
            result["streams"] = s.streams
            result["chunks_per_stream"] = round(s.chunks / s.streams, 1)
            result["ttft_ms"] = percentiles(s.ttft)
            result["chunk_delay_ms"] = percentiles(s.chunk_delay)
            result["chunk_gap_ms"] = percentiles(s.chunk_gap)
        return result


def percentiles(values: array) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    n = len(ordered)

    def at(q: float) -> float:
        return round(ordered[min(n - 1, int(q * n))] / 1e6, 3)

    return {"n": n, "p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": round(ordered[-1] / 1e6, 3),
            "mean": round(sum(ordered) / n / 1e6, 3)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--method", default="POST")
    parser.add_argument("--body-file", help="the request body (default: --body)")
    parser.add_argument("--body", default="")
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--concurrency", "-c", type=int, default=1, help="connections (closed loop: requests in flight)")
    parser.add_argument("--rate", type=float, default=0.0, help="requests/s, open loop (default: closed loop)")
    parser.add_argument("--duration", "-d", type=float, default=5.0, help="seconds recorded, after the warm-up")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load before recording (default 1)")
    parser.add_argument("--requests", type=int, default=0, help="stop after this many requests (warm-up included)")
    parser.add_argument("--sessions", type=int, default=0, help="add X-Session-ID: bench-(i mod N)")
    parser.add_argument("--expect-header", help="name=value every answer should carry; misses are counted as unexpected")
    parser.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args(argv)
    # How long after the window an answer still counts: open loop, a little (its lateness is
    # the point); a fixed request count, until the per-request timeout.
    args.grace_ns = int(args.timeout * 1e9) if args.requests else int(2e9) if args.rate else 0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.requests:
        args.duration = max(args.duration, 3600.0)  # --requests decides; the duration is only a bound
    try:
        import uvloop

        result = uvloop.run(Load(args).run())
    except ImportError:
        result = asyncio.run(Load(args).run())
    text = json.dumps(result)
    if args.json:
        with open(args.json, "w") as out:
            out.write(text + "\n")
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
