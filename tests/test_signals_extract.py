"""The signal extractor's rules, one behaviour each: the natural ways agents state that
something is done or still open, loops that close, resume_from, and that reading a
session turn by turn gives the same signals as reading it whole."""

from __future__ import annotations

import json
import re

import pytest

from trooper.conversation import Message, TextBlock, ToolResultBlock, ToolUseBlock
from trooper.signals import actions as actions_module
from trooper.signals import extract as extract_module
from trooper.signals import plans as plans_module
from trooper.signals.actions import MAX_TODOS
from trooper.signals.bounded import MAX_RUN
from trooper.signals.extract import SignalReader, extract


def user(text: str) -> Message:
    return Message("user", (TextBlock(text),))


def assistant(text: str) -> Message:
    return Message("assistant", (TextBlock(text),))


def tool_call(call_id: str, name: str, **arguments: object) -> Message:
    return Message("assistant", (ToolUseBlock(call_id, name, dict(arguments)),))


def tool_result(call_id: str, text: str, error: bool = False) -> Message:
    return Message("user", (ToolResultBlock(call_id, (TextBlock(text),), is_error=error),))


@pytest.mark.parametrize(
    "said",
    [
        "Completed PR #3: the login endpoint is up for review.",
        "✅ Step 2 done: the schema is migrated.",
        "Done: migrated the users table.",
        "Finished the outline. Shall I draft section 1?",
        "Rolled back checkout-service to revision 41; all replicas are available.",
        "8 groups added. Now the laptop.",
        "The duplicates are removed: 202,477 unique order lines.",
        "Step 5 is done too (commit d02c6b8).",
    ],
)
def test_completed_steps_in_the_ways_agents_say_them(said: str) -> None:
    signals = extract([user("Please migrate the users table to Postgres 16."), assistant(said)])
    assert len(signals.completed_steps) == 1, signals.completed_steps
    assert said.startswith(signals.completed_steps[0][:12])


@pytest.mark.parametrize(
    "said",
    [
        "Checking what else 3.19.0 shipped, in case a rollback has side effects.",
        "Running pip-audit against the pinned requirements.",
        "I'll deploy it once the tests pass.",
        "Should I merge it?",
        "`Image.ANTIALIAS` was removed in Pillow 10.",
        "47 files use removed names.",
        "Fixed the build, but the tests still fail.",
        "Fixed.",  # a claim that names no work: nothing a person would list
        "Statistics rebuilt.",
    ],
)
def test_not_a_completed_step(said: str) -> None:
    assert extract([user("Fix the build please, it is red."), assistant(said)]).completed_steps == []


def test_a_successful_change_is_a_step_named_from_the_call_and_its_result_reading_is_not() -> None:
    signals = extract([
        user("Deploy the release to staging."),
        tool_call("t1", "deploy", env="staging"),
        tool_result("t1", '{"status": "ok", "deployment_id": "dep-8812"}'),
        tool_call("t2", "bash", command="cat notes.txt"),
        tool_result("t2", "Deployed the fix last week. TODO: clean up the flags"),
    ])
    assert signals.completed_steps == ["deployed staging (dep-8812)"]
    assert signals.open_loops == []  # a file's TODO is data, not the session's loop


@pytest.mark.parametrize(
    "said",
    [
        "TODO: add the refresh endpoint.",
        "We're blocked on the security review.",
        "Still waiting on finance to confirm the numbers.",
        "I still need to update the runbook for the new cluster.",
        "The PII masking policy hasn't been approved, so leave that column out.",
        "Leadership wants the postmortem by Thursday.",
    ],
)
def test_open_loops(said: str) -> None:
    signals = extract([user("Let's ship the auth migration this week."), user(said)])
    assert len(signals.open_loops) == 1, signals.open_loops


def test_a_question_or_a_negated_wait_opens_nothing() -> None:
    signals = extract([
        user("Let's ship the auth migration this week."),
        user("Is the security review still pending?"),
        assistant("That closes the hole now without waiting for the vendor's release."),
    ])
    assert signals.open_loops == []


def test_a_loop_closes_when_resolved_and_a_completed_step_closes_its_loop() -> None:
    signals = extract([
        user("I want to migrate the users table to Postgres 16."),
        user("We're still waiting on the security review from Dana's team."),
        assistant("Still need to dump the users table: waiting on the DBA to approve the window."),
        user("The security review is approved, Dana signed off."),
        assistant("✅ Step 1 done: dumped the users table (2.1 GB)."),
    ])
    assert signals.open_loops == []
    assert len(signals.resolved_loops) == 2
    assert signals.completed_steps == ["✅ Step 1 done: dumped the users table (2.1 GB)"]


def test_a_resolution_about_something_else_leaves_the_loop_open() -> None:
    signals = extract([
        user("I want to port the backup script to Rust."),
        user("I'm waiting for the NAS firmware update before I test restores over rsync."),
        assistant("✅ Step 4 done: pruning is a tested pure function, with remote deletion over rsync."),
    ])
    assert len(signals.open_loops) == 1


def test_a_failed_tool_call_is_open_until_that_tool_succeeds() -> None:
    messages = [
        user("Add the token endpoint and run the tests."),
        tool_call("t1", "run_tests", args="-q"),
        tool_result("t1", "ImportError: name 'ACCESS_TTL' is not defined", error=True),
    ]
    assert extract(messages).open_loops == ["run tests -q failed: ImportError: name 'ACCESS_TTL' is not defined"]
    messages += [tool_call("t2", "run_tests", args="-q"), tool_result("t2", "83 passed in 12.40s")]
    signals = extract(messages)
    assert signals.open_loops == []
    assert signals.resolved_loops == ["run tests -q failed: ImportError: name 'ACCESS_TTL' is not defined"]


def test_resume_from_is_the_first_number_not_done() -> None:
    done = [assistant("Step 1 complete: baseline recorded."), assistant("Step 2 done: Django 4.2.11 is installed."),
            assistant("✅ Step 3 finished, committed."), assistant("Step 5 is done too.")]
    signals = extract([user("Upgrade Django in six steps."), *done])
    assert signals.resume_from == 4
    assert signals.completed_steps[1] == "Step 2 done: Django 4.2.11 is installed"  # 4.2.11 is not three sentences


def test_resume_from_reads_the_step_a_sentence_is_about_not_the_next_one_it_mentions() -> None:
    said = "Finished step 3: the only warnings left are the 68 autorefs that step 4 will resolve."
    assert extract([user("Migrate the docs to MkDocs."), assistant(said)]).resume_from == 4


def test_unnumbered_steps_have_no_resume_from() -> None:
    signals = extract([user("Set up the new starter's accounts."), assistant("The account is created and staged.")])
    assert signals.completed_steps and signals.resume_from is None


def test_a_range_counts_each_step_once() -> None:
    signals = extract([
        user("Ship PRs for the JWT migration."),
        assistant("Completed PR #1: token service."), assistant("Completed PR #2: middleware."),
        assistant("PRs 1-2 merged, starting PR #3."),
    ])
    assert signals.completed_steps == ["Completed PR #1: token service", "Completed PR #2: middleware"]
    assert signals.resume_from == 3


@pytest.mark.parametrize(
    ("first", "goal", "scene"),
    [
        ("I want to migrate the Tally API from cookie sessions to JWT auth. Can you look around?",
         "migrate the Tally API from cookie sessions to JWT auth", ""),
        ("Our scanner flagged old dependencies in the Django app. I want to bring Django up to 4.2 LTS.",
         "bring Django up to 4.2 LTS", "Our scanner flagged old dependencies in the Django app"),
        ("checkout-service has been crash-looping since the deploy. Investigate and get checkout stable again.",
         "Investigate and get checkout stable again", "checkout-service has been crash-looping since the deploy"),
        ("Customers see intermittent 502 errors on app.example.io. Can you dig in?",
         "Customers see intermittent 502 errors on app.example.io", ""),
    ],
)
def test_intent_is_the_goal_then_what_the_user_said_about_it(first: str, goal: str, scene: str) -> None:
    later = user("Also, can you check whether gunicorn memory stays flat?")
    intent = extract([user("hi"), user(first), assistant("On it."), later]).intent
    assert intent.startswith(goal) and scene in intent and "Can you" not in intent, intent


def test_a_long_task_line_keeps_the_asks_and_lets_the_scene_give_way() -> None:
    # Too long for the line: the first turn's asides and clauses of why that name nothing, and a later turn's
    # scene, give way so that the later ask fits whole; an aside that names a host stays, and the order holds.
    first = ("Can you migrate the billing service from the old cron box (cron-01.internal) to the scheduler cluster? "
             "The cron box is a ten year old machine that nobody on the current team set up (it predates all of us), "
             "so every change there is a small adventure. "
             "The nightly invoice run is the job that matters most, because finance reads its output every morning.")
    later = "The finance team has been complaining for weeks about late reports. also add an alert when invoice-run exits non-zero"
    intent = extract([user(first), assistant("On it."), user(later)]).intent
    assert intent == ("migrate the billing service from the old cron box (cron-01.internal) to the scheduler cluster — "
                      "The cron box is a ten year old machine that nobody on the current team set up — "
                      "The nightly invoice run is the job that matters most; "
                      "then: also add an alert when invoice-run exits non-zero"), intent


def test_courtesy_gives_way_before_the_task_is_cut() -> None:
    first = ("please rotate the staging API keys for the payments gateway, the ledger service and the refunds worker, "
             "then update the vault paths in deploy/staging.yaml and restart the three services one at a time. "
             "Really appreciate your help with all of this, you have been a star this week. "
             "The old keys were shared in a chat thread last week. After that, tell me what is left to do on PAY-2231.")
    intent = extract([user(first)]).intent
    assert "appreciate" not in intent and intent.endswith("tell me what is left to do on PAY-2231"), intent
    assert len(intent) <= extract_module.INTENT_LENGTH


def test_reading_turn_by_turn_equals_reading_whole() -> None:
    messages = [
        user("I want to migrate the users table to Postgres 16. Never touch prod."),
        assistant("TODO: waiting on the DBA to approve the maintenance window."),
        tool_call("t1", "psql", sql="select 1"),
        tool_result("t1", "connection refused", error=True),
        user("The DBA approved the window."),
        assistant("✅ Step 1 done: dumped the users table."),
    ]
    reader = SignalReader()
    for message in messages:
        reader.read(message)
    assert reader.signals() == extract(messages)


def test_a_long_session_keeps_bounded_state() -> None:
    reader = SignalReader()
    reader.read(user("I want to process the backlog, one ticket at a time."))
    for n in range(1, 400):
        reader.read(assistant(f"Completed task {n}: ticket T-{n} closed on host-{n}.example.com. TODO: notify owner {n}."))
    signals = reader.signals()
    assert signals.resume_from == 400
    assert len(reader.steps) <= 50 and len(reader.loops) <= 32 and len(reader.entities) <= 12 and len(reader.facts) <= 16


def test_a_todo_list_of_50000_items_is_read_at_its_start() -> None:
    """Each item is read into a plan step (the reader keeps the first 40): a hostile list is
    cut to its first MAX_TODOS before that, so the work stays bounded."""
    todos = [{"content": f"Check host-{n}", "status": "pending"} for n in range(50_000)]
    assert [text for text, _ in actions_module.todos({"todos": todos})] == [f"Check host-{n}" for n in range(MAX_TODOS)]
    reader = SignalReader()
    reader.read(user("Check every host."))
    reader.read(tool_call("t1", "TodoWrite", todos=todos))
    assert [step.text for step in reader.plan] == [f"Check host-{n}" for n in range(40)]


def test_a_hostile_redirect_is_read_through_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """A redirecting turn's clauses are split by patterns that backtrack over a run of spaces:
    its text is cut to the window, with no run longer than MAX_RUN, before they see it."""
    read: list[str] = []
    original = extract_module._redirected
    monkeypatch.setattr(extract_module, "_redirected", lambda sentences: read.extend(sentences) or original(sentences))
    # (20,000 spaces: past the window, and short enough that reading it whole fails in seconds, not hours)
    turn = "Actually, forget the refund, just cancel the order" + " " * 20_000 + "- thanks"
    signals = extract([user("Please refund order A-1001."), assistant("Refund A-1001 queued."), user(turn)])
    assert signals.intent.startswith("just cancel the order") and signals.intent.endswith("(was: refund order A-1001)")
    assert read and sum(map(len, read)) <= extract_module.USER_WINDOW
    assert all(len(run) <= MAX_RUN for sentence in read for run in re.findall(r"\S+|\s+", sentence))


def test_the_clause_and_list_patterns_read_a_run_of_spaces_once() -> None:
    """The window cuts runs to MAX_RUN, but these patterns are linear without it too: had they
    backtracked into a run of 100,000 spaces, this would take minutes (cubic for _LISTED)."""
    run = " " * 100_000
    assert extract_module._CLAUSE_BREAK.split(f"fixed it{run}— then{run}x") == ["fixed it", f"then{run}x"]
    assert extract_module._step_numbers(f"steps 1, 2,{run}3{run}and 5 are done") == ("step", (1, 2, 3, 5), 0)
    assert extract_module._LISTED.match(f", 2,{run}3{run}or 5") is None
    assert extract_module._redirected([f"forget the refund{run}- just cancel it"]) == "just cancel it"
    assert plans_module._UNIT.match(f"step{run}#{run}4") is not None and plans_module._UNIT.match(f"step{run}#{run}x") is None


def test_a_long_text_agent_turn_is_parsed_at_its_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[int] = []
    original = extract_module.react.parse
    monkeypatch.setattr(extract_module.react, "parse", lambda text: parsed.append(len(text)) or original(text))
    calls = "".join(f"Action: get_order[A-{n}]\nObservation: order A-{n} is open\n" for n in range(30_000))
    extract([user("Check the open orders."), assistant(calls + "Action: close_order[A-99999]\nObservation: closed")])
    assert parsed and max(parsed) <= extract_module.TRACE_WINDOW + 1


def test_a_very_long_answer_is_read_at_its_opening_and_close() -> None:
    """Agents say what they did at the start and what is left at the end; the middle of
    a 200 KB answer (code, logs) is not read, so its cost is bounded."""
    middle = "\n".join(f"line {i}: ok" for i in range(20_000))
    said = assistant(f"✅ Step 1 done: dumped the users table.\n{middle}\n"
                     "✅ Step 9 done: restored it in the middle.\n" f"{middle}\nTODO: rotate the DBA password.")
    signals = extract([user("Please migrate the users table to Postgres 16."), said])
    assert signals.completed_steps == ["✅ Step 1 done: dumped the users table"]
    assert [loop for loop in signals.open_loops if "rotate" in loop]


# --- structure first: tool calls, plans, harness text, text agents ---


def test_a_failure_the_result_body_reports_is_a_failure_and_the_agent_claiming_success_is_not_a_step() -> None:
    signals = extract([
        user("Refund order A-1001, the kettle arrived broken."),
        tool_call("t1", "create_refund", order_id="A-1001", amount=45.0),
        tool_result("t1", '{"error": "refund window closed for order A-1001"}'),
        assistant("Refund issued for order A-1001!"),
    ])
    assert signals.completed_steps == []
    # the failure stays open, and says what the agent claimed
    assert signals.open_loops == ["create refund A-1001, 45 failed: refund window closed for order A-1001"
                                  " — though the agent said: Refund issued for order A-1001!"]


def test_a_claim_with_an_aside_of_what_is_pending_is_a_claim_and_the_aside_is_open() -> None:
    signals = extract([
        user("Open the dispute and message the customer."),
        tool_call("t1", "send_secure_message", customer_id="C-2088", body="Your dispute DSP-40217 is open."),
        tool_result("t1", '{"status": "failed", "message": "Customer is not enrolled in secure messaging."}'),
        assistant("I've sent Dana a secure message confirming the dispute (credit still waiting for Marcus to approve it)."),
    ])
    assert any("though the agent said: I've sent Dana a secure message" in loop for loop in signals.open_loops)
    assert any(loop.startswith("credit still waiting for Marcus") for loop in signals.open_loops), signals.open_loops


def test_a_result_waiting_for_approval_is_a_loop_until_a_later_result_about_it_is_not() -> None:
    messages = [
        user("Refund the $650 order B-77."),
        tool_call("t1", "create_refund", order_id="B-77", amount=650),
        tool_result("t1", '{"refund_id": "RF-2231", "status": "pending_approval"}'),
    ]
    assert extract(messages).open_loops == ["RF-2231 pending approval: create refund B-77, 650"]
    messages += [tool_call("t2", "get_refund", refund_id="RF-2231"),
                 tool_result("t2", '{"refund_id": "RF-2231", "status": "approved"}')]
    assert extract(messages).open_loops == []


def test_a_failure_then_the_approval_asked_for_the_same_item_is_one_loop_the_wait() -> None:
    signals = extract([
        user("Issue the provisional credit on dispute DSP-40217."),
        tool_call("t1", "issue_provisional_credit", dispute_id="DSP-40217", amount=668.2),
        tool_result("t1", '{"error": "APPROVAL_REQUIRED"}'),
        tool_call("t2", "request_supervisor_approval", dispute_id="DSP-40217", amount=668.2),
        tool_result("t2", '{"approval_id": "APR-7731", "status": "pending"}'),
    ])
    assert len(signals.open_loops) == 1 and signals.open_loops[0].startswith("APR-7731 pending"), signals.open_loops
    assert "failed: APPROVAL_REQUIRED" in signals.open_loops[0]


