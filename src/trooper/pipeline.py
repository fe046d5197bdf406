"""The pipeline: the Exchange that flows through it, the Stage protocol, and loading
stages by name from the `trooper.stages` entry-point group (built-ins included)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

import msgspec
import structlog

from trooper.config import ConfigError, describe_validation_error
from trooper.conversation import ApiError, Conversation, Response, ResponseBuilder, StreamEvent

if TYPE_CHECKING:
    from trooper.compaction import Compacted
    from trooper.providers.base import Provider
    from trooper.runtime import Runtime
    from trooper.signals.classify import Decision

STAGE_GROUP = "trooper.stages"

Phase = Literal["request", "response"]

# Attempt reasons that mean "this provider was never a candidate for this request",
# which are not fallbacks.
SKIP_REASONS = frozenset({"no_key"})


# --- Replies: what the request phase produces; the app encodes it for the client. ---


class WholeReply(msgspec.Struct):
    """A complete answer in canonical form, encoded by the client's codec."""

    response: Response
    status: int = 200


class StreamReply(msgspec.Struct):
    """A streamed answer as canonical events, encoded by the client's stream codec.
    Stages that need to see it wrap `events`; none may buffer it."""

    events: AsyncIterator[StreamEvent]
    status: int = 200


class RawReply(msgspec.Struct):
    """The fast path: the upstream's own bytes, for a client that speaks its format.
    `body` is whole bytes or an iterator of chunks (a stream)."""

    status: int
    content_type: str
    body: bytes | AsyncIterator[bytes]
    headers: dict[str, str] = {}
    answer: Response | None = None  # a whole 200 answer's body, decoded: what observers read


class ErrorReply(msgspec.Struct):
    """An error, encoded in the client's own error shape."""

    error: ApiError
    headers: dict[str, str] = {}


Reply = WholeReply | StreamReply | RawReply | ErrorReply


class Attempt(msgspec.Struct):
    """One try of one provider: who, what came back, why we moved on, how long it took."""

    provider: str
    status: int | None = None  # HTTP status, None for a network error or a skip
    reason: str = ""  # stable token: rate_limit, network, no_key, ... ("" on success)
    detail: str = ""
    ms: float = 0.0
    ok: bool = False
    retry_after: float | None = None  # seconds, when the upstream said when to come back
    ended: float = msgspec.field(default_factory=time.perf_counter)  # when this try ended (traces)
    # How this provider's continuation joined a stream cut mid-answer: prefill, continued,
    # spliced, refused (see trooper.seam), or fresh (the client had no text yet).
    splice: str = ""


class Fitter(Protocol):
    """What fits a conversation into a provider's window (the compact stage's Compactor)."""

    given: dict[str, Compacted]  # provider name -> what it was given

    def result(self, conversation: Conversation, window: int) -> Compacted: ...

    def fit(self, conversation: Conversation, window: int, provider: str = "") -> Conversation: ...


