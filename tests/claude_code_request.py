"""A request of the shape Claude Code sends (written here, not captured): a billing line,
a long system prompt, 24 tools (one with the agent catalogue) with long descriptions and
detailed schemas (~12k tokens of them), `<system-reminder>` blocks in the user's turns,
and an agent loop of tool calls and results: ~20k tokens in all.

`request()` is the Anthropic Messages body. The user asked once, at the start; the last
message is the result of the `Write` call that made the file.
"""

from __future__ import annotations

import json
from typing import Any

USER_PROMPT = "Create a file hello.txt containing hi, then run the tests under tests/ and fix whatever fails."
LAST_RESULT = "File created successfully at: /home/dev/shop/hello.txt"
USED_TOOLS = ("TodoWrite", "Bash", "Read", "Edit", "Write")

BILLING = "x-anthropic-billing-header: cc_version=2.0.31.a1f; cc_entrypoint=cli; cch=00000;"

SYSTEM_SECTIONS = {
    "Tone and style": [
        "You should be concise, direct, and to the point, while providing complete information.",
        "Match the level of detail in your response to the complexity of the user's request.",
        "Only use emojis if the user explicitly requests it, and avoid them in every file you write.",
        "Your output will be displayed on a command line interface in a monospace font, rendered as CommonMark.",
        "Output text to communicate with the user; all text outside of tool use is shown to them.",
        "Never use tools like Bash or code comments as a means to talk to the user during a session.",
        "Prefer editing an existing file to creating a new one, including markdown files.",
    ],
    "Professional objectivity": [
        "Prioritize technical accuracy and truthfulness over validating the user's beliefs.",
        "Focus on facts and problem-solving, and give direct, objective technical information.",
        "Disagree when the evidence calls for it, even when that is not what the user wants to hear.",
        "When you are uncertain, investigate to find the truth first rather than confirming instinctively.",
    ],
    "Task management": [
        "You have access to the TodoWrite tool to help you manage and plan tasks.",
        "Use it very frequently so that you track your tasks and give the user visibility into your progress.",
        "It is also extremely helpful for planning, and for breaking larger complex tasks into smaller steps.",
        "If you do not use this tool when planning, you may forget important tasks, and that is unacceptable.",
        "Mark todos as completed as soon as you are done with a task; do not batch up several of them.",
    ],
    "Doing tasks": [
        "The user will primarily request you perform software engineering tasks in this repository.",
        "These include solving bugs, adding new functionality, refactoring code, and explaining code.",
        "Use the search tools extensively, both in parallel and sequentially, to understand the codebase first.",
        "Implement the solution using all the tools available to you, then verify it with the project's tests.",
        "Never assume a specific test framework or test script; check the README or search the codebase.",
        "When you have completed a task, run the lint and typecheck commands if they were provided to you.",
        "Never commit changes unless the user explicitly asks you to; it is very important to only commit when asked.",
    ],
    "Tool usage policy": [
        "When doing file search, prefer to use the Task tool in order to reduce context usage.",
        "You have the capability to call multiple tools in a single response when they are independent.",
        "Use specialized tools instead of bash commands when possible, as this provides a better experience.",
        "For file operations use the dedicated tools: Read for reading files instead of cat, head or tail.",
        "Use Edit for editing instead of sed or awk, and Write for creating files instead of heredoc or echo.",
        "Reserve bash tools exclusively for actual system commands and terminal operations that need the shell.",
    ],
    "Code references": [
        "When referencing specific functions or pieces of code include the pattern file_path:line_number.",
        "This allows the user to easily navigate to the source code location you are talking about.",
    ],
}

AGENT_CATALOGUE = [
    "Available agent types and the tools they have access to:",
    "- general-purpose: General-purpose agent for researching complex questions and executing multi-step tasks. (Tools: *)",
    "- statusline-setup: Use this agent to configure the user's Claude Code status line setting. (Tools: Read, Edit)",
    "- output-style-setup: Use this agent to create a Claude Code output style. (Tools: Read, Write, Edit, Glob, Grep)",
    "- Explore: Fast agent specialized for exploring codebases by patterns, keywords and questions. (Tools: Glob, Grep, Read, Bash)",
    "- Plan: Agent for planning an implementation before any code is written. (Tools: Glob, Grep, Read, Bash)",
]

