"""Properties of the codecs, over generated conversations and streams:

1. a conversation survives encode_request -> decode_request, up to what the target
   format cannot represent (spelled out in the `expected_*` functions);
2. a stream decodes to the same events however its bytes are cut;
3. our stream encoders' output decodes back to the events it was written from.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trooper.conversation import (
    Block,
    BlockStart,
    BlockStop,
    Conversation,
    ImageBlock,
    Message,
    Response,
    ResponseBuilder,
    Sampling,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    Tool,
    ToolChoice,
    ToolInputDelta,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from trooper.formats import anthropic, codec, gemini, ollama, openai, responses

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ---------------------------------------------------------------- strategies

texts = st.one_of(
    st.text(max_size=30),
    st.just(""),
    st.builds(lambda piece, times: piece * times, st.text(min_size=1, max_size=8), st.integers(200, 2000)),
)
ids = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=24)
names = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
images = st.builds(
    lambda media_type, data: ImageBlock(media_type, base64.b64encode(data).decode()),
    st.sampled_from(["image/png", "image/jpeg", "image/gif", "image/webp"]),
    st.binary(min_size=1, max_size=30),
)
url_images = st.builds(lambda path: ImageBlock(url=f"https://img.test/{path}.png"), names)


@st.composite
def conversations(draw: st.DrawFn) -> Conversation:
    messages: list[Message] = []
    pending: list[ToolUseBlock] = []  # the last assistant turn's calls, answered next turn
    for turn in range(draw(st.integers(1, 6))):
        if turn % 2 == 0:
            results: list[Block] = [
                ToolResultBlock(call.id, tuple(draw(st.lists(texts.map(TextBlock), max_size=2))), draw(st.booleans()))
                for call in pending
            ]
            others = draw(st.lists(st.one_of(texts.map(TextBlock), images, url_images), min_size=0 if results else 1, max_size=3))
            messages.append(Message("user", tuple(results + others)))
            pending = []
        else:
            blocks: list[Block] = []
            if draw(st.booleans()):
                blocks.append(ThinkingBlock(draw(texts), draw(ids)))
            blocks += draw(st.lists(texts.map(TextBlock), max_size=2))
            # Ids are unique within a conversation, as every vendor makes them.
            pending = [ToolUseBlock(f"{draw(ids)}_{len(messages)}_{n}", draw(names), draw(json_objects)) for n in range(draw(st.integers(0, 2)))]
            messages.append(Message("assistant", tuple(blocks + pending)))
    tools = tuple(draw(st.lists(st.builds(Tool, names, st.text(max_size=20), json_objects.filter(bool)), max_size=2)))
    choice = draw(st.none() | st.builds(ToolChoice, st.sampled_from(["auto", "any", "tool", "none"]), names, st.booleans()))
    sampling = Sampling(
        max_tokens=draw(st.none() | st.integers(1, 100_000)),
        temperature=draw(st.none() | st.sampled_from([0.0, 0.25, 0.7, 1.0])),
        top_p=draw(st.none() | st.sampled_from([0.1, 0.95])),
        top_k=draw(st.none() | st.integers(1, 100)),
        stop=tuple(draw(st.lists(st.text(min_size=1, max_size=5), max_size=2))),
        seed=draw(st.none() | st.integers(0, 2**31)),
        response_format=draw(st.none() | st.just("json") | json_objects.filter(bool)),
    )
    return Conversation(
        model=draw(names),
        messages=tuple(messages),
        system=draw(texts),
        tools=tools,
        tool_choice=choice,
        sampling=sampling,
        stream=draw(st.booleans()),
    )


# ---------------------------------------------------------------- 1. requests survive a round trip


def with_tool_names(messages: tuple[Message, ...]) -> tuple[Message, ...]:
    """Decoders name each tool result after the call it answers."""
    called = {b.id: b.name for m in messages for b in m.content if type(b) is ToolUseBlock}
    return tuple(
        Message(m.role, tuple(msgspec.structs.replace(b, name=called.get(b.tool_use_id, "")) if type(b) is ToolResultBlock else b for b in m.content))
        for m in messages
    )


def expected_anthropic(conversation: Conversation, model: str) -> Conversation:
    def block(b: Block) -> Block:
        if type(b) is ToolResultBlock:
            return msgspec.structs.replace(b, content=tuple(c for c in b.content if not (type(c) is TextBlock and not c.text)))
        if type(b) is ThinkingBlock and not b.signature:
            return TextBlock("[thinking omitted]")
        return b

    messages = tuple(Message(m.role, tuple(block(b) for b in m.content if not (type(b) is TextBlock and not b.text))) for m in conversation.messages)
    choice = conversation.tool_choice
    if choice is not None:
        choice = ToolChoice(choice.mode, choice.name if choice.mode == "tool" else "", choice.parallel or choice.mode == "none")
    sampling = conversation.sampling
    return msgspec.structs.replace(
        conversation,
        model=model,
        messages=with_tool_names(messages),
        tools=tuple(Tool(t.name, t.description, t.input_schema) for t in conversation.tools),
        tool_choice=choice,
        sampling=Sampling(
            sampling.max_tokens or 4096, sampling.temperature, sampling.top_p, sampling.top_k, sampling.stop,
            response_format=sampling.response_format if isinstance(sampling.response_format, dict) else None,
        ),
    )


def expected_openai(conversation: Conversation, model: str) -> Conversation:
    messages = []
    for message in conversation.messages:
        if message.role == "assistant":
            messages.append(Message("assistant", openai_assistant(message.content)))
            continue
        results = [openai_result(b) for b in message.content if type(b) is ToolResultBlock]
        others = [b for b in message.content if type(b) is not ToolResultBlock]
        messages.append(Message("user", tuple(results + others)))
    choice = conversation.tool_choice
    if choice is not None:
        choice = ToolChoice(choice.mode, choice.name if choice.mode == "tool" else "", choice.parallel or not conversation.tools)
    sampling = msgspec.structs.replace(conversation.sampling, top_k=None)
    extra = {"stream_options": {"include_usage": True}} if conversation.stream else {}
    return msgspec.structs.replace(
        conversation, model=model, messages=with_tool_names(tuple(messages)), tool_choice=choice, sampling=sampling, extra=extra
    )


def openai_assistant(content: tuple[Block, ...]) -> tuple[Block, ...]:
    """One content string (thinking as a note) then the tool calls."""
    texts = [b.text if type(b) is TextBlock else "[thinking omitted]" for b in content if type(b) is not ToolUseBlock]
    calls = tuple(b for b in content if type(b) is ToolUseBlock)
    text = "".join(texts)
    return ((TextBlock(text),) if text or not calls else ()) + calls


def openai_result(result: ToolResultBlock) -> ToolResultBlock:
    content = result.content
    if len(content) == 1 and type(content[0]) is TextBlock and not content[0].text:
        content = ()
    return ToolResultBlock(result.tool_use_id, content)


@SETTINGS
@given(conversations(), names)
def test_anthropic_request_round_trip(conversation: Conversation, model: str) -> None:
    decoded = anthropic.decode_request(anthropic.encode_request(conversation, model))
    assert decoded == expected_anthropic(conversation, model)


@SETTINGS
@given(conversations(), names)
def test_openai_request_round_trip(conversation: Conversation, model: str) -> None:
    decoded = openai.decode_request(openai.encode_request(conversation, model))
    assert decoded == expected_openai(conversation, model)


def expected_gemini(conversation: Conversation) -> Conversation:
    """Gemini drops empty text (and so turns left empty, whose neighbours then merge),
    thinking signatures, the tool choice without tools and `parallel`; tool results are
    one string. The model and streaming are in the URL, not the body."""

    def block(b: Block) -> Block | None:
        if type(b) in (TextBlock, ThinkingBlock) and not b.text:  # type: ignore[union-attr]
            return None
        if type(b) is ThinkingBlock:
            return ThinkingBlock(b.text)
        if type(b) is ToolResultBlock:
            text = "\n\n".join(c.text for c in b.content if type(c) is TextBlock)
            return ToolResultBlock(b.tool_use_id, (TextBlock(text),) if text else (), b.is_error)
        return b

    merged: list[Message] = []
    for message in conversation.messages:
        content = tuple(kept for b in message.content if (kept := block(b)) is not None)
        if not content:
            continue
        if merged and merged[-1].role == message.role:
            merged[-1] = Message(message.role, merged[-1].content + content)
        else:
            merged.append(Message(message.role, content))
    choice = conversation.tool_choice if conversation.tools else None
    if choice is not None:
        choice = ToolChoice(choice.mode, choice.name if choice.mode == "tool" else "")
    return msgspec.structs.replace(
        conversation, model="", stream=False, messages=with_tool_names(tuple(merged)), tool_choice=choice
    )


@SETTINGS
@given(conversations(), names)
def test_gemini_request_round_trip(conversation: Conversation, model: str) -> None:
    decoded = gemini.decode_request(gemini.encode_request(conversation, model))
    assert decoded == expected_gemini(conversation)


@SETTINGS
@given(conversations(), names)
def test_ollama_request_keeps_the_turns(conversation: Conversation, model: str) -> None:
    """Ollama is lossier (one content string a message); check what must survive."""
    decoded = ollama.decode_request(ollama.encode_request(conversation, model))
    assert decoded.model == model
    assert decoded.system == conversation.system

    def calls(c: Conversation) -> list[tuple[str, str, dict[str, Any]]]:
        return [(b.id, b.name, b.input) for m in c.messages for b in m.content if type(b) is ToolUseBlock]

    def results(c: Conversation) -> list[str]:
        return [b.tool_use_id for m in c.messages for b in m.content if type(b) is ToolResultBlock]

    def base64_images(c: Conversation) -> list[str]:
        return [b.data for m in c.messages for b in m.content if type(b) is ImageBlock and b.data]

    assert calls(decoded) == calls(conversation)
    assert results(decoded) == results(conversation)
    assert base64_images(decoded) == base64_images(conversation)


# ---------------------------------------------------------------- streams

CODECS = ["anthropic", "gemini", "openai", "ollama"]
stop_reasons = st.sampled_from(["end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal", "error"])


@st.composite
def event_sequences(draw: st.DrawFn) -> list[StreamEvent]:
    events: list[StreamEvent] = [StreamStart(draw(ids), draw(names), draw(st.integers(0, 10**6)))]
    for index in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["text", "thinking", "tool_use"]))
        if kind == "tool_use":
            events.append(BlockStart(index, ToolUseBlock(draw(ids), draw(names))))
            encoded = json.dumps(draw(json_objects), ensure_ascii=draw(st.booleans()))
            cuts = sorted(draw(st.lists(st.integers(0, len(encoded)), max_size=4)))
            events += [ToolInputDelta(index, encoded[a:b]) for a, b in zip([0, *cuts], [*cuts, len(encoded)])]
        else:
            events.append(BlockStart(index, TextBlock("") if kind == "text" else ThinkingBlock("")))
            delta = TextDelta if kind == "text" else ThinkingDelta
            events += [delta(index, text) for text in draw(st.lists(texts, max_size=4))]
        events.append(BlockStop(index))
    usage = Usage(draw(st.integers(0, 10**6)), draw(st.integers(0, 10**6)))
    events.append(StreamEnd(draw(stop_reasons), draw(st.none() | st.text(min_size=1, max_size=5)), usage))
    return events


def decode(name: str, data: bytes, cuts: list[int] | None = None) -> list[StreamEvent]:
    decoder = codec(name).StreamDecoder()
    bounds = [0, *sorted(cuts or []), len(data)]
    events: list[StreamEvent] = []
    for start, end in zip(bounds, bounds[1:]):
        events += decoder.feed(data[start:end])
    return events + decoder.close()


REQUEST = Conversation(model="client-model", messages=(), extra={"stream_options": {"include_usage": True}})


def encode(name: str, events: list[StreamEvent]) -> bytes:
    encoder = codec(name).StreamEncoder(REQUEST)
    return b"".join(encoder.encode(event) for event in events) + encoder.trailer()


def expected_anthropic_events(events: list[StreamEvent]) -> list[StreamEvent]:
    end = events[-1]
    assert isinstance(end, StreamEnd)
    if end.stop_reason == "error":
        end = msgspec.structs.replace(end, stop_reason="end_turn")
    return [*events[:-1], end]


def expected_collapsed(events: list[StreamEvent], name: str) -> list[StreamEvent]:
    """What OpenAI, Ollama and Gemini streams can say: no empty deltas, so no empty text
    blocks, and adjacent text (or thinking) blocks run together; no stop sequence; no
    input tokens up front (Gemini's chunks carry them); Ollama and Gemini send each tool
    call's input whole."""
    start = events[0]
    assert isinstance(start, StreamStart)
    whole_calls = name in ("ollama", "gemini")
    out: list[StreamEvent] = [StreamStart("" if name == "ollama" else start.id, start.model)]
    open_index, open_kind, next_index = -1, "", 0
    tool_input: list[str] = []
    called = False

    def close() -> None:
        nonlocal open_index, open_kind
        if open_index >= 0:
            if open_kind == "tool_use" and whole_calls:
                arguments = json.loads("".join(tool_input) or "{}")
                out.append(ToolInputDelta(open_index, msgspec.json.encode(arguments).decode()))
            out.append(BlockStop(open_index))
        open_index, open_kind = -1, ""

    def open_block(block: Any, kind: str) -> None:
        nonlocal open_index, open_kind, next_index
        close()
        out.append(BlockStart(next_index, block))
        open_index, open_kind, next_index = next_index, kind, next_index + 1

    for event in events[1:-1]:
        if type(event) is BlockStart and type(event.block) is ToolUseBlock:
            called = True
            open_block(event.block, "tool_use")
            tool_input = []
        elif type(event) is ToolInputDelta:
            tool_input.append(event.partial_json)
            if event.partial_json and name == "openai":
                out.append(ToolInputDelta(open_index, event.partial_json))
        elif type(event) in (TextDelta, ThinkingDelta) and event.text:
            kind = "text" if type(event) is TextDelta else "thinking"
            if open_kind != kind:
                open_block(TextBlock("") if kind == "text" else ThinkingBlock(""), kind)
            out.append(type(event)(open_index, event.text))
        elif type(event) is BlockStop and open_kind == "tool_use":
            close()
    close()
    end = events[-1]
    assert isinstance(end, StreamEnd)
    if name == "ollama":
        reason = "tool_use" if called else "max_tokens" if end.stop_reason == "max_tokens" else "end_turn"
    elif name == "gemini":
        reason = {"stop_sequence": "end_turn", "tool_use": "end_turn"}.get(end.stop_reason, end.stop_reason)
        reason = "tool_use" if called and reason == "end_turn" else reason
        # The prompt's token count rides on the first chunk: a delta's, else the final one's.
        first_input = start.input_tokens if len(out) > 1 else end.usage.input_tokens
        out[0] = StreamStart(start.id, start.model, first_input)
    else:
        reason = {"stop_sequence": "end_turn", "error": "end_turn"}.get(end.stop_reason, end.stop_reason)
        reason = "tool_use" if called and reason == "end_turn" else reason
    out.append(StreamEnd(reason, None, end.usage))  # type: ignore[arg-type]
    return out


def expected_events(name: str, events: list[StreamEvent]) -> list[StreamEvent]:
    return expected_anthropic_events(events) if name == "anthropic" else expected_collapsed(events, name)


# ---------------------------------------------------------------- 3. encoder output decodes back


@SETTINGS
@given(event_sequences(), st.sampled_from(CODECS))
def test_stream_encoder_round_trip(events: list[StreamEvent], name: str) -> None:
    assert decode(name, encode(name, events)) == expected_events(name, events)


# ---------------------------------------------------------------- 2. any chunking, same events


@SETTINGS
@given(
    st.sampled_from(CODECS),
    event_sequences(),
    st.booleans(),
    st.lists(st.integers(0, 10**6), max_size=40),
)
def test_any_chunking_gives_the_same_events(name: str, events: list[StreamEvent], crlf: bool, positions: list[int]) -> None:
    data = encode(name, events)  # here, not in a strategy: encoders draw random ids
    if crlf and name != "ollama":
        data = data.replace(b"\n", b"\r\n")
    cuts = [position % (len(data) + 1) for position in positions]
    assert decode(name, data, cuts) == decode(name, data)


def test_every_cut_of_a_multibyte_stream() -> None:
    events: list[StreamEvent] = [
        StreamStart("id_1", "m"),
        BlockStart(0, TextBlock("")),
        TextDelta(0, "日本語 👋🏽  é"),
        BlockStop(0),
        StreamEnd("end_turn", None, Usage(1, 2)),
    ]
    for name in CODECS:
        data = encode(name, events)
        whole = decode(name, data)
        for cut in range(len(data) + 1):
            assert decode(name, data, [cut]) == whole


# ---------------------------------------------------------------- the Responses API


def answer_of(events: list[StreamEvent]) -> Response:
    builder = ResponseBuilder()
    for event in events:
        builder.add(event)
    return builder.response()


def expected_responses_answer(events: list[StreamEvent]) -> tuple[list[Block], str, Usage]:
    """What a Responses client gets: each text block as a message (empty ones leave no text),
    each tool call whole; reasoning is not carried across vendors. The stop reason is told
    by the status (incomplete: max_tokens or refusal) and by whether tools were called."""
    answer = answer_of(events)
    content: list[Block] = [b for b in answer.content if (type(b) is TextBlock and b.text) or type(b) is ToolUseBlock]
    called = any(type(b) is ToolUseBlock for b in content)
    reason = answer.stop_reason if answer.stop_reason in ("max_tokens", "refusal") else "tool_use" if called else "end_turn"
    return content, reason, answer.usage


@SETTINGS
@given(event_sequences())
def test_responses_stream_encoder_round_trip(events: list[StreamEvent]) -> None:
    decoded = answer_of(decode("responses", encode("responses", events)))
    content, reason, usage = expected_responses_answer(events)
    assert (list(decoded.content), decoded.stop_reason, decoded.usage) == (content, reason, usage)


@SETTINGS
@given(event_sequences(), st.booleans(), st.lists(st.integers(0, 10**6), max_size=40))
def test_responses_any_chunking_gives_the_same_events(events: list[StreamEvent], crlf: bool, positions: list[int]) -> None:
    data = encode("responses", events)
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    cuts = [position % (len(data) + 1) for position in positions]
    assert decode("responses", data, cuts) == decode("responses", data)


def expected_responses_request(conversation: Conversation, model: str) -> Conversation:
    """The Responses API has no top_k, seed or stop sequences, carries no reasoning across
    vendors, and writes each assistant text as its own message item (empty ones dropped);
    tool results are one string unless they hold images."""
    def assistant(content: tuple[Block, ...]) -> tuple[Block, ...]:
        return tuple(b for b in content if (type(b) is TextBlock and b.text) or type(b) is ToolUseBlock)

    def user_block(block: Block) -> Block:
        if type(block) is ToolResultBlock:
            content = block.content
            if not any(type(c) is ImageBlock for c in content):
                text = "\n\n".join(c.text for c in content if type(c) is TextBlock)
                content = (TextBlock(text),) if text else ()
            return ToolResultBlock(block.tool_use_id, content)
        if type(block) is ThinkingBlock:
            return TextBlock("[thinking omitted]")
        return block

    messages: list[Message] = []
    for message in conversation.messages:
        content = assistant(message.content) if message.role == "assistant" else tuple(user_block(b) for b in message.content)
        if not content:
            continue
        if messages and messages[-1].role == message.role:
            messages[-1] = Message(message.role, messages[-1].content + content)
        else:
            messages.append(Message(message.role, content))
    choice = conversation.tool_choice if conversation.tools else None
    if choice is not None:
        choice = ToolChoice(choice.mode, choice.name if choice.mode == "tool" else "", choice.parallel)
    sampling = msgspec.structs.replace(conversation.sampling, top_k=None, seed=None, stop=())
    tools = tuple(Tool(t.name, t.description, t.input_schema or {"type": "object", "properties": {}}) for t in conversation.tools)
    return msgspec.structs.replace(
        conversation, model=model, messages=with_tool_names(tuple(messages)), tool_choice=choice, sampling=sampling,
        tools=tools, extra={"store": False},
    )


@SETTINGS
@given(conversations(), names)
def test_responses_request_round_trip(conversation: Conversation, model: str) -> None:
    decoded = responses.decode_request(responses.encode_request(conversation, model))
    assert decoded == expected_responses_request(conversation, model)
