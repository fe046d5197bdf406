"""Fake LLM upstreams: one real aiohttp server speaking four vendors' wire formats.

Cloud providers are unreachable from the test machine, so tests point Trooper (or an
official SDK) at a :class:`FakeUpstream` instead.  It is a real HTTP server on
127.0.0.1 that answers:

=========================================================  ==========================
``POST /v1/messages``, ``POST /v1/messages/count_tokens``  Anthropic
``POST /v1/chat/completions``                              OpenAI
``POST /v1/responses``                                     OpenAI (Responses API)
``POST /api/chat``, ``GET /api/tags``, ``GET /api/version``,
``POST /api/show``                                         Ollama
``POST /v1beta/models/{model}:generateContent``,
``:streamGenerateContent`` (``?alt=sse``), ``:countTokens``,
``GET /v1beta/models[/{model}]``                           Gemini
``GET /v1/models[/{id}]``                                  Anthropic shape when the request
                                                           carries ``anthropic-version``,
                                                           else OpenAI shape
anything else                                              404 in the guessed vendor's shape
=========================================================  ==========================

What the fake *says* is decided by behaviours (:class:`Text`, :class:`ToolCall`,
:class:`Error`, :class:`Stall`, ...).  Generation requests pop them from the queue
filled by :meth:`FakeUpstream.script`; when it is empty :attr:`FakeUpstream.default`
answers.  Metadata requests (model lists, ``/api/tags``, ``/api/version``,
``/api/show``, token counting) never consume that queue, so a client's background
health checks cannot steal a scripted answer; they have their own queue,
:meth:`FakeUpstream.script_meta`, and otherwise answer normally.

Each behaviour is rendered in whatever vendor format the request came in, so one
``Error(429)`` means an Anthropic ``rate_limit_error``, an OpenAI
``rate_limit_exceeded``, a Gemini ``RESOURCE_EXHAUSTED`` or an Ollama ``{"error": ...}``
depending on the path that was hit.
"""

from __future__ import annotations

import asyncio
import random
import re
import socket
import string
import struct
import time
from collections import deque
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import msgspec
from aiohttp import web
from multidict import CIMultiDict

__all__ = [
    "Behaviour",
    "Drip",
    "EndMidStream",
    "Error",
    "ErrorMidStream",
    "FakeUpstream",
    "Garbage",
    "Habit",
    "MalformedMidStream",
    "PingThen",
    "Raw",
    "Recorded",
    "ResetAfter",
    "ResetAfterFrame",
    "ResetMidStream",
    "Stall",
    "StallMidStream",
    "Text",
    "ToolCall",
]

JSON = dict[str, Any]

_encode = msgspec.json.encode
_ALNUM = string.ascii_letters + string.digits


# --------------------------------------------------------------------------- helpers


def _rand(n: int) -> str:
    return "".join(random.choices(_ALNUM, k=n))


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def split_words(text: str) -> list[str]:
    """Split like a tokenizer would stream: ``"Hello big world"`` -> ``["Hello", " big", " world"]``."""
    pieces = re.findall(r"\s*\S+", text)
    rest = text[sum(map(len, pieces)) :]
    if rest:
        pieces.append(rest)
    return pieces


def split_n(text: str, n: int) -> list[str]:
    """Split ``text`` into ``n`` contiguous, roughly equal, non-empty pieces (fewer if too short)."""
    n = max(1, min(n, len(text)))
    cuts = [round(i * len(text) / n) for i in range(n + 1)]
    return [text[a:b] for a, b in zip(cuts, cuts[1:]) if b > a]


def _count_words(value: Any) -> int:
    """Crude token estimate: words in every string of a JSON value."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, dict):
        return sum(_count_words(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count_words(v) for v in value)
    return 0


# --------------------------------------------------------------------------- data model


@dataclass
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDict[str]  # case-insensitive
    body: bytes
    json: Any | None
    vendor: str  # "anthropic" | "openai" | "responses" (OpenAI's Responses API) | "ollama" | "gemini"
    op: str  # "generate", "count_tokens", "models", "model", "tags", "version", "show", "not_found"
    stream: bool
    model: str | None
    received_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class ToolUse:
    name: str
    args: JSON
    arg_pieces: list[str]  # the compact JSON of ``args`` split for streaming


@dataclass(frozen=True)
class Turn:
    """What the model says, independent of any wire format."""

    text: str
    pieces: list[str]  # ``text`` split into stream deltas
    calls: list[ToolUse]
    input_tokens: int
    output_tokens: int
    stop: str  # "end" | "max_tokens" | "stop_sequence" | "tool"


@dataclass
class Rendered:
    """A response ready to be written: one body (``streamed=False``) or a list of stream frames."""

    status: int
    frames: list[bytes]
    streamed: bool
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, body: Any, headers: dict[str, str] | None = None) -> Rendered:
        return cls(status, [_encode(body)], False, "application/json", dict(headers or {}))


# --------------------------------------------------------------------------- dialects


class Dialect:
    """One vendor's wire format."""

    name: ClassVar[str]

    def stream_content_type(self, ex: Exchange) -> str:
        return "text/event-stream"

    def whole(self, turn: Turn, ex: Exchange) -> JSON:
        raise NotImplementedError

    def stream(self, turn: Turn, ex: Exchange) -> list[bytes]:
        raise NotImplementedError

    def error_body(self, status: int, message: str | None, kind: str | None, ex: Exchange) -> Any:
        raise NotImplementedError

    def stream_error(self, status: int, message: str | None, kind: str | None, ex: Exchange) -> bytes:
        """An error delivered inside an already-started stream."""
        return b"data: " + _encode(self.error_body(status, message, kind, ex)) + b"\n\n"

    def meta(self, ex: Exchange) -> tuple[int, Any]:
        """Answer a metadata request (model list, version, token count ...)."""
        return 404, self.error_body(404, f"Not found: {ex.recorded.path}", None, ex)

    def response_headers(self) -> dict[str, str]:
        return {}

    @staticmethod
    def sse(data: Any, event: str | None = None) -> bytes:
        head = f"event: {event}\n".encode() if event else b""
        return head + b"data: " + _encode(data) + b"\n\n"


# ---- Anthropic ---------------------------------------------------------------------