ENVIRONMENT = [
    "Here is useful information about the environment you are running in:",
    "<env>",
    "Working directory: /home/dev/shop",
    "Is directory a git repo: Yes",
    "Platform: linux",
    "OS Version: Linux 6.8.0-45-generic",
    "Today's date: 2026-12-07",
    "</env>",
    "You are powered by the model named Sonnet 4.5. The exact model ID is claude-sonnet-4-5-20250929.",
]


def system_prompt() -> str:
    parts = [BILLING, "You are Claude Code, Anthropic's official CLI for Claude.", ""]
    parts.append("You are an interactive CLI tool that helps users with software engineering tasks. "
                 "Use the instructions below and the tools available to you to assist the user.")
    parts.append("")
    for title, lines in SYSTEM_SECTIONS.items():
        parts.append(f"# {title}")
        parts.extend(lines)
        parts.append("")
    parts.extend(ENVIRONMENT)
    return "\n".join(parts)


# name -> (purpose, usage notes, parameters {name: (type, description)}, required)
TOOL_FACTS: dict[str, tuple[str, list[str], dict[str, tuple[str, str]], list[str]]] = {
    "Task": (
        "Launch a new agent to handle complex, multi-step tasks autonomously.",
        ["The agent runs with its own context and returns a single message with its result when it is done.",
         "Launch several agents concurrently whenever possible, to maximize performance; send one message with several calls.",
         "The result returned by the agent is not visible to the user; send the user a short summary of it yourself.",
         "Each agent invocation is stateless, so your prompt must contain a highly detailed task description.",
         "Clearly tell the agent whether you expect it to write code or just to do research, since it can't infer it."],
        {"description": ("string", "A short (3-5 word) description of the task"),
         "prompt": ("string", "The task for the agent to perform"),
         "subagent_type": ("string", "The type of specialized agent to use for this task")},
        ["description", "prompt", "subagent_type"],
    ),
    "Bash": (
        "Executes a given bash command in a persistent shell session with optional timeout, ensuring proper handling and security measures.",
        ["Before executing the command, verify that the parent directory exists when it creates new directories or files.",
         "Always quote file paths that contain spaces with double quotes, or the command will fail.",
         "You can specify an optional timeout in milliseconds, up to 600000 ms; the default is 120000 ms.",
         "If the output exceeds 30000 characters, output will be truncated before being returned to you.",
         "You can use the run_in_background parameter to run the command in the background and read its output later.",
         "Avoid using Bash with the find, grep, cat, head, tail, sed, awk, or echo commands; use the dedicated tools.",
         "When issuing multiple commands that depend on each other, chain them with && in a single call.",
         "Try to maintain your current working directory throughout the session by using absolute paths."],
        {"command": ("string", "The command to execute"),
         "timeout": ("number", "Optional timeout in milliseconds (max 600000)"),
         "description": ("string", "Clear, concise description of what this command does in 5-10 words"),
         "run_in_background": ("boolean", "Set to true to run this command in the background")},
        ["command"],
    ),
    "Glob": (
        "Fast file pattern matching tool that works with any codebase size.",
        ["Supports glob patterns like \"**/*.js\" or \"src/**/*.ts\" and returns matching file paths sorted by modification time.",
         "Use this tool when you need to find files by name patterns rather than by their contents.",
         "When you are doing an open ended search that may require several rounds, use the Task tool instead."],
        {"pattern": ("string", "The glob pattern to match files against"),
         "path": ("string", "The directory to search in; omit it to use the current working directory")},
        ["pattern"],
    ),
    "Grep": (
        "A powerful search tool built on ripgrep.",
        ["ALWAYS use Grep for search tasks, and never invoke grep or rg as a Bash command.",
         "Supports full regex syntax, for example \"log.*Error\" or \"function\\s+\\w+\".",
         "Filter files with the glob parameter or with the type parameter, such as js, py or rust.",
         "Output modes: content shows matching lines, files_with_matches shows only file paths, count shows match counts.",
         "Pattern syntax uses ripgrep, so literal braces need escaping to find interface{} in Go code.",
         "By default patterns match within single lines only; use multiline for patterns that span lines."],
        {"pattern": ("string", "The regular expression pattern to search for in file contents"),
         "path": ("string", "File or directory to search in, defaulting to the current working directory"),
         "glob": ("string", "Glob pattern to filter files, for example *.js or *.{ts,tsx}"),
         "output_mode": ("string", "Output mode: content, files_with_matches or count"),
         "-i": ("boolean", "Case insensitive search"),
         "-n": ("boolean", "Show line numbers in output"),
         "type": ("string", "File type to search, for example js, py, rust, go or java"),
         "head_limit": ("number", "Limit output to the first N lines or entries"),
         "multiline": ("boolean", "Enable multiline mode where . matches newlines")},
        ["pattern"],
    ),
    "ExitPlanMode": (
        "Use this tool when you are in plan mode and have finished presenting your plan and are ready to code.",
        ["This will prompt the user to exit plan mode before you start making changes to any file.",
         "Only use this tool when the task requires planning the implementation steps of a task that needs code.",
         "For research tasks where you are gathering information or searching files, do not use this tool."],
        {"plan": ("string", "The plan you came up with, that you want to run by the user for approval, in markdown")},
        ["plan"],
    ),
    "Read": (
        "Reads a file from the local filesystem.",
        ["You can access any file directly by using this tool, and the file_path parameter must be an absolute path.",
         "By default, it reads up to 2000 lines starting from the beginning of the file.",
         "You can optionally specify a line offset and limit, which is especially handy for long files.",
         "Any lines longer than 2000 characters will be truncated in the result you are given.",
         "Results are returned using cat -n format, with line numbers starting at 1.",
         "This tool allows Claude Code to read images such as PNG and JPG files, presented visually.",
         "This tool can read PDF files page by page, extracting both text and visual content for analysis.",
         "This tool can read Jupyter notebooks and returns all cells with their outputs."],
        {"file_path": ("string", "The absolute path to the file to read"),
         "offset": ("number", "The line number to start reading from"),
         "limit": ("number", "The number of lines to read")},
        ["file_path"],
    ),
    "Edit": (
        "Performs exact string replacements in files.",
        ["You must use your Read tool at least once in the conversation before editing, or this tool will error.",
         "When editing text from Read tool output, preserve the exact indentation as it appears after the line number prefix.",
         "Never include any part of the line number prefix in the old_string or new_string you send.",
         "The edit will fail if old_string is not unique in the file; give more surrounding context to make it unique.",
         "Use replace_all for replacing and renaming strings across the whole file, for example to rename a variable."],
        {"file_path": ("string", "The absolute path to the file to modify"),
         "old_string": ("string", "The text to replace"),
         "new_string": ("string", "The text to replace it with (must be different from old_string)"),
         "replace_all": ("boolean", "Replace all occurences of old_string (default false)")},
        ["file_path", "old_string", "new_string"],
    ),
    "Write": (
        "Writes a file to the local filesystem.",
        ["This tool will overwrite the existing file if there is one at the provided path.",
         "If this is an existing file, you must use the Read tool first to read its contents, or this tool will fail.",
         "Always prefer editing existing files in the codebase, and never write new files unless explicitly required.",
         "Never proactively create documentation files such as README files unless the user asks for them."],
        {"file_path": ("string", "The absolute path to the file to write (must be absolute, not relative)"),
         "content": ("string", "The content to write to the file")},
        ["file_path", "content"],
    ),
    "NotebookEdit": (
        "Completely replaces the contents of a specific cell in a Jupyter notebook (.ipynb file) with new source.",
        ["Jupyter notebooks are interactive documents that combine code, text, and visualizations.",
         "The notebook_path parameter must be an absolute path, not a relative path to the notebook.",
         "The cell_number is 0-indexed; use edit_mode=insert to add a new cell at that index.",
         "Use edit_mode=delete to delete the cell at the index given by cell_number."],
        {"notebook_path": ("string", "The absolute path to the Jupyter notebook file to edit"),
         "cell_id": ("string", "The ID of the cell to edit"),
         "new_source": ("string", "The new source for the cell"),
         "cell_type": ("string", "The type of the cell (code or markdown)"),
         "edit_mode": ("string", "The type of edit to make (replace, insert, delete)")},
        ["notebook_path", "new_source"],
    ),
    "WebFetch": (
        "Fetches content from a specified URL and processes it using an AI model.",
        ["Takes a URL and a prompt as input, fetches the URL content and converts HTML to markdown.",
         "Processes the content with the prompt using a small, fast model and returns the model's response about it.",
         "The URL must be a fully-formed valid URL, and HTTP URLs will be automatically upgraded to HTTPS.",
         "This tool is read-only and does not modify any files on the user's machine.",
         "Results may be summarized if the content is very large, and it includes a self-cleaning 15-minute cache.",
         "When a URL redirects to a different host, the tool will inform you and provide the redirect URL."],
        {"url": ("string", "The URL to fetch content from"),
         "prompt": ("string", "The prompt to run on the fetched content")},
        ["url", "prompt"],
    ),
    "TodoWrite": (
        "Use this tool to create and manage a structured task list for your current coding session.",
        ["This helps you track progress, organize complex tasks, and demonstrate thoroughness to the user.",
         "Use it for complex multi-step tasks that require three or more distinct steps or actions.",
         "Use it when the user provides multiple tasks, as a numbered or comma-separated list.",
         "Skip it when there is only a single, straightforward task, or when the task is purely conversational.",
         "Task states: pending (not yet started), in_progress (currently working on), completed (finished successfully).",
         "Exactly one task must be in_progress at any time, not less and not more.",
         "Only mark a task as completed when you have fully accomplished it; keep it in_progress when tests fail.",
         "Task descriptions must have two forms: content, the imperative form, and activeForm, the present continuous form."],
        {"todos": ("array", "The updated todo list")},
        ["todos"],
    ),
    "WebSearch": (
        "Allows Claude to search the web and use the results to inform responses.",
        ["Provides up-to-date information for current events and recent data beyond the training cutoff.",
         "Returns search result information formatted as search result blocks.",
         "Domain filtering is supported to include or block specific websites from the results.",
         "Web search is only available in the US, so tell the user when a search could not be made."],
        {"query": ("string", "The search query to use"),
         "allowed_domains": ("array", "Only include search results from these domains"),
         "blocked_domains": ("array", "Never include search results from these domains")},
        ["query"],
    ),
    "BashOutput": (
        "Retrieves output from a running or completed background bash shell.",
        ["Takes a shell_id parameter identifying the shell started with run_in_background.",
         "Always returns only new output since the last check, together with the shell's status.",
         "Supports optional regex filtering to show only the lines matching a pattern."],
        {"bash_id": ("string", "The ID of the background shell to retrieve output from"),
         "filter": ("string", "Optional regular expression to filter the output lines")},
        ["bash_id"],
    ),
    "KillShell": (
        "Kills a running background bash shell by its ID.",
        ["Returns a success or failure status for the shell that was asked to stop.",
         "Use this tool when you need to terminate a long-running shell that you started earlier."],
        {"shell_id": ("string", "The ID of the background shell to kill")},
        ["shell_id"],
    ),
    "SlashCommand": (
        "Execute a slash command within the main conversation.",
        ["When the user asks you to run a slash command, use this tool with the command and its arguments.",
         "Only custom slash commands with descriptions are available to this tool.",
         "Do not invoke a command that is already running, and never call it for built-in CLI commands."],
        {"command": ("string", "The slash command to execute with its arguments, e.g. /review-pr 123")},
        ["command"],
    ),
    "Skill": (
        "Execute a skill within the main conversation.",
        ["Skills provide specialized capabilities and domain knowledge for particular kinds of work.",
         "When the user's request matches a skill's description, invoke the skill by its name.",
         "Never invoke a skill that is already loaded in the conversation, and never guess a skill's name."],
        {"command": ("string", "The skill name (no arguments), e.g. pdf or xlsx")},
        ["command"],
    ),
    "AskUserQuestion": (
        "Use this tool when you need to ask the user questions during execution.",
        ["It lets you gather preferences or requirements, clarify ambiguous instructions, and offer choices.",
         "Users will always be able to select Other to provide custom text input of their own.",
         "Use multiSelect to allow several answers to be selected for one question."],
        {"questions": ("array", "Questions to ask the user (1-4 questions)"),
         "answers": ("object", "User answers collected by the permission component")},
        ["questions"],
    ),
    "LS": (
        "Lists files and directories in a given path.",
        ["The path parameter must be an absolute path, not a relative path, to the directory to list.",
         "You can optionally provide an array of glob patterns to ignore with the ignore parameter.",
         "You should generally prefer the Glob and Grep tools, if you know which directories to search."],
        {"path": ("string", "The absolute path to the directory to list (must be absolute, not relative)"),
         "ignore": ("array", "List of glob patterns to ignore")},
        ["path"],
    ),
    "MultiEdit": (
        "This is a tool for making multiple edits to a single file in one operation.",
        ["It is built on top of the Edit tool and allows you to perform multiple find-and-replace operations efficiently.",
         "All edits are applied in sequence, in the order they are provided, each on the result of the previous one.",
         "Each edit must be valid for the operation to succeed: if any edit fails, none will be applied.",
         "Plan your edits carefully to avoid conflicts between sequential operations on the same lines."],
        {"file_path": ("string", "The absolute path to the file to modify"),
         "edits": ("array", "Array of edit operations to perform sequentially on the file")},
        ["file_path", "edits"],
    ),
    "mcp__github__create_issue": (
        "Create a new issue in a GitHub repository.",
        ["Requires the repository owner and name, and a title; the body is markdown.",
         "Labels and assignees must already exist in the repository, or the call is rejected by GitHub.",
         "Returns the new issue's number and URL on success."],
        {"owner": ("string", "Repository owner"), "repo": ("string", "Repository name"),
         "title": ("string", "Issue title"), "body": ("string", "Issue body content"),
         "labels": ("array", "Labels to apply to this issue"), "assignees": ("array", "Usernames to assign to this issue")},
        ["owner", "repo", "title"],
    ),
    "mcp__github__list_pull_requests": (
        "List and filter the pull requests of a GitHub repository.",
        ["Filter by state (open, closed or all), by head branch and by base branch.",
         "Results are paginated; use page and perPage to walk through long lists of pull requests.",
         "Sort by created, updated, popularity or long-running, ascending or descending."],
        {"owner": ("string", "Repository owner"), "repo": ("string", "Repository name"),
         "state": ("string", "Filter by state"), "head": ("string", "Filter by head user or head organization and branch name"),
         "base": ("string", "Filter by base branch name"), "sort": ("string", "What to sort results by"),
         "direction": ("string", "The direction of the sort"), "perPage": ("number", "Results per page (max 100)"),
         "page": ("number", "Page number of the results")},
        ["owner", "repo"],
    ),
    "mcp__github__get_file_contents": (
        "Get the contents of a file or directory from a GitHub repository.",
        ["Returns base64-decoded text for files and a listing for directories.",
         "Use the branch parameter to read from a branch other than the repository's default one."],
        {"owner": ("string", "Repository owner (username or organization)"), "repo": ("string", "Repository name"),
         "path": ("string", "Path to the file or directory"), "branch": ("string", "Branch to get contents from")},
        ["owner", "repo", "path"],
    ),
    "mcp__sentry__search_issues": (
        "Search the issues of a Sentry organization with Sentry's query syntax.",
        ["Queries look like is:unresolved level:error release:1.2.3, combined with spaces.",
         "Results include the issue's short id, title, first and last seen times and event count.",
         "Use the project parameter to search a single project instead of the whole organization."],
        {"organization": ("string", "The Sentry organization slug"), "project": ("string", "The project slug"),
         "query": ("string", "Sentry search query"), "limit": ("number", "Maximum number of issues to return")},
        ["organization", "query"],
    ),
    "mcp__linear__create_ticket": (
        "Create a ticket in a Linear team's backlog.",
        ["The team is named by its key, such as ENG or OPS, and the title is required.",
         "Priority runs from 0 (none) to 4 (low), with 1 the most urgent.",
         "Returns the ticket's identifier, such as ENG-1234, and its URL."],
        {"team": ("string", "The team key"), "title": ("string", "Ticket title"),
         "description": ("string", "Ticket description in markdown"), "priority": ("number", "Priority from 0 to 4")},
        ["team", "title"],
    ),
}


