"""Signals read the user, not the harness: text an agent injects (Claude Code's
<system-reminder> blocks, its skill and agent catalogues, its billing line) never becomes
the intent, an open loop, a constraint or a fact."""

from __future__ import annotations

import json
from pathlib import Path

from trooper.conversation import Message, TextBlock, ToolResultBlock, ToolUseBlock
from trooper.formats import anthropic
from trooper.signals.extract import extract
from trooper.signals.harness import without_harness

CAPTURE = Path(__file__).parent / "data" / "claude_code" / "first_request.body.json"

REMINDER = (
    "<system-reminder>\nAs you answer the user's questions, you can use the following context:\n"
    "# claudeMd\nIMPORTANT: you must never push to main. TODO: still need to migrate the auth tables.\n"
    "</system-reminder>\n"
)


def test_without_harness_takes_out_what_the_harness_wrote() -> None:
    assert without_harness("Fix the login bug.") == "Fix the login bug."
    assert without_harness(REMINDER) == ""
    assert without_harness(REMINDER + "Fix the login bug.") == "Fix the login bug."
    assert without_harness("Before <system-reminder>x</system-reminder> after") == "Before  after"
    assert without_harness("Fix it.\n<system-reminder>never closed") == "Fix it."
    assert without_harness("x-anthropic-billing-header: cc_version=2.1.197; cc_entrypoint=sdk-cli;\nHello there") == "Hello there"
    assert without_harness("<local-command-stdout>Compacted</local-command-stdout>") == ""
    assert without_harness("The following skills are available for use with the Skill tool:\n- deep-research: …") == ""
    assert without_harness("Available agent types for the Agent tool:\n- Explore: …") == ""
    # Claude Code's session-title request: the user's prompt, wrapped.
    title_request = ("<session>\nCreate hello.txt saying hello\n</session>\n\n"
                     "Write the title in the language the user wrote in, regardless of the language of the examples above.")
    assert without_harness(title_request) == "Create hello.txt saying hello"


def test_claude_codes_first_request_has_the_users_intent() -> None:
    conversation = anthropic.decode_request(CAPTURE.read_bytes())
    signals = extract(conversation.messages, conversation.system)
    assert signals.intent == "Create hello.txt saying hello"
    assert signals.constraints == [] and signals.open_loops == [] and signals.facts == []


def test_reminders_in_user_turns_and_tool_results_are_not_signals() -> None:
    messages = [
        Message("user", (TextBlock(REMINDER), TextBlock("Please add rate limiting to the upload endpoint."))),
        Message("assistant", (ToolUseBlock("t1", "Read", {"file_path": "app.py"}),)),
        Message("user", (ToolResultBlock("t1", (TextBlock("1\timport os\n" + REMINDER),), is_error=True, name="Read"),)),
    ]
    signals = extract(messages)
    assert signals.intent == "add rate limiting to the upload endpoint"
    text = json.dumps([signals.constraints, signals.open_loops, signals.facts])
    assert "push to main" not in text and "auth tables" not in text