class Anthropic(Dialect):
    name = "anthropic"
    STOP = {"end": "end_turn", "max_tokens": "max_tokens", "stop_sequence": "stop_sequence", "tool": "tool_use"}
    ERRORS = {
        400: "invalid_request_error",
        401: "authentication_error",
        402: "billing_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        500: "api_error",
        504: "timeout_error",
        529: "overloaded_error",
    }
    MESSAGES = {
        401: "invalid x-api-key",
        404: "Not found",
        429: "Number of request tokens has exceeded your per-minute rate limit",
        500: "Internal server error",
        529: "Overloaded",
    }

    def _stop_sequence(self, turn: Turn, ex: Exchange) -> str | None:
        if turn.stop != "stop_sequence":
            return None
        seqs = ex.body.get("stop_sequences") or ["STOP"]
        return str(seqs[0])

    def _message(self, ex: Exchange, content: list[JSON], usage: JSON, **rest: Any) -> JSON:
        return {
            "id": ex.ids.message,
            "type": "message",
            "role": "assistant",
            "model": ex.model,
            "content": content,
            **rest,
            "usage": usage,
        }

    def _usage(self, input_tokens: int, output_tokens: int) -> JSON:
        return {
            "input_tokens": input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": output_tokens,
        }

    def whole(self, turn: Turn, ex: Exchange) -> JSON:
        content: list[JSON] = [{"type": "text", "text": turn.text}] if turn.text else []
        content += [
            {"type": "tool_use", "id": ex.ids.tool(i), "name": c.name, "input": c.args}
            for i, c in enumerate(turn.calls)
        ]
        return self._message(
            ex,
            content,
            self._usage(turn.input_tokens, turn.output_tokens),
            stop_reason=self.STOP[turn.stop],
            stop_sequence=self._stop_sequence(turn, ex),
        )

    def stream(self, turn: Turn, ex: Exchange) -> list[bytes]:
        ev = self.event
        start = self._message(ex, [], self._usage(turn.input_tokens, 1), stop_reason=None, stop_sequence=None)
        out = [ev("message_start", message=start)]
        index = 0
        if turn.text or not turn.calls:
            out.append(ev("content_block_start", index=0, content_block={"type": "text", "text": ""}))
            out.append(ev("ping"))
            out += [ev("content_block_delta", index=0, delta={"type": "text_delta", "text": p}) for p in turn.pieces]
            out.append(ev("content_block_stop", index=0))
            index = 1
        for i, call in enumerate(turn.calls):
            block = {"type": "tool_use", "id": ex.ids.tool(i), "name": call.name, "input": {}}
            out.append(ev("content_block_start", index=index, content_block=block))
            if index == 0:
                out.append(ev("ping"))
            for piece in ["", *call.arg_pieces]:  # the real API opens with an empty partial_json
                out.append(ev("content_block_delta", index=index, delta={"type": "input_json_delta", "partial_json": piece}))
            out.append(ev("content_block_stop", index=index))
            index += 1
        delta = {"stop_reason": self.STOP[turn.stop], "stop_sequence": self._stop_sequence(turn, ex)}
        out.append(ev("message_delta", delta=delta, usage={"output_tokens": turn.output_tokens}))
        out.append(ev("message_stop"))
        return out

    def event(self, type_: str, **fields: Any) -> bytes:
        return self.sse({"type": type_, **fields}, event=type_)

    def error_body(self, status: int, message: str | None, kind: str | None, ex: Exchange) -> JSON:
        kind = kind or self.ERRORS.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
        message = message or self.MESSAGES.get(status) or f"{kind} ({status})"
        return {"type": "error", "error": {"type": kind, "message": message}, "request_id": ex.ids.request}

    def stream_error(self, status: int, message: str | None, kind: str | None, ex: Exchange) -> bytes:
        body = self.error_body(status, message, kind, ex)
        body.pop("request_id", None)
        return self.sse(body, event="error")

    def response_headers(self) -> dict[str, str]:
        return {"request-id": "req_011C" + _rand(20)}

    def meta(self, ex: Exchange) -> tuple[int, Any]:
        models = ex.fake.models["anthropic"]
        if ex.op == "count_tokens":
            return 200, {"input_tokens": max(1, _count_words(ex.body.get("messages")) + _count_words(ex.body.get("system")))}
        if ex.op == "models":
            data = [self._model_info(m) for m in models]
            return 200, {"data": data, "has_more": False, "first_id": models[0] if models else None, "last_id": models[-1] if models else None}
        if ex.op == "model" and ex.model in models:
            return 200, self._model_info(ex.model)
        return 404, self.error_body(404, f"model: {ex.model}", None, ex)

    @staticmethod
    def _model_info(model: str) -> JSON:
        return {"type": "model", "id": model, "display_name": model.replace("-", " ").title(), "created_at": "2025-02-19T00:00:00Z"}


# ---- OpenAI ------------------------------------------------------------------------


class OpenAI(Dialect):
    name = "openai"
    FINISH = {"end": "stop", "max_tokens": "length", "stop_sequence": "stop", "tool": "tool_calls"}
    ERRORS: dict[int, tuple[str, str | None, str]] = {
        400: ("invalid_request_error", None, "Invalid request"),
        401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided: x. You can find your API key at https://platform.openai.com/account/api-keys."),
        403: ("invalid_request_error", "unsupported_country_region_territory", "Country, region, or territory not supported"),
        404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
        429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again in 1s."),
        500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
        503: ("server_error", None, "The engine is currently overloaded, please try again later"),
    }

    def _usage(self, turn: Turn) -> JSON:
        return {
            "prompt_tokens": turn.input_tokens,
            "completion_tokens": turn.output_tokens,
            "total_tokens": turn.input_tokens + turn.output_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def _envelope(self, ex: Exchange, obj: str) -> JSON:
        return {
            "id": ex.ids.completion,
            "object": obj,
            "created": ex.ids.created,
            "model": ex.model,
            "service_tier": "default",
            "system_fingerprint": ex.ids.fingerprint,
        }

    def whole(self, turn: Turn, ex: Exchange) -> JSON:
        message: JSON = {"role": "assistant", "content": turn.text or None, "refusal": None, "annotations": []}
        if turn.calls:
            message["tool_calls"] = [
                {"id": ex.ids.call(i), "type": "function", "function": {"name": c.name, "arguments": "".join(c.arg_pieces)}}
                for i, c in enumerate(turn.calls)
            ]
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": self.FINISH[turn.stop]}
        return {**self._envelope(ex, "chat.completion"), "choices": [choice], "usage": self._usage(turn)}

    def stream(self, turn: Turn, ex: Exchange) -> list[bytes]:
        options = ex.body.get("stream_options") or {}
        include_usage = bool(options.get("include_usage"))
        base = self._envelope(ex, "chat.completion.chunk")
        if include_usage:
            base["usage"] = None

        def chunk(delta: JSON, finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return self.sse({**base, "choices": [choice]})

        out = [chunk({"role": "assistant", "content": "" if turn.text or not turn.calls else None, "refusal": None})]
        out += [chunk({"content": p}) for p in turn.pieces]
        for i, call in enumerate(turn.calls):
            opening = {"index": i, "id": ex.ids.call(i), "type": "function", "function": {"name": call.name, "arguments": ""}}
            out.append(chunk({"tool_calls": [opening]}))
            out += [chunk({"tool_calls": [{"index": i, "function": {"arguments": p}}]}) for p in call.arg_pieces]
        out.append(chunk({}, self.FINISH[turn.stop]))
        if include_usage:
            out.append(self.sse({**base, "choices": [], "usage": self._usage(turn)}))
        out.append(b"data: [DONE]\n\n")
        return out

    def error_body(self, status: int, message: str | None, kind: str | None, ex: Exchange) -> JSON:
        default_kind, code, default_message = self.ERRORS.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None, f"Error {status}")
        )
        return {"error": {"message": message or default_message, "type": kind or default_kind, "param": None, "code": code}}

    def response_headers(self) -> dict[str, str]:
        return {"x-request-id": "req_" + _rand(32).lower(), "openai-processing-ms": "42"}

    def meta(self, ex: Exchange) -> tuple[int, Any]:
        models = ex.fake.models["openai"]
        if ex.op == "models":
            return 200, {"object": "list", "data": [self._model_info(m) for m in models]}
        if ex.op == "model" and ex.model in models:
            return 200, self._model_info(ex.model)
        return 404, self.error_body(404, f"The model '{ex.model}' does not exist", None, ex)

    @staticmethod
    def _model_info(model: str) -> JSON:
        return {"id": model, "object": "model", "created": 1715367049, "owned_by": "system"}


