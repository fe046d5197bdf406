"""normalize: decode the client's body into the canonical Conversation, name the
session, and take out Trooper's own request fields before anything goes upstream."""

from __future__ import annotations

import hashlib

import msgspec

from trooper.conversation import TOO_DEEP, ApiError, BadRequest, Conversation
from trooper.formats import codec
from trooper.formats.decoding import bad_request_from
from trooper.pipeline import ErrorReply, Exchange, StageBase
from trooper.routes import BODY_MODEL

PRIVATE_FIELDS = ("x_force_local",)
MAX_SESSION_ID = 200
# Agents that name their own sessions: Claude Code, and the Codex CLI.
AGENT_SESSION_HEADERS = ("x-claude-code-session-id", "session_id", "session-id")  # Claude Code; Codex CLI


class Normalize(StageBase):
    name = "normalize"

    class Options(msgspec.Struct, forbid_unknown_fields=True):
        # Derive a session id from the conversation when neither the client (X-Session-ID)
        # nor its agent (Claude Code's, Codex's session id) names one.
        derive_session: bool = True

    async def run(self, exchange: Exchange) -> None:
        try:
            conversation = codec(exchange.client_format).decode_request(exchange.body or b"", exchange.path)
            if not BODY_MODEL.match(conversation.model) or ".." in conversation.model:
                raise BadRequest(f"model: {conversation.model[:80]!r} is not a model name")
            session_id = self._session_id(exchange, conversation)
        except BadRequest as exc:
            exchange.reply = ErrorReply(ApiError(400, "invalid_request", exc.message))
            return
        except msgspec.DecodeError as exc:  # e.g. 1e400 in a field only kept, never typed
            exchange.reply = ErrorReply(ApiError(400, "invalid_request", bad_request_from(exc).message))
            return
        except RecursionError:  # the decoder's own depth limit, about 1,000 levels
            exchange.reply = ErrorReply(ApiError(400, "invalid_request", TOO_DEEP))
            return
        exchange.decoded = conversation
        exchange.session_id = session_id
        exchange.conversation = self._take_private_fields(exchange, conversation)
        if _truthy(exchange.headers.get("x-trooper-force-local", "")):
            exchange.forced_local = True

    def _session_id(self, exchange: Exchange, conversation: Conversation) -> str:
        given = exchange.headers.get("x-session-id", "").strip()
        if given:
            if not _usable(given):
                raise BadRequest(f"X-Session-ID must be at most {MAX_SESSION_ID} printable characters")
            return given
        named = agent_session(exchange.headers, conversation)
        if named or not self.options.derive_session:
            return named
        return fingerprint(conversation)

    @staticmethod
    def _take_private_fields(exchange: Exchange, conversation: Conversation) -> Conversation:
        private = [name for name in PRIVATE_FIELDS if name in conversation.extra]
        if not private:
            return conversation
        if _truthy(conversation.extra.get("x_force_local")):
            exchange.forced_local = True
        extra = {k: v for k, v in conversation.extra.items() if k not in PRIVATE_FIELDS}
        # The client's bytes still carry the field, so they can no longer go upstream as is.
        exchange.body = None
        exchange.decoded = msgspec.structs.replace(conversation, extra=extra)
        return exchange.decoded


def agent_session(headers: dict[str, str], conversation: Conversation) -> str:
    """The session id the agent itself sends, when it sends one: two runs of the same prompt
    are two sessions, and a resumed conversation (`claude --continue`) stays one."""
    for name in AGENT_SESSION_HEADERS:
        value = headers.get(name, "").strip()
        if _usable(value):
            return value
    metadata = conversation.extra.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    found = _metadata_session(user_id) if isinstance(user_id, str) else ""
    return found if _usable(found) else ""


def _metadata_session(user_id: str) -> str:
    """Claude Code's `metadata.user_id`: a JSON object with `session_id` (2.x), or
    `user_<hash>_account_<uuid>_session_<uuid>` (1.x)."""
    if user_id.startswith("{"):
        try:
            value = msgspec.json.decode(user_id)
        except msgspec.DecodeError:
            return ""
        session = value.get("session_id") if isinstance(value, dict) else None
        return session if isinstance(session, str) else ""
    _, marker, session = user_id.rpartition("_session_")
    return session if marker else ""


def _usable(session_id: str) -> bool:
    return 0 < len(session_id) <= MAX_SESSION_ID and session_id.isprintable()


def fingerprint(conversation: Conversation) -> str:
    """A stable session id for clients that send none: every turn of one agent
    conversation resends the same system prompt and first user turn."""
    first_user = next((m.text() for m in conversation.messages if m.role == "user"), "")
    digest = hashlib.blake2b(digest_size=8)
    digest.update(conversation.system.encode())
    digest.update(b"\x00")
    digest.update(first_user.encode())
    return "auto-" + digest.hexdigest()


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