def test_checking_on_a_waiting_item_is_the_same_loop_not_a_second_one() -> None:
    signals = extract([
        user("Refund the $650 order B-77."),
        tool_call("t1", "request_approval", order_id="B-77", amount=650),
        tool_result("t1", '{"approval_id": "APR-7731", "status": "pending"}'),
        tool_call("t2", "check_approval_status", approval_id="APR-7731"),
        tool_result("t2", '{"approval_id": "APR-7731", "status": "pending", "message": "with Marcus, 3rd in queue"}'),
    ])
    assert len(signals.open_loops) == 1 and signals.open_loops[0].startswith("APR-7731 pending"), signals.open_loops
    assert "Marcus" in signals.open_loops[0]


@pytest.mark.parametrize("said", ["I haven't touched the firewall rules.", "We have not emailed AP about it.",
                                  "Anything over 2,000 miles needs supervisor approval."])
def test_what_the_agent_left_alone_is_not_a_loop(said: str) -> None:
    assert extract([user("Contain the phishing incident."), assistant(said)]).open_loops == []


def test_a_todo_mentioned_and_a_wait_narrated_beside_its_call_are_not_loops() -> None:
    assert extract([user("Find the leak."), assistant("`recentByUser` grows forever; there's even a `TODO cap this`.")]).open_loops == []
    narrated = Message("assistant", (TextBlock("Waiting for the CI run on that branch."),
                                      ToolUseBlock("t1", "Bash", {"command": "gh run watch 88213"})))
    assert extract([user("Fix the flaky test."), narrated]).open_loops == []
    assert extract([user("Fix the flaky test."), assistant("TODO: rotate the DBA password.")]).open_loops != []


@pytest.mark.parametrize("said", [
    "I haven't confirmed the March start date yet.",
    "I'll hold the letter until the teardown report is in.",
    "Both disputes are now under review by the banks.",
    "The new rule also needs to be merged into main before tonight.",
])
def test_waits_in_prose_are_loops(said: str) -> None:
    assert len(extract([user("Handle the claims backlog."), assistant(said)]).open_loops) == 1


def test_a_plan_step_never_begun_is_not_a_loop_and_a_later_one_held_up_is_named_by_its_number() -> None:
    plan = assistant("Plan:\n1. Look up the claim CL-4410\n2. Order the inspection\n3. Write the letter to the insured")
    signals = extract([user("Settle claim CL-4410."), plan])
    assert signals.resume_from == 1 and signals.open_loops == []
    signals = extract([user("Settle claim CL-4410."), plan,
                       assistant("The letter to the insured is on hold until the inspection report arrives.")])
    assert signals.open_loops == ["step 3: The letter to the insured is on hold until the inspection report arrives"]


def test_a_plan_step_the_user_holds_back_is_one_loop_on_that_step_until_it_is_done() -> None:
    plan = assistant("Plan:\n1. Post the DE02 accrual\n2. Reverse the UK03 adjustment\n3. Email Henrik a summary")
    held = user("don't email Henrik yet, not until DE02 is in. He wants the full picture.")
    signals = extract([user("Close the November accruals."), plan, held])
    assert signals.open_loops == ["step 3: Email Henrik a summary — on hold: don't email Henrik yet, not until DE02 is in; "
                                  "He wants the full picture"]
    # the agent saying so again is the same loop, not a second one
    again = assistant("The summary email to Henrik stays on hold until DE02 is posted.")
    assert len(extract([user("Close the November accruals."), plan, held, again]).open_loops) == 1
    sent = [tool_call("t1", "send_email", to="henrik@example.com", subject="November accruals summary"),
            tool_result("t1", '{"status": "sent", "message_id": "M-5521"}'),
            assistant("Step 3 done: emailed Henrik the summary.")]
    assert extract([user("Close the November accruals."), plan, held, *sent]).open_loops == []
    # the task's own terms are not a hold
    assert extract([user("Close the November accruals, but don't email Henrik until DE02 is in."), plan]).open_loops == []


def test_the_users_hold_on_a_call_it_stopped_is_the_calls_loop() -> None:
    signals = extract([
        user("Shortlist the grants and email Helen."),
        assistant("Plan:\n1. Find the grants\n2. Write the shortlist\n3. Email the shortlist to Helen"),
        tool_call("t1", "send_email", to="helen@example.org", subject="Shortlist for spring"),
        Message("user", (ToolResultBlock("t1", (TextBlock("Email NOT sent: the user interrupted the action."),), is_error=True),
                         TextBlock("wait, dont email Helen yet. I want Marcus to look at it first"))),
    ])
    assert len(signals.open_loops) == 1
    assert signals.open_loops[0].startswith("step 3: Email the shortlist to Helen — on hold: wait, dont email Helen yet; "
                                            "I want Marcus to look at it first — send email")


def test_a_failure_of_work_the_user_called_off_is_neither_open_nor_resolved() -> None:
    signals = extract([
        user("Ship a replacement blender for order BC-88213."),
        tool_call("t1", "create_replacement_order", order="BC-88213", sku="BL-900"),
        tool_result("t1", '{"error": "out_of_stock", "message": "BL-900 is out of stock until June 20"}'),
        user("forget the replacement, refund her instead"),
    ])
    assert signals.open_loops == [] and signals.resolved_loops == []


def test_a_step_named_failure_still_shows_the_claim_it_contradicts() -> None:
    detail = "AssertionError: assert 'invoice_id, issued_on, amount, currency' == 'invoice_id, issued, amount, currency' " * 2
    signals = extract([
        user("Fix the invoice date bug."),
        assistant("Plan:\n1. Reproduce the flaky test\n2. Fix root cause in parse_invoice_date\n3. Add a changelog line"),
        tool_call("t1", "Bash", command="pytest tests/test_dates.py"),
        tool_result("t1", "1 passed"),
        tool_call("t2", "Edit", file_path="ledgerline/dates.py", old_string="a", new_string="b"),
        tool_result("t2", "The file ledgerline/dates.py has been updated."),
        tool_call("t3", "Bash", command="pytest"),
        tool_result("t3", f"FAILED tests/test_export.py::test_export_csv_header - {detail}\n1 failed, 212 passed", error=True),
        assistant("Full suite is green apart from nothing; the fix in parse_invoice_date is done."),
    ])
    loop = next(item for item in signals.open_loops if item.startswith("step 2:"))
    assert "though the agent said: Full suite is green" in loop and len(loop) <= extract_module.ITEM_LENGTH


def test_a_request_for_approval_with_a_bare_answer_waits_on_what_it_named() -> None:
    signals = extract([
        user("Work through the access requests."),
        tool_call("t1", "ask_approval", request_id="AR-508", owner="l.okafor"),
        tool_result("t1", '{"status": "sent"}'),
    ])
    assert signals.open_loops == ["AR-508 pending: ask approval AR-508, l.okafor"]


def test_a_call_that_only_watches_a_waiting_item_does_not_answer_it() -> None:
    signals = extract([
        user("Renew my atorvastatin."),
        tool_call("t1", "request_renewal", rx_id="RX-44121"),
        tool_result("t1", '{"renewal_id": "RNW-5512", "rx_id": "RX-44121", "status": "sent", "sent_to": "Dr. Okafor"}'),
        tool_call("t2", "set_notification", target_id="RNW-5512", channel="sms"),
        tool_result("t2", '{"notification_id": "NT-70312", "target_id": "RNW-5512", "active": true}'),
    ])
    assert [loop.split(":")[0] for loop in signals.open_loops] == ["RNW-5512, RX-44121 pending"]


def test_when_someone_is_back_is_said_of_the_wait_on_them() -> None:
    plan = assistant("Plan:\n1. Contain the intrusion\n2. Remove the deploy key\n3. Rotate the deploy SSH key")
    held = user("do NOT rotate the key everywhere yet, Sam from platform needs to be on for that.")
    signals = extract([user("Clean up the intrusion on jump-1."), plan, held, user("sam's on in ~20 min.")])
    assert signals.open_loops == ["step 3: Rotate the deploy SSH key — on hold: do NOT rotate the key everywhere yet, Sam from "
                                  "platform needs to be on for that — sam's on in ~20 min"]
    # with nothing waiting on them, someone being back leaves nothing open
    assert extract([user("Mark down the winter range."), user("Hanna is back tomorrow.")]).open_loops == []


def test_someone_away_said_before_a_hold_in_the_same_message_is_said_of_it() -> None:
    plan = assistant("Plan:\n1. Write the swap migration\n2. Send Grete a summary\n3. Update the partman config")
    held = user("Grete's out till Monday, so that'll wait anyway. hold off on partman too. one thing though, what about the FK?")
    signals = extract([user("Partition the audit_events table."), plan, held])
    assert "step 3: Update the partman config — on hold: hold off on partman too — Grete's out till Monday, so that'll wait " \
           "anyway" in signals.open_loops


def test_a_step_left_for_now_is_held_with_why() -> None:
    plan = assistant("Plan:\n1. Bump the version\n2. Write the changelog\n3. Build the signed release AAB\n4. Upload to Play")
    held = user("leave the build for now. the keystore is in the team vault and only marco has access, he's on a flight "
                "until tomorrow morning")
    signals = extract([user("Cut the 4.12.0 Android release."), plan, held])
    assert signals.open_loops == ["step 3: Build the signed release AAB — on hold: leave the build for now; the keystore is in "
                                  "the team vault and only marco has access, he's on a flight until tomorrow morning"]


def test_a_question_the_user_takes_back_is_not_open() -> None:
    asked = "can you slack the new file to Dana in sales meanwhile?"
    assert extract([user("Regenerate the AUR-0526 pickup report."), user(f"{asked} actually no, never mind, she'll wait")]).open_loops == []
    assert extract([user("Regenerate the AUR-0526 pickup report."), user(f"{asked} she needs it by noon")]).open_loops == [
        f"the user's question is unanswered — asks whether: {asked} she needs it by noon"]


def test_a_held_steps_reason_is_not_an_aside_that_turns_to_something_else() -> None:
    plan = assistant("Plan:\n1. Contain the intrusion\n2. Remove the deploy key\n3. Rotate the deploy SSH key")
    held = user("do NOT rotate the key everywhere yet. also kill that kx process on jump-1.")
    signals = extract([user("Clean up the intrusion on jump-1."), plan, held])
    assert signals.open_loops == ["step 3: Rotate the deploy SSH key — on hold: do NOT rotate the key everywhere yet"]


def test_a_failed_change_worked_around_by_a_change_to_the_same_kind_of_thing_is_resolved() -> None:
    signals = extract([
        user("Add 400 bolts to PO-0871."),
        tool_call("t1", "amend_purchase_order", po="PO-0871", qty=400),
        tool_result("t1", '{"error": "PO_NOT_AMENDABLE", "message": "PO-0871 was fully received"}'),
        tool_call("t2", "create_purchase_order", item="bolts", qty=400),
        tool_result("t2", '{"po": "PO-0914", "status": "created"}'),
    ])
    assert signals.open_loops == [] and signals.resolved_loops == ["amend purchase order PO-0871, 400 failed: PO_NOT_AMENDABLE"]


def test_a_failed_call_that_then_goes_through_and_waits_is_one_loop_the_wait() -> None:
    signals = extract([
        user("File the missing miles claim for MA 219."),
        tool_call("t1", "file_missing_miles_claim", flight="MA 219", date="2025-08-05"),
        tool_result("t1", '{"error": "FLIGHT_NOT_FOUND"}'),
        tool_call("t2", "file_missing_miles_claim", flight="MA 219", date="2025-08-04"),
        tool_result("t2", '{"claim_id": "CLM-300418", "status": "pending_review"}'),
    ])
    assert signals.open_loops == ["CLM-300418 pending review: file missing miles claim 2025-08-04, MA 219"]


def test_a_wait_on_a_person_said_again_is_one_loop() -> None:
    signals = extract([user("Write up the incident timeline."), user("not yet, Hamid wants to read it first"),
                       assistant("Not committed, waiting for Hamid.")])
    assert signals.open_loops == ["not yet, Hamid wants to read it first — Not committed, waiting for Hamid"]
    two = extract([user("Sort the payroll."), assistant("Kevin's recovery is blocked until Priya sends the letter."),
                   assistant("Hannah's sign-off is still pending until Thursday.")])
    assert len(two.open_loops) == 2  # different people, different waits


def test_a_wait_said_again_in_other_words_is_one_loop() -> None:
    signals = extract([user("Add the winter banner to all three segments."),
                       assistant("Legal hasn't signed off on giving the discount to lapsed customers yet."),
                       assistant("Loyal and new are done; lapsed keeps its template without the banner until legal signs off.")])
    assert signals.open_loops == ["Loyal and new are done; lapsed keeps its template without the banner until legal signs off"]


def test_someone_away_until_a_time_joins_the_wait_on_them() -> None:
    waiting = [user("Mark finding F-9920 as a false positive."),
               tool_call("t1", "update_finding", finding_id="F-9920", status="false_positive"),
               tool_result("t1", '{"finding_id": "F-9920", "status": "pending_review"}')]
    signals = extract([*waiting, user("kwame's out till 11 btw")])
    assert len(signals.open_loops) == 1 and signals.open_loops[0].endswith("kwame's out till 11 btw"), signals.open_loops
    assert extract([user("Rebook my dentist visit."), user("she's in a workshop till 3")]).open_loops == []
    assert extract([*waiting, user("the navy one is out of stock until 15 January")]).open_loops == extract(waiting).open_loops


def test_a_wait_says_when_its_answer_is_due_and_only_an_answer_closes_it() -> None:
    waiting = [user("File the missing miles claim for MA 219."),
               tool_call("t1", "file_missing_miles_claim", flight="MA 219"),
               tool_result("t1", '{"claim_id": "CLM-300418", "status": "pending_review", "sla": "5-7 business days"}')]
    assert extract(waiting).open_loops == ["CLM-300418 pending review (5-7 business days): file missing miles claim MA 219"]
    told = [*waiting, assistant("Claim CLM-300418 is filed (I had the date wrong at first; it's fixed)."),
            tool_call("t2", "send_email", to="member@example.com", body="Your claim CLM-300418 is in review."),
            tool_result("t2", '{"message_id": "EM-1", "status": "sent", "claim_id": "CLM-300418"}')]
    assert len(extract(told).open_loops) == 1  # neither the fix of the date nor an email about it answers the claim
    assert extract([*told, user("the claim CLM-300418 was approved this morning")]).open_loops == []


def test_what_the_user_takes_on_after_a_question_that_names_nothing_stands_on_its_own() -> None:
    signals = extract([user("Add my wife as a second driver."), assistant("Done with the rest. Anything else for now?"),
                       user("I'll get the licence number from chiara tonight")])
    assert signals.open_loops == ["user will get the licence number from chiara tonight"]


def test_what_the_user_takes_on_joins_the_loop_it_is_about() -> None:
    signals = extract([
        user("Post the DE02 accrual."),
        tool_call("t1", "post_journal_entry", entity="DE02", period="2026-11"),
        tool_result("t1", '{"error": "PERIOD_CLOSED: DE02 2026-11 is soft-closed"}'),
        assistant("The DE02 entry was rejected: period 2026-11 is closed. Birgit would need to reopen it."),
        user("ok I'll ask Birgit to reopen DE02 for an hour"),
    ])
    assert len(signals.open_loops) == 1 and signals.open_loops[0].endswith("user will ask Birgit to reopen DE02 for an hour")


def test_what_the_user_takes_on_in_other_words_joins_the_loop_the_agent_just_left_open() -> None:
    signals = extract([
        user("Push the branch and open the PR."),
        tool_call("t1", "Bash", command="gh pr create --base develop --fill"),
        tool_result("t1", "pull request create failed: GraphQL: Resource not accessible by personal access token", error=True),
        assistant("The branch is pushed, but I couldn't open the PR: your token lacks that permission. Want me to retry later?"),
        user("ugh, my token again. i'll sort it after lunch"),
    ])
    assert len(signals.open_loops) == 1, signals.open_loops
    assert signals.open_loops[0].startswith("The branch is pushed, but I couldn't open the PR")  # the agent's words first
    assert "`gh pr create` failed: pull request create failed" in signals.open_loops[0]
    assert signals.open_loops[0].endswith("user will sort it after lunch")


def test_work_the_user_puts_off_is_theirs_whatever_the_verb() -> None:
    signals = extract([
        user("Find out why db-replica-1's root disk filled up."),
        assistant("Query logging was left on; I truncated the logs and the disk is at 41%."),
        user("can we get an alert if it goes over 60% again"),
        assistant("I can add a Prometheus rule for that. Should it page or only post to Slack?"),
        user("nah leave alerting, I'll do it properly tomorrow with the DBA folks."),
    ])
    assert len(signals.open_loops) == 1
    assert signals.open_loops[0].startswith("nah leave alerting: user will do it properly tomorrow with the DBA folks")
    once = extract([
        user("Fix the carrier B outage."),
        assistant("Carrier B calls connect again through sbc-02."),
        user("I'll close INC-20931 in pagerduty once carrier B's account team confirms they see our traffic."),
    ])
    assert len(once.open_loops) == 1 and "user will close INC-20931 in pagerduty once carrier B" in once.open_loops[0]