# ---- OpenAI Responses API ----------------------------------------------------------


class OpenAIResponses(OpenAI):
    """OpenAI's ``POST /v1/responses``: output items, and a typed event stream in which
    every event carries its ``type`` (also as the SSE event name) and a ``sequence_number``."""

    name = "responses"

    def _usage_block(self, turn: Turn) -> JSON:
        return {
            "input_tokens": turn.input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": turn.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": turn.input_tokens + turn.output_tokens,
        }

    def _items(self, turn: Turn, ex: Exchange) -> list[JSON]:
        items: list[JSON] = []
        if ex.body.get("reasoning"):
            items.append({"id": "rs_" + ex.ids.gemini, "type": "reasoning", "summary": [], "encrypted_content": "gAAAA" + _rand(40)})
        if turn.text or not turn.calls:
            content = [{"type": "output_text", "text": turn.text, "annotations": [], "logprobs": []}]
            items.append({"id": "msg_" + ex.ids.gemini, "type": "message", "status": "completed", "role": "assistant", "content": content})
        for i, call in enumerate(turn.calls):
            arguments = "".join(call.arg_pieces)
            items.append({"id": f"fc_{i}_" + ex.ids.gemini, "type": "function_call", "status": "completed",
                          "arguments": arguments, "call_id": ex.ids.call(i), "name": call.name})
        return items

    def _response(self, turn: Turn, ex: Exchange, status: str, output: list[JSON], usage: JSON | None) -> JSON:
        incomplete = {"reason": "max_output_tokens"} if status == "incomplete" else None
        return {
            "id": "resp_" + ex.ids.gemini, "object": "response", "created_at": ex.ids.created, "status": status,
            "error": None, "incomplete_details": incomplete, "instructions": ex.body.get("instructions"),
            "max_output_tokens": ex.body.get("max_output_tokens"), "model": ex.model + "-2025-08-07", "output": output,
            "parallel_tool_calls": True, "previous_response_id": None, "reasoning": {"effort": None, "summary": None},
            "store": ex.body.get("store", True), "temperature": 1.0, "text": {"format": {"type": "text"}},
            "tool_choice": ex.body.get("tool_choice", "auto"), "tools": ex.body.get("tools", []), "top_p": 1.0,
            "truncation": "disabled", "usage": usage, "user": None, "metadata": {},
        }

    def _status(self, turn: Turn) -> str:
        return "incomplete" if turn.stop == "max_tokens" else "completed"

    def whole(self, turn: Turn, ex: Exchange) -> JSON:
        return self._response(turn, ex, self._status(turn), self._items(turn, ex), self._usage_block(turn))

    def stream(self, turn: Turn, ex: Exchange) -> list[bytes]:
        sequence = iter(range(1_000_000))

        def ev(type_: str, **fields: Any) -> bytes:
            return self.sse({"type": type_, "sequence_number": next(sequence), **fields}, event=type_)

        started = self._response(turn, ex, "in_progress", [], None)
        out = [ev("response.created", response=started), ev("response.in_progress", response=started)]
        items = self._items(turn, ex)
        for index, item in enumerate(items):
            if item["type"] == "reasoning":
                out.append(ev("response.output_item.added", output_index=index, item={**item, "encrypted_content": None}))
            elif item["type"] == "message":
                opening = {**item, "status": "in_progress", "content": []}
                out.append(ev("response.output_item.added", output_index=index, item=opening))
                part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
                out.append(ev("response.content_part.added", item_id=item["id"], output_index=index, content_index=0, part=part))
                out += [ev("response.output_text.delta", item_id=item["id"], output_index=index, content_index=0, delta=p, logprobs=[])
                        for p in turn.pieces]
                out.append(ev("response.output_text.done", item_id=item["id"], output_index=index, content_index=0, text=turn.text, logprobs=[]))
                out.append(ev("response.content_part.done", item_id=item["id"], output_index=index, content_index=0,
                              part={**part, "text": turn.text}))
            else:
                call = turn.calls[int(item["id"].split("_")[1])]
                out.append(ev("response.output_item.added", output_index=index, item={**item, "status": "in_progress", "arguments": ""}))
                out += [ev("response.function_call_arguments.delta", item_id=item["id"], output_index=index, delta=p) for p in call.arg_pieces]
                out.append(ev("response.function_call_arguments.done", item_id=item["id"], output_index=index, arguments=item["arguments"]))
            out.append(ev("response.output_item.done", output_index=index, item=item))
        status = self._status(turn)
        finished = self._response(turn, ex, status, items, self._usage_block(turn))
        out.append(ev("response.completed" if status == "completed" else "response.incomplete", response=finished))
        return out

    def stream_error(self, status: int, message: str | None, kind: str | None, ex: Exchange) -> bytes:
        error = self.error_body(status, message, kind, ex)["error"]
        return self.sse({"type": "error", "sequence_number": 99, "code": error["code"] or error["type"],
                         "message": error["message"], "param": None}, event="error")


# ---- Ollama ------------------------------------------------------------------------


