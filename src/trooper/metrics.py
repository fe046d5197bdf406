"""Prometheus metrics, kept by prometheus_client, in the text exposition format.

One process keeps its counters and histograms in memory. With `trooper serve --workers N`
each worker writes them to files in one directory (PROMETHEUS_MULTIPROC_DIR; `trooper
serve` makes a fresh one when it is unset) and /metrics, whichever worker answers, adds
every worker's up: counters never appear to reset between scrapes. The session store's
figures are sampled into that directory every second by each worker (exact for the worker
that answers the scrape); circuit states are read from the answering worker, which with
several workers share them through Redis.

Labels are low-cardinality by construction: provider names, decision and reason tokens,
HTTP statuses. Never a session id or a model name from a client.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from trooper.providers.health import ProviderHealth
from trooper.store.base import StoreStats
from trooper.store.records import RequestRecord

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
FIRST_TOKEN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BREAKER_STATES = ("closed", "open", "half_open")
STORE_SAMPLE_EVERY = 1.0  # seconds, with several workers

# How several workers' values of a gauge combine (Gauge's multiprocess_mode).
MultiprocessMode = Literal["all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum", "mostrecent",
                           "livemostrecent"]
# The store's figures: name, help, how several workers' values combine, and its samples
# as (label, StoreStats field); a labelled figure names its label after the help.
STORE_FIGURES: tuple[tuple[str, str, MultiprocessMode, tuple[tuple[str, str], ...]], ...] = (
    ("trooper_sessions", "Sessions held by the store.", "max", (("", "sessions"),)),
    ("trooper_store_queued", "Observations waiting to be applied by the store.", "livesum", (("", "queued"),)),
    ("trooper_store_dropped_total", "Observations dropped because the store's queue was full.", "sum",
     (("", "dropped"),)),
    ("trooper_store_signals_skipped_total", "Long answers stored but not read for signals because the store was behind.",
     "sum", (("", "signals_skipped"),)),
    ("trooper_store_trimmed_total", "Oldest transcript messages and request records dropped by the per-session caps.",
     "sum", (("messages", "trimmed_messages"), ("requests", "trimmed_requests"))),
    ("trooper_store_write_errors_total", "Batched writes that failed (retried at the next flush).", "sum",
     (("", "write_errors"),)),
)
STORE_LABEL = "kind"  # the label of a store figure with several samples


prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: nothing here needs them


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def clear_metrics_directory(directory: str) -> None:
    """Empty PROMETHEUS_MULTIPROC_DIR of a previous run's values, which would add up with this one's."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    for stale in Path(directory).glob("*.db"):
        stale.unlink()