def test_the_tasks_own_terms_are_not_work_put_off() -> None:
    signals = extract([user("Tag the staging resources. Ground rules: NEVER run terraform apply, I'll do that myself."),
                       assistant("Tags added in envs/staging/main.tf; terraform plan shows 14 in-place updates.")])
    assert signals.open_loops == []


def test_what_the_agent_hands_the_user_to_do_is_open() -> None:
    signals = extract([
        user("Replace the wrong pickup report on the shared drive."),
        assistant("The rclone token for `events:` has expired, so the upload did not happen. "
                  "You'll need to re-authorise it with `rclone config reconnect events:` yourself."),
    ])
    assert signals.open_loops == ["user to re-authorise it with `rclone config reconnect events:`"]
    asked = extract([user("Draft the NDA signatory change."),
                     assistant("DRF-3390 v2 now names Amara Chukwu as signatory. Please forward DRF-3390 v2 to Amara.")])
    assert asked.open_loops == ["user to forward DRF-3390 v2 to Amara"]


def test_someone_elses_next_move_is_a_wait_on_them() -> None:
    signals = extract([
        user("Review permit PA-4471 and email the applicant with anything missing."),
        assistant("Emailed the applicant: the structural calcs and a signed site plan are missing."),
        user("he's going to email the revised site plan this afternoon"),
    ])
    assert signals.open_loops == ["he's going to email the revised site plan this afternoon"]
    told = extract([user("Contain the phishing incident."),
                    assistant("Incident INC-2026-0318 is open. No all-staff notice from me; Communications will handle it.")])
    assert told.open_loops == ["No all-staff notice from me; Communications will handle it (INC-2026-0318)"]


def test_someone_elses_move_already_awaited_is_one_loop() -> None:
    signals = extract([
        user("Pool my points with Cian's and book the flight."),
        tool_call("t1", "start_pooling", members=["AR-30917744", "AR-30455102"]),
        tool_result("t1", '{"request_id": "HP-8821", "status": "awaiting_secondary_consent"}'),
        assistant("Pooling request HP-8821 is started. Cian has to consent by email before the points move."),
    ])
    assert len(signals.open_loops) == 1 and "HP-8821" in signals.open_loops[0]
    beside_a_call = extract([user("Book the showing."),
                             Message("assistant", (TextBlock("Maria will confirm the slot."),
                                                   ToolUseBlock("t1", "request_showing", {"listing": "L-3301"}))),
                             tool_result("t1", '{"status": "requested", "showing_id": "SH-1203"}')])
    assert beside_a_call.open_loops == ["SH-1203 pending: request showing L-3301"]  # the call's wait, said once


def test_work_done_whose_answer_is_due_is_a_step_and_a_wait() -> None:
    signals = extract([
        user("File a damage claim for parcel PW448120937."),
        tool_call("t1", "file_claim", tracking="PW448120937", kind="damage", declared_value=180),
        tool_result("t1", '{"claim_id": "PWC-2207811", "status": "submitted", "decision_eta": "10 business days"}'),
    ])
    assert signals.completed_steps and "PWC-2207811" in signals.completed_steps[0]
    assert len(signals.open_loops) == 1 and signals.open_loops[0].startswith("PWC-2207811 pending (10 business days)")
    queued = extract([
        user("Regenerate the invoice PDF for INV-20931."),
        tool_call("t1", "regenerate_invoice_pdf", invoice_id="INV-20931"),
        tool_result("t1", '{"invoice_id": "INV-20931", "status": "queued", "eta_minutes": 10}'),
    ])
    assert len(queued.open_loops) == 1 and queued.open_loops[0].startswith("INV-20931 queued")


def test_a_lookup_is_not_yet_the_answer_to_the_users_question() -> None:
    looked_up = [
        user("Count the high-value cage tonight."),
        assistant("HV count CC-51210 is scheduled for tonight."),
        user("last thing, what's the total value sitting in HV?"),
        tool_call("t1", "get_stock_value", zone="HV"),
        tool_result("t1", '{"zone": "HV", "total_value_eur": 412880.5}'),
    ]
    assert extract(looked_up).open_loops == ["the user's question is unanswered — asks: last thing, what's the total value sitting in HV?"]
    assert extract([*looked_up, assistant("HV holds EUR 412,880.50 in total.")]).open_loops == []


def test_work_held_until_someone_has_reviewed_it_is_open_until_they_have() -> None:
    held = [user("Write migrations 0041 to 0043 for the invoice currency."),
            assistant("0041 and 0042 are applied on staging; 0043 is written."),
            user("don't put 0043 on staging until Lena has reviewed it, I've sent her the diff")]
    assert extract(held).open_loops == ["don't put 0043 on staging until Lena has reviewed it, I've sent her the diff"]
    assert extract([*held, user("Lena approved 0043, go ahead")]).open_loops == []


def test_shell_commands_are_named_by_what_they_change() -> None:
    signals = extract([
        user("Restart nginx on web-2 and open a PR with the config fix."),
        tool_call("t1", "Bash", command="ssh web-2 'sudo systemctl restart nginx'"),
        tool_result("t1", ""),
        tool_call("t2", "Bash", command="git status && git diff --stat"),
        tool_result("t2", "M nginx.conf"),
        tool_call("t3", "Bash", command='gh pr create --title "Raise worker_connections" --body "..."'),
        tool_result("t3", "https://github.com/acme/edge/pull/1415"),
    ])
    assert signals.completed_steps == ["restarted nginx on web-2", "opened PR #1415: Raise worker_connections"]


def test_a_plan_sets_the_numbering_and_steps_that_do_its_items_carry_their_number() -> None:
    signals = extract([
        user("My kettle from order A-1001 arrived broken, I want a replacement."),
        assistant("Here's the plan:\n1. Look up order A-1001\n2. Create a return authorisation\n"
                  "3. Ship the replacement kettle\n4. Email you the return label"),
        tool_call("t1", "get_order", order_id="A-1001"),
        tool_result("t1", '{"order_id": "A-1001", "status": "delivered"}'),
        tool_call("t2", "create_return_authorisation", order_id="A-1001"),
        tool_result("t2", '{"rma": "RMA-55120", "status": "created"}'),
    ])
    assert signals.plan[0] == "Look up order A-1001" and len(signals.plan) == 4
    assert signals.completed_steps == ["step 1: looked up order A-1001",  # a finished step, in the past tense
                                       "step 2: created a return authorisation — created return authorisation A-1001 (RMA-55120)"]
    assert signals.resume_from == 3


def test_a_step_claimed_done_after_its_call_failed_is_where_work_resumes() -> None:
    todos = [{"content": "Bump the version", "status": "completed", "activeForm": "Bumping"},
             {"content": "Add the 4.2.0 section to CHANGELOG.md", "status": "completed", "activeForm": "Adding"},
             {"content": "Run the test suite", "status": "pending", "activeForm": "Running"}]
    signals = extract([
        user("Cut the 4.2.0 release:\n1. bump the version\n2. add the 4.2.0 section to CHANGELOG.md\n"
             "3. run the test suite"),
        tool_call("t1", "Edit", file_path="/repo/package.json", old_string='"4.1.0"', new_string='"4.2.0"'),
        tool_result("t1", "Edit applied to /repo/package.json."),
        assistant("Version bumped. Now the changelog."),
        tool_call("t2", "Edit", file_path="/repo/CHANGELOG.md", old_string="## [Unreleased]", new_string="## [4.2.0]"),
        tool_result("t2", "String to replace not found in file.", error=True),
        assistant("CHANGELOG.md is updated with the 4.2.0 section."),
        tool_call("t3", "TodoWrite", todos=todos),  # ticked off, but the edit never happened
        tool_result("t3", "Todos have been modified successfully."),
    ])
    assert signals.resume_from == 2


@pytest.mark.parametrize(
    "result",
    ['{"status": "not_enrolled", "reason": "INSUFFICIENT_HISTORY"}',
     "killed\nsed: cannot rename /home/deploy/.ssh/sedR2x9Qk: Operation not permitted\n1 authorized_keys"],
)
def test_results_that_say_the_thing_did_not_happen_are_failures(result: str) -> None:
    signals = extract([user("Enroll account 3301-60118 in budget billing and remove the old deploy key."),
                       tool_call("t1", "enroll_budget_billing", account_id="3301-60118"),
                       tool_result("t1", result)])
    assert not signals.completed_steps and signals.open_loops, signals


def test_a_numbered_line_that_starts_the_count_again_is_not_one_more_plan_step() -> None:
    signals = extract([user("Refund everyone on event EV-22."),
                       assistant("Plan:\n1. Count the orders for EV-22\n2. Exclude the reseller orders\n"
                                 "3. Refund the rest\nStep 1.\nAction: Query[select count(*) from orders]")])
    assert signals.plan == ["Count the orders for EV-22", "Exclude the reseller orders", "Refund the rest"]


def test_a_replacing_plan_with_a_step_more_is_numbered_afresh() -> None:
    signals = extract([user("Renew the cert for shop.example.io."),
                       assistant("Plan:\n1. Check the renewal log\n2. Find why the challenge fails\n3. Fix the cause\n"
                                 "4. Renew the certificate"),
                       user("do the dns one"),
                       assistant("New plan:\n1. Check the renewal log (done)\n2. Find why the challenge fails (done)\n"
                                 "3. Switch the renewal to DNS-01\n4. Renew the certificate\n5. Ask Jonas about the CDN")])
    assert signals.plan[2] == "Switch the renewal to DNS-01" and len(signals.plan) == 5
    assert signals.resume_from == 3


def test_a_step_that_changes_something_is_not_finished_by_setting_up_for_it() -> None:
    signals = extract([
        user("Move the docs to MkDocs.\n1. convert the .rst files to Markdown\n"
             "2. replace autodoc with mkdocstrings for the API reference\n3. deploy from CI"),
        assistant("Step 1 done: all 41 pages converted."),
        Message("assistant", (TextBlock("Starting step 2: mkdocstrings for the API reference."),
                              ToolUseBlock("t1", "sh", {"cmd": "pip install -q 'mkdocstrings[python]==0.25.1'"}))),
        tool_result("t1", "# Client\n::: lumen.Client"),
    ])
    assert signals.resume_from == 2


@pytest.mark.parametrize(("step", "resume"), [("order her laptop", 2), ("submit the laptop request", 4)])
def test_an_order_awaiting_approval_is_not_placed_yet_a_request_awaiting_it_is_sent(step: str, resume: int) -> None:
    signals = extract([
        user(f"Onboard Maria.\n1. create her Slack account\n2. {step}\n3. send Kofi a welcome note"),
        tool_call("t1", "provision_account", system="slack", employee_id="EMP-1187"),
        tool_result("t1", '{"status": "ok", "account": "maria@example.com"}'),
        tool_call("t2", "order_equipment" if step.startswith("order") else "submit_request", item="laptop",
                  employee_id="EMP-1187"),
        tool_result("t2", '{"order_id": "EQ-5530", "status": "pending_approval", "approver": "Ines Faria"}'),
        tool_call("t3", "send_message", to="kofi@example.com", text="Welcome note: Maria starts Monday. Her laptop "
                  "order is waiting for Ines's approval."),
        tool_result("t3", '{"status": "delivered"}'),
    ])
    assert signals.resume_from == resume


def test_a_plan_item_marked_done_with_where_it_was_done_is_done() -> None:
    signals = extract([user("Backfill the clickstream days."),
                       assistant("Revised plan:\n1. Backfill 12-01 and 12-03 (done in bf_3312)\n"
                                 "2. Validate row counts for 12-01 and 12-03\n3. Unpause build_sessions")])
    assert signals.resume_from == 2


def test_two_bullets_of_what_the_agent_will_change_are_no_plan_two_the_user_asks_for_are() -> None:
    said = ("The cache never hits. My change:\n- build with `--build-arg BUILDKIT_INLINE_CACHE=1`\n"
            "- use the branch tag as the cache source")
    assert extract([user("Fix the docker layer cache in .gitlab-ci.yml."), assistant(said)]).resume_from is None
    asked = "Two things:\n- build with inline cache metadata\n- use the branch tag as the cache source"
    assert extract([user(asked)]).plan == ["build with inline cache metadata", "use the branch tag as the cache source"]


@pytest.mark.parametrize(("said", "resume"), [
    ("All three steps are done; the lapsed template keeps its old banner until legal signs off.", 4),
    ("I'll tell you once all three steps are done.", 1),
])
def test_all_steps_done_finishes_the_plan(said: str, resume: int) -> None:
    signals = extract([user("winter sale emails:\n1. create the promo banner partial\n2. include it in the templates\n"
                            "3. send tests to marketing-qa@"), assistant(said)])
    assert signals.resume_from == resume


def test_a_text_agents_thought_listing_the_steps_done_marks_them() -> None:
    plan = "Fix Luis's pay:\n1. confirm the raise\n2. work out the back pay\n3. add the retro pay\n4. catch up the 401k\n" \
           "5. fix the rate"
    said = "Thought: Steps 1, 2, 3 and 5 are done. Step 4 is left.\nAnswer: Luis has been told. Shall I do the 401k?"
    assert extract([user(plan), assistant(said)]).resume_from == 4


def test_a_plan_numbered_with_dots_in_one_line_is_a_plan() -> None:
    signals = extract([user("SKU PX-2210 shows 340 cases but the location is empty. Plan: 1. check the WMS stock, "
                            "2. get a physical count done, 3. fix the stock record, 4. tell the planner.")])
    assert signals.plan == ["check the WMS stock", "get a physical count done", "fix the stock record", "tell the planner"]


def test_a_todo_list_tool_is_the_plan() -> None:
    todos = [{"content": "Add the rate limiter", "status": "completed", "activeForm": "Adding"},
             {"content": "Write tests for it", "status": "in_progress", "activeForm": "Writing"},
             {"content": "Update the changelog", "status": "pending", "activeForm": "Updating"}]
    signals = extract([user("Add rate limiting to the API."), tool_call("t1", "TodoWrite", todos=todos),
                       tool_result("t1", "Todos have been modified successfully.")])
    assert signals.resume_from == 2
    assert signals.completed_steps == ["step 1: added the rate limiter"]


@pytest.mark.parametrize("listed", [
    "(1) check the worker logs\n(2) restart the worker\n(3) verify the queue drains",
    "1/ check the worker logs\n2/ restart the worker\n3/ verify the queue drains",
    "1: check the worker logs\n2: restart the worker\n3: verify the queue drains",
    "a) check the worker logs\nb) restart the worker\nc) verify the queue drains",
    "**1. Check the worker logs**\n**2. Restart the worker**\n**3. Verify the queue drains**",
    "**1.** Check the worker logs\n**2.** Restart the worker\n**3.** Verify the queue drains",
    "### 1. Check the worker logs\nThe errors start at 09:12.\n### 2. Restart the worker\nIt holds no state.\n"
    "### 3. Verify the queue drains",
    "1. Check the worker logs\nThe errors start at 09:12.\n2. Restart the worker\n3. Verify the queue drains",
    "- [x] check the worker logs\n- [ ] restart the worker\n- [ ] verify the queue drains",
])
def test_a_plan_is_found_however_its_list_is_marked(listed: str) -> None:
    signals = extract([user("The ingest worker is stuck, sort it out."), assistant(f"Plan:\n{listed}")])
    assert [step.lower() for step in signals.plan] == ["check the worker logs", "restart the worker",
                                                       "verify the queue drains"], signals.plan


def test_a_numbered_list_after_prose_under_another_one_starts_a_new_list() -> None:
    found = plans_module.plans("1. check the logs\n2. restart the worker\n3. verify it\nThen, once it is up:\n"
                               "1. deploy the fix\n2. tell Sam\n3. close the ticket")
    assert [plan.items for plan in found] == [("check the logs", "restart the worker", "verify it"),
                                             ("deploy the fix", "tell Sam", "close the ticket")]


@pytest.mark.parametrize("item", [{"text": "Add the rate limiter", "done": True},
                                  {"content": "Add the rate limiter", "status": "done"},
                                  {"step": "Add the rate limiter", "state": "Complete"}])
def test_a_todo_tool_that_spells_done_its_own_way_ticks_the_item(item: dict[str, object]) -> None:
    plan = [item, {"content": "Write tests for it", "status": "in-progress"}, {"content": "Update the changelog"}]
    assert actions_module.todos({"todos": plan})[1:] == [("Write tests for it", "in_progress"),
                                                         ("Update the changelog", "pending")]
    signals = extract([user("Add rate limiting to the API."), tool_call("t1", "update_plan", plan=plan),
                       tool_result("t1", "Plan updated.")])
    assert signals.resume_from == 2


_WORKER_PLAN = [
    user("the ingest worker is stuck, fix it"),
    assistant("Plan:\n1. Check the worker logs\n2. Restart the ingest worker\n3. Verify the queue drains\n"
              "4. Post an update in #ops"),
    tool_call("a", "read_logs", service="ingest-worker"), tool_result("a", "ERROR OOMKilled at 09:12"),
    tool_call("b", "restart_service", service="ingest-worker"), tool_result("b", '{"status": "ok", "restarted": true}'),
]