class Ollama(Dialect):
    name = "ollama"

    def stream_content_type(self, ex: Exchange) -> str:
        return "application/x-ndjson"
    DONE = {"end": "stop", "max_tokens": "length", "stop_sequence": "stop", "tool": "stop"}
    VERSION = "0.12.6"

    def _line(self, obj: JSON) -> bytes:
        return _encode(obj) + b"\n"

    def _final_stats(self, turn: Turn) -> JSON:
        return {
            "done_reason": self.DONE[turn.stop],
            "done": True,
            "total_duration": 1_234_567_890,
            "load_duration": 12_345_678,
            "prompt_eval_count": turn.input_tokens,
            "prompt_eval_duration": 98_765_432,
            "eval_count": turn.output_tokens,
            "eval_duration": 1_000_000_000,
        }

    @staticmethod
    def _tool_calls(turn: Turn) -> list[JSON]:
        return [{"function": {"index": i, "name": c.name, "arguments": c.args}} for i, c in enumerate(turn.calls)]

    def whole(self, turn: Turn, ex: Exchange) -> JSON:
        message: JSON = {"role": "assistant", "content": turn.text}
        if turn.calls:
            message["tool_calls"] = self._tool_calls(turn)
        return {"model": ex.model, "created_at": _now_iso(), "message": message, **self._final_stats(turn)}

    def stream(self, turn: Turn, ex: Exchange) -> list[bytes]:
        def line(message: JSON, **rest: Any) -> bytes:
            return self._line({"model": ex.model, "created_at": _now_iso(), "message": {"role": "assistant", **message}, **rest})

        out = [line({"content": p}, done=False) for p in turn.pieces]
        if turn.calls:  # Ollama sends tool calls whole, in one chunk
            out.append(line({"content": "", "tool_calls": self._tool_calls(turn)}, done=False))
        out.append(line({"content": ""}, **self._final_stats(turn)))
        return out

    def error_body(self, status: int, message: str | None, kind: str | None, ex: Exchange) -> JSON:
        defaults = {
            400: "invalid request",
            404: f'model "{ex.model}" not found, try pulling it first',
            429: "too many requests",
            500: "llama runner process has terminated: exit status 2",
            503: "server busy, please try again.  maximum pending requests exceeded",
        }
        return {"error": message or defaults.get(status) or f"error {status}"}

    def stream_error(self, status: int, message: str | None, kind: str | None, ex: Exchange) -> bytes:
        return self._line(self.error_body(status, message, kind, ex))

    def meta(self, ex: Exchange) -> tuple[int, Any]:
        models = ex.fake.models["ollama"]
        if ex.op == "version":
            return 200, {"version": self.VERSION}
        if ex.op == "tags":
            return 200, {"models": [self._tag(m) for m in models]}
        if ex.op == "show" and ex.model in models:
            return 200, {
                "modelfile": f"FROM {ex.model}\n",
                "parameters": 'stop "<|eot_id|>"',
                "template": "{{ .Prompt }}",
                "details": self._details(),
                "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
                "capabilities": ["completion", "tools"],
                "modified_at": _now_iso(),
            }
        return 404, self.error_body(404, None, None, ex)

    @staticmethod
    def _details() -> JSON:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": "llama",
            "families": ["llama"],
            "parameter_size": "1.2B",
            "quantization_level": "Q8_0",
        }

    def _tag(self, model: str) -> JSON:
        digest = format(abs(hash(model)), "x").rjust(64, "0")[:64]
        return {"name": model, "model": model, "modified_at": "2025-01-01T00:00:00Z", "size": 1_321_098_329, "digest": digest, "details": self._details()}


# ---- Gemini ------------------------------------------------------------------------