def _schema(params: dict[str, tuple[str, str]], required: list[str], tool: str) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name, (kind, description) in params.items():
        prop: dict[str, Any] = {"type": kind, "description": description}
        if kind == "array":
            prop["items"] = {"type": "object", "properties": {
                "content": {"type": "string", "minLength": 1, "description": f"What the {tool} entry says"},
                "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
                "activeForm": {"type": "string", "minLength": 1, "description": f"The {tool} entry in the present continuous"},
            }, "required": ["content"], "additionalProperties": False}
        properties[name] = prop
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False,
            "$schema": "http://json-schema.org/draft-07/schema#"}


def _description(tool: str, purpose: str, notes: list[str]) -> str:
    lines = [purpose, "", "Usage notes:"]
    lines.extend(f"  - {note}" for note in notes)
    lines.append("")
    lines.append("Examples of when to use it:")
    for number, note in enumerate(notes[:4], 1):
        lines.append(f"<example>\nExample {number} for {tool}: the user's request fits this note: {note}\n</example>")
    lines.append("")
    lines.append(f"When not to use {tool}: when a more specific tool does the same job, "
                 f"or when the user asked for something {tool} was not made for.")
    if tool == "Task":
        lines.append("")
        lines.extend(AGENT_CATALOGUE)
    return "\n".join(lines)