@pytest.mark.parametrize("later", [
    user("fyi:\n- don't touch prod-db\n- keep the old pod logs"),
    user("two things:\n1. don't touch prod-db\n2. keep the old pod logs"),
    user("couple of questions:\n- why did it OOM\n- will it happen again\n- do we need a bigger node"),
    assistant("If it happens again we can:\n1. Raise the memory limit to 2Gi\n2. Split the batch size\n"
              "3. Move it to a bigger node"),
])
def test_a_list_of_rules_questions_or_options_does_not_replace_the_plan_under_way(later: Message) -> None:
    signals = extract([*_WORKER_PLAN, later])
    assert signals.plan[0] == "Check the worker logs" and signals.resume_from == 3, signals


@pytest.mark.parametrize("later", [
    assistant("Revised plan:\n1. Raise the memory limit to 2Gi\n2. Restart the worker\n3. Post an update"),
    assistant("The queue is fine. Adjusting:\n1. Check the worker logs for the OOM cause\n2. Raise the memory limit\n"
              "3. Restart the ingest worker again"),
    user("new approach:\n1. raise the memory limit to 2Gi\n2. restart it\n3. tell #ops"),
])
def test_a_plan_headed_as_one_revising_the_old_or_from_the_user_replaces_it(later: Message) -> None:
    signals = extract([*_WORKER_PLAN, later])
    assert len(signals.plan) == 3 and signals.plan[0] != "Check the worker logs", signals


def test_a_wait_at_a_step_of_a_replaced_plan_holds_no_step_of_the_new_one() -> None:
    signals = extract([
        user("Onboard Maria.\n1. create her Slack account\n2. order her laptop\n3. send Kofi a welcome note"),
        tool_call("t1", "order_equipment", item="laptop", employee_id="EMP-1187"),
        tool_result("t1", '{"order_id": "EQ-5530", "status": "pending_approval", "approver": "Ines Faria"}'),
        user("new plan:\n1. send Kofi the welcome note\n2. book her a desk on floor 3\n3. add her to payroll"),
        tool_call("t2", "send_message", to="kofi@example.com", text="Welcome note: Maria starts Monday."),
        tool_result("t2", '{"status": "delivered"}'),
        tool_call("t3", "book_desk", floor=3, employee_id="EMP-1187"),
        tool_result("t3", '{"status": "ok", "desk": "3-114"}'),
    ])
    assert signals.resume_from == 3, signals


@pytest.mark.parametrize(("tool", "arguments"), [
    ("set_plan", {"steps": [{"title": "Add the rate limiter", "status": "done"},
                            {"title": "Write tests for it", "status": "in_progress"},
                            {"title": "Update the changelog", "status": "pending"}]}),
    ("update_todo_list", {"items": [{"text": "Add the rate limiter", "done": True},
                                    {"text": "Write tests for it", "done": False},
                                    {"text": "Update the changelog", "done": False}]}),
])
def test_a_todo_tool_is_known_by_its_list_of_items_and_states_whatever_its_name(tool: str, arguments: dict[str, object]) -> None:
    signals = extract([user("Add rate limiting to the API."), tool_call("t1", tool, **arguments),
                       tool_result("t1", "saved")])
    assert signals.plan == ["Add the rate limiter", "Write tests for it", "Update the changelog"]
    assert signals.resume_from == 2


def test_a_customers_plan_change_is_no_todo_list() -> None:
    assert actions_module.describe("change_plan", {"plan_id": "UNL-5G", "msisdn": "+34611402287"}).kind == "change"


@pytest.mark.parametrize("said", [
    "Step 1 ✅ logs show OOMKilled at 09:12.\nStep 2 ✅ worker restarted.",
    "The first two steps are done; verifying the queue next.",
    "1. [done] Check the worker logs\n2. [done] Restart the ingest worker\n3. [in progress] Verify the queue drains\n"
    "4. [todo] Post an update in #ops",
    "1. Check the worker logs: DONE\n2. Restart the ingest worker: DONE\n3. Verify the queue drains: IN PROGRESS\n"
    "4. Post an update in #ops: TODO",
])
def test_progress_on_a_plan_is_read_however_the_agent_marks_it(said: str) -> None:
    signals = extract([user("the ingest worker is stuck, fix it"),
                       assistant("Plan:\n1. Check the worker logs\n2. Restart the ingest worker\n3. Verify the queue drains\n"
                                 "4. Post an update in #ops"), assistant(said)])
    assert signals.resume_from == 3 and signals.plan[2] == "Verify the queue drains", signals


def test_a_step_for_a_role_is_done_by_its_act_whoever_it_went_to() -> None:
    signals = extract([user("Question: refund order 5512, email the customer and close ticket T-88"),
                       assistant("Thought: Plan: 1) refund order 5512, 2) email the customer, 3) close ticket T-88.\n"
                                 "Action: create_refund[order_id=5512]"),
                       user('Observation: {"status": "ok", "refund_id": "R-1"}'),
                       assistant("Thought: Refund done. Now the email.\nAction: send_email[to=ana@x.com, subject=Your refund]"),
                       user('Observation: {"sent": true}')])
    assert signals.resume_from == 3


@pytest.mark.parametrize(("step", "resume"), [("restart the ingest worker", 2), ("request a restart of the worker", 4)])
def test_work_awaiting_approval_holds_its_step_unless_the_step_is_the_asking(step: str, resume: int) -> None:
    signals = extract([
        user(f"The ingest worker is stuck.\n1. check the worker logs\n2. {step}\n3. post an update in #ops"),
        tool_call("t1", "read_logs", service="ingest-worker"), tool_result("t1", "09:12:01 worker-7 ERROR OOMKilled"),
        tool_call("t2", "request_restart", service="ingest-worker"),
        tool_result("t2", '{"status": "pending_approval", "request_id": "CHG-1042"}'),
        tool_call("t3", "slack_post", channel="#ops", text="CHG-1042 is waiting for approval"),
        tool_result("t3", '{"ok": true}'),
    ])
    assert signals.resume_from == resume, signals


def test_a_plan_replaces_a_users_list_of_rules_taken_for_one() -> None:
    signals = extract([
        user("Day 2 is cancelled, we're refunding everyone. Rules:\n- full refund incl. booking fees\n"
             "- nothing sold through TixNow\n- anything over £500 per order: hold it for me"),
        assistant("Here's how I'd approach it:\n1. Count the orders for EV-2207-D2\n2. Dry-run the refunds\n"
                  "3. Refund the rest in batches\n4. Email the customers"),
    ])
    assert signals.plan[0] == "Count the orders for EV-2207-D2" and len(signals.plan) == 4, signals.plan


def test_harness_reminders_are_never_the_intent() -> None:
    signals = extract([
        user("<system-reminder>\nThis is a reminder that your todo list is currently empty.\n</system-reminder>\n"
             "Migrate the billing service from Flask to FastAPI."),
        user("<system-reminder>Note: app.py was modified by the user or a linter.</system-reminder>"),
    ])
    assert signals.intent == "Migrate the billing service from Flask to FastAPI"


def test_small_talk_first_then_the_task_is_the_intent() -> None:
    signals = extract([user("hey there, hope your week is going well!"), assistant("Thanks! How can I help?"),
                       user("I need to rebook my flight to Lisbon for Friday.")])
    assert signals.intent == "rebook my flight to Lisbon for Friday"


def test_a_redirect_replaces_the_intent() -> None:
    signals = extract([user("Please refund order A-1001, the kettle is broken."), assistant("Looking it up."),
                       user("Actually, forget the refund, just cancel order A-1002 instead.")])
    assert signals.intent.startswith("just cancel order A-1002 instead")


def test_a_redirect_is_the_new_task_not_the_news_told_before_it() -> None:
    signals = extract([user("Work this week's disputes: pull the open ones and submit evidence."), assistant("Pulled six."),
                       user("good timing, Oskar just came over. he's seen that card before, it's a ring. new plan:\n"
                            "1. accept DP-1102 and DP-1103\n2. suspend those accounts")])
    assert signals.intent.startswith("accept DP-1102 and DP-1103, suspend those accounts (was: Work this week's"), signals.intent


def test_a_redirect_that_points_back_keeps_what_it_points_at() -> None:
    signals = extract([user("Move the Pelican deal to Negotiation."), assistant("Moved."),
                       user("forget it, the Brightwater renewal is more urgent. pull up where that stands")])
    assert signals.intent.startswith("the Brightwater renewal is more urgent, pull up where that stands (was: "), signals.intent


def test_the_work_the_agent_does_most_names_a_task_the_user_never_named() -> None:
    told = [user("there are payments on my card I didn't make, like 3 of them this morning"),
            tool_call("t1", "freeze_card", card="5518"), tool_result("t1", '{"status": "frozen"}')]
    for n in (2, 3):
        told += [tool_call(f"t{n}", "open_dispute", transaction_id=f"TX-7001{n}"),
                 tool_result(f"t{n}", f'{{"dispute_id": "DSP-{n}", "status": "open"}}')]
    assert extract(told).intent == "open dispute: there are payments on my card I didn't make, like 3 of them this morning"


@pytest.mark.parametrize(("tool", "arguments"), [
    ("create_refund", {"order_id": "A-1001"}),  # the user's words name it already
    ("Edit", {"file_path": "app.py", "old_string": "a", "new_string": "b"}),  # how the agent works, not what
    ("send_email", {"to": "ops@example.com", "body": "refund queued"}),  # the agent talking
])
def test_a_tool_that_names_no_new_work_leaves_the_task_as_the_user_said_it(tool: str, arguments: dict[str, object]) -> None:
    signals = extract([user("please refund order A-1001, the kettle is broken"), tool_call("t1", tool, **arguments),
                       tool_result("t1", '{"status": "ok"}')])
    assert signals.intent == "refund order A-1001, the kettle is broken", signals.intent


def test_a_redirect_later_in_the_turn_or_after_an_observation_is_read() -> None:
    first = user("Mark down the winter-knits collection by 30% starting today.")
    mid_turn = extract([first, assistant("Marked down WK-101."),
                        user("hold on, don't touch the jumpers. actually just do accessories: beanie, scarf, socks")])
    assert mid_turn.intent.endswith("; then: just do accessories: beanie, scarf, socks"), mid_turn.intent
    scrapped = extract([user("Find me 3 papers on sodium-ion cathodes and save a summary of each."),
                        assistant("Thought: search.\nAction: search[sodium-ion cathodes]"),
                        Message(role="user", content=[TextBlock(text="Observation: 3 results"),
                                                      TextBlock(text="actually, scrap the broad overview. give me 3 papers "
                                                                     "on Prussian blue analogues")])])
    assert scrapped.intent.startswith("give me 3 papers on Prussian blue analogues (was: "), scrapped.intent


def test_a_redirect_said_with_only_acknowledgements_around_it_is_read() -> None:
    signals = extract([user("so my blender arrived with a cracked jug, order BC-88213"), assistant("Sorry! Replace or refund?"),
                       user("replacement please, I like the blender"), assistant("The replacement is out of stock."),
                       user("ugh. ok just refund it then")])
    assert signals.intent.startswith("just refund it then (was: "), signals.intent


def test_a_new_plan_reads_as_a_list_not_as_clauses_after_a_colon() -> None:
    signals = extract([user("Please move invoices off the ccy_code column."), assistant("Plan: add currency, backfill."),
                       user("new plan, throw the old one away:\n1. keep 0041 as it is\n2. run 0041 on staging")])
    assert signals.intent.startswith("throw the old one away: keep 0041 as it is, run 0041 on staging (was: "), signals.intent


def test_the_intent_leaves_out_links_paths_moods_and_bare_lead_ins() -> None:
    signals = extract([user("draft the letter to the insured. claim AC-2026-55190, hail storm on nov 28. can you\n"
                            "- confirm hail is covered\n- work out what we pay lol. the photos are at "
                            "https://cdn.example.com/claims/2026/ac55190_photos.zip")])
    assert signals.intent == ("draft the letter to the insured — claim AC-2026-55190, hail storm on nov 28 — confirm hail "
                              "is covered — work out what we pay — the photos are at ac55190_photos.zip"), signals.intent


@pytest.mark.parametrize(("first", "intent"), [
    ("time to cut the 4.12.0 android release. plan:\n1. bump version to 4.12.0\n2. run the jest suite",
     "time to cut the 4.12.0 android release. bump version to 4.12.0. run the jest suite"),
    ("Three of us are going to the ICML workshop in Vancouver. Plan: 1) check visas, 2) hold flights",
     "Three of us are going to the ICML workshop in Vancouver. Plan: 1) check visas, 2) hold flights"),
])
def test_a_plan_heading_is_not_the_goal_the_turn_reads_in_its_order(first: str, intent: str) -> None:
    assert extract([user(first)]).intent == intent


@pytest.mark.parametrize(("first", "intent"), [
    # what the sentence says before its ask: the scene, or the ticket the ask is for
    ("Hi, I have a new analyst joining my team and I want to make sure everything is ready for day one. Can you set that up?",
     "make sure everything is ready for day one — I have a new analyst joining my team"),
    ("hey, for REQ-3317 we need to get onsites booked next week for everyone who passed the take-home",
     "get onsites booked next week for everyone who passed the take-home — for REQ-3317"),
    # a scene that opens with an acknowledgement is not small talk; a lead-in heading a list names no task
    ("morning! ok so CI on main has been red since yesterday. can you sort it out? roughly:\n1. find the failing job",
     "sort it out — so CI on main has been red since yesterday — find the failing job"),
    ("ok so today: we're adding pt-BR to the site. Here's how I'd like to go about it:\n1. find the missing keys",
     "so today: we're adding pt-BR to the site. find the missing keys"),
])
def test_the_intent_keeps_what_the_ask_is_about_and_drops_what_only_leads_in(first: str, intent: str) -> None:
    assert extract([user(first)]).intent == intent


def test_an_answer_is_added_without_its_acknowledgement_and_a_mood_word_keeps_the_stop() -> None:
    signals = extract([user("customers on TOU-D got overcharged on march 8 lol. their bill shows 25 hours for that day"),
                       assistant("Found it: the DST hour is counted twice. Shall I fix the bucketing?"),
                       user("yes, fix the interval bucketing and run the full test suite")])
    assert signals.intent == ("customers on TOU-D got overcharged on march 8. their bill shows 25 hours for that day; "
                              "then: fix the interval bucketing and run the full test suite"), signals.intent


def test_chat_before_the_first_ask_gives_way_to_it() -> None:
    signals = extract([user("Hey! Hope you had a great weekend, mine was crazy busy with the kids' football tournament"),
                       assistant("Sounds fun! What can I do for you?"),
                       user("I need to rotate the staging API keys for the billing service and update the vault entries")])
    assert signals.intent == "rotate the staging API keys for the billing service and update the vault entries", signals.intent


def test_a_goal_that_only_introduces_a_list_is_not_the_goal_and_a_long_turn_is_cut_at_a_word() -> None:
    signals = extract([user("Good morning team. Context: we are moving payroll from Gusto to Rippling at the end of the "
                            "quarter. Here is what I need you to do:\n1. validate the export against the HRIS\n"
                            "2. map the pay codes to Rippling codes\n3. flag anyone with a garnishment\n" + "4. draft the "
                            "cutover email to all staff, copying payroll, finance and the people team leads " * 3)])
    assert signals.intent.startswith("we are moving payroll from Gusto to Rippling at the end of the quarter. validate the "
                                     "export against the HRIS. map the pay codes"), signals.intent
    assert len(signals.intent) <= 300 and signals.intent.endswith("…") and not signals.intent.endswith("……")


def test_a_pasted_trace_comes_after_the_users_words_about_it() -> None:
    signals = extract([user('getting this error when I run the migration:\n\nTraceback (most recent call last):\n'
                            '  File "db/migrate.py", line 88, in apply\n    row["tenant_id"]\nKeyError: "tenant_id"\n\n'
                            'any idea whats wrong? the migration is 0042_add_tenant')])
    assert signals.intent == ('getting this error when I run the migration. any idea whats wrong? the migration is '
                              '0042_add_tenant. Traceback (most recent call last). File "db/migrate.py", line 88, in apply. '
                              'row["tenant_id"]. KeyError: "tenant_id"'), signals.intent


def test_dont_forget_is_a_reminder_not_a_redirect() -> None:
    signals = extract([user("Please refund order A-1001, the kettle is broken."), assistant("Looking it up."),
                       user("don't forget to email the customer the refund reference")])
    assert signals.intent.startswith("refund order A-1001, the kettle is broken"), signals.intent


def test_a_long_goal_is_kept_whole() -> None:
    goal = ("set up the onsite loop for candidate CND-5512 (senior bioinformatician): a 60-min technical with Grace Kim "
            "and Amit Shah, and a 45-min culture chat with Lauren Price")
    assert extract([user(f"Please {goal}. Next week if possible.")]).intent == f"{goal} — Next week if possible"