class Gemini(Dialect):
    name = "gemini"
    FINISH = {"end": "STOP", "max_tokens": "MAX_TOKENS", "stop_sequence": "STOP", "tool": "STOP"}
    STATUS = {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        409: "ABORTED",
        429: "RESOURCE_EXHAUSTED",
        499: "CANCELLED",
        500: "INTERNAL",
        503: "UNAVAILABLE",
        504: "DEADLINE_EXCEEDED",
    }
    MESSAGES = {
        400: "Request contains an invalid argument.",
        401: "API key not valid. Please pass a valid API key.",
        403: "The caller does not have permission",
        404: "Requested entity was not found.",
        429: "Resource has been exhausted (e.g. check quota).",
        500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
        503: "The model is overloaded. Please try again later.",
    }

    def stream_content_type(self, ex: Exchange) -> str:
        # without alt=sse Gemini streams one JSON array
        return "text/event-stream" if ex.query.get("alt") == "sse" else "application/json"

    def _usage(self, turn: Turn, final: bool) -> JSON:
        usage: JSON = {"promptTokenCount": turn.input_tokens}
        if final:
            usage["candidatesTokenCount"] = turn.output_tokens
        usage["totalTokenCount"] = turn.input_tokens + (turn.output_tokens if final else 0)
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": turn.input_tokens}]
        return usage

    def _response(self, ex: Exchange, parts: list[JSON], usage: JSON, finish: str | None) -> JSON:
        candidate: JSON = {"content": {"parts": parts, "role": "model"}}
        if finish:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": ex.model, "responseId": ex.ids.gemini}

    @staticmethod
    def _call_part(call: ToolUse) -> JSON:
        return {"functionCall": {"name": call.name, "args": call.args}}

    def whole(self, turn: Turn, ex: Exchange) -> JSON:
        parts: list[JSON] = [{"text": turn.text}] if turn.text or not turn.calls else []
        parts += [self._call_part(c) for c in turn.calls]
        return self._response(ex, parts, self._usage(turn, True), self.FINISH[turn.stop])

    def stream(self, turn: Turn, ex: Exchange) -> list[bytes]:
        part_groups: list[list[JSON]] = [[{"text": p}] for p in turn.pieces]
        part_groups += [[self._call_part(c)] for c in turn.calls]  # function calls arrive whole
        if not part_groups:
            part_groups = [[{"text": ""}]]
        last = len(part_groups) - 1
        chunks = [
            self._response(ex, parts, self._usage(turn, i == last), self.FINISH[turn.stop] if i == last else None)
            for i, parts in enumerate(part_groups)
        ]
        if ex.query.get("alt") == "sse":
            return [self.sse(c) for c in chunks]
        # Without alt=sse Gemini streams one JSON array, element by element.
        return [(b"[" if i == 0 else b",\r\n") + _encode(c) for i, c in enumerate(chunks)] + [b"]"]

    def error_body(self, status: int, message: str | None, kind: str | None, ex: Exchange) -> JSON:
        status_name = kind or self.STATUS.get(status) or ("INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
        return {"error": {"code": status, "message": message or self.MESSAGES.get(status) or status_name, "status": status_name}}

    def meta(self, ex: Exchange) -> tuple[int, Any]:
        models = ex.fake.models["gemini"]
        if ex.op == "count_tokens":
            return 200, {"totalTokens": max(1, _count_words(ex.body.get("contents")))}
        if ex.op == "models":
            return 200, {"models": [self._model_info(m) for m in models]}
        if ex.op == "model" and ex.model in models:
            return 200, self._model_info(ex.model)
        return 404, self.error_body(404, f"models/{ex.model} is not found for API version v1beta", None, ex)

    @staticmethod
    def _model_info(model: str) -> JSON:
        return {
            "name": f"models/{model}",
            "version": "001",
            "displayName": model,
            "inputTokenLimit": 1_048_576,
            "outputTokenLimit": 8192,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
        }


DIALECTS: dict[str, Dialect] = {d.name: d for d in (Anthropic(), OpenAI(), OpenAIResponses(), Ollama(), Gemini())}


# --------------------------------------------------------------------------- routing


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    vendor: str | None  # None: Anthropic if the request has anthropic-version, else OpenAI
    op: str

    @property
    def generates(self) -> bool:
        return self.op == "generate"


def _route(method: str, pattern: str, vendor: str | None, op: str) -> Route:
    return Route(method, re.compile(pattern + r"\Z"), vendor, op)


_GEMINI_MODEL = r"/v1(?:beta)?/models/(?P<model>[^/:]+)"
ROUTES: list[Route] = [
    _route("POST", r"/v1/messages", "anthropic", "generate"),
    _route("POST", r"/v1/messages/count_tokens", "anthropic", "count_tokens"),
    _route("POST", r"/v1/chat/completions", "openai", "generate"),
    _route("POST", r"/v1/responses", "responses", "generate"),
    _route("POST", r"/api/chat", "ollama", "generate"),
    _route("GET", r"/api/tags", "ollama", "tags"),
    _route("GET", r"/api/version", "ollama", "version"),
    _route("POST", r"/api/show", "ollama", "show"),
    _route("POST", _GEMINI_MODEL + r":(?P<verb>generateContent|streamGenerateContent)", "gemini", "generate"),
    _route("POST", _GEMINI_MODEL + r":countTokens", "gemini", "count_tokens"),
    _route("GET", r"/v1beta/models", "gemini", "models"),
    _route("GET", r"/v1beta/models/(?P<model>[^/:]+)", "gemini", "model"),
    _route("GET", r"/v1/models", None, "models"),
    _route("GET", r"/v1/models/(?P<model>[^/:]+)", None, "model"),
]


def _vendor_for(request: web.Request, route: Route | None) -> str:
    if route is not None and route.vendor is not None:
        return route.vendor
    path = request.path
    if path.startswith("/api/"):
        return "ollama"
    if path.startswith("/v1beta/") or ":" in path:
        return "gemini"
    if path.startswith("/v1/messages") or "anthropic-version" in request.headers:
        return "anthropic"
    return "openai"


def _match(request: web.Request) -> tuple[Route | None, dict[str, str]]:
    for route in ROUTES:
        if route.method == request.method and (m := route.pattern.match(request.path)):
            return route, m.groupdict()
    return None, {}


# --------------------------------------------------------------------------- per-request context


class Ids:
    """Realistic-looking ids, stable within one response."""

    def __init__(self) -> None:
        self.message = "msg_01" + _rand(22)
        self.completion = "chatcmpl-" + _rand(29)
        self.request = "req_011C" + _rand(20)
        self.gemini = _rand(22)
        self.fingerprint = "fp_" + _rand(10).lower()
        self.created = int(time.time())
        self._tools: dict[int, str] = {}
        self._calls: dict[int, str] = {}

    def tool(self, i: int) -> str:
        return self._tools.setdefault(i, "toolu_01" + _rand(22))

    def call(self, i: int) -> str:
        return self._calls.setdefault(i, "call_" + _rand(24))


@dataclass
class Exchange:
    """One request being answered: what was asked, in which dialect, and the connection state."""

    request: web.Request
    recorded: Recorded
    dialect: Dialect
    fake: FakeUpstream
    ids: Ids = field(default_factory=Ids)
    finished: bool = False  # response fully written
    closed_by_us: bool = False  # we cut the connection on purpose (ResetAfter / StallMidStream)

    @property
    def op(self) -> str:
        return self.recorded.op

    @property
    def body(self) -> JSON:
        return self.recorded.json if isinstance(self.recorded.json, dict) else {}

    @property
    def query(self) -> dict[str, str]:
        return self.recorded.query

    @property
    def model(self) -> str:
        return self.recorded.model or "unknown-model"

    @property
    def stream(self) -> bool:
        return self.recorded.stream

    def resolve(self, behaviour: Behaviour | None) -> Behaviour:
        """``behaviour``, or the fake's default answer (never a wrapper, to avoid loops)."""
        if behaviour is not None:
            return behaviour
        default = self.fake.default
        return default if isinstance(default, (Text, ToolCall)) else Text()

    # ---- rendering

    def render_turn(self, turn: Turn) -> Rendered:
        headers = self.dialect.response_headers()
        if self.op != "generate":
            status, body = self.dialect.meta(self)
            return Rendered.json(status, body, headers)
        if self.stream:
            content_type = self.dialect.stream_content_type(self)
            return Rendered(200, self.dialect.stream(turn, self), True, content_type, headers)
        return Rendered.json(200, self.dialect.whole(turn, self), headers)

    def render_error(self, status: int, message: str | None, kind: str | None, headers: dict[str, str] | None) -> Rendered:
        body = self.dialect.error_body(status, message, kind, self)
        return Rendered.json(status, body, {**self.dialect.response_headers(), **(headers or {})})

    # ---- writing

    async def deliver(
        self,
        r: Rendered,
        *,
        delay: float = 0.0,
        stall_after: int | None = None,
        stall_seconds: float = 0.0,
        reset_after: int | None = None,
    ) -> web.StreamResponse:
        """Write ``r``, optionally pacing frames (``delay``), going silent after ``stall_after``
        frames and then closing, or resetting the connection after ``reset_after`` body bytes."""
        frames = list(r.frames)
        resp = web.StreamResponse(status=r.status, headers=r.headers)
        if r.content_type is not None:
            resp.content_type = r.content_type
        if r.streamed:
            resp.enable_chunked_encoding()
            if r.content_type == "text/event-stream":
                resp.headers.setdefault("Cache-Control", "no-cache")
        else:
            body = b"".join(frames)
            resp.content_length = len(body)
            if stall_after is not None:  # a whole body stalls half way: headers arrive, the body never ends
                frames, stall_after = [body[: len(body) // 2], body[len(body) // 2 :]], 1
            else:
                frames = [body]
        await resp.prepare(self.request)
        await resp.write(b"")  # aiohttp buffers headers until the first write; send them now
        sent = 0
        for i, frame in enumerate(frames):
            if i == stall_after:
                return await self._hang_up(resp, stall_seconds)
            if delay and i:
                await asyncio.sleep(delay)
            if reset_after is not None and sent + len(frame) >= reset_after:
                await resp.write(frame[: reset_after - sent])
                return await self._hang_up(resp, 0.0, reset=True)
            await resp.write(frame)
            sent += len(frame)
        if stall_after is not None:  # asked to stall after the last frame: still never finish
            return await self._hang_up(resp, stall_seconds)
        await resp.write_eof()
        self.finished = True
        return resp

    async def _hang_up(self, resp: web.StreamResponse, silence: float, *, reset: bool = False) -> web.StreamResponse:
        """Let what was written reach the client, stay silent, then cut the connection."""
        transport = self.request.transport
        deadline = time.monotonic() + 1.0
        while transport is not None and transport.get_write_buffer_size() and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        await asyncio.sleep(max(silence, 0.02))  # 20 ms at least, so the client reads it before the cut
        self.cut(reset=reset)
        return resp

    def cut(self, *, reset: bool) -> None:
        """Drop the connection: a TCP RST (``reset=True``) or a FIN mid-response."""
        transport = self.request.transport
        self.closed_by_us = True
        if transport is None:
            return
        if reset:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            transport.abort()
        else:
            transport.close()


# --------------------------------------------------------------------------- behaviours


class Behaviour:
    """How the fake answers one request.  Subclasses render a response or control its delivery."""

    def render(self, ex: Exchange) -> Rendered:
        raise NotImplementedError

    async def respond(self, ex: Exchange) -> web.StreamResponse:
        return await ex.deliver(self.render(ex))


@dataclass(frozen=True)
class Text(Behaviour):
    """A normal answer.  ``text=None`` means ``"Hello from <vendor>"``.

    ``chunks``: number of stream deltas (default: one per word).  ``output_tokens``
    defaults to the word count.  ``stop``: "end" | "max_tokens" | "stop_sequence".
    """

    text: str | None = None
    _: KW_ONLY
    chunks: int | None = None
    input_tokens: int = 12
    output_tokens: int | None = None
    stop: str = "end"

    def __post_init__(self) -> None:
        if self.stop not in ("end", "max_tokens", "stop_sequence"):
            raise ValueError(f"stop must be end, max_tokens or stop_sequence, not {self.stop!r}")

    def turn(self, ex: Exchange) -> Turn:
        text = self.text if self.text is not None else f"Hello from {ex.dialect.name}"
        pieces = split_n(text, self.chunks) if self.chunks else split_words(text)
        out = self.output_tokens if self.output_tokens is not None else max(1, len(text.split()))
        return Turn(text, pieces, [], self.input_tokens, out, self.stop)

    def render(self, ex: Exchange) -> Rendered:
        return ex.render_turn(self.turn(ex))


@dataclass(frozen=True)
class ToolCall(Behaviour):
    """The assistant calls tools: ``ToolCall([("get_weather", {"city": "Paris"})], text="Let me check.")``."""

    calls: list[tuple[str, JSON]]
    text: str | None = None
    _: KW_ONLY
    input_tokens: int = 12
    output_tokens: int | None = None
    arg_chunks: int = 3

    def turn(self, ex: Exchange) -> Turn:
        text = self.text or ""
        uses = []
        for name, args in self.calls:
            encoded = _encode(args).decode()
            uses.append(ToolUse(name, args, split_n(encoded, self.arg_chunks)))
        out = self.output_tokens
        if out is None:
            out = len(text.split()) + sum(10 + len("".join(u.arg_pieces)) // 4 for u in uses)
        return Turn(text, split_words(text), uses, self.input_tokens, out, "tool")

    def render(self, ex: Exchange) -> Rendered:
        return ex.render_turn(self.turn(ex))


@dataclass(frozen=True)
class Error(Behaviour):
    """An HTTP error in the vendor's shape; ``body`` (bytes or JSON) replaces that shape verbatim.

    ``kind`` overrides the vendor's error type (Anthropic ``error.type``, OpenAI ``error.type``,
    Gemini ``error.status``).
    """

    status: int
    body: bytes | JSON | None = None
    headers: dict[str, str] | None = None
    kind: str | None = None
    message: str | None = None

    def render(self, ex: Exchange) -> Rendered:
        if self.body is None:
            return ex.render_error(self.status, self.message, self.kind, self.headers)
        headers = {**ex.dialect.response_headers(), **(self.headers or {})}
        if isinstance(self.body, bytes):
            return Rendered(self.status, [self.body], False, "application/json", headers)
        return Rendered.json(self.status, self.body, headers)


@dataclass(frozen=True)
class Garbage(Behaviour):
    """Answer with ``body`` as is (by default: not JSON at all)."""

    body: bytes = b"\x00not json{{"
    status: int = 200
    content_type: str = "application/json"

    def render(self, ex: Exchange) -> Rendered:
        return Rendered(self.status, [self.body], False, self.content_type)


@dataclass(frozen=True)
class Raw(Behaviour):
    """An exact response: status, body and headers, nothing added (no default content type)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] | None = None

    def render(self, ex: Exchange) -> Rendered:
        headers = dict(self.headers or {})
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        return Rendered(self.status, [self.body], False, content_type, headers)


@dataclass(frozen=True)
class Stall(Behaviour):
    """Accept the request, send nothing (not even headers) for ``seconds``, then answer with ``then``."""

    seconds: float
    then: Behaviour | None = None  # None: the fake's default answer

    def render(self, ex: Exchange) -> Rendered:
        return ex.resolve(self.then).render(ex)

    async def respond(self, ex: Exchange) -> web.StreamResponse:
        await asyncio.sleep(self.seconds)
        return await ex.resolve(self.then).respond(ex)


@dataclass(frozen=True)
class StallMidStream(Behaviour):
    """Send headers and the first ``after_chunks`` stream events, go silent for ``seconds``,
    then close the connection without finishing.  A non-streamed answer stalls after half its body."""

    after_chunks: int
    seconds: float
    answer: Behaviour | None = None

    def render(self, ex: Exchange) -> Rendered:
        return ex.resolve(self.answer).render(ex)

    async def respond(self, ex: Exchange) -> web.StreamResponse:
        return await ex.deliver(self.render(ex), stall_after=self.after_chunks, stall_seconds=self.seconds)


@dataclass(frozen=True)
class ResetAfter(Behaviour):
    """Start the normal answer, then reset the TCP connection after ``n_bytes`` body bytes."""

    n_bytes: int
    answer: Behaviour | None = None

    def render(self, ex: Exchange) -> Rendered:
        return ex.resolve(self.answer).render(ex)

    async def respond(self, ex: Exchange) -> web.StreamResponse:
        return await ex.deliver(self.render(ex), reset_after=self.n_bytes)


@dataclass(frozen=True)
class ResetAfterFrame(Behaviour):
    """Start ``answer``'s stream, then reset the TCP connection right after the first frame
    holding ``marker`` (e.g. the first piece of a tool call's arguments: the call is half-made)."""

    marker: bytes
    answer: Behaviour

    def render(self, ex: Exchange) -> Rendered:
        return self.answer.render(ex)

    async def respond(self, ex: Exchange) -> web.StreamResponse:
        rendered = self.render(ex)
        first = next(i for i, frame in enumerate(rendered.frames) if self.marker in frame)
        return await ex.deliver(rendered, reset_after=sum(len(frame) for frame in rendered.frames[: first + 1]))


@dataclass(frozen=True)
class Drip(Behaviour):
    """The normal answer with ``delay`` seconds between stream events (a whole answer waits once)."""

    delay: float
    answer: Behaviour | None = None

    def render(self, ex: Exchange) -> Rendered:
        return ex.resolve(self.answer).render(ex)

    async def respond(self, ex: Exchange) -> web.StreamResponse:
        r = self.render(ex)
        if not r.streamed:
            await asyncio.sleep(self.delay)
        return await ex.deliver(r, delay=self.delay)


@dataclass(frozen=True)
class ErrorMidStream(Behaviour):
    """A stream that breaks off after ``after_chunks`` events with the vendor's in-stream error
    (Anthropic ``event: error``, OpenAI/Gemini ``data: {"error":...}``, Ollama ``{"error":...}``),
    then ends cleanly.  A non-streamed request gets a plain :class:`Error` instead."""

    after_chunks: int
    status: int = 529
    kind: str | None = None
    message: str | None = None
    answer: Behaviour | None = None

    def render(self, ex: Exchange) -> Rendered:
        return ex.resolve(self.answer).render(ex)

    async def respond(self, ex: Exchange) -> web.StreamResponse:
        r = self.render(ex)
        if not r.streamed:
            return await ex.deliver(ex.render_error(self.status, self.message, self.kind, None))
        tail = ex.dialect.stream_error(self.status, self.message, self.kind, ex)
        r.frames = r.frames[: self.after_chunks] + [tail]
        return await ex.deliver(r)


@dataclass(frozen=True)
class _AfterChunks(Behaviour):
    """The normal answer (``answer``), broken after its first ``after_chunks`` stream events."""

    after_chunks: int
    answer: Behaviour | None = None

    def render(self, ex: Exchange) -> Rendered:
        return ex.resolve(self.answer).render(ex)


@dataclass(frozen=True)
class ResetMidStream(_AfterChunks):
    """Like :class:`ResetAfter`, counted in stream events: the connection is reset right
    after the first ``after_chunks`` events."""

    async def respond(self, ex: Exchange) -> web.StreamResponse:
        r = self.render(ex)
        return await ex.deliver(r, reset_after=sum(len(frame) for frame in r.frames[: self.after_chunks]))


@dataclass(frozen=True)
class MalformedMidStream(_AfterChunks):
    """After ``after_chunks`` events, one event whose JSON is cut short (the event it
    replaces is lost), then the rest of the stream as if nothing happened. ``empty``: the
    bad event carries no data at all (``data:`` with nothing after it) and nothing is lost."""

    _: KW_ONLY
    empty: bool = False

    async def respond(self, ex: Exchange) -> web.StreamResponse:
        r = self.render(ex)
        frames, at = r.frames, self.after_chunks
        ndjson = r.content_type == "application/x-ndjson"
        if self.empty:
            r.frames = [*frames[:at], b"\n" if ndjson else b"data: \n\n", *frames[at:]]
        else:
            body = frames[at].rstrip(b"\n")
            r.frames = [*frames[:at], body[: len(body) - len(body) // 3] + (b"\n" if ndjson else b"\n\n"), *frames[at + 1 :]]
        return await ex.deliver(r)


@dataclass(frozen=True)
class EndMidStream(_AfterChunks):
    """The first ``after_chunks`` events, then a clean end of body: the stream's
    terminator (``message_stop``, ``[DONE]``, ``done: true``) never comes."""

    async def respond(self, ex: Exchange) -> web.StreamResponse:
        r = self.render(ex)
        r.frames = r.frames[: self.after_chunks]
        return await ex.deliver(r)


@dataclass(frozen=True)
class PingThen(Behaviour):
    """Headers and a keep-alive (Anthropic's ``ping`` event, an SSE comment for the
    others), then silence for ``seconds``, then the whole streamed answer."""

    seconds: float
    answer: Behaviour | None = None

    def render(self, ex: Exchange) -> Rendered:
        return ex.resolve(self.answer).render(ex)

    async def respond(self, ex: Exchange) -> web.StreamResponse:
        r = self.render(ex)
        ping = Anthropic.sse({"type": "ping"}, event="ping") if ex.dialect.name == "anthropic" else b": ping\n\n"
        r.frames = [ping, b"".join(r.frames)]  # one pause, between the ping and the answer
        return await ex.deliver(r, delay=self.seconds)


# --------------------------------------------------------------------------- real models' habits

HABITS = ("continues", "restarts", "ignores", "rejects_prefill", "ignores_prefill")
OFF_TOPIC = "I'm not sure what you would like me to continue. Could you tell me a bit more about what you need?"
PREFILL_REJECTED = "This model does not support assistant message prefill. The conversation must end with a user message."


@dataclass(frozen=True)
class Habit(Behaviour):
    """A model's habit when it is asked to carry on an answer cut mid-way, either with
    a prefill (the request ends with the partial answer as an assistant message) or
    with a request to continue (the partial answer, then a user turn asking for the
    rest). ``text`` is the whole answer it gives a fresh request.

    ``continues``        carries on: after a prefill, the rest of ``text``; asked to
                         continue, it does what the request says: when it quotes the
                         last words to begin with ("..."), those words, then the rest
    ``restarts``         asked to continue, starts its answer over (a prefill is carried on)
    ``ignores``          asked to continue, answers something else (a prefill is carried on)
    ``rejects_prefill``  a 400 to any request ending in an assistant message; else continues
    ``ignores_prefill``  takes a prefill without complaint and starts its answer over;
                         asked to continue, continues
    """

    habit: str
    text: str
    _: KW_ONLY
    chunks: int | None = None
    input_tokens: int = 12

    def __post_init__(self) -> None:
        if self.habit not in HABITS:
            raise ValueError(f"habit must be one of {', '.join(HABITS)}, not {self.habit!r}")

    def answer(self, dialogue: list[tuple[str, str]]) -> str | None:
        """What this model says to a conversation of (role, text) turns; None: it refuses (400)."""
        prefill = dialogue[-1][1] if dialogue and dialogue[-1][0] == "assistant" else None
        partial = dialogue[-2][1] if prefill is None and len(dialogue) > 1 and dialogue[-2][0] == "assistant" else None
        if prefill is not None:
            if self.habit == "rejects_prefill":
                return None
            if self.habit == "ignores_prefill":
                return self.text
            return self.text[len(prefill) :] if self.text.startswith(prefill) else self.text
        if partial is None:
            return self.text
        if self.habit == "restarts":
            return self.text
        if self.habit == "ignores":
            return OFF_TOPIC
        rest = self.text[len(partial) :] if self.text.startswith(partial) else self.text
        quoted = re.search(r'"([^"]+)"', dialogue[-1][1])
        if quoted and " ".join(partial.split()).endswith(quoted.group(1)):
            return quoted.group(1) + self.text[len(partial.rstrip()) :]
        return rest

    def render(self, ex: Exchange) -> Rendered:
        said = self.answer(dialogue(ex.body))
        if said is None:
            return ex.render_error(400, PREFILL_REJECTED, None, None)
        return Text(said, chunks=self.chunks, input_tokens=self.input_tokens).render(ex)


def dialogue(body: JSON) -> list[tuple[str, str]]:
    """A generation request's turns as (role, text), roles "user" / "assistant", in any
    vendor's shape (``messages`` with string or block content, or Gemini's ``contents``)."""
    turns: list[tuple[str, str]] = []
    for message in body.get("messages") or []:
        content = message.get("content")
        text = content if isinstance(content, str) else "".join(
            part.get("text", "") for part in content or [] if isinstance(part, dict)
        )
        if message.get("role") in ("user", "assistant"):
            turns.append((message["role"], text))
    for content in body.get("contents") or []:
        text = "".join(part.get("text", "") for part in content.get("parts", []))
        turns.append(("assistant" if content.get("role") == "model" else "user", text))
    return turns


# --------------------------------------------------------------------------- the server


DEFAULT_MODELS: dict[str, list[str]] = {
    "anthropic": ["claude-haiku-4-5", "claude-opus-4-6"],
    "openai": ["gpt-4o", "gpt-4o-mini"],
    "ollama": ["llama3.2:1b", "qwen2.5:0.5b"],
    "gemini": ["gemini-2.0-flash", "gemini-2.5-pro"],
}


class FakeUpstream:
    """A real aiohttp server on 127.0.0.1:<free port> answering all four vendors' endpoints.

    >>> async with FakeUpstream() as fake:
    ...     fake.script(Error(429, headers={"retry-after": "1"}), Text("ok"))
    ...     ...  # point the client at fake.url
    """

    def __init__(self, default: Behaviour | None = None, *, models: dict[str, list[str]] | None = None) -> None:
        self.default: Behaviour = default or Text()
        self.meta_default: Behaviour = Text()
        self.models: dict[str, list[str]] = {k: list(v) for k, v in (models or DEFAULT_MODELS).items()}
        self.requests: list[Recorded] = []
        self.disconnects = 0
        self.in_flight = 0
        self.url = ""
        self._script: deque[Behaviour] = deque()
        self._meta_script: deque[Behaviour] = deque()
        self._disconnected = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._stopping = False

    # ---- lifecycle

    async def start(self) -> FakeUpstream:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeUpstream:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- scripting

    def script(self, *behaviours: Behaviour) -> None:
        """Queue answers for the next generation requests (one each), after any already queued."""
        self._script.extend(behaviours)

    def script_meta(self, *behaviours: Behaviour) -> None:
        """Queue answers for the next metadata requests (model lists, tags, version, show, token counts)."""
        self._meta_script.extend(behaviours)

    @property
    def pending(self) -> int:
        """Scripted generation behaviours not yet used."""
        return len(self._script)

    def reset(self) -> None:
        """Forget recorded requests, disconnects and any queued behaviours."""
        self.requests.clear()
        self._script.clear()
        self._meta_script.clear()
        self.disconnects = 0
        self._disconnected.clear()

    # ---- observation

    @property
    def open_connections(self) -> int:
        """TCP connections the server currently holds open (idle keep-alive ones included)."""
        server = self._runner.server if self._runner is not None else None
        return len(server.connections) if server is not None else 0

    def generation_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.op == "generate"]

    async def wait_disconnect(self, timeout: float = 5.0, count: int = 1) -> None:
        """Wait until at least ``count`` client disconnects have been seen (TimeoutError otherwise)."""
        async with asyncio.timeout(timeout):
            while self.disconnects < count:
                self._disconnected.clear()
                await self._disconnected.wait()

    async def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until no handler is running."""
        async with asyncio.timeout(timeout):
            while self.in_flight:
                await asyncio.sleep(0.01)

    # ---- handling

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self.in_flight += 1
        ex: Exchange | None = None
        try:
            route, params = _match(request)
            dialect = DIALECTS[_vendor_for(request, route)]
            recorded = await self._record(request, route, params, dialect)
            ex = Exchange(request, recorded, dialect, self)
            if route is None:
                return await ex.deliver(ex.render_error(404, f"Not found: {request.method} {request.path}", None, None))
            return await self._next(route).respond(ex)
        except (ConnectionError, asyncio.CancelledError):
            if not self._stopping and (ex is None or not (ex.finished or ex.closed_by_us)):
                self.disconnects += 1
                self._disconnected.set()
            raise
        finally:
            self.in_flight -= 1
            if task is not None:
                self._tasks.discard(task)

    def _next(self, route: Route) -> Behaviour:
        if route.generates:
            return self._script.popleft() if self._script else self.default
        return self._meta_script.popleft() if self._meta_script else self.meta_default

    async def _record(self, request: web.Request, route: Route | None, params: dict[str, str], dialect: Dialect) -> Recorded:
        body = await request.read()
        try:
            parsed: Any = msgspec.json.decode(body) if body else None
        except msgspec.DecodeError:
            parsed = None
        fields = parsed if isinstance(parsed, dict) else {}
        op = route.op if route is not None else "not_found"
        model = params.get("model") or fields.get("model") or fields.get("name")
        if dialect.name == "gemini":
            stream = params.get("verb") == "streamGenerateContent"
        elif dialect.name == "ollama":
            stream = op == "generate" and fields.get("stream", True) is not False
        else:
            stream = op == "generate" and fields.get("stream") is True
        recorded = Recorded(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=CIMultiDict(request.headers),
            body=body,
            json=parsed,
            vendor=dialect.name,
            op=op,
            stream=stream,
            model=str(model) if model is not None else None,
        )
        self.requests.append(recorded)
        return recorded
