"""Support for the translation tests: each provider kind behind its own Trooper, the two
official SDKs as clients with their answers reduced to one comparable `Outcome`, and
what a fake upstream received reduced to one comparable `Seen`.

`Seen` is read from each vendor's own wire shape (Gemini's `inlineData`, Ollama's
role-"tool" messages…): a field a normalizer does not read is a field that did not
arrive in the shape that vendor expects.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import openai

from tests.conftest import run_trooper
from tests.fakes.upstream import FakeUpstream, Recorded

# --- providers ---


@dataclass(frozen=True)
class ProviderSpec:
    kind: str
    path: str  # what follows the fake's URL in the provider's url setting
    key_env: str
    key: str
    model: str


PROVIDERS: dict[str, ProviderSpec] = {
    "claude": ProviderSpec("anthropic", "", "CLAUDE_API_KEY", "sk-ant-test-claude-key-0123456789", "claude-haiku-4-5"),
    "gemini": ProviderSpec("gemini", "", "GEMINI_API_KEY", "AIza-test-gemini-key-0123456789", "gemini-2.0-flash"),
    "openai": ProviderSpec("openai", "/v1", "OPENAI_API_KEY", "sk-test-openai-key-0123456789abcdef", "gpt-4o-mini"),
    "ollama": ProviderSpec("ollama", "/api/chat", "", "", "qwen2.5:3b"),
}
CLIENTS = ("anthropic", "openai")
CLIENT_MODELS = {"anthropic": "claude-haiku-4-5", "openai": "gpt-4o-mini"}


def pipeline(directory: Path, chain: list[tuple[str, FakeUpstream]], quota_status_codes: list[int] | None = None) -> tuple[Path, dict[str, str]]:
    """A pipeline.toml naming exactly `chain` (provider name, its fake), and the env holding
    their keys. The circuit breakers never open: these Troopers serve many tests, each of
    which must find every provider as it scripted it."""
    lines: list[str] = []
    env: dict[str, str] = {}
    if quota_status_codes is not None:
        lines += ["quota_status_codes = " + json.dumps(quota_status_codes), ""]
    lines += ["[stages.failover.breaker]", "threshold = 1000000", ""]
    for name, fake in chain:
        spec = PROVIDERS[name]
        lines += ["[[providers]]", f'name = "{name}"', f'kind = "{spec.kind}"', f'url = "{fake.url}{spec.path}"', f'model = "{spec.model}"']
        if spec.key_env:
            lines.append(f'key_env = "{spec.key_env}"')
            env[spec.key_env] = spec.key
        lines.append("")
    path = directory / ("pipeline-" + "-".join(name for name, _ in chain) + ".toml")
    path.write_text("\n".join(lines))
    return path, env


@asynccontextmanager
async def trooper_for(directory: Path, chain: list[tuple[str, FakeUpstream]], quota_status_codes: list[int] | None = None) -> AsyncIterator[str]:
    """A Trooper whose chain is exactly `chain`; yields its URL."""
    path, env = pipeline(directory, chain, quota_status_codes)
    async with run_trooper(env, path) as trooper:
        yield trooper.url


Stacks = dict[str, tuple[FakeUpstream, str]]  # provider name -> (its fake, the URL of a Trooper serving it alone)


@asynccontextmanager
async def single_provider_troopers(directory: Path, quota_status_codes: list[int] | None = None) -> AsyncIterator[Stacks]:
    """For each provider kind, a fake upstream and a Trooper with that provider alone."""
    async with AsyncExitStack() as stack:
        opened: Stacks = {}
        for name in PROVIDERS:
            fake = await stack.enter_async_context(FakeUpstream())
            opened[name] = (fake, await stack.enter_async_context(trooper_for(directory, [(name, fake)], quota_status_codes)))
        yield opened


# --- clients ---


def anthropic_client(url: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key="client-key", max_retries=0)


def openai_client(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url + "/v1", api_key="client-key", max_retries=0)


@dataclass
class Outcome:
    """An SDK's parsed answer, in terms both SDKs share."""

    text: str
    calls: list[tuple[str, str, dict[str, Any]]]  # (id, name, parsed arguments)
    stop: str  # end_turn | tool_use | max_tokens (OpenAI's finish reasons mapped)
    usage: tuple[int, int]  # (input, output)
    arg_deltas: dict[str, int] = field(default_factory=dict)  # streams: non-empty argument deltas per call id
    streamed_ids: dict[int, set[str]] = field(default_factory=dict)  # streams: every id seen for each call