def test_the_work_named_is_the_change_most_made_among_those_that_name_work() -> None:
    told = [user("I'm on rental RA-55210, due back Thursday. Can I keep it until Saturday?")]
    for n, (tool, arguments) in enumerate([("Reply", "Checking now."), ("ExtendRental", "RA-55210|2025-08-15 08:00"),
                                           ("Reply", "Extended to Friday 08:00.")]):
        told += [assistant(f"Thought: next.\nAction: {tool}[{arguments}]"), user(f"Observation: ok {n}")]
    signals = extract(told)
    assert signals.intent.startswith("extend rental: I'm on rental RA-55210"), signals.intent


def test_a_question_is_not_a_redirect() -> None:
    signals = extract([user("I need to change booking RNT-883201: an automatic, and add my wife as a driver."),
                       assistant("Done, the automatic is on the booking."),
                       user("hmm. actually wait, if we return it in lisbon instead of porto does that get rid of the fee?")])
    assert signals.intent == "change booking RNT-883201: an automatic, and add my wife as a driver", signals.intent


@pytest.mark.parametrize(
    "amendment",
    ["hold off on the backfill, priya needs to confirm the maintenance window first.",
     "actually don't delete the old report, rename it with a _WRONG suffix.",
     "can you slack it to Dana? actually no, never mind, she'll wait"],
)
def test_a_turn_that_pauses_or_trims_part_of_the_task_keeps_the_task(amendment: str) -> None:
    signals = extract([user("Please fix the orders_daily DAG, then backfill the AUR-0526 pickup report."),
                       assistant("Fixed the staging model."), user(amendment)])
    assert signals.intent.startswith("fix the orders_daily DAG"), signals.intent


@pytest.mark.parametrize(("later", "added"), [
    ("ok thanks. she wants the rebill, and can we waive the late fee", "she wants the rebill"),
    ("can we waive the late fee too, she's been a customer for years", "can we waive the late fee too"),
    ("yes refund both. the fees thing is ridiculous", "; then: refund both"),  # the yes only answers
    ("honestly she'd rather accept the new code and pay, so the box gets released", "she'd rather accept the new code"),
    ("yes hold the autopay until the rebill is approved", "; then: hold the autopay"),
    ("this is really annoying. I want a refund for this month at least", "I want a refund for this month"),
    ("one more, she bought a toaster here last week and it's on sale now. can she get the difference",
     "can she get the difference — one more, she bought a toaster"),
])
def test_what_a_later_turn_asks_for_is_added_to_the_task(later: str, added: str) -> None:
    signals = extract([user("Gloria Mensah's February bill is $612, she normally pays $140. what happened"),
                       assistant("The January payment failed, so February carries both months."), user(later)])
    assert signals.intent.startswith("Gloria Mensah's February bill is $612") and added in signals.intent, signals.intent


def test_a_relayed_instruction_is_added_ask_first() -> None:
    first = [user("VMC-3 keeps faulting out with alarm 1204. Please find the cause."), assistant("The oil cooler filter.")]
    relayed = extract([*first, user("hold on, Dana just came by. she says run it at 70% until the saturday PM shift")])
    assert relayed.intent.endswith("; then: she says run it at 70% until the saturday PM shift — hold on, Dana just came by")
    rather = extract([*first, user("honestly the client just told me they don't want to fight it, they'd rather accept "
                                   "the code and pay")])
    assert rather.intent.endswith("; then: they'd rather accept the code and pay — the client just told me "
                                  "they don't want to fight it"), rather.intent  # "honestly" only says how they feel


def test_a_goal_that_points_back_keeps_what_it_points_at_ahead_of_the_rules() -> None:
    signals = extract([user("before the PR though: Priya says the same bug shows in WeekStrip.tsx. can you fix that too. "
                            "don't bump any deps")])
    assert signals.intent == ("fix that too — before the PR though: Priya says the same bug shows in WeekStrip.tsx — "
                              "don't bump any deps"), signals.intent


@pytest.mark.parametrize("later", ["it's 3 March 1961, she's a bit upset", "hold on, she's looking for her card",
                                   "can she pay it in two parts? she's asking",
                                   "she needs the paper bill sent to her new address"])
def test_a_later_answer_question_or_requirement_adds_nothing(later: str) -> None:
    # a question is the agent's to answer; what someone else needs is a requirement, not more work asked for
    signals = extract([user("Gloria Mensah's February bill is $612, she normally pays $140. what happened"),
                       assistant("Can you confirm her date of birth?"), user(later)])
    assert "then:" not in signals.intent, signals.intent


def test_a_text_agents_observation_that_relays_a_person_is_their_words() -> None:
    signals = extract([
        user("Observation: Customer: Hi, I'm on rental RA-55210, due back Thursday. Can I keep it until Saturday?"),
        assistant("Thought: Load the rental.\nAction: GetRental[RA-55210]"),
        user('Observation: {"rental_id": "RA-55210", "return_at": "2025-08-14T12:00"}'),
        assistant("Thought: Ask which option.\nAction: Reply[I can extend to Friday 08:00 for £54. Shall I?]"),
        user("Observation: Error: channel closed"),
    ])
    assert signals.intent.startswith("I'm on rental RA-55210, due back Thursday. Can I keep it until Saturday?")
    assert "Error" not in signals.intent


def test_a_goal_that_points_back_keeps_what_it_points_at() -> None:
    signals = extract([user("camera ready is due friday. figure 3 needs regenerating from results/ablation_v3.csv "
                            "and the build spits out citation warnings, please make them go away.")])
    assert signals.intent.startswith("figure 3 needs regenerating from results/ablation_v3.csv and the build spits out "
                                     "citation warnings, please make them go away"), signals.intent


def test_the_task_comes_before_the_rules_it_keeps_to() -> None:
    signals = extract([user("can you triage the 9 npm audit vulns in billing-gateway. do NOT bump jsonwebtoken to a "
                            "new major without asking. write the triage up in SECURITY-TRIAGE.md")])
    assert signals.intent.index("SECURITY-TRIAGE.md") < signals.intent.index("jsonwebtoken"), signals.intent


@pytest.mark.parametrize("correction", ["ugh client just emailed. its 55 people now not 40. can we do that",
                                        "oh crap, they should be in section B, the evening one"])
def test_a_later_turn_that_changes_a_detail_of_the_task_is_added_to_it(correction: str) -> None:
    signals = extract([user("new group: Corvane leadership retreat april 22-24, 40 people, enroll them in section A"),
                       assistant("Done: block held for 40."), user(correction)])
    assert signals.intent.startswith("new group: Corvane leadership retreat")
    assert ("55 people" in signals.intent) or ("section B" in signals.intent), signals.intent


def test_a_question_to_the_user_is_open_until_they_answer() -> None:
    asked = [user("Rotate the staging API keys."), assistant("The new key is ready. Shall I revoke the old one now?")]
    assert extract(asked).open_loops == ["waiting for the user to confirm: Shall I revoke the old one now?"]
    assert extract([*asked, user("yes go ahead")]).open_loops == []


def test_the_users_last_question_is_open_until_the_agent_answers_it_even_without_a_question_mark() -> None:
    asked = [user("Move my appointment to Friday."), assistant("Moved to Friday 10:00."),
             user("ok thanks. will the tech team call me or text, I'm in meetings all afternoon")]
    assert extract(asked).open_loops == [
        "the user's question is unanswered — asks whether: will the tech team call me or text, I'm in meetings all afternoon"]
    assert extract([*asked, assistant("They'll text you.")]).open_loops == []


def test_the_users_question_is_noted_as_asking_whether_when_it_asks_yes_or_no() -> None:
    start = [user("Add the invoices currency check."), assistant("Added migration 0044 with the CHECK constraint.")]
    yes_no = extract([*start, user("also did the migration go to prod already? I don't want the schema ahead")])
    assert yes_no.open_loops == ["the user's question is unanswered — asks whether: also did the migration go to prod already? "
                                 "I don't want the schema ahead"]
    open_question = extract([*start, user("which revision does it sit on?")])
    assert open_question.open_loops == ["the user's question is unanswered — asks: which revision does it sit on?"]


def test_the_users_question_carries_the_identifier_of_what_it_names_by_its_kind() -> None:
    signals = extract([user("Fix the lint job."), assistant("Pushed the fix to PR #318; lint passes now."),
                       user("no, fair. what else is left on the PR then?")])
    assert signals.open_loops == ["the user's question is unanswered — asks: what else is left on the PR then? (PR #318)"]


def test_a_request_the_agent_takes_up_is_not_an_unanswered_question() -> None:
    signals = extract([user("Ship the order to Sami."), assistant("Shipped: order A-12, tracking PX-9."),
                       user("great thanks. could you also add a gift message to the package?"),
                       tool_call("t1", "add_gift_message", order="A-12", text="Happy birthday")])
    assert signals.open_loops == []


def test_a_react_text_agent_has_calls_and_results_too() -> None:
    signals = extract([
        user("Question: book me the cheapest flight from Porto to Berlin on May 3"),
        assistant("Thought: I should search first.\nAction: search_flights[OPO, BER, 2024-05-03]"),
        user("Observation: [{\"flight\": \"FR1234\", \"price\": 89}]"),
        assistant("Thought: FR1234 is cheapest.\nAction: book_flight[FR1234]"),
        user("Observation: Error: payment declined"),
    ])
    assert signals.intent == "book me the cheapest flight from Porto to Berlin on May 3"
    assert signals.completed_steps == []
    assert signals.open_loops == ["book flight FR1234 failed: Error: payment declined"]


def test_a_plan_step_the_agent_reports_by_number_says_what_it_found_and_work_toward_a_later_step_keeps_its_number() -> None:
    signals = extract([
        user("Work permit BP-77 for me:\n1. check it's complete\n2. calc the fees\n3. route it to plan review\n"
             "4. email the applicant with next steps"),
        tool_call("t1", "get_application", application_id="BP-77"),
        tool_result("t1", '{"application_id": "BP-77", "documents": ["site_plan.pdf"]}'),
        assistant("Step 1: incomplete. The structural calcs are missing."),
        tool_call("t2", "calculate_fees", application_id="BP-77"),
        tool_result("t2", '{"total": 1846.2}'),
        assistant("Step 2: fees total $1,846.20. Step 3 has to wait until the calcs are in."),
        tool_call("t3", "send_notice", application_id="BP-77", subject="corrections needed"),
        tool_result("t3", '{"status": "sent", "notice_id": "NTC-77120"}'),
    ])
    assert signals.completed_steps == [
        "step 1: checked it's complete — Step 1: incomplete; The structural calcs are missing",
        "step 2: calculated the fees — Step 2: fees total $1,846.20",  # what it said of step 3 is not step 2's
        "step 4: sent notice BP-77, corrections needed (NTC-77120)",  # step 3 is not done, so 4 is not finished
    ]
    assert signals.resume_from == 3


def test_a_tool_that_names_its_own_verb_is_not_renamed_by_a_method_argument_and_ids_keep_all_their_parts() -> None:
    signals = extract([
        user("He wants to pay the BP-77 fees now by check."),
        tool_call("t1", "record_payment", application_id="BP-77", amount=1846.2, method="check"),
        tool_result("t1", '{"status": "recorded", "receipt": "RCPT-2026-09933", "balance_due": 0.00}'),
    ])
    assert signals.completed_steps == ["recorded payment BP-77, 1846.2, check (RCPT-2026-09933)"]


def test_edits_to_several_files_for_one_purpose_are_one_step_until_the_agent_moves_on() -> None:
    def edit(call_id: str, path: str, old: str, new: str) -> list[Message]:
        return [tool_call(call_id, "Edit", file_path=path, old_string=old, new_string=new),
                tool_result(call_id, f"Edit applied to {path}.")]

    signals = extract([
        user("Add a diff_eur column to the bank recon."),
        *edit("t1", "/srv/tools/recon/bank.py", "rows = []", "rates = load_fx(period)\nrows = []"),
        tool_call("t2", "Bash", command="python -m pytest tests/recon -q"),
        tool_result("t2", "1 failed: ReconRow got an unexpected keyword argument diff_eur"),
        *edit("t3", "/srv/tools/recon/model.py", "diff: Decimal", "diff: Decimal\ndiff_eur: Decimal"),
        *edit("t4", "/srv/tools/recon/bank.py", "diff=diff,", "diff=diff, diff_eur=eur,"),  # the same file again
        Message("assistant", (TextBlock("Now the README: document the new column."),  # the agent moves on
                               ToolUseBlock("t5", "Edit", {"file_path": "/srv/tools/README.md", "old_string": "## Columns",
                                                           "new_string": "## Columns\n- diff_eur: the diff in EUR"}))),
        tool_result("t5", "Edit applied to /srv/tools/README.md."),
    ])
    assert signals.completed_steps == [
        "added a diff_eur column to the bank recon — edited bank.py and model.py (recon/bank.py, recon/model.py): "
        "rates = load_fx(period); diff_eur: Decimal",
        "edited README.md (tools/README.md): - diff_eur: the diff in EUR: Now the README: document the new column",
    ]


def test_what_the_agent_later_says_of_a_file_it_changed_names_that_step() -> None:
    signals = extract([
        user("The build warns about citations, please fix them."),
        tool_call("t1", "Edit", file_path="/home/lena/paper/sections/intro.tex", old_string="\\citep{vaswani2017}",
                  new_string="\\citep{vaswani-attention}"),
        tool_result("t1", "Edit applied to /home/lena/paper/sections/intro.tex."),
        tool_call("t2", "Bash", command="latexmk -pdf main.tex"),
        tool_result("t2", "Output written on main.pdf (10 pages)."),
        assistant("Citation warnings are gone (fixed the `\\cite` keys in `sections/intro.tex`)."),
    ])
    assert signals.completed_steps == ["edited intro.tex (sections/intro.tex): \\citep{vaswani-attention} — "
                                       "Citation warnings are gone (fixed the `\\cite` keys in `sections/intro.tex`)"]
    assert signals.open_loops == []  # naming a file is no loop about it


def test_a_claim_right_after_a_call_recorded_a_step_reports_that_step() -> None:
    signals = extract([
        user("Add the new script to the README."),
        tool_call("t1", "Edit", file_path="/repo/lms-tools/README.md", old_string="## Scripts",
                  new_string="## Scripts\n- cohort_completions.py: completions per cohort"),
        tool_result("t1", "Edit applied to /repo/lms-tools/README.md."),
        assistant("Added to the Scripts section."),
        tool_call("t2", "refund_charge", charge_id="ch_r2m8_0616"),
        tool_result("t2", '{"refund_id": "re_r2m8_01", "status": "succeeded"}'),
        assistant("Refunded `ch_r2m8_0616` (re_r2m8_01)."),  # its words keep the underscores of the charge it names
    ])
    assert signals.completed_steps == [
        "added the new script to the README — edited README.md (lms-tools/README.md): - cohort_completions.py: "
        "completions per cohort — Added to the Scripts section",  # what the user asked for names the edit that does it
        "refunded charge ch_r2m8_0616 (re_r2m8_01) — Refunded `ch_r2m8_0616` (re_r2m8_01)",
    ]


def test_what_the_agent_makes_of_results_at_a_plan_step_names_that_step() -> None:
    signals = extract([
        user("The gateway is throwing 502s. Plan:\n1. Find which upstream the 502s come from\n"
             "2. Restart the app workers on web-2"),
        tool_call("t1", "Bash", command="awk '$9==502 {print $NF}' /var/log/nginx/access.log | sort | uniq -c"),
        tool_result("t1", "   1201 10.2.3.17\n     83 10.2.3.18"),
        assistant("1,284 502s, mostly from 10.2.3.17."),
        tool_call("t2", "Bash", command="ssh web-2 'sudo systemctl restart gunicorn-api'"),
        tool_result("t2", ""),
    ])
    assert signals.completed_steps == [
        "step 1: found which upstream the 502s come from — 1,284 502s, mostly from 10.2.3.17",
        "step 2: restarted the app workers on web-2 — restarted gunicorn-api on web-2",
    ]


def test_what_the_agent_makes_of_results_before_heading_the_next_step_names_the_step_at_work() -> None:
    signals = extract([
        user("The gateway is throwing 502s. Plan:\n1. Find which upstream the 502s come from\n"
             "2. Restart the app workers on web-2"),
        tool_call("t1", "Bash", command="awk '$9==502 {print $NF}' /var/log/nginx/access.log | sort | uniq -c"),
        tool_result("t1", "   1201 10.2.3.17\n     83 10.2.3.18"),
        assistant("1,284 502s, mostly from 10.2.3.17. Step 2: restart the workers."),
        tool_call("t2", "Bash", command="ssh web-2 'sudo systemctl restart gunicorn-api'"),
        tool_result("t2", ""),
    ])
    assert signals.completed_steps[0] == "step 1: found which upstream the 502s come from — 1,284 502s, mostly from 10.2.3.17"


def test_what_the_agent_says_again_of_a_step_adds_only_what_is_new() -> None:
    signals = extract([
        user("Raise the Corvane room block to 48 rooms."),
        tool_call("t1", "update_room_block", block_id="BLK-6621", rooms=48),
        tool_result("t1", '{"status": "updated", "block_id": "BLK-6621", "rooms": 48}'),
        assistant("Done: BLK-6621 is now 48 rooms per night."),
        user("and the other guests?"),
        assistant("Done: BLK-6621 is now 48 rooms per night; the other 7 guests book at BAR through the group link."),
    ])
    assert signals.completed_steps == ["updated room block BLK-6621, 48 — Done: BLK-6621 is now 48 rooms per night — "
                                       "the other 7 guests book at BAR through the group link"]


