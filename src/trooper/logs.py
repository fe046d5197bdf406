"""structlog set-up: one event a line, key=value in a terminal, JSON with
TROOPER_LOG_FORMAT=json. A last processor scrubs every known secret and anything shaped
like an API key or a URL's credentials (trooper.redact), so a key can't reach a log line
even by accident."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from trooper.redact import scrub


def _scrub(value: Any) -> Any:
    return scrub(value) if isinstance(value, str) else value


def scrub_keys(logger: Any, method: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
    return {name: _scrub(value) for name, value in event.items()}


def configure(log_format: str = "console", level: str = "info", *, cache: bool = True) -> None:
    """`cache=False` keeps loggers reconfigurable (tests capture log events)."""
    numeric = getattr(logging, level.upper(), logging.INFO)
    renderer: Any
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty(), pad_event_to=18)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # A traceback becomes text before the scrubber sees it, in both formats: left to the
            # console renderer it was printed unscrubbed (and rich's tracebacks print locals).
            structlog.processors.format_exc_info,
            scrub_keys,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=cache,
    )
    # hypercorn's own messages go through stdlib logging; keep them on stderr, terse.
    logging.basicConfig(level=max(numeric, logging.INFO), stream=sys.stderr, format="%(message)s")
