"""The dashboard in a real headless Chromium (Debian's, driven by Playwright), while a
scripted agent session runs through the proxy: without a reload the page shows the
session, its intent, a red open loop that later turns into a green completed step, and
the provider timeline with a fallback. Conversation text is shown, never run.

Screenshots go to test-artifacts/dashboard*.png (untracked). The README's docs/dashboard.png is
rewritten only when asked: TROOPER_UPDATE_SCREENSHOT=1 python -m pytest tests/test_dashboard_browser.py
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import anthropic
import openai
import pytest

from tests.conftest import chain_env, run_trooper
from tests.fakes.upstream import Error, FakeUpstream, Text, ToolCall
from tests.redis_server import RedisServer, redis_server  # noqa: F401  (a fixture)

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]

playwright_api = pytest.importorskip("playwright.async_api")

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

SYSTEM = "You are a database migration agent. Work in numbered steps and report each one."
TOOLS = [{"name": "psql", "description": "Run SQL on the source database.",
          "input_schema": {"type": "object", "properties": {"sql": {"type": "string"}}, "required": ["sql"]}}]
OPENAI_TOOL = {"type": "function", "function": {"name": "save_note", "description": "Save a note.",
                                                "parameters": {"type": "object", "properties": {}}}}
# The second agent's request: a note saved earlier in its session, and what it said of it.
RESEARCH = [
    {"role": "user", "content": "I need a briefing on lithium-ion battery recycling for the committee. Keep notes as you go."},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
        "name": "save_note", "arguments": '{"title": "Recycling routes", "body": "hydrometallurgy vs pyrometallurgy"}'}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": '{"ok": true, "id": "N-17"}'},
    {"role": "assistant", "content": "Saved the outline of the two recycling routes as note N-17."},
    {"role": "user", "content": "Good, carry on with the costs."},
]
XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


def red(color: str) -> bool:
    r, g, b = (int(x) for x in re.findall(r"\d+", color)[:3])
    return r > 120 and r > 2 * g and r > 2 * b


def green(color: str) -> bool:
    r, g, b = (int(x) for x in re.findall(r"\d+", color)[:3])
    return g > 80 and g > 1.5 * r and g > 1.5 * b


async def test_the_dashboard_follows_an_agent_live(tmp_path: Path, claude: FakeUpstream, ollama: FakeUpstream) -> None:
    claude.script(
        Text("Plan: step 1 dump the users table, step 2 restore it on Postgres 16, step 3 switch traffic. "
             "Still need to dump the users table: waiting on the DBA to approve the maintenance window."),
        Text("Saved 6 sources to the notes. Still waiting for Imani to confirm whether sodium-ion is in scope."),
        ToolCall([("psql", {"sql": "select count(*) from users"})], text="Checking the table size first."),
        Error(429, headers={"retry-after": "0"}), Error(429, headers={"retry-after": "0"}),
    )
    ollama.script(Text("✅ Step 1 done: dumped the users table (2.1 GB, 1,204,332 rows). Step 2 is next, "
                       "but we're blocked on the platform team opening the firewall to the new cluster.", chunks=6))
    env = chain_env(claude=claude, ollama=ollama, TROOPER_DB=str(tmp_path / "trooper.db"))
    ARTIFACTS.mkdir(exist_ok=True)

    async with run_trooper(env) as trooper, playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1440, "height": 900})
            await page.goto(trooper.url + "/dashboard")
            await page.wait_for_selector("body[data-live='live']", timeout=10_000)
            assert await page.locator("#empty").is_visible()

            # Turn 1, through the proxy while the page is open.
            agent = anthropic.AsyncAnthropic(base_url=trooper.url, api_key="client-key", max_retries=0)
            history = [{"role": "user", "content": "I want to migrate the users table to Postgres 16 without downtime. "
                                                   f"Never touch the billing schema. (Pasted from a ticket: {XSS})"}]
            answer = await agent.messages.create(model="claude-haiku-4-5", max_tokens=256, system=SYSTEM, tools=TOOLS, messages=history)
            history.append({"role": "assistant", "content": answer.content[0].text})

            # The session appears, pushed: no reload. Open it with the keyboard.
            item = page.locator("#sessions li")
            await item.first.wait_for(timeout=10_000)
            await page.locator("#sessions").focus()
            await page.keyboard.press("ArrowDown")
            await page.wait_for_selector("#session:not([hidden])")
            assert "migrate the users table to Postgres 16 without downtime" in await page.text_content("#s-intent")
            open_loop = page.locator("#s-open li", has_text="dump the users table")
            await open_loop.wait_for(timeout=10_000)
            assert red(await open_loop.evaluate("e => getComputedStyle(e).color"))
            assert await page.locator("#s-done li.empty").count() == 1
            await page.screenshot(path=str(ARTIFACTS / "dashboard-open-loop.png"))

            # Another agent, another SDK, meanwhile: a second session.
            researcher = openai.AsyncOpenAI(base_url=trooper.url + "/v1", api_key="client-key", max_retries=0)
            await researcher.chat.completions.create(model="gpt-4o-mini", tools=[OPENAI_TOOL], messages=RESEARCH,
                                                     extra_headers={"X-Session-ID": "researcher"})
            await page.locator("#sessions li").nth(1).wait_for(timeout=10_000)

            # Turns 2 and 3: a tool call, then Claude is rate-limited and Ollama answers, streamed.
            history.append({"role": "user", "content": "How big is the table?"})
            answer = await agent.messages.create(model="claude-haiku-4-5", max_tokens=256, system=SYSTEM, tools=TOOLS, messages=history)
            tool_use = answer.content[-1]
            history += [{"role": "assistant", "content": [block.model_dump() for block in answer.content]},
                        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id,
                                                      "content": "1204332"}]},
                        ]
            history[-1]["content"].append({"type": "text", "text": "The DBA approved the window. Go ahead with step 1."})
            async with agent.messages.stream(model="claude-haiku-4-5", max_tokens=256, system=SYSTEM,
                                             tools=TOOLS, messages=history) as stream:
                await stream.get_final_message()
                session_id = stream.response.headers["x-trooper-session"]

            # The red loop turns into a green completed step, still without a reload.
            done = page.locator("#s-done li", has_text="dumped the users table")
            await done.wait_for(timeout=10_000)
            assert green(await done.evaluate("e => getComputedStyle(e).color"))
            await page.locator("#s-open li", has_text="dump the users table").wait_for(state="detached", timeout=10_000)
            assert "firewall" in await page.text_content("#s-open")
            assert await page.text_content("#s-stage") == "blocked"
            assert await page.text_content("#s-resume") == "Resume from step 2"

            # The provider timeline: the fallback is there, and who answered each turn.
            timeline = page.locator("#s-timeline li")
            assert await page.locator("#sessions li[aria-selected='true']").get_attribute("data-id") == session_id
            await timeline.nth(2).wait_for(timeout=10_000)
            last = await timeline.nth(2).text_content()
            assert "claude ✗ 429 rate_limit" in last and "ollama ✓" in last and "ollama (fallback: rate_limit)" in last
            assert "no_key" not in last  # providers without a key were never candidates
            answered_by = await page.locator("#s-transcript li.role-assistant .who").all_text_contents()
            assert ["via claude" in t for t in answered_by] == [True, True, False] and "via ollama" in answered_by[-1]
            assert await page.locator("#s-transcript .block-tool-result").count() == 1
            assert await page.locator("#s-transcript .block-tool-use").count() == 1

            # Conversation text is text: the pasted markup is shown, and nothing ran.
            first = page.locator("#s-transcript li.role-user").first
            assert XSS in await first.text_content()
            assert await page.evaluate("window.__pwned") is None
            assert await page.locator("#s-transcript img, #s-transcript script").count() == 0

            await page.screenshot(path=str(ARTIFACTS / "dashboard.png"))
            if os.environ.get("TROOPER_UPDATE_SCREENSHOT") == "1":  # tests never write tracked files unasked
                shutil.copyfile(ARTIFACTS / "dashboard.png", ROOT / "docs" / "dashboard.png")

            # A step is shown as its name, then what the agent said of it, in a quieter voice.
            await page.locator("#sessions li[data-id='researcher']").click()
            name = page.locator("#s-done li .name", has_text="saved note Recycling routes")
            await name.wait_for(timeout=10_000)
            said = page.locator("#s-done li .said")
            assert (await said.text_content()).startswith(" — Saved the outline of the two recycling routes as note N-17")
            weights = [int(await part.evaluate("e => getComputedStyle(e).fontWeight")) for part in (name, said)]
            assert weights[0] > weights[1]
            assert "(N-17)" in await name.text_content()
            await page.screenshot(path=str(ARTIFACTS / "dashboard-step-names.png"))
            await page.close()  # end the event stream before the server stops
        finally:
            await browser.close()


async def test_the_dashboard_says_when_the_shared_store_is_down_and_recovers(
        tmp_path: Path, claude: FakeUpstream, redis_server: RedisServer) -> None:
    """With the Redis store: Redis stops, the page says the store is unavailable (not a
    blank list); requests still flow; Redis returns, and the page shows the sessions again,
    the one made while Redis was down among them, without a reload."""
    claude.default = Text("Done: dumped the users table.")
    env = chain_env(claude=claude, TROOPER_STORE=redis_server.url)
    agent_says = [{"role": "user", "content": "I want to migrate the users table to Postgres 16."}]
    async with run_trooper(env) as trooper, playwright_api.async_playwright() as pw:
        agent = anthropic.AsyncAnthropic(base_url=trooper.url, api_key="client-key", max_retries=0)
        await agent.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=agent_says,
                                    extra_headers={"X-Session-ID": "before"})
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page()
            await page.goto(trooper.url + "/dashboard")
            await page.locator("#sessions li[data-id='before']").wait_for(timeout=10_000)
            redis_server.save()
            redis_server.stop()
            await page.reload()  # a fresh page has to read the sessions, and can't
            await page.wait_for_selector("body[data-live='unavailable']", timeout=10_000)
            assert "unreachable" in await page.text_content("#count")
            await agent.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=agent_says,
                                        extra_headers={"X-Session-ID": "during"})  # still answered
            redis_server.start()
            await page.locator("#sessions li[data-id='during']").wait_for(timeout=20_000)
            await page.wait_for_selector("body[data-live='live']", timeout=10_000)
            assert await page.locator("#sessions li[data-id='before']").count() == 1
        finally:
            await browser.close()
