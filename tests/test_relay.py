"""The relay's splice, piece by piece: how a continuation's opening is judged (each
outcome of the seam), how held events are released into the client's one message, the
usage of an answer written by two providers, and where the outcome is recorded."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import anthropic
import openai
import pytest

from tests.conftest import chain_env, run_trooper
from tests.fakes.upstream import FakeUpstream, Habit, ResetMidStream, Text
from trooper.continuation import Splice, continuation, continue_prompt
from trooper.conversation import (
    BlockStart,
    BlockStop,
    Conversation,
    Message,
    Response,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextBlock,
    TextDelta,
    ToolInputDelta,
    ToolUseBlock,
    Usage,
)
from trooper.formats import codec
from trooper.seam import Refused, Seam, seam_words
from trooper.signals.tokens import estimate_conversation, estimate_text

SENT = "The Bluebird project moves the billing service to Postgres in three phases: first"


def judge(sent: str, pieces: list[str], *, prefilled: bool) -> tuple[str, str]:
    """(outcome, text passed on) for a continuation arriving in `pieces`. Checks the
    hold-back bound at every step: never more than the text already sent."""
    seam = Seam(sent, prefilled=prefilled)
    passed = ""
    for piece in pieces:
        passed += seam.feed(piece)
        assert len(seam.held) <= len(sent)
    passed += seam.end()
    assert seam.outcome is not None
    return seam.outcome, passed


# --- the seam: each outcome ---


def test_a_prefilled_target_that_carries_on_is_streamed_as_it_comes() -> None:
    assert judge(SENT, [" the", " schema", ", then the data."], prefilled=True) == ("prefill", " the schema, then the data.")


def test_a_target_asked_to_continue_that_begins_with_the_seam_words_continues() -> None:
    words = seam_words(SENT)
    assert words == "to Postgres in three phases: first"
    outcome, passed = judge(SENT, ["to Postgres in", " three phases: first", " the schema."], prefilled=False)
    assert (outcome, passed) == ("continued", " the schema.")


def test_a_restart_with_the_same_words_is_spliced_and_held_back_no_longer_than_the_text_sent() -> None:
    seam = Seam(SENT, prefilled=False)
    restart = SENT.split(" ")
    released = [seam.feed(word if i == 0 else " " + word) for i, word in enumerate(restart)]
    assert released == [""] * len(restart)  # everything the client has is held back, nothing more
    assert seam.outcome == "spliced"
    assert seam.feed(" the schema.") == " the schema."


def test_a_restart_in_other_words_is_refused() -> None:
    with pytest.raises(Refused, match="started the answer over"):
        judge(SENT, ["The Bluebird project is about", " moving billing."], prefilled=False)


def test_an_answer_to_something_else_is_refused() -> None:
    with pytest.raises(Refused, match="does not carry on"):
        judge(SENT, ["I'm not sure what you mean."], prefilled=False)
    with pytest.raises(Refused, match="does not carry on"):
        judge(SENT, ["Sure! Here is a summary."], prefilled=True)


def test_a_restart_that_stops_short_of_what_was_sent_is_refused() -> None:
    with pytest.raises(Refused, match="stopped"):
        judge(SENT, ["The Bluebird project moves"], prefilled=True)


def test_whitespace_at_the_seam_is_not_doubled() -> None:
    assert judge("Alpha Bravo ", [" Charlie"], prefilled=True) == ("prefill", "Charlie")


def test_a_caseless_script_joins_after_a_prefill_only() -> None:
    assert judge("計画は三段階で", ["進めます。"], prefilled=True) == ("prefill", "進めます。")
    with pytest.raises(Refused):
        judge("計画は三段階で", ["進めます。"], prefilled=False)


def test_nothing_more_to_say_ends_the_answer_as_it_stands() -> None:
    assert judge(SENT, [""], prefilled=True) == ("prefill", "")


# --- what a continuation is asked ---


def test_a_target_without_prefill_is_asked_for_the_seam_words_first() -> None:
    conversation = Conversation("m", (Message("user", (TextBlock("Plan the migration."),)),))
    delivered = Response("id", "m", (TextBlock(SENT + " "),))
    asked = continuation(conversation, delivered, prefill=False)
    assert asked is not None
    assert [m.role for m in asked.messages] == ["user", "assistant", "user"]
    assert asked.messages[-1].text() == continue_prompt(SENT)
    assert '"to Postgres in three phases: first"' in continue_prompt(SENT)
    prefilled = continuation(conversation, delivered, prefill=True)
    assert prefilled is not None and prefilled.messages[-1] == Message("assistant", (TextBlock(SENT),))


# --- the splice: held events released into one message, usage of both providers ---


def first_part(splice: Splice, text: str) -> list[StreamEvent]:
    out: list[StreamEvent] = []
    for event in (StreamStart("msg_1", "claude", 12), BlockStart(0, TextBlock("")), TextDelta(0, text)):
        out += splice.take(event)
    return out


def continuation_events(text_pieces: list[str], output_tokens: int) -> list[StreamEvent]:
    return [
        StreamStart("chatcmpl_1", "gpt", 40),
        BlockStart(0, TextBlock("")),
        *(TextDelta(0, piece) for piece in text_pieces),
        BlockStop(0),
        StreamEnd("end_turn", None, Usage(40, output_tokens)),
    ]


def test_a_spliced_restart_reaches_the_client_as_one_message_with_the_usage_of_both() -> None:
    splice = Splice()
    sent = first_part(splice, SENT)
    splice.switch(Seam(SENT, prefilled=False))
    out: list[StreamEvent] = []
    for event in continuation_events([SENT[:30], SENT[30:], " the schema."], output_tokens=18):
        out += splice.take(event)
    assert [type(e) for e in sent] == [StreamStart, BlockStart, TextDelta]
    assert out == [TextDelta(0, " the schema."), BlockStop(0), StreamEnd("end_turn", None, Usage(12, estimate_text(SENT) + 18))]
    assert splice.delivered.text() == SENT + " the schema."
    assert splice.seam is not None and splice.seam.outcome == "spliced"


def test_a_refused_continuation_sends_nothing_of_it() -> None:
    splice = Splice()
    first_part(splice, "Alpha Bravo")
    splice.switch(Seam("Alpha Bravo", prefilled=False))
    taken: list[StreamEvent] = []
    with pytest.raises(Refused):
        for event in continuation_events(["Sorry,", " what", " do you mean?"], output_tokens=5):
            taken += splice.take(event)
    assert taken == [] and splice.delivered.text() == "Alpha Bravo"


def test_a_tool_call_from_a_continuation_decides_the_seam() -> None:
    splice = Splice()
    first_part(splice, "Let me check.")
    splice.switch(Seam("Let me check.", prefilled=True))
    out: list[StreamEvent] = []
    for event in (StreamStart("m", "m", 0), BlockStart(0, ToolUseBlock("call_1", "get_weather", {})),
                  ToolInputDelta(0, '{"city": "Lisbon"}'), BlockStop(0), StreamEnd("tool_use", None, Usage(0, 9))):
        out += splice.take(event)
    assert splice.seam is not None and splice.seam.outcome == "prefill"
    assert [type(e) for e in out] == [BlockStop, BlockStart, ToolInputDelta, BlockStop, StreamEnd]
    assert out[-1] == StreamEnd("tool_use", None, Usage(12, estimate_text("Let me check.") + 9))


def test_an_answer_finished_at_complete_tool_calls_keeps_its_usage() -> None:
    splice = Splice()
    for event in (StreamStart("m", "m", 30), BlockStart(0, ToolUseBlock("call_1", "ls", {})),
                  ToolInputDelta(0, '{"path": "/srv"}'), BlockStop(0)):
        splice.take(event)
    end = splice.finish("tool_use")[-1]
    assert end == StreamEnd("tool_use", None, Usage(30, estimate_text('{"path": "/srv"}')))


# --- where the outcome is recorded ---


async def test_the_outcome_is_in_the_sessions_request_record(tmp_path: Path, claude: FakeUpstream, ollama: FakeUpstream) -> None:
    answer = "Alpha Bravo Charlie Delta Echo Foxtrot."
    claude.script(ResetMidStream(6, Text(answer)))
    ollama.default = Habit("ignores_prefill", answer)
    env = chain_env(claude=claude, ollama=ollama, TROOPER_DB=str(tmp_path / "trooper.db"))
    async with run_trooper(env) as trooper:
        client = anthropic.AsyncAnthropic(base_url=trooper.url, api_key="k", max_retries=0,
                                          default_headers={"X-Session-ID": "splice-record"})
        ask = [{"role": "user", "content": "Name the six phases of the Bluebird project with their code words, in order."}]
        async with client.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=ask) as stream:  # type: ignore[arg-type]
            message = await stream.get_final_message()
        async with aiohttp.ClientSession() as http, http.get(trooper.url + "/sessions/splice-record") as response:
            detail = await response.json()
    assert message.content[0].text == answer  # type: ignore[union-attr]
    attempts = detail["requests"][0]["attempts"]
    tried = [(provider, reason, splice) for provider, _, reason, _, _, splice in attempts if reason != "no_key"]
    assert tried == [("claude", "", ""), ("claude", "network", ""), ("ollama", "", "spliced")]


async def test_a_cut_before_the_primary_said_its_usage_counts_the_request_by_estimate(
    openai_fake: FakeUpstream, ollama: FakeUpstream
) -> None:
    """OpenAI states usage only in its last chunk: cut before it, the client's request is
    counted by Trooper's estimate, and the output of both providers adds up (never 0/0)."""
    answer = "Alpha Bravo Charlie Delta Echo Foxtrot."
    openai_fake.script(ResetMidStream(4, Text(answer)))  # the role chunk, then three words
    ollama.default = Habit("continues", answer)
    ask = [{"role": "user", "content": "Name the six phases of the Bluebird project with their code words, in order."}]
    async with run_trooper(chain_env(openai=openai_fake, ollama=ollama)) as trooper:
        client = openai.AsyncOpenAI(base_url=trooper.url + "/v1", api_key="k", max_retries=0)
        async with client.chat.completions.stream(
            model="gpt-4o-mini", messages=ask, stream_options={"include_usage": True}  # type: ignore[arg-type]
        ) as stream:
            completion = await stream.get_final_completion()
    assert completion.choices[0].message.content == answer
    request = codec("openai").decode_request(openai_fake.generation_requests()[0].body)
    continued = " Delta Echo Foxtrot."  # what Ollama said after the prefill
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (
        estimate_conversation(request), estimate_text("Alpha Bravo Charlie") + len(continued.split()))