def test_a_message_without_a_subject_is_named_by_what_it_says_and_a_batch_says_its_purpose_once() -> None:
    notice = "Building B: the boiler is out, a technician arrives at 9pm."
    signals = extract([
        user("Tell building B about the boiler."),
        Message("assistant", (TextBlock("Texting the two floors."),
                              *(ToolUseBlock(f"t{n}", "send_tenant_notice", {"recipients": f"B{n}", "message": notice})
                                for n in (1, 2)))),
        Message("user", (ToolResultBlock("t1", (TextBlock('{"status": "sent", "notice_id": "N-101"}'),)),
                         ToolResultBlock("t2", (TextBlock('{"status": "sent", "notice_id": "N-102"}'),)))),
    ])
    assert signals.completed_steps == [
        "sent tenant notice to B1, Building B: the boiler is out, a technician arrives at 9pm. (N-101): Texting the two floors; "
        "B2 (N-102)"]  # the second of the batch: what it went to and what it made


@pytest.mark.parametrize(("verb", "done"), [("hold", "held"), ("keep", "kept"), ("rerun", "reran"), ("freeze", "froze"),
                                           ("create", "created"), ("ship", "shipped")])
def test_a_tool_verb_in_the_past_tense(verb: str, done: str) -> None:
    from trooper.signals.actions import past
    assert past(verb) == done


def test_a_passing_check_after_a_change_says_the_change_works() -> None:
    signals = extract([
        user("Raise the memory limit for payments-api and keep the tests green."),
        tool_call("t1", "Edit", file_path="/repo/charts/payments-api/values.yaml", old_string="memory: 256Mi",
                  new_string='memory: "512Mi"'),
        tool_result("t1", "Edit applied."),
        tool_call("t2", "Bash", command="python -m pytest -q"),
        tool_result("t2", "........\n41 passed in 2.3s"),
        tool_call("t3", "Bash", command="helm lint charts/payments-api"),
        tool_result("t3", "1 chart(s) linted, 0 chart(s) failed"),
    ])
    assert signals.completed_steps == ['edited values.yaml (charts/payments-api/values.yaml): memory: "512Mi" — 41 tests pass']


def test_a_long_command_keeps_room_for_the_commit_it_made() -> None:
    message = "Dedupe ATS webhook deliveries on delivery_id and post to Slack in the background " * 2
    signals = extract([
        user("Commit and push the fix."),
        tool_call("t1", "Bash", command=f'git checkout -b fix/dedupe && git commit -am "{message.strip()}" && git push -u origin fix/dedupe'),
        tool_result("t1", f"Switched to a new branch 'fix/dedupe'\n[fix/dedupe 9a03c5e] {message}\n 2 files changed"),
    ])
    assert signals.completed_steps[0].endswith("(9a03c5e)")


def todo_list(texts: tuple[str, ...], *states: str) -> list[dict[str, str]]:
    return [{"content": text, "status": state} for text, state in zip(texts, states)]


def test_what_a_todo_item_found_stays_with_it_when_the_list_is_ticked_again() -> None:
    def todos(*states: str) -> list[dict[str, str]]:
        return todo_list(("Find out why issuance is failing", "Fix the cause"), *states)

    signals = extract([
        user("The wildcard cert is not renewing, find out why and fix it."),
        tool_call("t1", "TodoWrite", todos=todos("in_progress", "pending")),
        tool_result("t1", "Todos have been modified successfully."),
        tool_call("t2", "Grep", pattern="hostedzone/", path="terraform"),
        tool_result("t2", 'terraform/iam/cert_manager.tf:14: "arn:aws:route53:::hostedzone/Z0412298ABCQ3"'),
        assistant("Confirmed: the policy allows only the old zone Z0412298ABCQ3, which was deleted."),
        tool_call("t3", "TodoWrite", todos=todos("completed", "in_progress")),
        tool_result("t3", "Todos have been modified successfully."),
    ])
    assert signals.completed_steps == ["step 1: found out why issuance is failing — Confirmed: the policy allows only "
                                       "the old zone Z0412298ABCQ3, which was deleted"]


def test_results_reported_while_ticking_the_list_name_the_item_they_were_work_on() -> None:
    def todos(*states: str) -> list[dict[str, str]]:
        return todo_list(("Break down the 502s by upstream", "Check the deploy history"), *states)

    signals = extract([
        user("Figure out the 502 spike last night."),
        tool_call("t1", "TodoWrite", todos=todos("in_progress", "pending")),
        tool_result("t1", "Todo list saved."),
        tool_call("t2", "Bash", command="awk '$9==502 {print $NF}' edge-1.log | sort | uniq -c"),
        tool_result("t2", "   1233 upstream=10.2.3.17:8000"),
        Message("assistant", (TextBlock("1,284 502s, almost all to one upstream, 10.2.3.17."),
                              ToolUseBlock("t3", "TodoWrite", {"todos": todos("completed", "in_progress")}))),
        tool_result("t3", "Todo list saved."),
    ])
    assert signals.completed_steps == ["step 1: broke down the 502s by upstream — 1,284 502s, almost all to one upstream, "
                                       "10.2.3.17"]


@pytest.mark.parametrize(("tool", "arguments", "step"), [
    ("fax_prescriber", {"prescriber": "Dr. Lindgren"}, "faxed prescriber Dr. Lindgren (FX-20931)"),
    ("ExtendRental", {"rental_id": "RA-55210", "until": "Fri 15 Aug 08:00"}, "extended rental RA-55210, Fri 15 Aug 08:00 (FX-20931)"),
    ("tfc_discard_run", {"run_id": "run-8hTqv3LwN2"}, "discarded tfc run run-8hTqv3LwN2 (FX-20931)"),
])
def test_tools_that_change_something_whatever_their_verb(tool: str, arguments: dict[str, str], step: str) -> None:
    signals = extract([user("Sort this out please."), tool_call("t1", tool, **arguments),
                       tool_result("t1", '{"status": "ok", "ref": "FX-20931"}')])
    assert signals.completed_steps == [step]


@pytest.mark.parametrize(("command", "step"), [
    ("ssh jump-1 'sudo kill -9 50112'", "killed 50112 on jump-1"),
    ("sudo crontab -r -u deploy", "removed crontab of deploy"),
    ("git pull --rebase origin main", "pulled main"),
    ("git stash -u && git pull origin main && git stash pop", "stashed changes and pulled main and popped the stash"),
    ("""printf 'assert msg == "must be > 0"' >> tests/test_validate.py""", "wrote tests/test_validate.py"),
])
def test_shell_commands_that_stop_remove_or_pull_are_steps(command: str, step: str) -> None:
    signals = extract([user("Contain it."), tool_call("t1", "Bash", command=command), tool_result("t1", "")])
    assert signals.completed_steps == [step]


def test_listing_a_crontab_is_no_step() -> None:
    signals = extract([user("What runs as deploy?"), tool_call("t1", "Bash", command="sudo crontab -l -u deploy"),
                       tool_result("t1", "*/10 * * * * /tmp/.cache/kx")])
    assert signals.completed_steps == []


def test_a_text_message_and_a_choice_are_named_as_people_say_them() -> None:
    signals = extract([
        user("Let her know the new time and open the claim."),
        tool_call("t1", "send_sms", to="Ilse Brandt", message="Your dental visit moved to 10:15"),
        tool_result("t1", '{"status": "sent", "id": "SMS-220981"}'),
        tool_call("t2", "create_claim", peril="escape_of_water", loss_date="2026-11-30"),
        tool_result("t2", '{"claim_id": "CLM-2026-40317", "status": "open"}'),
    ])
    assert signals.completed_steps == ["texted Ilse Brandt, Your dental visit moved to 10:15 (SMS-220981)",
                                       "created claim escape of water, 2026-11-30 (CLM-2026-40317)"]


def test_a_script_whose_output_says_what_it_made_is_a_step_and_one_that_only_prints_is_not() -> None:
    signals = extract([
        user("Run the November bank recon for NL01."),
        tool_call("t1", "Bash", command="cd /srv/close-tools && python -m recon.cli bank --period 2026-11 --entity NL01"),
        tool_result("t1", "loading gl ... 1,482 rows\n2 of 6 accounts unreconciled. report written to out/recon_NL01_2026-11.xlsx"),
        tool_call("t2", "Bash", command="python scripts/count_rows.py out/recon_NL01_2026-11.xlsx"),
        tool_result("t2", "6 rows"),
    ])
    assert signals.completed_steps == ["ran python -m recon.cli bank: 2 of 6 accounts unreconciled. report written to "
                                       "out/recon_NL01_2026-11.xlsx"]


@pytest.mark.parametrize(("tool", "arguments"), [
    ("refund_batch", {"order_ids": "GF-1, GF-2", "dry_run": True}),
    ("Bash", {"command": "cd ~/site && rsync -a --dry-run public/ web-2:/srv/www/"}),
])
def test_a_dry_run_changes_nothing(tool: str, arguments: dict[str, object]) -> None:
    signals = extract([user("See what it would do."), tool_call("t1", tool, **arguments),
                       tool_result("t1", '{"would_refund": 2}')])
    assert signals.completed_steps == []


def test_a_dry_run_flag_quoted_in_a_commit_message_is_no_dry_run() -> None:
    signals = extract([user("Commit the fix."),
                       tool_call("t1", "Bash", command="git commit -m 'Fix --dry-run deleting files (#57)'"),
                       tool_result("t1", "[main a3f9c21] Fix --dry-run deleting files (#57)")])
    assert signals.completed_steps == ["committed 'Fix --dry-run deleting files (#57)' on main (a3f9c21)"]


def test_a_compact_json_result_keeps_all_its_ids_and_a_long_batch_is_named_by_its_ends() -> None:
    assigned = ",".join(f'["MON-P{n}-9B","OSE","CV-01{n:02d}"]' for n in range(1, 9))  # no spaces: one long "word"
    signals = extract([
        user("Set up Monday's cover."),
        tool_call("t1", "assign_cover", lessons="MON-P1..P8"),
        tool_result("t1", f'{{"assigned":[{assigned}],"warnings":[]}}'),
        tool_call("t2", "remove_cover", ids="Wednesday"),
        tool_result("t2", '{"removed":["CV-0301","CV-0302","CV-0303","CV-0305"]}'),
    ])
    assert signals.completed_steps == ["set up Monday's cover — assigned cover MON-P1..P8 (CV-0101, CV-0102 … CV-0108)",
                                       "removed cover Wednesday (CV-0301, CV-0302, CV-0303, CV-0305)"]


def test_what_a_step_already_says_is_not_said_again_and_a_report_on_another_step_stays_off_it() -> None:
    signals = extract([
        user("Plan:\n1. Suspend the fraud accounts\n2. Look for other charges on the card ring"),
        tool_call("t1", "suspend_account", account_id="cus_k7d2", reason="fraud"),
        tool_result("t1", '{"status": "suspended", "case": "SUP-30482"}'),
        assistant("I've opened case SUP-30482 for cus_k7d2. They aim to reply within 24 hours."),
        assistant("Step 2: looking for other charges on cus_k7d2's card ring."),
    ])
    assert signals.completed_steps[0] == ("step 1: suspended the fraud accounts — suspended account cus_k7d2 "
                                          "(SUP-30482) — I've opened case SUP-30482 for cus_k7d2; They aim to reply "
                                          "within 24 hours")


def test_a_text_agent_asking_the_user_has_done_no_work() -> None:
    signals = extract([
        user("Question: refund everyone for the cancelled show"),
        assistant("Thought: Dominika should see the dry run first.\nAction: Ask[Dry run ready: 8,589 orders. Go ahead?]"),
        user("Observation: yes, go ahead"),
    ])
    assert signals.completed_steps == []


def test_a_long_batch_of_one_call_goes_on_with_what_each_call_made() -> None:
    jobs = {"WO-30211": "electrical - conveyor drive, pneumatic - reject gate", "WO-30198": "electrical - main drive motor",
            "WO-30240": "electrical, pneumatic", "WO-30187": "electrical"}
    signals = extract([
        user("Raise LOTO permits for each job."),
        Message("assistant", tuple(ToolUseBlock(f"t{n}", "create_loto_permit", {"work_order": job, "isolations": what})
                                   for n, (job, what) in enumerate(jobs.items(), 1))),
        Message("user", tuple(ToolResultBlock(f"t{n}", (TextBlock(f'{{"permit_id": "LOTO-660{n}"}}'),))
                              for n in range(1, 5))),
    ])
    assert signals.completed_steps == ["created loto permit WO-30211, electrical - conveyor drive, pneumatic - reject gate "
                                       "(LOTO-6601); WO-30198 (LOTO-6602); WO-30240 (LOTO-6603); WO-30187 (LOTO-6604)"]


def test_a_text_agent_replying_to_the_customer_is_the_conversation_not_a_step() -> None:
    signals = extract([
        user("Question: can I keep the car until Saturday?"),
        assistant("Thought: It is booked from Friday.\nAction: Reply[Hi Ngozi, your car is booked from Friday morning.]"),
    ])
    assert signals.completed_steps == []


def test_a_plan_longer_than_the_reader_keeps_is_cut_at_its_end() -> None:
    """The reader keeps 40 plan steps. It keeps the first 40, so step n stays the nth it holds:
    cut from the front, "Step 3 done" ticked the eighth step of a 45-step plan."""
    plan = "Please migrate the tables, one step each:\n" + "\n".join(
        f"{n}. migrate table orders_{n} to the new schema" for n in range(1, 46))
    done = [assistant(f"Step {n} done: orders_{n} migrated.") for n in (1, 2, 3)]
    assert extract([user(plan), *done]).resume_from == 4


def test_saying_the_tests_pass_does_not_close_a_failed_run_it_says_the_claim() -> None:
    failing = [user("Add the diff_eur column and keep the tests green."),
               tool_call("t1", "Bash", command="pytest -q"),
               tool_result("t1", "..........F....\nFAILED tests/recon/test_export.py::test_excel_columns - AssertionError\n"
                                 "1 failed, 14 passed in 2.64s"),
               assistant("Tests pass. Running the November recon next.")]
    loops = extract(failing).open_loops
    assert len(loops) == 1 and "test_excel_columns" in loops[0], loops
    assert "though the agent said: Tests pass" in loops[0], loops


def test_a_passing_run_closes_a_failed_one_whatever_command_ran_it() -> None:
    signals = extract([user("Fix the webhook dedupe."),
                       tool_call("t1", "Bash", command="pytest tests/webhooks -q"),
                       tool_result("t1", "E redis.exceptions.ConnectionError\n2 errors, 3 passed in 1.88s"),
                       tool_call("t2", "Bash", command="docker compose up -d redis && pytest tests/webhooks -q"),
                       tool_result("t2", "Container hirebot-redis-1  Started\n.....\n5 passed in 1.41s"),
                       assistant("All webhook tests pass now.")])
    assert signals.open_loops == []
    assert any(loop.startswith("`test` failed") for loop in signals.resolved_loops), signals.resolved_loops


@pytest.mark.parametrize(
    ("output", "named"),
    [
        ("..F..\nFAILED tests/test_tax.py::test_vat_for - NameError: name 'date' is not defined\n1 failed, 31 passed in 0.9s",
         "test_vat_for in tests/test_tax.py fails: NameError: name 'date' is not defined (1 failed, 31 passed in 0.9s)"),
        ("..F.\n____ test_excel_columns ____\n>  assert cols == want\nE   AssertionError: assert 7 == 6\n"
         "tests/recon/test_export.py:15: AssertionError\n1 failed, 14 passed in 2.64s",
         "test_excel_columns in tests/recon/test_export.py fails: AssertionError: assert 7 == 6 (1 failed, 14 passed in 2.64s)"),
        (" ❯ src/WeekStrip.test.tsx (6 tests | 1 failed)\n   × WeekStrip > renders seven days\n"
         " FAIL  src/WeekStrip.test.tsx > WeekStrip > renders seven days\n Tests  1 failed | 19 passed (20)",
         "renders seven days in src/WeekStrip.test.tsx fails (Tests 1 failed | 19 passed (20))"),
    ],
)
def test_a_failed_test_run_names_the_failing_tests_where_they_are_and_what_they_hit(output: str, named: str) -> None:
    loops = extract([user("Fix the export and run the tests."), tool_call("t1", "Bash", command="pytest -q"),
                     tool_result("t1", output)]).open_loops
    assert loops == [f"`test` failed: {named}"]


def test_a_search_does_not_finish_a_plan_step_that_books() -> None:
    reader = SignalReader()
    for message in [
        user("Sort out my trip to Berlin please."),
        assistant("Plan:\n1. Book the Lisbon-Berlin flight\n2. Book a hotel near the venue\n3. Book an airport transfer"),
        tool_call("t1", "search_flights", origin="LIS", destination="BER"),
        tool_result("t1", '{"offers": [{"offer_id": "FO-7781", "carrier": "TAP"}]}'),
        tool_call("t2", "book_flight", offer_id="FO-7781"),
        tool_result("t2", '{"booking_ref": "TP8QZ2", "status": "ticketed"}'),
    ]:
        reader.read(message)
    signals = reader.signals()
    assert [step.split(" — ")[0] for step in signals.completed_steps] == ["step 1: booked the Lisbon-Berlin flight"]
    assert "TP8QZ2" in signals.completed_steps[0]
    assert signals.resume_from == 2


