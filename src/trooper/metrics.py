"""Prometheus metrics, in the text exposition format, with no client library: a few
counters and one histogram kept in memory, and gauges read when scraped.

Labels are low-cardinality by construction: provider names, decision and reason
tokens, HTTP statuses. Never a session id or a model name from a client.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from trooper.providers.base import Provider
from trooper.store.base import StoreStats
from trooper.store.records import RequestRecord

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
BREAKER_STATES = ("closed", "open", "half_open")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Iterable[str], values: Iterable[str]) -> str:
    pairs = [f'{name}="{_escape(value)}"' for name, value in zip(names, values)]
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


class Counter:
    def __init__(self, name: str, help: str, labels: tuple[str, ...] = ()) -> None:
        self.name, self.help, self.label_names = name, help, labels
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, *labels: str, by: float = 1) -> None:
        self.values[labels] = self.values.get(labels, 0) + by

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        if not self.values and not self.label_names:
            lines.append(f"{self.name} 0")
        for labels, value in sorted(self.values.items()):
            lines.append(f"{self.name}{_labels(self.label_names, labels)} {_number(value)}")
        return lines


class Histogram:
    def __init__(self, name: str, help: str, labels: tuple[str, ...], buckets: tuple[float, ...]) -> None:
        self.name, self.help, self.label_names, self.buckets = name, help, labels, buckets
        self.counts: dict[tuple[str, ...], list[int]] = {}
        self.sums: dict[tuple[str, ...], float] = {}

    def observe(self, value: float, *labels: str) -> None:
        counts = self.counts.setdefault(labels, [0] * (len(self.buckets) + 1))
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                counts[i] += 1
                break
        else:
            counts[-1] += 1
        self.sums[labels] = self.sums.get(labels, 0.0) + value

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        names = (*self.label_names, "le")
        for labels, counts in sorted(self.counts.items()):
            running = 0
            for bound, count in zip((*map(repr, self.buckets), "+Inf"), counts):
                running += count
                lines.append(f"{self.name}_bucket{_labels(names, (*labels, bound))} {running}")
            lines.append(f"{self.name}_sum{_labels(self.label_names, labels)} {self.sums[labels]!r}")
            lines.append(f"{self.name}_count{_labels(self.label_names, labels)} {running}")
        return lines


def _family(kind: str, name: str, help: str, samples: Iterable[tuple[str, float]]) -> list[str]:
    """A metric whose values are read at scrape time (a counter's name ends in _total)."""
    return [f"# HELP {name} {help}", f"# TYPE {name} {kind}", *(f"{name}{labels} {_number(v)}" for labels, v in samples)]


class Metrics:
    def __init__(self) -> None:
        self.requests = Counter(
            "trooper_requests_total", "Proxied requests by answering provider, decision and HTTP status.",
            ("provider", "decision", "status"),
        )
        self.fallbacks = Counter(
            "trooper_fallbacks_total", "Providers given up on for a request, by provider and reason.", ("provider", "reason")
        )
        self.latency = Histogram(
            "trooper_request_duration_seconds", "From request to the last byte of its answer, by answering provider.",
            ("provider",), LATENCY_BUCKETS,
        )
        self.tokens = Counter("trooper_tokens_total", "Tokens by provider and direction (in, out).", ("provider", "direction"))
        self.saved = Counter("trooper_tokens_saved_total", "Cloud tokens not billed because a local model answered.")
        # Client names come from the operator's config (a token's name), never from a request.
        self.clients = Counter(
            "trooper_client_requests_total", "Proxied requests by admitted client (a client token's name, local or "
            "network) and HTTP status.", ("client", "status"),
        )

    def record(self, record: RequestRecord) -> None:
        provider = record.provider or "none"
        decision = "fallback" if record.fallbacks else record.route.replace(" ", "_") or "direct"
        status = str(record.status) if record.status is not None else "none"
        self.requests.inc(provider, decision, status)
        self.clients.inc(record.client or "local", status)
        for fallback in record.fallbacks:
            self.fallbacks.inc(fallback.provider, fallback.reason or "unknown")
        self.latency.observe(record.ms / 1000, provider)
        if record.tokens_in:
            self.tokens.inc(provider, "in", by=record.tokens_in)
        if record.tokens_out:
            self.tokens.inc(provider, "out", by=record.tokens_out)
        if record.tokens_saved:
            self.saved.inc(by=record.tokens_saved)

    def render(self, providers: Iterable[Provider], store: StoreStats) -> str:
        providers = list(providers)
        lines = [
            *self.requests.render(), *self.fallbacks.render(), *self.latency.render(),
            *self.tokens.render(), *self.saved.render(), *self.clients.render(),
            *_family(
                "gauge", "trooper_circuit_state", "Circuit breaker state per provider: 1 for the current state.",
                ((_labels(("provider", "state"), (p.name, s)), float(p.breaker.state == s))
                 for p in providers for s in BREAKER_STATES),
            ),
            *_family(
                "gauge", "trooper_circuit_recent_failures", "Failures inside the breaker window, per provider.",
                ((_labels(("provider",), (p.name,)), p.breaker.recent_failures()) for p in providers),
            ),
            *_family("gauge", "trooper_process_info", "This process (with --workers each reports its own figures).",
                     [(_labels(("pid",), (str(os.getpid()),)), 1.0)]),
            *_family("gauge", "trooper_sessions", "Sessions held by the store.", [("", store.sessions)]),
            *_family("gauge", "trooper_store_queued", "Observations waiting to be applied by the store.",
                     [("", store.queued)]),
            *_family("counter", "trooper_store_dropped_total", "Observations dropped because the store's queue was full.",
                     [("", store.dropped)]),
            *_family("counter", "trooper_store_signals_skipped_total",
                     "Long answers stored but not read for signals because the store was behind.",
                     [("", store.signals_skipped)]),
            *_family("counter", "trooper_store_trimmed_total",
                     "Oldest transcript messages and request records dropped by the per-session caps.",
                     [('{kind="messages"}', store.trimmed_messages), ('{kind="requests"}', store.trimmed_requests)]),
            *_family("counter", "trooper_store_write_errors_total", "Batched writes that failed (retried at the next flush).",
                     [("", store.write_errors)]),
        ]
        return "\n".join(lines) + "\n"
