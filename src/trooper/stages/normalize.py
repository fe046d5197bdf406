"""normalize: decode the client's body into the canonical Conversation, name the
session, and take out Trooper's own request fields before anything goes upstream."""

from __future__ import annotations

import hashlib

import msgspec

from trooper.conversation import ApiError, BadRequest, Conversation
from trooper.formats import codec
from trooper.pipeline import ErrorReply, Exchange, StageBase

PRIVATE_FIELDS = ("x_force_local",)
MAX_SESSION_ID = 200


class Normalize(StageBase):
    name = "normalize"

    class Options(msgspec.Struct, forbid_unknown_fields=True):
        # Derive a session id from the conversation when the client sends no X-Session-ID.
        derive_session: bool = True

    async def run(self, exchange: Exchange) -> None:
        try:
            conversation = codec(exchange.client_format).decode_request(exchange.body or b"")
            session_id = self._session_id(exchange, conversation)
        except BadRequest as exc:
            exchange.reply = ErrorReply(ApiError(400, "invalid_request", exc.message))
            return
        exchange.decoded = conversation
        exchange.session_id = session_id
        exchange.conversation = self._take_private_fields(exchange, conversation)
        if _truthy(exchange.headers.get("x-trooper-force-local", "")):
            exchange.forced_local = True

    def _session_id(self, exchange: Exchange, conversation: Conversation) -> str:
        given = exchange.headers.get("x-session-id", "").strip()
        if given:
            if len(given) > MAX_SESSION_ID or not given.isprintable():
                raise BadRequest(f"X-Session-ID must be at most {MAX_SESSION_ID} printable characters")
            return given
        if not self.options.derive_session:
            return ""
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