def test_a_batch_that_partly_went_through_is_a_step_for_what_went_and_a_loop_for_what_did_not() -> None:
    signals = extract([
        user("Remove the Wednesday covers."),
        tool_call("t1", "remove_cover", ids=["CV-0301", "CV-0302", "CV-0303", "CV-0304"]),
        tool_result("t1", '{"removed": ["CV-0301", "CV-0302", "CV-0303"], "errors": [{"id": "CV-0304", "error": "not found"}]}'),
    ])
    assert len(signals.completed_steps) == 1
    step = signals.completed_steps[0]
    assert step.startswith("removed cover CV-0301, CV-0302, CV-0303") and "3 of 4" in step and "not found" in step
    assert "CV-0304" not in step.split("(", 1)[0]
    assert len(signals.open_loops) == 1 and "CV-0304: not found" in signals.open_loops[0]


def test_a_counted_batch_says_how_much_of_it_went_through_and_the_same_tool_later_closes_the_rest() -> None:
    messages = [
        user("Quarantine every copy of the phishing mail."),
        tool_call("t1", "quarantine_messages", campaign="ML-20260312-7741"),
        tool_result("t1", '{"requested": 47, "quarantined": 44, "failed": [{"id": "MSG-17", "reason": "mailbox on litigation hold"}]}'),
    ]
    signals = extract(messages)
    assert "44 of 47" in signals.completed_steps[0]
    assert "litigation hold" in signals.open_loops[0]
    later = extract([*messages, tool_call("t2", "quarantine_messages", ids=["MSG-17"]),
                     tool_result("t2", '{"requested": 1, "quarantined": 1, "failed": []}')])
    assert later.open_loops == []


def test_a_batch_where_nothing_went_through_is_a_failure() -> None:
    outcome = actions_module.outcome('{"moved": 0, "failed": [{"id": "L-1", "reason": "section full"}]}', False, "change")
    assert outcome.status == "failed" and "section full" in outcome.detail


def test_a_command_that_did_its_work_and_then_a_hook_failed_is_done_with_the_failure_open() -> None:
    output = ("Renewing an existing certificate for shop.example.io\n\nSuccessfully received certificate.\n"
              "Hook 'deploy-hook' reported error code 255\nError output from deploy-hook command :\n"
              "ssh: connect to host web-b port 22: No route to host")
    signals = extract([
        user("Renew the certificate for shop.example.io."),
        tool_call("t1", "bash", command="sudo certbot certonly --dns-route53 -d shop.example.io"),
        tool_result("t1", output),
        assistant("The certificate is renewed, though the deploy hook could not reach web-b."),
    ])
    assert len(signals.completed_steps) == 1 and "certbot" not in signals.completed_steps[0].split(" ")[0]
    assert "(then: " in signals.completed_steps[0]  # the note says what failed after the work
    assert len(signals.open_loops) == 1 and "failed" in signals.open_loops[0]
    outcome = actions_module.outcome("Error: bad flag\nSuccessfully nothing", False, "change")
    assert outcome.status == "failed"  # the failure came first: nothing was done


def test_a_cloud_cli_error_message_is_a_failure() -> None:
    output = ("Saving debug log\nAn error occurred (AccessDenied) when calling the ChangeResourceRecordSets operation: "
              "User is not authorized")
    assert actions_module.outcome(output, False, "change").status == "failed"


def test_a_text_agent_running_a_shell_command_through_run_is_read_as_that_command() -> None:
    call = actions_module.describe("run", "sudo apt-get install -y python3-certbot-dns-route53 2>&1 | tail -2")
    assert call.kind == "change" and call.phrase == "installed python3-certbot-dns-route53"
    assert actions_module.describe("run", "certbot plugins | grep dns").kind == "read"


def test_a_restated_plan_keeps_what_its_steps_found() -> None:
    reader = SignalReader()
    for message in [
        user("The renewal keeps failing, sort it out."),
        assistant("Plan:\n1. Check the renewal log\n2. Find why the challenge fails\n3. Fix the cause"),
        tool_call("t1", "bash", command="tail -n 30 /var/log/letsencrypt/letsencrypt.log"),
        tool_result("t1", "Challenge failed for shop.example.io: 301 redirect to www.example.io"),
        assistant("The challenge request is redirected to www.example.io by the CDN."),
        assistant("New plan:\n1. Check the renewal log (done)\n2. Find why the challenge fails (done)\n"
                  "3. Switch the renewal to DNS-01"),
    ]:
        reader.read(message)
    found = [step for step in reader.signals().completed_steps if step.startswith("step 1:")]
    assert found and "redirected to www.example.io" in found[0]


def test_a_sent_message_that_asks_its_recipient_for_something_awaits_their_reply() -> None:
    asked = [user("Chase Basin for the commercial invoice so we can file the claim."),
             tool_call("t1", "email_party", party="shipper", subject="BOL 77120455: commercial invoice needed",
                       body="Hello Basin Outdoor team,\n\nTo file the claim we need the commercial invoice. "
                            "Could you send it by Friday?\n\nThanks"),
             tool_result("t1", '{"status": "sent", "message_id": "M-1"}')]
    assert extract(asked).open_loops == [
        "waiting for Basin Outdoor team to reply: BOL 77120455: commercial invoice needed — To file the claim we need the "
        "commercial invoice."]
    assert extract([*asked, user("Basin replied, the invoice came in this morning")]).open_loops == []
    told = [user("Tell Basin the pallets arrived."),
            tool_call("t1", "email_party", party="shipper", subject="Pallets", body="Hello Basin, all 12 pallets arrived."),
            tool_result("t1", '{"status": "sent"}')]
    assert extract(told).open_loops == []  # it tells; it asks for nothing
    drafted = [user("Draft a note asking Basin for the invoice."),
               tool_call("t1", "draft_email", to="ops@basin.example", body="Could you send the invoice?"),
               tool_result("t1", '{"status": "draft saved"}')]
    assert extract(drafted).open_loops == []  # a draft asks no one yet


def test_the_change_made_for_what_the_user_asked_is_named_by_that_ask() -> None:
    signals = extract([
        user("ty. last thing, add a usage line for the script to the README under the Scripts section pls"),
        tool_call("t1", "Edit", file_path="/srv/tools/README.md", old_string="## Scripts\n",
                  new_string="## Scripts\n- `scripts/export.py --since DATE`\n"),
        tool_result("t1", "The file /srv/tools/README.md has been updated."),
        tool_call("t2", "Bash", command="git commit -am 'README: export usage'"),
        tool_result("t2", "[main 4f2a9c1] README: export usage"),
    ])
    assert signals.completed_steps[0].startswith(
        "added a usage line for the script to the README under the Scripts section — edited README.md")
    assert not signals.completed_steps[1].startswith("added a usage line")  # the ask names the first change only


@pytest.mark.parametrize("said", ["ok, make sure the tests still pass", "fix it please", "leave the old logs alone",
                                  "don't delete the backups", "change of plan: what does the log say?"])
def test_what_is_not_an_ask_to_change_something_names_no_work(said: str) -> None:
    signals = extract([user(said), tool_call("t1", "Bash", command="rm -rf /tmp/cache"), tool_result("t1", "")])
    assert signals.completed_steps == ["removed /tmp/cache"], signals.completed_steps


@pytest.mark.parametrize(("tool", "arguments", "kind"), [
    ("job_log", {"job": "load_order_lines"}, "read"),  # the record of a job, read
    ("employee_pay_history", {"employee_id": "E-0219"}, "read"),
    ("aging_report", {"days": 60}, "read"),
    ("LogSearch", "orders-enricher level=ERROR 02:55-03:30", "read"),  # a search of the logs, not a log entry
    ("Open", "riverton.gov/council/meetings/2025-02-20/transcript", "read"),  # a browsing agent opens a page
    ("Open", "NorthNews: Mayor: bike lanes cost 'triple' the budget", "read"),
    ("open_ticket", {"subject": "VPN down"}, "change"),
    ("add_log_entry", {"text": "rotated keys"}, "change"),
    ("hotel_book", {"hotel": "Amano"}, "change"),
])
def test_a_tool_named_for_a_record_reads_it(tool: str, arguments: object, kind: str) -> None:
    assert actions_module.describe(tool, arguments).kind == kind


def test_a_failed_attempt_told_in_words_is_open_and_a_lookup_that_found_nothing_is_not() -> None:
    told = extract([user("Push the branch and open the PR."),
                    assistant("The branch is pushed, but I couldn't open the PR: your gh token lacks that permission.")])
    assert told.open_loops == ["The branch is pushed, but I couldn't open the PR: your gh token lacks that permission"]
    looked = extract([user("Check for other bookings under Ferreira."),
                      assistant("I couldn't find any other booking under Ferreira.")])
    assert looked.open_loops == []


def test_a_wait_names_whom_its_answer_is_awaited_from() -> None:
    signals = extract([user("Raise the PO for the replacement belt."),
                       tool_call("t1", "create_purchase_order", item="CB-1450", qty=1),
                       tool_result("t1", '{"status": "pending_approval", "po_id": "PO-4500219", '
                                         '"approver": "Gail Whitcombe (Plant Manager)"}')])
    assert signals.open_loops == ["PO-4500219 pending approval (Gail Whitcombe): create purchase order CB-1450, 1"]


@pytest.mark.parametrize(("item", "done"), [
    ("Redline the deviations you want to push back on", "redlined the deviations you want to push back on"),
    ("Exclude all TixNow-channel orders", "excluded all TixNow-channel orders"),
    ("Check the balance", "checked the balance"),
    ("HS code validation vs TARIC snapshot", "HS code validation vs TARIC snapshot"),  # no verb: as written
    ("Tracking numbers for the three parcels", "Tracking numbers for the three parcels"),
    # every verb of the item did its part; a plural after "and" is a noun
    ("Pull the deadlines and filter to June", "pulled the deadlines and filtered to June"),
    ("Fix the parser and then test it", "fixed the parser and then tested it"),
    ("Check the logs and tests", "checked the logs and tests"),
    ("Re-check the Monday loads", "rechecked the Monday loads"),
    # an object says the first word is a verb: a pronoun, an identifier; a hyphened verb is its last part
    ("enrich them", "enriched them"),
    ("accept DP-1102 and DP-1103", "accepted DP-1102 and DP-1103"),
    ("Dry-run the refunds", "dry-ran the refunds"),
    ("then Exclude the TixNow orders", "excluded the TixNow orders"),  # what comes before the step is not its name
    ("Failing test for 7730-2281", "Failing test for 7730-2281"),
])
def test_a_finished_plan_item_reads_in_the_past_when_it_opens_with_a_verb(item: str, done: str) -> None:
    assert extract_module._done_wording(item) == done


def test_the_user_checking_with_someone_first_is_what_they_take_on_but_their_task_is_not() -> None:
    signals = extract([user("Switch the ingress to the new default certificate."),
                       assistant("The change needs a controller restart, which drops open websockets. Shall I go ahead?"),
                       user("let me check with Sam first, billing has a batch running till 4")])
    assert signals.open_loops == ["user will check with Sam first, billing has a batch running till 4"]
    assert extract([user("I need to file my expenses from the Oslo trip: train 1,240 SEK and hotel 4,650 SEK.")]).open_loops == []


def test_a_short_batch_says_the_verb_and_the_kind_once() -> None:
    signals = extract([
        user("Suspend the three fraud accounts."),
        Message("assistant", tuple(ToolUseBlock(f"t{n}", "suspend_account", {"customer_id": who, "reason_code": "fraud"})
                                   for n, who in enumerate(("cus_k7d2", "cus_p19x", "cus_z0q4")))),
        *[tool_result(f"t{n}", f'{{"customer_id": "{who}", "status": "suspended"}}')
          for n, who in enumerate(("cus_k7d2", "cus_p19x", "cus_z0q4"))],
    ])
    assert signals.completed_steps == ["suspended account cus_k7d2, fraud; cus_p19x; cus_z0q4"]


def test_a_chained_command_fails_as_the_part_its_error_names_and_that_part_succeeding_closes_it() -> None:
    failed = [user("Commit and push the incident note."),
              tool_call("t1", "Bash", command="git commit -qam 'INC-20931 note' && git push origin main"),
              tool_result("t1", "error: failed to push some refs to 'github.com:acme/voice-ops.git'", error=True)]
    assert extract(failed).open_loops == ["`git push` failed: error: failed to push some refs to 'github.com:acme/voice-ops.git'"]
    refused = extract([user("Branch off and push the fix."),
                       tool_call("t1", "Bash", command="git checkout -b fix/ws-leak && git push -u origin fix/ws-leak"),
                       tool_result("t1", "fatal: unable to access 'https://git.acme.internal/n.git/': "
                                         "The requested URL returned error: 403", error=True)])
    assert refused.open_loops[0].startswith("`git push` failed: fatal: unable to access")  # the part that talks to the remote
    pushed = [*failed, tool_call("t2", "Bash", command="git push origin main"),
              tool_result("t2", "To github.com:acme/voice-ops.git\n   4f2a9c1..8e1b2d3  main -> main")]
    assert extract(pushed).open_loops == []


def test_the_same_command_passing_inside_a_later_chain_closes_its_failure_and_another_form_of_it_does_not() -> None:
    failed = [user("Plan the change."),
              tool_call("t1", "Bash", command="terraform plan -out tf.plan"),
              tool_result("t1", 'Error: Backend initialization required, please run "terraform init"', error=True)]
    assert len(extract(failed).open_loops) == 1
    rerun = [*failed, tool_call("t2", "Bash", command="terraform init && terraform plan -out tf.plan"),
             tool_result("t2", "Plan: 0 to add, 2 to change, 0 to destroy.")]
    assert extract(rerun).open_loops == []
    offline = [*failed, tool_call("t2", "Bash", command="terraform init -backend=false && terraform validate"),
               tool_result("t2", "Success! The configuration is valid.")]
    assert len(extract(offline).open_loops) == 1  # validating offline says nothing of the plan against the backend


def test_a_claim_about_another_identifier_than_the_failure_is_a_step_and_not_contradicted() -> None:
    signals = extract([
        user("Post the two journal entries."),
        tool_call("t1", "post_journal_entry", je_id="JE-2317"),
        tool_result("t1", '{"je_id": "JE-2317", "status": "posted"}'),
        tool_call("t2", "post_journal_entry", je_id="JE-2318"),
        tool_result("t2", '{"error": "PERIOD_LOCKED"}'),
        assistant("JE-2317 posted."),
    ])
    assert len(signals.open_loops) == 1
    assert "JE-2318" in signals.open_loops[0] and "though the agent said" not in signals.open_loops[0]


def test_a_claim_that_finished_work_bears_out_is_not_glossed_onto_a_failure_sharing_a_word() -> None:
    signals = extract([
        user("Update my address and dispute the pending charge."),
        tool_call("t1", "update_address", customer="C-88", address="Flat 3, 27 Union Street"),
        tool_result("t1", '{"status": "ok", "updated": "address"}'),
        tool_call("t2", "open_dispute", transaction="TX-70015"),
        tool_result("t2", '{"error": "Transaction TX-70015 is still pending; the address on file was updated today"}'),
        assistant("Your address is updated to Flat 3, 27 Union Street."),
    ])
    assert not any("though the agent said" in loop for loop in signals.open_loops), signals.open_loops
    assert any("TX-70015" in loop for loop in signals.open_loops)


def test_the_claim_a_failure_contradicts_shows_however_long_the_error_was() -> None:
    error = "sed: cannot rename /home/deploy/.ssh/sedR2x9Qk: Operation not permitted " + "(immutable file) " * 12
    signals = extract([
        user("Remove the deploy key from jump-1."),
        tool_call("t1", "bash", command="sed -i '/deploy@ci/d' /home/deploy/.ssh/authorized_keys"),
        tool_result("t1", error, error=True),
        assistant("The deploy key is removed from authorized_keys on jump-1."),
    ])
    loop = next(loop for loop in signals.open_loops if "though the agent said" in loop)
    assert loop.endswith("though the agent said: The deploy key is removed from authorized_keys on jump-1"), loop
    assert "sed" in loop and len(loop) <= 240


def _drafted_then(claim: str, *later: Message) -> list[str]:
    return extract([
        user("Raise the PO for the bolts with Brightfast."),
        tool_call("t1", "create_purchase_order", vendor="V-1180", lines="400 bolts"),
        tool_result("t1", '{"po_id": "PO-2025-0912", "status": "draft", "total": 168.0}'),
        *later,
        assistant(claim),
    ]).open_loops


def test_an_item_a_change_left_a_draft_that_the_agent_calls_sent_is_open_and_says_so() -> None:
    loops = _drafted_then("PO-2025-0912 (400 bolts, $168.00) has been sent to Brightfast.")
    assert loops == ["PO-2025-0912 still draft: create purchase order V-1180, 400 bolts"
                     " — though the agent said: PO-2025-0912 (400 bolts, $168.00) has been sent to Brightfast"]