def tools() -> list[dict[str, Any]]:
    return [
        {"name": name, "description": _description(name, purpose, notes), "input_schema": _schema(params, required, name)}
        for name, (purpose, notes, params, required) in TOOL_FACTS.items()
    ]


def _reminder(text: str) -> dict[str, str]:
    return {"type": "text", "text": f"<system-reminder>\n{text}\n</system-reminder>"}


CLAUDE_MD = "\n".join([
    "As you answer the user's questions, you can use the following context:",
    "# claudeMd",
    "Codebase and user instructions are shown below. Be sure to adhere to these instructions.",
    "Contents of /home/dev/shop/CLAUDE.md (project instructions, checked into the codebase):",
    "- Run the tests with `python -m pytest -q`; they must pass before any commit.",
    "- Money is kept in integer cents everywhere; never use floats for prices.",
    "- The cart module owns discounts; checkout only reads the totals it computes.",
    "IMPORTANT: this context may or may not be relevant to your tasks.",
])

CART_SOURCE = "\n".join(
    f"{n:>6}\t{line}" for n, line in enumerate([
        '"""The shopping cart: lines, discounts and totals, in integer cents."""',
        "",
        "from dataclasses import dataclass, field",
        "",
        "",
        "@dataclass",
        "class Line:",
        "    sku: str",
        "    unit_cents: int",
        "    quantity: int = 1",
        "",
        "    def total(self) -> int:",
        "        return self.unit_cents * self.quantity",
        "",
        "",
        "@dataclass",
        "class Cart:",
        "    lines: list[Line] = field(default_factory=list)",
        "    discount_percent: int = 0",
        "",
        "    def add(self, sku: str, unit_cents: int, quantity: int = 1) -> None:",
        "        for line in self.lines:",
        "            if line.sku == sku:",
        "                line.quantity += quantity",
        "                return",
        "        self.lines.append(Line(sku, unit_cents, quantity))",
        "",
        "    def remove(self, sku: str) -> None:",
        "        self.lines = [line for line in self.lines if line.sku != sku]",
        "",
        "    def subtotal(self) -> int:",
        "        return sum(line.total() for line in self.lines)",
        "",
        "    def discount(self) -> int:",
        "        return self.subtotal() * self.discount_percent / 100",
        "",
        "    def total(self) -> int:",
        "        return self.subtotal() - self.discount()",
    ] + [f"    # helper {i}: keeps the cart's invariants for line {i} (quantity > 0, unit_cents >= 0)" for i in range(60)], 1)
)