class Exchange:
    """One request/response round trip. Stages read and write it; nothing else is global.

    The contract, field by field (a stage writes only what its line names; anything of
    a plugin's own goes in `notes`):

    - set by the app before the stages, read-only: request_id, method, path, query,
      headers (lower-cased), client_addr, client, client_format, started, log;
      `decoded` (the conversation as the client sent it).
    - `body`: the client's bytes; a stage that makes them stale sets it to None (no fast path).
    - `conversation`: what the providers are asked; a stage changes it by replacing it
      (normalize, and plugins).
    - `session_id`, `forced_local`: normalize. `classification`: classify.
      `compactor`: compact (read through `conversation_for` and `fitted`).
    - `plan`, `decision`: route (the providers to try, in order, and why).
    - `attempts`, `provider`, `model`, `degraded`, `answer`, `reply`: failover (any
      request-phase stage may set `reply` to answer early: the rest of the request phase
      is then skipped). `first_bytes_at`: the app, as a stream's first bytes go out.
    - `response_headers`: the headers stage (and plugins) add to them.
    - `notes`: plugin space only; no built-in stage reads or writes it.
    - `on_finish`: any stage; callbacks run once the response is sent.
    """

    __slots__ = (
        "request_id",
        "method",
        "path",
        "query",
        "headers",
        "client_addr",
        "client",
        "client_format",
        "body",
        "decoded",
        "conversation",
        "session_id",
        "forced_local",
        "plan",
        "decision",
        "classification",
        "compactor",
        "degraded",
        "attempts",
        "provider",
        "model",
        "reply",
        "answer",
        "response_headers",
        "started",
        "first_bytes_at",
        "log",
        "notes",
        "_on_finish",
    )

    def __init__(
        self,
        *,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        client_format: str,
        body: bytes,
        client_addr: str = "",
        client: str = "",
        request_id: str = "",
    ) -> None:
        self.request_id = request_id  # X-Request-Id, the client's or a new one
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers  # lower-cased names
        self.client_addr = client_addr
        self.client = client  # who was admitted: a client token's name, "local" or "network"
        self.client_format = client_format
        # The client's body; set to None once it no longer matches the conversation
        # (e.g. a Trooper-private field was stripped), which turns off the fast path.
        self.body: bytes | None = body
        self.decoded: Conversation | None = None  # as the client sent it
        self.conversation: Conversation | None = None  # as the stages left it
        self.session_id = ""
        self.forced_local = False
        self.plan: list[Provider] = []
        self.decision = ""  # why this plan: "direct", "forced_local", "simple turn", ...
        self.classification: Decision | None = None  # simple or complex, and why
        self.compactor: Fitter | None = None  # fits the conversation into small windows
        self.degraded: tuple[str, ...] = ()  # what the answering tier lacked (no_tools, ...), when allowed
        self.attempts: list[Attempt] = []
        self.provider: Provider | None = None  # who answered
        self.model = ""  # the model that answered
        self.reply: Reply | None = None
        # The answer as far as known: a whole Response, or a ResponseBuilder filling up
        # while the stream flows. Observers read it when the exchange finishes.
        self.answer: Response | ResponseBuilder | None = None
        self.response_headers: dict[str, str] = {}
        self.started = time.perf_counter()
        self.first_bytes_at = 0.0  # when a streamed answer's first bytes went to the client
        self.log = structlog.get_logger("trooper")
        self.notes: dict[str, Any] = {}  # plugin stages' space: never a built-in stage's
        self._on_finish: list[Callable[[Exchange, BaseException | None], Awaitable[None] | None]] = []

    def conversation_for(self, provider: Provider, conversation: Conversation | None = None) -> Conversation:
        """The conversation as `provider` should see it: compacted when its context
        window is smaller than the conversation, else as it is."""
        conversation = conversation or self.conversation
        assert conversation is not None
        window = provider.context_window
        if window is None or self.compactor is None:
            return conversation
        return self.compactor.fit(conversation, window, provider.name)

    def fitted(self) -> Compacted | None:
        """How the request was fitted for the provider that answered (None: not fitted)."""
        if self.provider is None or self.compactor is None:
            return None
        return self.compactor.given.get(self.provider.name)

    @property
    def unchanged(self) -> bool:
        """No stage replaced the conversation and the body still matches it."""
        return self.body is not None and self.conversation is self.decoded

    def fallen_past(self) -> list[tuple[str, str]]:
        """(provider, reason) for each provider given up on, in order, once each: the
        last reason counts (a 429 retried and failed again is one provider fallen past).
        Skips that were never candidates (no key) and the answering provider are left out."""
        answered = self.provider.name if self.provider is not None else None
        reasons: dict[str, str] = {}
        for attempt in self.attempts:
            if not attempt.ok and attempt.reason not in SKIP_REASONS and attempt.provider != answered:
                reasons.pop(attempt.provider, None)
                reasons[attempt.provider] = attempt.reason
        return list(reasons.items())

    @property
    def fallbacks(self) -> int:
        return len(self.fallen_past())

    def on_finish(self, callback: Callable[[Exchange, BaseException | None], Awaitable[None] | None]) -> None:
        """Run `callback(exchange, error)` once the response has been fully sent (or failed)."""
        self._on_finish.append(callback)

    async def finish(self, error: BaseException | None = None) -> None:
        callbacks, self._on_finish = self._on_finish, []
        for callback in callbacks:
            try:
                result = callback(self, error)
                if result is not None:
                    await result
            except Exception:
                self.log.exception("finish_callback_failed")

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