async def test_an_openai_kind_server_with_prefill_is_told_to_continue_the_final_message(
    claude: FakeUpstream, openai_fake: FakeUpstream, tmp_path: Path
) -> None:
    """vLLM continues a final assistant message only with `continue_final_message`."""
    answer = "Alpha Bravo Charlie Delta Echo Foxtrot."
    claude.script(ResetMidStream(6, Text(answer)))
    openai_fake.default = Habit("continues", answer)
    toml = tmp_path / "vllm.toml"
    toml.write_text(
        f'[[providers]]\nname = "claude"\nkind = "anthropic"\nurl = "{claude.url}"\nkey_env = "CLAUDE_API_KEY"\n'
        f'[[providers]]\nname = "vllm"\nkind = "openai"\nurl = "{openai_fake.url}/v1"\nmodel = "qwen"\nprefill = true\n'
    )
    async with run_trooper(chain_env(claude=claude), toml) as trooper:
        client = anthropic.AsyncAnthropic(base_url=trooper.url, api_key="k", max_retries=0)
        ask = [{"role": "user", "content": "Name the six phases of the Bluebird project with their code words, in order."}]
        async with client.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=ask) as stream:  # type: ignore[arg-type]
            message = await stream.get_final_message()
    assert message.content[0].text == answer  # type: ignore[union-attr]
    asked = openai_fake.generation_requests()[0].json
    assert asked["messages"][-1] == {"role": "assistant", "content": "Alpha Bravo Charlie"}
    assert (asked["continue_final_message"], asked["add_generation_prompt"]) == (True, False)


def test_a_new_paragraph_joins_only_where_the_sentence_had_ended() -> None:
    assert judge("The first phase moves the schema.", ["\n\nThe second", " moves the data."], prefilled=True) == (
        "prefill", "\n\nThe second moves the data.")
    with pytest.raises(Refused, match="does not carry on"):
        judge("The first phase moves the", ["\n\nSure! Here is", " the plan."], prefilled=True)
