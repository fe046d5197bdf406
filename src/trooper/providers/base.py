"""A provider owns one upstream: where it is, how to authenticate, which model to ask
for, and how to open a request to it. Subclasses differ only in those details."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import aiohttp
import msgspec

from trooper import __version__
from trooper.capabilities import Capabilities
from trooper.compaction import answer_room
from trooper.config import ProviderSettings, Timeouts
from trooper.conversation import Conversation
from trooper.formats import Codec, codec, ingresses
from trooper.signals.tokens import estimate_conversation

PRODUCT_TOKEN = f"trooper/{__version__}"


class Provider:
    kind: ClassVar[str] = ""
    # Path suffixes users may have pasted into a URL setting, stripped to get the base.
    endpoint_suffixes: ClassVar[tuple[str, ...]] = ()
    # Does this vendor's API continue a trailing assistant message ("prefill")?
    prefill_by_default: ClassVar[bool] = False
    # Client wire formats this upstream also takes as they are (OpenAI: the Responses API),
    # so a client speaking one of them gets the fast path.
    native_formats: ClassVar[frozenset[str]] = frozenset()
    # Can its models call tools, and see images? (A setting on the provider overrides.)
    tools_by_default: ClassVar[bool] = True
    images_by_default: ClassVar[bool] = True

    def __init__(self, settings: ProviderSettings, env: Mapping[str, str], default_window: int = 6144) -> None:
        self.name = settings.name
        self.model = settings.model
        self.local = settings.is_local
        self.key_env = settings.key_env
        self.key = env.get(settings.key_env, "") if settings.key_env else ""
        self.base_url = self._base(settings.url)
        self.codec: Codec = codec(self.kind)
        self.prefill = self.prefill_by_default if settings.prefill is None else settings.prefill
        self.context_window = settings.context_window or (default_window if self.local else None)
        self.tools = self.tools_by_default if settings.tools is None else settings.tools
        self.images = self.images_by_default if settings.images is None else settings.images
        self.settings = settings
        self.configured_timeouts = settings.timeouts
        self.timeouts = settings.timeouts or Timeouts()

    @property
    def unreachable_hint(self) -> str:
        """Said after "cannot connect to <url>" when nothing answers there."""
        return " (is the local model server running? check LOCAL_URL)" if self.local else ""

    def use_default_timeouts(self, timeouts: Timeouts) -> None:
        """Apply the pipeline-wide timeouts unless this provider set its own."""
        if self.configured_timeouts is None:
            self.timeouts = timeouts

    @property
    def timeouts(self) -> Timeouts:
        return self._timeouts

    @timeouts.setter
    def timeouts(self, timeouts: Timeouts) -> None:
        self._timeouts = timeouts
        # aiohttp's part of the timeouts, built once: connecting. First byte, idle and total
        # are enforced around the reads, where a stream's pace is known.
        self.timeout = aiohttp.ClientTimeout(total=None, connect=timeouts.connect, sock_connect=timeouts.connect)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(self.tools, self.images, self.context_window, self.prefill)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.base_url}>"

    @classmethod
    def _base(cls, url: str) -> str:
        url = url.rstrip("/")
        for suffix in cls.endpoint_suffixes:
            if url.endswith(suffix):
                return url[: -len(suffix)]
        return url

    # --- what to send ---

    def owns_model(self, model: str) -> bool:
        """Whether `model` names one of this vendor's models."""
        return False

    def model_for(self, requested: str) -> str:
        """The client's model when it is this vendor's, else the configured one."""
        if requested and self.owns_model(requested):
            return requested
        return self.model or requested

    def wire_for(self, client_format: str) -> str:
        """The wire format to speak upstream for a client of `client_format`: the client's
        own where this upstream takes it, else this provider's."""
        return client_format if client_format in self.native_formats else self.kind

    def endpoint(self, model: str, stream: bool, wire: str = "") -> str:
        raise NotImplementedError

    def encode_request(self, conversation: Conversation, model: str, wire: str = "") -> bytes:
        wire_codec = codec(wire) if wire and wire != self.kind else self.codec
        return wire_codec.encode_request(conversation, model)

    def answer_within_window(self, conversation: Conversation) -> Conversation:
        """For a tier with a window: the answer gets what the prompt leaves of it, less a
        margin for the estimate (the wire form differs a little from what compaction
        measured), never more than the client asked. Compaction saw to it that this is
        about the answer's reserved share at least; without compaction it is still no scrap."""
        window = self.context_window
        if window is None:
            return conversation
        asked = conversation.sampling.max_tokens
        room = max(window - estimate_conversation(conversation), answer_room(window, asked)) - window // 64
        if asked is not None and asked <= room:
            return conversation
        return msgspec.structs.replace(conversation, sampling=msgspec.structs.replace(conversation.sampling, max_tokens=room))

    def passthrough_url(self, path: str, query: str) -> str:
        """Where a client's other `/v1/...` call goes on this upstream."""
        url = self.base_url + path
        return f"{url}?{query}" if query else url

    def auth_headers(self, key: str, client_headers: Mapping[str, str] | None = None) -> dict[str, str]:
        """How `key` is sent. `client_headers`: a client of this vendor's, whose way of
        sending that key is kept where the vendor takes both."""
        return {}

    def forwarded_headers(self, client_headers: Mapping[str, str]) -> dict[str, str]:
        """Client headers this vendor understands (only ever from a client of the same vendor)."""
        return {}

    def request_headers(self, key: str, client_headers: Mapping[str, str] | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if client_headers is not None:
            headers.update(self.forwarded_headers(client_headers))
            agent = client_headers.get("user-agent")
            if agent:  # the client's own, so the vendor sees which agent called
                headers["User-Agent"] = f"{agent} {PRODUCT_TOKEN}"
        headers.update(self.auth_headers(key, client_headers))
        return headers

    def amend_refused(self, body: bytes | None, error: bytes) -> tuple[bytes, str] | None:
        """The client's body changed so this upstream takes it, and why, when the upstream
        refused it (400 `error`) for something falling over to another tier caused; else None."""
        return None

    def health_url(self) -> str:
        """A free endpoint that answers when the upstream is up (never an inference call)."""
        raise NotImplementedError


def client_key(headers: Mapping[str, str]) -> str:
    """The API key a client sent, as `x-api-key` or `Authorization: Bearer`."""
    key = headers.get("x-api-key", "")
    if key:
        return key
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return ""


def sent_as_bearer(key: str, client_headers: Mapping[str, str] | None) -> bool:
    """Whether the client sent this very key as `Authorization: Bearer` (not `x-api-key`)."""
    if client_headers is None or client_headers.get("x-api-key"):
        return False
    auth = client_headers.get("authorization", "")
    return auth[:7].lower() == "bearer " and auth[7:].strip() == key


# Wire formats that are not named after their vendor (the Responses API is OpenAI's).
FORMAT_VENDORS = {name: ingress.vendor for name, ingress in ingresses() if ingress.vendor}
_SPACES = [(name, ingress.api) for name, ingress in ingresses() if ingress.api is not None]
# How each vendor's keys begin, longest first: sk-ant-… is Anthropic's before sk-… is OpenAI's.
KEY_PREFIXES = sorted(((prefix, name) for name, space in _SPACES for prefix in space.key_prefixes), key=lambda p: -len(p[0]))
# A header only one vendor's SDKs put a key in: whatever it holds is that vendor's key.
OWN_KEY_HEADERS = {name: space.key_header for name, space in _SPACES if space.key_header}


def format_vendor(wire_format: str) -> str:
    """The vendor whose API a wire format is: the Responses API is OpenAI's."""
    return FORMAT_VENDORS.get(wire_format, wire_format)


def client_key_for(vendor: str, headers: Mapping[str, str], client_format: str) -> str:
    """The client's own key for `vendor`, among every credential the request carries
    (`x-api-key`, `Authorization: Bearer`, a vendor's own header such as `x-goog-api-key`):
    a request may carry several vendors' keys, and each only ever goes to its own vendor."""
    own_header = OWN_KEY_HEADERS.get(vendor)
    own = headers.get(own_header, "") if own_header else ""
    if own:
        return own
    for key in (headers.get("x-api-key", ""), _bearer(headers)):
        if key and key_vendor(key, client_format) == vendor:
            return key
    return ""


def _bearer(headers: Mapping[str, str]) -> str:
    auth = headers.get("authorization", "")
    return auth[7:].strip() if auth[:7].lower() == "bearer " else ""


def key_vendor(key: str, client_format: str) -> str:
    """Which vendor a client's key belongs to: by its well-known prefix when it has one,
    else the vendor whose wire format the client speaks (an OpenAI-compatible server's sk-… is
    OpenAI's whatever the client speaks). A key only ever goes to its vendor."""
    for prefix, vendor in KEY_PREFIXES:
        if key.startswith(prefix):
            return vendor
    return format_vendor(client_format)