class Metrics:
    def __init__(self) -> None:
        self.multiprocess = multiprocess()
        # One process: a registry of its own (tests run several Trooper apps in one process).
        # Several: values go to the shared directory, read back at scrape time.
        self.registry = None if self.multiprocess else CollectorRegistry(auto_describe=False)
        registry = self.registry
        self.requests = Counter(
            "trooper_requests", "Proxied requests by answering provider, decision and HTTP status.",
            ("provider", "decision", "status"), registry=registry,
        )
        self.fallbacks = Counter(
            "trooper_fallbacks", "Providers given up on for a request, by provider and reason.", ("provider", "reason"),
            registry=registry,
        )
        self.latency = Histogram(
            "trooper_request_duration_seconds", "From request to the last byte of its answer, by answering provider.",
            ("provider",), buckets=LATENCY_BUCKETS, registry=registry,
        )
        self.first_token = Histogram(
            "trooper_time_to_first_token_seconds",
            "Streamed answers: from the request's arrival to the first bytes of its stream sent to the client, "
            "by the provider that started the answer.",
            ("provider",), buckets=FIRST_TOKEN_BUCKETS, registry=registry,
        )
        self.tokens = Counter(
            "trooper_tokens", "Tokens by provider and direction (in, out).", ("provider", "direction"), registry=registry
        )
        self.saved = Counter("trooper_tokens_saved", "Cloud tokens not billed because a local model answered.",
                             registry=registry)
        self.saved.inc(0)  # present from the first scrape
        # Client names come from the operator's config (a token's name), never from a request.
        self.clients = Counter(
            "trooper_client_requests", "Proxied requests by admitted client (a client token's name, local or "
            "network) and HTTP status.", ("client", "status"), registry=registry,
        )
        self._children: dict[tuple[Counter | Histogram, tuple[str, ...]], Any] = {}
        self.store_gauges = {
            name: Gauge(name, help, (STORE_LABEL,) if samples[0][0] else (), multiprocess_mode=mode, registry=None)
            for name, help, mode, samples in STORE_FIGURES
        } if self.multiprocess else {}

    def record(self, record: RequestRecord) -> None:
        provider = record.provider or "none"
        decision = "fallback" if record.fallbacks else record.route.replace(" ", "_") or "direct"
        status = str(record.status) if record.status is not None else "none"
        child = self._child
        child(self.requests, provider, decision, status).inc()
        child(self.clients, record.client or "local", status).inc()
        for fallback in record.fallbacks:
            child(self.fallbacks, fallback.provider, fallback.reason or "unknown").inc()
        child(self.latency, provider).observe(record.ms / 1000)
        if record.tokens_in:
            child(self.tokens, provider, "in").inc(record.tokens_in)
        if record.tokens_out:
            child(self.tokens, provider, "out").inc(record.tokens_out)
        if record.tokens_saved:
            self.saved.inc(record.tokens_saved)

    def first_bytes(self, provider: str, seconds: float) -> None:
        self._child(self.first_token, provider).observe(seconds)

    def _child(self, metric: Counter | Histogram, *labels: str) -> Any:
        """`metric.labels(*labels)`, kept: prometheus_client checks and locks on every such
        call (about 2 us each; recording a request took 7.5 us with them, 5 us without)."""
        key = (metric, labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    # --- the store's figures, with several workers ---

    def sample_store(self, stats: StoreStats) -> None:
        for name, _, _, samples in STORE_FIGURES:
            gauge = self.store_gauges[name]
            for label, field in samples:
                (gauge.labels(label) if label else gauge).set(getattr(stats, field))

    async def sample_store_forever(self, stats: Callable[[], StoreStats]) -> None:
        while True:
            self.sample_store(stats())
            await asyncio.sleep(STORE_SAMPLE_EVERY)

    # --- scraping ---

    def render(self, health: ProviderHealth, store: StoreStats) -> str:
        if self.multiprocess:
            self.sample_store(store)  # this worker's figures, as of now
            registry = CollectorRegistry(auto_describe=False)
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated
            kept = generate_latest(registry).decode()
            read_now: list[str] = []
        else:
            kept = generate_latest(self.registry).decode()  # type: ignore[arg-type]  # set when not multiprocess
            read_now = [
                line for name, help, _, samples in STORE_FIGURES
                for line in _family(
                    "counter" if name.endswith("_total") else "gauge", name, help,
                    [(_labels((STORE_LABEL,), (label,)) if label else "", getattr(store, field)) for label, field in samples],
                )
            ]
        lines = [
            *_family(
                "gauge", "trooper_circuit_state", "Circuit breaker state per provider: 1 for the current state.",
                ((_labels(("provider", "state"), (name, s)), float(breaker.state == s))
                 for name, breaker in health for s in BREAKER_STATES),
            ),
            *_family(
                "gauge", "trooper_circuit_recent_failures", "Failures inside the breaker window, per provider.",
                ((_labels(("provider",), (name,)), breaker.recent_failures()) for name, breaker in health),
            ),
            *_family("gauge", "trooper_process_info",
                     "The process that answered this scrape (with --workers, counters add up every worker's).",
                     [(_labels(("pid",), (str(os.getpid()),)), 1.0)]),
            *read_now,
        ]
        return kept + "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Iterable[str], values: Iterable[str]) -> str:
    pairs = [f'{name}="{_escape(value)}"' for name, value in zip(names, values)]
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _family(kind: str, name: str, help: str, samples: Iterable[tuple[str, float]]) -> list[str]:
    """A metric whose values are read at scrape time (a counter's name ends in _total)."""
    return [f"# HELP {name} {help}", f"# TYPE {name} {kind}", *(f"{name}{labels} {_number(v)}" for labels, v in samples)]