@runtime_checkable
class Stage(Protocol):
    """A pipeline step. `run` reads and changes the Exchange.

    Request-phase stages are skipped once a reply exists (a stage may set one to end the
    request phase early); response-phase stages (headers, observe) always run.
    """

    name: str
    phase: Phase

    async def run(self, exchange: Exchange) -> None: ...


class StageBase:
    """Convenience base for stages: options validated from `[stages.NAME]`, access to the
    runtime, optional start-up and shut-down hooks. Plugins may use it or not."""

    name: ClassVar[str] = ""
    phase: ClassVar[Phase] = "request"

    class Options(msgspec.Struct, forbid_unknown_fields=True):
        pass

    def __init__(self, options: Any, runtime: Runtime) -> None:
        self.options = options
        self.runtime = runtime

    async def startup(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def run(self, exchange: Exchange) -> None:
        raise NotImplementedError


async def run_stages(stages: list[Stage], exchange: Exchange) -> None:
    for stage in stages:
        if exchange.reply is not None and stage.phase == "request":
            continue
        await stage.run(exchange)


# --- Loading ---


def installed_stages() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=STAGE_GROUP)}


def stage_package(entry: EntryPoint) -> str:
    dist = entry.dist
    return f"{dist.name} {dist.version}" if dist is not None else entry.module


def build_stages(names: list[str], options: dict[str, dict[str, Any]], runtime: Runtime) -> list[Stage]:
    """Instantiate the stages `names` in order, each with its validated options."""
    installed = installed_stages()
    unknown = [n for n in names if n not in installed]
    if unknown:
        raise ConfigError(
            f"unknown stage '{unknown[0]}' in [pipeline] stages (installed: {', '.join(sorted(installed))})"
        )
    for configured in options:
        if configured not in names:
            raise ConfigError(f"[stages.{configured}] configures a stage that is not in [pipeline] stages")
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ConfigError(f"stage '{sorted(duplicates)[0]}' appears twice in [pipeline] stages")

    stages: list[Stage] = []
    for name in names:
        try:
            factory = installed[name].load()
        except Exception as exc:  # a broken plugin must not take the CLI down with a traceback
            raise ConfigError(f"stage '{name}' could not be loaded from {installed[name].value}: {exc}") from None
        stage_options = _validate_options(name, factory, options.get(name, {}))
        stage = factory(stage_options, runtime)
        if not isinstance(stage, Stage):
            raise ConfigError(f"stage '{name}' ({installed[name].value}) has no `name`, `phase` and async `run`")
        stages.append(stage)
    return stages


def _validate_options(name: str, factory: Any, table: dict[str, Any]) -> Any:
    options_type = getattr(factory, "Options", None)
    if options_type is None:
        if table:
            raise ConfigError(f"[stages.{name}] stage '{name}' takes no options (got '{next(iter(table))}')")
        return None
    try:
        return msgspec.convert(table, options_type)
    except msgspec.ValidationError as exc:
        detail = describe_validation_error(exc)
        known = ", ".join(options_type.__struct_fields__) or "none"
        if detail.startswith("unknown key"):
            detail = f"{detail.replace('unknown key', 'unknown option')} (options: {known})"
        return _raise(f"[stages.{name}] {detail}")


def _raise(message: str) -> Any:
    raise ConfigError(message)
