"""Session stores: one interface (`Store`), the embedded default (memory + SQLite)."""

from __future__ import annotations

from trooper.config import ConfigError, StoreSettings
from trooper.store.base import Store, StoreStats, redacted
from trooper.store.embedded import EmbeddedStore
from trooper.store.records import Entry, Observation, RequestRecord, SessionDetail, SessionSummary, Update


def open_store(settings: StoreSettings) -> Store:
    """The store the settings name: a file path or ":memory:" is the embedded store.
    A redis:// URL (`url`, env TROOPER_STORE) selects the shared store."""
    if settings.url:
        if not settings.url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"TROOPER_STORE={redacted(settings.url)!r}: expected a redis://host:port/db URL")
        try:
            from trooper.store.redis import RedisStore
        except ImportError:
            raise ConfigError("TROOPER_STORE names Redis: pip install 'trooper-gateway[redis]'") from None
        return RedisStore(settings)
    if "://" in settings.path:
        raise ConfigError(f"TROOPER_DB={settings.path!r}: only a file path or ':memory:' is supported")
    return EmbeddedStore(settings)


__all__ = [
    "EmbeddedStore", "Entry", "Observation", "RequestRecord", "SessionDetail", "SessionSummary", "Store",
    "StoreStats", "Update", "open_store",
]