_FINISH = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}


async def ask(client: str, url: str, stream: bool, request: dict[str, Any]) -> Outcome:
    """Send `request` (the SDK's own keyword arguments, model aside) with the `client` SDK."""
    if client == "anthropic":
        async with anthropic_client(url) as sdk:
            kwargs = {"model": CLIENT_MODELS[client], "max_tokens": 256, **request}
            return await (_anthropic_stream(sdk, kwargs) if stream else _anthropic_whole(sdk, kwargs))
    async with openai_client(url) as sdk:
        kwargs = {"model": CLIENT_MODELS[client], **request}
        return await (_openai_stream(sdk, kwargs) if stream else _openai_whole(sdk, kwargs))


def _anthropic_outcome(message: Any) -> Outcome:
    return Outcome(
        text="".join(b.text for b in message.content if b.type == "text"),
        calls=[(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"],
        stop=message.stop_reason,
        usage=(message.usage.input_tokens, message.usage.output_tokens),
    )


async def _anthropic_whole(sdk: anthropic.AsyncAnthropic, kwargs: dict[str, Any]) -> Outcome:
    return _anthropic_outcome(await sdk.messages.create(**kwargs))


async def _anthropic_stream(sdk: anthropic.AsyncAnthropic, kwargs: dict[str, Any]) -> Outcome:
    ids: dict[int, str] = {}
    deltas: dict[str, int] = {}
    async with sdk.messages.stream(**kwargs) as stream:
        async for event in stream:
            if event.type == "content_block_start" and event.content_block.type == "tool_use":
                ids[event.index] = event.content_block.id
            elif event.type == "content_block_delta" and event.delta.type == "input_json_delta" and event.delta.partial_json:
                call_id = ids[event.index]
                deltas[call_id] = deltas.get(call_id, 0) + 1
        message = await stream.get_final_message()
    outcome = _anthropic_outcome(message)
    outcome.arg_deltas = deltas
    outcome.streamed_ids = {index: {call_id} for index, call_id in ids.items()}
    return outcome


def _openai_outcome(completion: Any) -> Outcome:
    choice = completion.choices[0]
    calls = [(c.id, c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls or ()]
    usage = completion.usage
    return Outcome(
        text=choice.message.content or "",
        calls=calls,
        stop=_FINISH[choice.finish_reason],
        usage=(usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0),
    )


async def _openai_whole(sdk: openai.AsyncOpenAI, kwargs: dict[str, Any]) -> Outcome:
    return _openai_outcome(await sdk.chat.completions.create(**kwargs))


async def _openai_stream(sdk: openai.AsyncOpenAI, kwargs: dict[str, Any]) -> Outcome:
    by_index: dict[int, int] = {}
    streamed_ids: dict[int, set[str]] = {}
    kwargs = {"stream_options": {"include_usage": True}, **kwargs}
    async with sdk.chat.completions.stream(**kwargs) as stream:
        async for event in stream:
            if event.type == "tool_calls.function.arguments.delta" and event.arguments_delta:
                by_index[event.index] = by_index.get(event.index, 0) + 1
            elif event.type == "chunk":
                for choice in event.chunk.choices:
                    for call in choice.delta.tool_calls or ():
                        if call.id:
                            streamed_ids.setdefault(call.index, set()).add(call.id)
        try:
            completion = await stream.get_final_completion()
        except openai.LengthFinishReasonError as cut_off:  # the helper refuses to parse a cut-off answer
            completion = cut_off.completion
    outcome = _openai_outcome(completion)
    outcome.arg_deltas = {outcome.calls[index][0]: count for index, count in by_index.items()}
    outcome.streamed_ids = streamed_ids
    return outcome


async def ask_responses(url: str, stream: bool, request: dict[str, Any], model: str = "gpt-4o-mini") -> Outcome:
    """Send `request` with the OpenAI SDK's Responses API (`client.responses.create`, or
    `.stream` when streamed)."""
    async with openai_client(url) as sdk:
        kwargs = {"model": model, **request}
        if not stream:
            return _responses_outcome(await sdk.responses.create(**kwargs))
        deltas: dict[str, int] = {}
        streamed_ids: dict[int, set[str]] = {}
        call_ids: dict[str, str] = {}  # item id -> call id
        async with sdk.responses.stream(**kwargs) as events:
            async for event in events:
                if event.type == "response.output_item.added" and event.item.type == "function_call":
                    call_ids[event.item.id] = event.item.call_id
                    streamed_ids.setdefault(event.output_index, set()).add(event.item.call_id)
                elif event.type == "response.function_call_arguments.delta" and event.delta:
                    call_id = call_ids[event.item_id]
                    deltas[call_id] = deltas.get(call_id, 0) + 1
            response = await events.get_final_response()
    outcome = _responses_outcome(response)
    outcome.arg_deltas = deltas
    outcome.streamed_ids = {i: ids for i, ids in enumerate(streamed_ids[k] for k in sorted(streamed_ids))}
    return outcome


def _responses_outcome(response: Any) -> Outcome:
    calls = [(item.call_id, item.name, json.loads(item.arguments)) for item in response.output if item.type == "function_call"]
    if response.status == "incomplete":
        stop = "max_tokens"
    else:
        stop = "tool_use" if calls else "end_turn"
    usage = response.usage
    return Outcome(
        text=response.output_text,
        calls=calls,
        stop=stop,
        usage=(usage.input_tokens, usage.output_tokens) if usage else (0, 0),
    )


# --- what the upstream received ---


@dataclass
class Seen:
    """A generation request as a fake upstream received it, read in its vendor's shape."""

    system: str = ""
    texts: list[str] = field(default_factory=list)  # user text, in order
    images: list[tuple[str, str]] = field(default_factory=list)  # ("inline", base64 data) | ("url", url)
    media_types: list[str] = field(default_factory=list)  # of the images, where the format names them
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # assistant tool calls: (name, arguments)
    # Tool results: (address, text). The address is the call's id, or for Gemini and
    # Ollama, which address results by name, the tool's name.
    results: list[tuple[str, str]] = field(default_factory=list)
    tools: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (name, JSON schema)
    tool_choice: str = ""  # auto | any | none | "" (absent)


def seen(provider: str, recorded: Recorded) -> Seen:
    # OpenAI takes a Responses API client's request as it is, at /v1/responses.
    return _READERS["responses" if recorded.vendor == "responses" else provider](recorded.json)


def _claude(body: dict[str, Any]) -> Seen:
    out = Seen(system=body.get("system", ""))
    out.tools = [(t["name"], t["input_schema"]) for t in body.get("tools", [])]
    out.tool_choice = (body.get("tool_choice") or {}).get("type", "")
    for message in body["messages"]:
        content = message["content"]
        for block in [{"type": "text", "text": content}] if isinstance(content, str) else content:
            kind = block["type"]
            if kind == "text" and message["role"] == "user":
                out.texts.append(block["text"])
            elif kind == "image":
                source = block["source"]
                if source["type"] == "base64":
                    out.images.append(("inline", source["data"]))
                    out.media_types.append(source["media_type"])
                else:
                    out.images.append(("url", source["url"]))
            elif kind == "tool_use":
                out.calls.append((block["name"], block["input"]))
            elif kind == "tool_result":
                result = block["content"]
                text = result if isinstance(result, str) else "".join(b["text"] for b in result)
                out.results.append((block["tool_use_id"], text))
    return out


def _either(fields: dict[str, Any], camel: str) -> Any:
    """A Gemini field by its lowerCamel name or its snake_case one."""
    if camel in fields:
        return fields[camel]
    return fields["".join("_" + c.lower() if c.isupper() else c for c in camel)]


def _gemini(body: dict[str, Any]) -> Seen:
    system = body.get("systemInstruction")
    out = Seen(system="".join(p["text"] for p in system["parts"]) if system else "")
    # Google takes proto field names in lowerCamel or snake_case; google-genai sends some
    # nested ones snake_cased, and they reach Gemini as sent.
    out.tools = [(d["name"], _either(d, "parametersJsonSchema")) for t in body.get("tools", []) for d in t["functionDeclarations"]]
    mode = body.get("toolConfig", {}).get("functionCallingConfig", {}).get("mode", "")
    out.tool_choice = mode.lower()
    for content in body["contents"]:
        for part in content["parts"]:
            if "text" in part and content["role"] == "user":
                out.texts.append(part["text"])
            elif "inlineData" in part:
                out.images.append(("inline", part["inlineData"]["data"]))
                out.media_types.append(_either(part["inlineData"], "mimeType"))
            elif "fileData" in part:
                out.images.append(("url", _either(part["fileData"], "fileUri")))
                out.media_types.append(_either(part["fileData"], "mimeType"))
            elif "functionCall" in part:
                assert content["role"] == "model"
                out.calls.append((part["functionCall"]["name"], part["functionCall"]["args"]))
            elif "functionResponse" in part:
                assert content["role"] == "user"
                response = part["functionResponse"]
                out.results.append((response["name"], response["response"]["content"]))
    return out


def _image_url_seen(url: str, out: Seen) -> None:
    """An OpenAI image URL: a data URL is an inline image (its media type named), else a URL."""
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        out.images.append(("inline", data))
        out.media_types.append(header[5:].split(";")[0])
    else:
        out.images.append(("url", url))


def _openai(body: dict[str, Any]) -> Seen:
    out = Seen()
    out.tools = [(t["function"]["name"], t["function"]["parameters"]) for t in body.get("tools", [])]
    choice = body.get("tool_choice", "")
    out.tool_choice = {"required": "any"}.get(choice, choice) if isinstance(choice, str) else "tool"
    for message in body["messages"]:
        role, content = message["role"], message.get("content")
        if role == "system":
            out.system = content
        elif role == "user":
            for part in [{"type": "text", "text": content}] if isinstance(content, str) else content:
                if part["type"] == "text":
                    out.texts.append(part["text"])
                else:
                    _image_url_seen(part["image_url"]["url"], out)
        elif role == "assistant":
            out.calls += [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in message.get("tool_calls") or ()]
        elif role == "tool":
            out.results.append((message["tool_call_id"], content))
    return out


def _ollama(body: dict[str, Any]) -> Seen:
    out = Seen()
    out.tools = [(t["function"]["name"], t["function"]["parameters"]) for t in body.get("tools", [])]
    for message in body["messages"]:
        role = message["role"]
        if role == "system":
            out.system = message["content"]
        elif role == "user":
            out.texts.append(message["content"])
            out.images += [("inline", data) for data in message.get("images", [])]
        elif role == "assistant":
            out.calls += [(c["function"]["name"], c["function"]["arguments"]) for c in message.get("tool_calls") or ()]
        elif role == "tool":
            out.results.append((message["tool_name"], message["content"]))
    return out


def _responses(body: dict[str, Any]) -> Seen:
    out = Seen(system=body.get("instructions") or "")
    out.tools = [(t["name"], t["parameters"]) for t in body.get("tools", [])]
    choice = body.get("tool_choice", "")
    out.tool_choice = {"required": "any"}.get(choice, choice) if isinstance(choice, str) else "tool"
    items = body["input"]
    for item in [{"role": "user", "content": items}] if isinstance(items, str) else items:
        kind = item.get("type", "message")
        if kind == "message" and item["role"] == "user":
            content = item["content"]
            for part in [{"type": "input_text", "text": content}] if isinstance(content, str) else content:
                if part["type"] == "input_text":
                    out.texts.append(part["text"])
                else:
                    _image_url_seen(part["image_url"], out)
        elif kind == "function_call":
            out.calls.append((item["name"], json.loads(item["arguments"])))
        elif kind == "function_call_output":
            out.results.append((item["call_id"], item["output"]))
    return out


_READERS = {"claude": _claude, "gemini": _gemini, "openai": _openai, "ollama": _ollama, "responses": _responses}