PYTEST_OUTPUT = "\n".join(
    ["============================= test session starts ==============================",
     "platform linux -- Python 3.12.3, pytest-8.3.3, pluggy-1.5.0",
     "rootdir: /home/dev/shop",
     "collected 42 items",
     "",
     "tests/test_cart.py ....F.....                                             [ 23%]",
     "tests/test_checkout.py ...........F                                       [ 52%]",
     "tests/test_catalog.py ....................                                [100%]",
     "",
     "=================================== FAILURES ===================================",
     "_________________________ test_discount_is_whole_cents _________________________",
     "",
     "    def test_discount_is_whole_cents():",
     "        cart = Cart(discount_percent=15)",
     "        cart.add('mug', 999)",
     ">       assert cart.discount() == 149",
     "E       assert 149.85 == 149",
     "E        +  where 149.85 = <bound method Cart.discount of Cart(...)>()",
     "",
     "tests/test_cart.py:41: AssertionError",
     "_______________________ test_checkout_total_is_integer ________________________",
     "",
     "    def test_checkout_total_is_integer():",
     "        order = checkout(cart_with(('mug', 999), discount=15))",
     ">       assert isinstance(order.total_cents, int)",
     "E       AssertionError: assert False",
     "E        +  where False = isinstance(850.15, int)",
     "",
     "tests/test_checkout.py:77: AssertionError",
     "=========================== short test summary info ============================",
     "FAILED tests/test_cart.py::test_discount_is_whole_cents - assert 149.85 == 149",
     "FAILED tests/test_checkout.py::test_checkout_total_is_integer - AssertionError",
     "========================= 2 failed, 40 passed in 0.41s =========================",
     ]
    + [f"tests/test_catalog.py::test_sku_{i:02d} PASSED in 0.00{i % 10}s (catalog row {i} checked against fixture {i * 7})" for i in range(80)]
)