def test_a_draft_claimed_honestly_or_finished_by_a_later_change_is_no_loop() -> None:
    assert _drafted_then("PO-2025-0912 is drafted; it needs submitting before Brightfast sees it.") == []
    sent = (tool_call("t2", "send_purchase_order", po_id="PO-2025-0912"),
            tool_result("t2", '{"po_id": "PO-2025-0912", "status": "sent"}'))
    assert _drafted_then("PO-2025-0912 has been sent to Brightfast.", *sent) == []


_QUARANTINED_44_OF_47 = [
    user("Quarantine the phishing messages."),
    tool_call("t1", "quarantine_messages", message_ids=["ML-7741"]),
    tool_result("t1", '{"requested": 47, "quarantined": 44, "failed": [{"id": "MSG-17", "reason": "mailbox on litigation hold"},'
                      ' {"id": "MSG-29", "reason": "message not found"}, {"id": "MSG-38", "reason": "mailbox on litigation hold"}]}'),
]


def test_a_claim_of_a_whole_batch_that_partly_failed_is_said_on_the_part_left() -> None:
    loops = extract([*_QUARANTINED_44_OF_47, assistant("All 47 messages are quarantined. Checking the sign-ins next.")]).open_loops
    assert len(loops) == 1 and loops[0].startswith("quarantine messages ML-7741 failed for 3 of 47: MSG-17"), loops
    assert loops[0].endswith("though the agent said: All 47 messages are quarantined"), loops
    honest = extract([*_QUARANTINED_44_OF_47, assistant("44 of the 47 messages are quarantined; 3 failed.")]).open_loops
    assert len(honest) == 1 and "though the agent said" not in honest[0]


def test_the_part_of_a_batch_that_failed_stays_open_when_the_same_call_does_another_batch() -> None:
    another = [tool_call("t2", "quarantine_messages", message_ids=["ML-8219"]),
               tool_result("t2", '{"requested": 6, "quarantined": 6, "failed": []}')]
    assert len(extract([*_QUARANTINED_44_OF_47, *another]).open_loops) == 1
    again = [tool_call("t2", "quarantine_messages", message_ids=["ML-7741"]),
             tool_result("t2", '{"requested": 3, "quarantined": 3, "failed": []}')]
    assert extract([*_QUARANTINED_44_OF_47, *again]).open_loops == []


def test_a_text_agents_final_answer_that_its_observation_contradicts_is_said_on_the_failure() -> None:
    loops = extract([
        user("Refund order A-1001."),
        assistant("Thought: refund it.\nAction: create_refund[A-1001]"),
        user("Observation: error: refund window closed for order A-1001"),
        assistant("Thought: done.\nAction: finish[Refund issued for order A-1001.]"),
    ]).open_loops
    assert len(loops) == 1 and loops[0].startswith("create refund A-1001 failed"), loops
    assert loops[0].endswith("though the agent said: Refund issued for order A-1001"), loops


def test_a_call_the_user_interrupted_did_not_happen() -> None:
    outcome = actions_module.outcome("Email NOT sent: the user interrupted the action.", False, "change")
    assert outcome.status == "failed"
    assert actions_module.outcome("Interrupted by user", False, "change").status == "failed"
    assert actions_module.outcome("Message sent to Helen (msg-5512).", False, "change").status == "ok"


def test_a_call_made_beside_a_failed_one_is_its_sibling_not_its_retry() -> None:
    def post(entity: str) -> ToolUseBlock:
        return ToolUseBlock(f"je-{entity}", "post_journal_entry", {"entity": entity, "reference": "GRNI-2026-11"})

    head = [
        user("Post the November GRNI accruals for NL01, DE02 and UK03."),
        Message("assistant", (TextBlock("Posting the accruals."), post("NL01"), post("DE02"), post("UK03"))),
        Message("user", (
            ToolResultBlock("je-NL01", (TextBlock('{"ok": true, "je_id": "JE-NL01-118204"}'),)),
            ToolResultBlock("je-DE02", (TextBlock('{"ok": false, "error": "PERIOD_CLOSED", "detail": "DE02 is soft-closed"}'),)),
            ToolResultBlock("je-UK03", (TextBlock('{"ok": true, "je_id": "JE-UK03-55731"}'),)),
        )),
    ]
    loops = extract(head).open_loops
    assert any("DE02" in loop and "PERIOD_CLOSED" in loop for loop in loops), loops
    # posted again once the period is reopened, in a later turn: that is the retry, and it closes the loop
    retried = extract([*head, user("Birgit reopened DE02, try again"),
                       Message("assistant", (post("DE02"),)),
                       tool_result("je-DE02", '{"ok": true, "je_id": "JE-DE02-7701"}')])
    assert not any("DE02" in loop for loop in retried.open_loops), retried.open_loops


def test_a_push_is_named_by_the_commit_it_moved_the_branch_to() -> None:
    signals = extract([
        user("Staging goes straight to main: commit the overlay change and push it."),
        tool_call("t1", "Bash", command='git add k8s/staging/configmap.yaml && git commit -q -m "staging: add ledger env" '
                                        "&& git push origin main 2>&1 | tail -2"),
        tool_result("t1", "To gitlab.corp:platform/infra-gitops.git\n   4e2b91c..b7d30e5  main -> main"),
    ])
    assert signals.completed_steps == ["committed 'staging: add ledger env' and pushed main (b7d30e5)"]


def test_a_commit_is_named_by_the_branch_its_result_says_it_went_on() -> None:
    signals = extract([
        user("Commit the cart fix, don't push."),
        tool_call("t1", "Bash", command='git add src/store && git commit -m "fix(cart): keep badge count in sync"'),
        tool_result("t1", "[feat/checkout-polish a4d91e0] fix(cart): keep badge count in sync\n 2 files changed"),
    ])
    assert signals.completed_steps == ["committed 'fix(cart): keep badge count in sync' on feat/checkout-polish (a4d91e0)"]


def test_a_result_that_names_the_record_it_filed_names_the_step() -> None:
    signals = extract([
        user("We need a filter from Spartanburg."),
        assistant("Action: request_transfer[OCF-220 | 1 | Spartanburg]"),
        user("Observation: Transfer request TR-4471 submitted. Courier runs at 15:00."),
        assistant("Action: draft_email[ops@plant.example|Filter|Hi, the filter is on its way]"),
        user("Observation: Draft D-8841 created."),  # "created" says less than the call's own verb
    ])
    assert signals.completed_steps[0] == "submitted transfer request TR-4471: OCF-220 | 1 | Spartanburg"
    assert signals.completed_steps[1] == "emailed draft ops@plant.example|Filter|Hi, the filter is on its way"


def test_a_message_is_named_by_the_records_its_words_are_about() -> None:
    signals = extract([
        user("Send the report draft to Ruth for review."),
        tool_call("t1", "send_email", to=["ruth@youthtable.example"], subject="Final report draft - needs your review",
                  body="Hi Ruth,\n\nThe draft for KAF-2025-117 is here: https://docs.youthtable.example/d/DRAFT-88\n"),
        tool_result("t1", '{"status": "sent", "message_id": "<a81c@youthtable.example>"}'),
    ])
    assert signals.completed_steps == [
        "emailed ruth@youthtable.example, Final report draft - needs your review, KAF-2025-117, DRAFT-88"]


def _offboarding(jira_result: str, error: bool) -> list[Message]:
    plan = ("Plan:\n1. Disable Slack, GitHub and Jira\n2. Suspend Google Workspace, no drive transfer\n"
            "3. Schedule the equipment return to his home address")

    def disable(system: str) -> ToolUseBlock:
        return ToolUseBlock(f"t-{system}", "disable_account", {"employee": "EMP-0871", "system": system})

    return [
        user("Derek (EMP-0871) leaves on Friday, please offboard him."), assistant(plan),
        tool_call("t1", "schedule_equipment_return", employee="EMP-0871", address="7 Quay St, Galway"),
        tool_result("t1", '{"return_id": "BOX-5519", "status": "scheduled"}'),
        user("it's friday 6pm, go ahead with the accounts"),
        Message("assistant", (disable("slack"), disable("github"), disable("jira"), disable("google_suspend"))),
        Message("user", (
            ToolResultBlock("t-slack", (TextBlock('{"status": "disabled"}'),)),
            ToolResultBlock("t-github", (TextBlock('{"status": "disabled"}'),)),
            ToolResultBlock("t-jira", (TextBlock(jira_result),), is_error=error),
            ToolResultBlock("t-google_suspend", (TextBlock('{"status": "suspended", "retention": "legal hold"}'),)),
        )),
    ]


def test_a_step_whose_tool_failed_for_one_of_its_items_is_partly_done() -> None:
    # Slack and GitHub disabled, Jira refused and never retried: step 1 is partly done, and the work resumes
    # there though the later steps are finished
    refused = extract(_offboarding('{"status": "error", "message": "User has 11 open issues assigned"}', True))
    assert refused.resume_from == 1, refused.completed_steps
    # the same tool suspended Google Workspace for step 2: the failure is about Jira, and step 2 stays finished
    assert any(entry.startswith("step 2: suspended Google Workspace") for entry in refused.completed_steps), \
        refused.completed_steps
    done = extract(_offboarding('{"status": "disabled"}', False))
    assert done.resume_from == 4, done.completed_steps


def test_a_step_that_is_the_asking_is_done_though_its_answer_is_awaited() -> None:
    head = [user("My laptop won't boot. Raise an IT ticket and tell my manager I'm offline today."),
            assistant("Plan:\n1. Raise the IT ticket\n2. Tell your manager\n3. Book a loaner laptop"),
            tool_call("t1", "create_ticket", summary="Laptop will not boot", queue="IT"),
            tool_result("t1", '{"ticket_id": "IT-5581", "status": "awaiting triage"}')]
    signals = extract(head)
    # the ticket is raised: step 1 is done, and IT's answer is what is awaited
    assert signals.resume_from == 2, signals.completed_steps
    assert any(entry.startswith("step 1:") and "IT-5581" in entry for entry in signals.completed_steps), signals
    assert any("IT-5581" in loop for loop in signals.open_loops), signals.open_loops
    # work that is not the asking stays open while its answer is awaited (a purchase pending approval)
    ordered = extract([user("Order 5 laptops for the new hires."),
                       assistant("Plan:\n1. Order the laptops\n2. Tell the hires\n3. Book the setup session"),
                       tool_call("t1", "create_purchase_order", item="laptop", quantity=5),
                       tool_result("t1", '{"po": "PO-9", "status": "pending approval"}')])
    assert ordered.resume_from == 1, ordered.completed_steps


def test_a_file_changed_again_after_the_user_spoke_is_the_same_piece_of_work() -> None:
    signals = extract([
        user("Write the incident note in docs/incidents/gateway-502.md."),
        tool_call("t1", "Write", file_path="/repo/docs/incidents/gateway-502.md", content="# 502s on web-2\n"),
        tool_result("t1", "File created successfully at: /repo/docs/incidents/gateway-502.md"),
        user("web-3 is back too, put that in the note."),
        Message("assistant", (TextBlock("Adding the web-3 restart to the incident note."), ToolUseBlock(
            "t2", "Edit", {"file_path": "/repo/docs/incidents/gateway-502.md", "old_string": "# 502s on web-2\n",
                           "new_string": "# 502s on web-2\n\nweb-3 restarted at 10:40.\n"}))),
        tool_result("t2", "The file /repo/docs/incidents/gateway-502.md has been updated."),
    ])
    assert signals.completed_steps == [
        "wrote gateway-502.md (docs/incidents/gateway-502.md) — Adding the web-3 restart to the incident note"]


def test_a_todo_list_ticked_again_keeps_which_tools_did_a_steps_work() -> None:
    def todos(*states: str) -> list[dict[str, str]]:
        items = ["Disable Slack, GitHub and Jira", "Suspend Google Workspace", "Schedule the equipment return"]
        return [{"content": item, "status": state, "activeForm": item} for item, state in zip(items, states, strict=True)]

    def disable(system: str) -> ToolUseBlock:
        return ToolUseBlock(f"t-{system}", "disable_account", {"employee": "EMP-0871", "system": system})

    signals = extract([
        user("Derek (EMP-0871) leaves today, please offboard him."),
        tool_call("t1", "TodoWrite", todos=todos("in_progress", "pending", "pending")),
        tool_result("t1", "Todos have been modified successfully."),
        Message("assistant", (disable("slack"), disable("github"), disable("jira"))),
        Message("user", (
            ToolResultBlock("t-slack", (TextBlock('{"status": "disabled"}'),)),
            ToolResultBlock("t-github", (TextBlock('{"status": "disabled"}'),)),
            ToolResultBlock("t-jira", (TextBlock('{"status": "error", "message": "11 open issues assigned"}'),),
                            is_error=True),
        )),
        # the agent ticks step 1 and moves on: Jira's refusal still leaves it partly done
        tool_call("t2", "TodoWrite", todos=todos("completed", "in_progress", "pending")),
        tool_result("t2", "Todos have been modified successfully."),
    ])
    assert signals.resume_from == 1, signals.completed_steps


def test_a_todo_list_restated_in_a_harness_reminder_is_the_list_as_the_agent_left_it() -> None:
    items = ("Fix the connection leak", "Add a regression test", "Open a PR")
    reminder = ("<system-reminder>\nYour todo list has changed. DO NOT mention this explicitly to the user. Here are "
                "the latest contents of your todo list:\n"
                + json.dumps(todo_list(items, "completed", "completed", "pending")) + "\n</system-reminder>")
    signals = extract([
        user("The export job leaks connections, fix it and open a PR."),
        tool_call("t1", "TodoWrite", todos=todo_list(items, "in_progress", "pending", "pending")),
        tool_result("t1", "Todos have been modified successfully."),
        tool_call("t2", "Edit", file_path="/repo/jobs/export.py", old_string="upload(s)", new_string="s.close(); upload(s)"),
        tool_result("t2", "The file /repo/jobs/export.py has been updated."),
        Message("user", (TextBlock("ok, hold the PR until Marco has looked"), TextBlock(reminder))),
    ])
    assert signals.resume_from == 3
    assert "todo list" not in signals.intent


def test_the_newest_closed_reminder_that_says_it_holds_the_todo_list_is_the_list() -> None:
    from trooper.signals.harness import reminded_todos

    first = '<system-reminder>Here are the latest contents of your todo list: [{"content": "a", "status": "completed"}]\n</system-reminder>'
    newer = '<system-reminder>Your todo list changed: [{"content": "b", "status": "pending"}]</system-reminder>'
    assert reminded_todos("ok " + first + " then " + newer) == [{"content": "b", "status": "pending"}]
    assert reminded_todos(first + '<system-reminder>todo list [{"content": "c"}]') == [{"content": "a", "status": "completed"}]
    assert reminded_todos('<system-reminder>Note: the file list [{"content": "a"}]</system-reminder>') is None
    assert reminded_todos('<system-reminder>your todo list [{"content": "a"}] and more words</system-reminder>') is None
    assert reminded_todos('<system-reminder>your todo list [not json]</system-reminder>') is None
    # Many unclosed look-alikes: read in one forward pass (bench/hostile.py times the shape; the
    # first version, one expression, took 28 s on 448 kB of it)
    assert reminded_todos("<system-reminder>todo list [" * 40_000) is None


def test_a_failed_test_run_does_not_hold_an_item_the_agent_ticked_past_it() -> None:
    items = ("Reproduce the flaky test", "Fix the root cause", "Add a CHANGELOG entry")
    signals = extract([
        user("test_parse_invoice_date is flaky, fix it and note it in the changelog."),
        tool_call("t1", "TodoWrite", todos=todo_list(items, "completed", "in_progress", "pending")),
        tool_result("t1", "Todos have been modified successfully."),
        tool_call("t2", "Edit", file_path="/repo/ledger/dates.py", old_string="date.today()", new_string="utc_today()"),
        tool_result("t2", "The file /repo/ledger/dates.py has been updated."),
        tool_call("t3", "Bash", command="python -m pytest -q"),
        tool_result("t3", "FAILED tests/test_export.py::test_export_csv_header - AssertionError\n1 failed, 211 passed"),
        assistant("The suite is green apart from an unrelated header assertion in test_export.py."),
        tool_call("t4", "TodoWrite", todos=todo_list(items, "completed", "completed", "in_progress")),
        tool_result("t4", "Todos have been modified successfully."),
    ])
    assert signals.resume_from == 3


def test_work_that_covers_a_later_step_more_than_the_next_one_is_filed_under_the_later_step() -> None:
    signals = extract([
        user("Onboard Maria:\n1. Provision Google Workspace\n2. Provision Slack\n3. Provision GitHub"),
        tool_call("t1", "provision_account", employee="EMP-1187", system="google"),
        tool_result("t1", '{"status": "provisioned"}'),
        tool_call("t2", "provision_account", employee="EMP-1187", system="github", username="msantos-lumen"),
        tool_result("t2", '{"status": "provisioned"}'),
    ])
    assert [step.split(":", 1)[0] for step in signals.completed_steps] == ["step 1", "step 3"], signals.completed_steps
    assert signals.resume_from == 2