def messages() -> list[dict[str, Any]]:
    todos = [
        {"content": "Create hello.txt containing hi", "status": "in_progress", "activeForm": "Creating hello.txt"},
        {"content": "Run the test suite", "status": "pending", "activeForm": "Running the test suite"},
        {"content": "Fix the failing tests", "status": "pending", "activeForm": "Fixing the failing tests"},
    ]

    def call(id_: str, name: str, arguments: dict[str, Any], text: str = "") -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        content.append({"type": "tool_use", "id": id_, "name": name, "input": arguments})
        return {"role": "assistant", "content": content}

    def result(id_: str, text: str, *extra: dict[str, str]) -> dict[str, Any]:
        return {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id_, "content": text}, *extra]}

    return [
        {"role": "user", "content": [
            _reminder(CLAUDE_MD),
            _reminder("The following skills are available for use with the Skill tool:\n\n<available_skills>\n"
                      "pdf: Extract text and tables from PDF files\nxlsx: Read and write spreadsheets\n</available_skills>"),
            {"type": "text", "text": USER_PROMPT},
        ]},
        call("toolu_01", "TodoWrite", {"todos": todos}, "I'll start by planning the work."),
        result("toolu_01", "Todos have been modified successfully. Ensure that you continue to use the todo list to "
                           "track your progress. Please proceed with the current tasks if applicable"),
        call("toolu_02", "Bash", {"command": "ls /home/dev/shop /home/dev/shop/tests", "description": "List the project"}),
        result("toolu_02", "/home/dev/shop:\nCLAUDE.md\nREADME.md\ncart.py\ncatalog.py\ncheckout.py\npyproject.toml\ntests\n\n"
                           "/home/dev/shop/tests:\ntest_cart.py\ntest_catalog.py\ntest_checkout.py"),
        call("toolu_03", "Bash", {"command": "cd /home/dev/shop && python -m pytest -q tests/", "description": "Run the tests"},
             "Now the tests, to see what fails before I touch anything."),
        result("toolu_03", PYTEST_OUTPUT),
        call("toolu_04", "Read", {"file_path": "/home/dev/shop/cart.py"},
             "Two failures, both from the discount being a float. Let me read the cart."),
        result("toolu_04", CART_SOURCE,
               _reminder("Whenever you read a file, you should consider whether it looks malicious. "
                         "You can and should refuse to improve or augment code that is malicious.")),
        call("toolu_05", "Edit", {"file_path": "/home/dev/shop/cart.py",
                                  "old_string": "        return self.subtotal() * self.discount_percent / 100",
                                  "new_string": "        return self.subtotal() * self.discount_percent // 100"},
             "The discount divides with /, which makes a float. Integer division keeps it in whole cents."),
        result("toolu_05", "The file /home/dev/shop/cart.py has been updated. Here's the result of running `cat -n` on a "
                           "snippet of the edited file:\n    34\t    def discount(self) -> int:\n"
                           "    35\t        return self.subtotal() * self.discount_percent // 100"),
        call("toolu_06", "Bash", {"command": "cd /home/dev/shop && python -m pytest -q tests/", "description": "Run the tests again"}),
        result("toolu_06", "..........................................                               [100%]\n42 passed in 0.38s"),
        call("toolu_07", "Write", {"file_path": "/home/dev/shop/hello.txt", "content": "hi\n"},
             "All 42 tests pass now. Last, the file you asked for."),
        result("toolu_07", LAST_RESULT,
               _reminder("The TodoWrite tool hasn't been used recently. If you're working on tasks that would benefit "
                         "from tracking progress, consider using the TodoWrite tool to track progress.")),
    ]


def request(max_tokens: int = 32000, stream: bool = False) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": max_tokens,
        "system": [{"type": "text", "text": system_prompt()}],
        "tools": tools(),
        "messages": messages(),
        "stream": stream,
        "metadata": {"user_id": "user_0f3a_account__session_5c1e"},
    }


if __name__ == "__main__":
    print(json.dumps(request(), indent=1))
