"""What a tool call did, read from the call and its result: the structure every agent shares.

A call is described once, when it is made: which tool (and, for a shell, which program and
subcommand: `git push`, `kubectl rollout`), whether it changes something, checks something
(tests, linters, builds) or only reads, and the phrase a finished step would carry
(`restarted nginx on web-2`, `emailed sales@acme.com: Q3 summary`). Its result says whether it
succeeded, failed or is waiting (a refund pending approval), and which identifiers came back
(`RMA-55120`, `PR #1415`, a commit hash). The reader joins the two.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec

# --- verbs ---

CHANGE_VERBS = frozenset(
    "add append apply approve archive assign attach block book bump cancel change charge close comment commit "
    "configure confirm create deactivate delete deploy disable dispatch drop edit email enable enroll escalate "
    "exchange file flag forward grant import insert install invite issue label launch lock mark merge message "
    "migrate modify move notify open order patch pay place post promote provision publish purchase push reassign "
    "reboot rebook redeploy refund register reject release reload remove rename renew reopen replace reply "
    "reschedule reserve reset resolve restart restore resume return revert revoke rollback rotate save schedule "
    "scale send set ship sign start stop submit subscribe suspend sync tag terminate transfer trigger unblock "
    "unlock unsubscribe update upgrade upload upsert void write backup seed purge invalidate kill pause "
    "disconnect connect link unlink enqueue quarantine isolate rollout uninstall downgrade truncate "
    "whitelist allowlist blocklist ban unban mute unmute archive pin unpin share publish draft generate make render "
    "produce export prepare record request rerun retry reserve remind reply hold release regrade mark "
    "freeze unfreeze join leave log note route reroute reissue report ask "
    "decline deny dismiss acknowledge process adjust regenerate resubmit fax unassign offer discard extend waive "
    "allocate reallocate redact restock reinstate recreate fill".split()
)
CHECK_VERBS = frozenset("test tests lint validate verify build typecheck audit".split())
READ_VERBS = frozenset(
    "get list search find read lookup look query fetch view show describe inspect grep glob cat browse check "
    "calculate compute count estimate explain think retrieve download preview diff status whoami ping monitor "
    "watch tail head wiki wikipedia finish summarize analyze analyse compare convert translate web".split()
)
_OBJECT_FILLER = frozenset("a an the to new item record mcp api tool tools for of by in on with from and or".split())
_IRREGULAR = {
    "send": "sent", "write": "wrote", "run": "ran", "build": "built", "pay": "paid", "set": "set", "put": "put",
    "make": "made", "buy": "bought", "begin": "began", "take": "took", "get": "got", "find": "found", "read": "read",
    "reset": "reset", "shut": "shut", "split": "split", "rebuild": "rebuilt", "rewrite": "rewrote", "cut": "cut",
    "upset": "upset", "sync": "synced", "email": "emailed", "rollback": "rolled back", "rollout": "rolled out",
    "text": "texted", "break": "broke", "calc": "calculated", "up": "brought up", "down": "brought down", "backup": "backed up", "lookup": "looked up", "setup": "set up", "signup": "signed up", "checkout": "checked out",
    "hold": "held", "keep": "kept", "give": "gave", "leave": "left", "sell": "sold", "tell": "told", "bring": "brought",
    "spend": "spent", "lend": "lent", "freeze": "froze", "unfreeze": "unfroze", "choose": "chose", "draw": "drew",
    "meet": "met", "lose": "lost", "withdraw": "withdrew", "undo": "undid", "redo": "redid", "rerun": "reran",
    "override": "overrode", "overwrite": "overwrote", "feed": "fed", "bind": "bound", "hang": "hung", "seek": "sought",
}
_DOUBLED = frozenset("stop drop ship tag plan submit commit transfer cancel label flag log scan map zip pin step "
                     "swap trim wrap chat plug unpin admit permit ban unban".split())


def past(verb: str) -> str:
    """The past tense of a tool's verb: `create` → `created`, `send` → `sent`."""
    verb = verb.lower()
    if verb in _IRREGULAR:
        return _IRREGULAR[verb]
    if verb.endswith("ed"):
        return verb
    if verb in _DOUBLED:
        return verb + verb[-1] + "ed"
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and len(verb) > 2 and verb[-2] not in "aeiou":
        return verb[:-1] + "ied"
    return verb + "ed"


# --- the call ---


class Call(NamedTuple):
    key: str  # "the same tool": a later success with this key closes this call's failure
    kind: str  # "change" | "check" | "read" | "plan"
    phrase: str  # the finished step's words, before the result's identifiers are added
    words: str  # tool name and argument values, for matching against plans and loops
    label: str = ""  # the call as asked for, for a failure: "create refund A-1001", "`npm test`"


_PATCHED = re.compile(r"^(?:\+\+\+ b/|\*\*\* (?:Update|Add) File: )(\S+)", re.MULTILINE)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT_NAME = re.compile(r"[\s_.:/-]+")
_FILE_TOOLS = {"write": "wrote", "edit": "edited", "multiedit": "edited", "notebookedit": "edited",
               "str_replace_editor": "edited", "create_file": "created", "write_file": "wrote", "edit_file": "edited",
               "apply_patch": "patched", "str_replace": "edited", "create": "created"}
_SHELL_TOOLS = frozenset("bash shell run_shell run_command execute_command terminal exec sh cmd "
                         "execute_bash run_bash_command powershell".split())
_TEXT_SHELLS = frozenset("python terminal run exec execute cmd command console".split())
_PLAN_TOOLS = frozenset(("todowrite", "todo_write", "update_plan", "write_todos", "update_todos"))
# Argument keys whose values are bodies, not names.
_BULK_KEYS = frozenset("body content text message description details notes code query sql patch diff old_string "
                       "new_string edits todos prompt html markdown script command input data payload comment "
                       "reason".split())
_ID_KEY = re.compile(r"(?:^|_)(?:id|ids|number|no|code|ref|reference|sku|pnr|confirmation)$|^(?:id|to|recipient)$")
_NAME_KEYS = ("to", "recipient", "recipients", "email", "channel", "name", "title", "subject", "path", "file_path",
              "file", "filename", "city", "destination", "origin", "date", "amount", "user", "username", "customer",
              "host", "service", "env", "environment", "branch", "version", "team", "assignee", "status", "plan",
              "product", "item", "items", "quantity", "repo", "project", "role", "group", "account")


def name_words(tool: str) -> list[str]:
    """`create_pull_request`, `createPullRequest`, `mcp__github__create_pr` → their words."""
    tail = tool.rsplit("__", 1)[-1]
    return [w for w in _SPLIT_NAME.split(_CAMEL.sub(" ", tail).lower()) if w]


def describe(tool: str, arguments: Any) -> Call:
    """What calling `tool` with `arguments` (a dict, or text for a text agent) is for."""
    low = tool.lower()
    if low in _PLAN_TOOLS or (("todo" in low or "plan" in low) and _todo_list(arguments)):
        return Call(low, "plan", "", "")
    args = arguments if isinstance(arguments, dict) else {}
    text_arg = arguments if isinstance(arguments, str) else ""
    if text_arg.startswith("{") and text_arg.endswith("}") and len(text_arg) < 20_000:
        try:
            decoded = msgspec.json.decode(text_arg)
        except msgspec.DecodeError:
            decoded = None
        if isinstance(decoded, dict):
            args, text_arg = decoded, ""
    if low in _SHELL_TOOLS or (not args and text_arg and low in _TEXT_SHELLS):  # a text agent's run[apt-get install …]
        command = str(args.get("command") or args.get("cmd") or args.get("script") or text_arg)
        return shell(command, tool)
    if low in _FILE_TOOLS or (low == "str_replace_based_edit_tool"):
        path = short_path(str(args.get("file_path") or args.get("path") or args.get("notebook_path") or ""))
        if not path:
            path = " ".join(dict.fromkeys(short_path(p) for p in _PATCHED.findall(
                str(args.get("diff") or args.get("patch") or args.get("input") or text_arg)[:20_000])))
        verb = _FILE_TOOLS.get(low, "edited")
        if low == "str_replace_based_edit_tool" and args.get("command") in ("view",):
            return Call(f"{low}:{path}", "read", f"viewed {path}", path, f"view {path}")
        if low == "str_replace_based_edit_tool" and args.get("command") == "create":
            verb = "created"
        changed = _changed_line(args)
        phrase = f"{file_phrase(verb, path)}: {changed}" if changed else file_phrase(verb, path)
        return Call(f"edit:{path}", "change", phrase, f"{path} {changed}", f"edit {path}")
    words = name_words(tool)
    if words in _ASKING_USER:  # a question to the user (a text agent's Ask[…]) is no work done
        return Call(low, "read", "", " ".join((tool, *words)), " ".join(words))
    operation = next((args[k] for k in _OPERATION_KEYS if isinstance(args.get(k), str) and len(args[k]) <= 40), None)
    if operation is not None and _verb(words, [])[1] == "change" and _verb(name_words(operation), [])[1] != "change":
        operation = None  # record_payment(method="check"): the tool says what it does; the value is a detail
    if operation is not None:  # one tool, many operations: okta(action="create_user", params={…})
        words = [*name_words(operation), *(w for w in words if w not in name_words(operation))]
        nested = next((args[k] for k in ("params", "parameters", "args", "arguments", "data", "input")
                       if isinstance(args.get(k), dict)), None)
        args = nested if nested is not None else {k: v for k, v in args.items() if k not in _OPERATION_KEYS}
    values = _argument_values(args) if args else _text_values(text_arg)
    if any(w in _NOTE_WORDS for w in words) or (any(w in _SENDING for w in words[:1]) and not any(
            isinstance(args.get(k), str) for k in ("subject", "title"))):  # a note's or a message's words are what it says
        body = next((args[k] for k in ("text", "note", "comment", "body", "message", "content")
                     if isinstance(args.get(k), str)), "")
        if body:
            values.append(_excerpt(body))
    if body_ids := _message_ids(words, args, values):  # "the draft is at …/d/DRAFT-88": what the message is about
        values.append(", ".join(body_ids))
    verb_at, kind = _verb(words, values)
    if kind == "change" and 0 < verb_at and words[-1] in _RECORD_NOUNS:
        kind = "read"  # job_log, employee_pay_history, aging_report: the record of something, read
    elif kind == "change" and words == ["open"] and (text_arg or _WEB_ADDRESS.search(" ".join(values))):
        kind = "read"  # a browsing agent's Open[riverton.gov/council/…], Open[NorthNews: …] opens a page to read it
    verb = words[verb_at] if verb_at >= 0 else ""
    obj = " ".join(_ACRONYMS.get(w, w) for i, w in enumerate(words) if i != verb_at and w not in _OBJECT_FILLER)
    if verb == "send" and obj in ("email", "mail", "emails"):
        verb, obj = "email", ""
    elif verb == "send" and obj in ("SMS", "sms", "text", "texts", "text message"):
        verb, obj = "text", ""  # "texted Ilse Brandt the new time", as people say it
    if verb in ("email", "text"):
        values = [value.removeprefix("to ") for value in values]  # "emailed ruth@…", not "emailed to ruth@…"
    phrase = " ".join(p for p in (past(verb) if verb else tool, obj, _join_values(values)) if p)
    label = " ".join(p for p in (" ".join(words), _join_values(values)) if p)
    key = f"{low}:{operation}" if operation is not None else low
    if kind == "change" and (any(_DRY_RUN_KEY.fullmatch(str(k).lower()) and v not in (False, "false", "no", 0, None)
                                 for k, v in args.items()) or _DRY_RUN_TEXT.search(text_arg.lower())):
        kind = "check"  # refund_batch(dry_run=true): it shows what would change, and changes nothing
    return Call(key, kind, phrase[:200], " ".join((tool, *words, *values)), label[:120])


def values_of(call: Call) -> str:
    """What a domain tool's call was given, as its phrase shows it: the phrase without the verb and the
    tool's own words ("requested transfer OCF-220 | 1 | Spartanburg" → "OCF-220 | 1 | Spartanburg")."""
    tool = set(name_words(call.key.split(":", 1)[0]))
    words = call.phrase.split(" ")[1:]
    while words and words[0].lower() in tool:
        words = words[1:]
    return " ".join(words)


_ENUM = re.compile(r"[a-z]+(?:_[a-z]+)+")
_ASKING_USER = (["ask"], ["ask", "user"], ["ask", "human"], ["ask", "the", "user"], ["clarify"],
                 ["request", "user", "input"])
_DRY_RUN_KEY = re.compile(r"dry_?run|dryrun|simulate|preview_only|validate_only|what_?if")
_DRY_RUN_TEXT = re.compile(r"\bdry_?run\s*[=:]\s*(?:true|yes|1)\b")
_DRY_RUN_FLAG = re.compile(r"\s--dry-run\b|\s--dryrun\b|\s--what-if\b")
_ACRONYMS = {"pr": "PR", "mr": "MR", "rma": "RMA", "sms": "SMS", "dns": "DNS", "vm": "VM", "api": "API"}
_OPERATION_KEYS = ("action", "operation", "op", "method", "command_name", "verb")
# Verbs that are also the nouns tools are named after: `email_search` searches, `order_get` reads.
_NOUN_VERBS = frozenset("email message order file post comment book return label tag schedule ship mark note release log "
                        "patch flag pin draft share sign transfer calendar invoice ticket".split())


# A tool named for a record ends with what it returns: the verb before it names the record's subject.
_RECORD_NOUNS = frozenset("history log logs report record records".split())
_WEB_ADDRESS = re.compile(r"^(?:https?://)?[\w-]+(?:\.[\w-]+)+(?:/\S*)?$|^https?://")
_NOTE_WORDS = frozenset("note notes comment comments memo reply message post annotation".split())
_SENDING = frozenset("send notify text message sms broadcast announce".split())


def _message_ids(words: list[str], args: dict[str, Any], values: list[str]) -> list[str]:
    """The identifiers a message's words name (a ticket, a draft, an order it is about) and its
    short values do not: a message is named by what it is about as well as whom it went to."""
    if not any(w in _SENDING or w in ("email", "mail", "reply") for w in words):
        return []
    body = next((args[k] for k in ("body", "text", "message", "content") if isinstance(args.get(k), str)), "")
    shown = " ".join(values)
    return list(dict.fromkeys(i for i in _text_ids(body[:4000]) if i not in shown))[:3]


def _excerpt(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def _verb(words: list[str], values: list[str]) -> tuple[int, str]:
    noun_verb = -1
    for i, word in enumerate(words):
        if word in _NOUN_VERBS and noun_verb < 0 and i + 1 < len(words):
            noun_verb = i
            continue
        found = _verb_at(words, i)
        if found is not None:
            return found
    if noun_verb >= 0:
        return _verb_at(words, noun_verb) or (-1, "read")
    return -1, "read"


def _verb_at(words: list[str], i: int) -> tuple[int, str] | None:
    word = words[i]
    if True:
        if word == "run" and i + 1 < len(words):
            following = words[i + 1]
            if following.startswith(("test", "lint", "check")):
                return i, "check"
            if following.startswith(("migration", "backfill", "job", "script", "playbook", "pipeline", "workflow")):
                return i, "change"
            return i, "read"
        if word in CHANGE_VERBS:
            return i, "change"
        if word in CHECK_VERBS:
            return i, "check"
        if word in READ_VERBS:
            return i, "read"
    return None


def _argument_values(args: dict[str, Any]) -> list[str]:
    """The few argument values that name what a call acted on: ids first, then names."""
    ranked: list[tuple[int, str]] = []
    for key, value in args.items():
        low = str(key).lower()
        if low in _BULK_KEYS:
            continue
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value[:3] if isinstance(v, (str, int, float)) and not isinstance(v, bool))
        if isinstance(value, bool) or value is None or isinstance(value, dict):
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = " ".join(str(value).split())
        if not text or len(text) > 60:
            continue
        if _ENUM.fullmatch(text):
            text = text.replace("_", " ")  # escape_of_water, retro_pay: a choice, said as words
        if low in ("to", "recipient", "recipients", "channel"):
            text = f"to {text}"
        rank = 0 if _ID_KEY.search(low) else (1 + _NAME_KEYS.index(low) if low in _NAME_KEYS else 40)
        ranked.append((rank, text))
    ranked.sort(key=lambda pair: pair[0])
    return [text for _, text in ranked[:4]]


def _text_values(text: str) -> list[str]:
    text = " ".join(text.split())
    return [text[:80]] if text else []


def _join_values(values: list[str]) -> str:
    return ", ".join(values)


def short_path(path: str) -> str:
    """A file path as a person names it: from the project's last well-known folder on
    (`/home/dev/src/app/src/app/x.py` → `src/app/x.py`), else its last two parts."""
    path = path.strip().strip("'\"")
    parts = [p for p in path.split("/") if p]
    roots = [i for i, part in enumerate(parts[:-1]) if part in _PROJECT_ROOTS and (i > 0 or not path.startswith("/"))]
    if roots:
        return "/".join(parts[roots[-1]:])
    if path.startswith(("/", "~")) and len(parts) > 2:
        return "/".join(parts[-2:])
    return path


def _changed_line(args: dict[str, Any]) -> str:
    """What an edit put in, in one line: the first line of the new text that the old one did not
    have ("tag: 2.14.1"), when it is short; an edit is named by what it changed."""
    old, new = args.get("old_string") or args.get("old_str"), args.get("new_string") or args.get("new_str")
    if not isinstance(old, str) or not isinstance(new, str) or len(new) > 20_000:
        return ""
    before = {line.strip() for line in old.splitlines()}
    for line in new.splitlines():
        line = line.strip()
        if line and line not in before and len(line) >= 4:
            return line[:60] if len(line) <= 60 else ""
    return ""


def file_phrase(verb: str, path: str) -> str:
    """`edited importer.py (src/ledgerly/importer.py)`: the file as people name it, and its path."""
    folder, _, name = path.rpartition("/")
    return f"{verb} {name} ({path})" if folder and name else f"{verb} {path}".strip()


_PROJECT_ROOTS = frozenset(
    "src lib app apps tests test spec docs pkg cmd internal scripts config configs migrations k8s deploy infra "
    ".github packages bench api web frontend backend services charts terraform models dags notebooks".split()
)

# --- shell commands ---

_ENV_ASSIGN = re.compile(r"^[A-Z_][A-Z0-9_]*=\S*$")
# Flags whose next word is their value, not the command's object (`kubectl -n prod get pods`).
_VALUE_FLAGS = frozenset("-n --namespace -o --output -c --context -l --selector -C --kubeconfig --region --profile "
                         "-p -e --env -u --user -w --timeout -H --header -X --request --format --jq -R --repo "
                         "--project --zone --cluster --resource-group -g --subscription --workdir -t --tag --since "
                         "--tail --limit -L --label --reviewer --assignee --base --head -B".split())
_WRAPPERS = frozenset(("sudo", "time", "nohup", "env", "command", "exec", "xargs"))
_RUNNERS_CHECK = frozenset(
    "pytest py.test jest vitest mocha tox nox rspec phpunit ruff flake8 mypy pyright eslint tsc black prettier "
    "golangci-lint shellcheck hadolint tflint cargo-clippy unittest".split()
)
_TEST_RUNNERS = frozenset("pytest py.test jest vitest mocha tox nox rspec phpunit unittest".split())
_PACKAGE_TOOLS = frozenset("npm yarn pnpm bun pip pip3 uv poetry pipx cargo go gem apt apt-get brew dnf yum apk "
                           "composer bundle conda mamba".split())
_CHANGE_PROGRAMS = frozenset("mkdir mv cp rm touch chmod chown ln rsync scp tee truncate crontab useradd usermod "
                             "passwd htpasswd certbot createdb dropdb".split())
_SCRIPT_VERBS = ("deploy", "rotate", "migrate", "backup", "restore", "release", "seed", "provision", "publish",
                 "rollback", "install", "setup", "bootstrap", "upgrade", "sync", "cleanup", "purge")
_SQL_CHANGE = re.compile(r"\b(update|insert|delete|alter|create|drop|grant|revoke|truncate|vacuum|reindex)\b", re.I)
_QUOTED_MESSAGE = re.compile(r"""(?<!\S)-[a-z]*m\s*(?:"([^"]{1,200})"|'([^']{1,200})'|(\S+))""")
_COMMIT_LINE = re.compile(r"^\[[\w./-]+(?: \(root-commit\))? ([0-9a-f]{7,12})\]|^([0-9a-f]{7,12}) (?=\S)", re.MULTILINE)
# git push's report of what it moved ("   4e2b91c..b7d30e5  main -> main"): the commit the branch now points at
_PUSHED_LINE = re.compile(r"^ *\+? *[0-9a-f]{7,12}\.\.\.?([0-9a-f]{7,12}) +\S+ +-> +\S+", re.MULTILINE)
# the branch a commit went on, from its result ("[feat/checkout-polish a4d91e0] fix(cart): …")
_COMMITTED_ON = re.compile(r"^\[([\w./-]+)(?: \(root-commit\))? [0-9a-f]{7,12}\]", re.MULTILINE)
_TITLE = re.compile(r"""--title\s*(?:"([^"]{1,200})"|'([^']{1,200})'|(\S+))""")
_REDIRECT = re.compile(r"(?<![0-9&>])>{1,2}\s*([\w./~-]+)")
_RANK = {"read": 0, "check": 1, "change": 2}
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


@functools.lru_cache(maxsize=4096)  # a chained command's parts are read again for each of its results, every turn
def shell(command: str, tool: str = "bash") -> Call:
    """A shell command: its strongest segment decides the kind (a `cd && git push` pushes)."""
    command = command[:2000]  # a command longer than that is a script pasted in; its start says what it does
    command = " ".join(command.split()) if "\n" not in command.strip() else command.strip()
    host = ""
    ssh = re.match(r"^ssh\s+(?:-\S+\s+)*([\w.@-]+)\s+(.+)$", command)
    if ssh:
        host, command = ssh.group(1).split("@")[-1], ssh.group(2).strip().strip("'\"")
    best: tuple[str, str, str] = ("read", "", "")
    changes: list[str] = []
    for segment in _segments(command)[:12]:
        kind, key, phrase = _segment(segment)
        if kind == "change" and _DRY_RUN_FLAG.search(_QUOTED.sub(" ", segment)):
            kind, phrase = "check", ""  # `--dry-run`: it shows what would change, and changes nothing
        if kind == "change" and phrase:
            changes.append(phrase)
        if _RANK[kind] > _RANK[best[0]]:
            best = (kind, key, phrase)
    kind, key, phrase = best
    if kind == "change":
        phrase = " and ".join(dict.fromkeys(changes))
    elif kind == "check":
        key = "test" if "test" in key or key.split(" ")[0] in _TEST_RUNNERS else key
    if host and phrase:
        phrase += f" on {host}"
    shown = key if kind != "read" and key else (command if len(command) <= 80 else command[:77] + "...")
    return Call(f"{tool.lower()}:{key}", kind, phrase[:200], command[:300], f"`{shown}`" + (f" on {host}" if host else ""))


def _segments(command: str) -> list[str]:
    """The commands of a line, split at `&&`, `||`, `;` and `|` outside quotes (a commit
    message may hold a `;`). One pass."""
    parts: list[str] = []
    start = 0
    quote = ""
    index = 0
    while index < len(command):
        char = command[index]
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in ";|&\n":
            if char == "&" and command[index + 1 : index + 2] != "&":
                index += 1
                continue
            parts.append(command[start:index])
            index += 2 if command[index : index + 2] in ("&&", "||") else 1
            start = index
            continue
        index += 1
    parts.append(command[start:])
    return [part.strip() for part in parts if part.strip()]


def _segment(segment: str) -> tuple[str, str, str]:
    tokens = [t.strip("'\"") for t in segment.split() if ">" not in t and "&" not in t]
    while tokens and (tokens[0] in _WRAPPERS or _ENV_ASSIGN.match(tokens[0]) or tokens[0] in ("cd",)):
        if tokens[0] == "cd":
            return "read", "cd", ""
        tokens = tokens[1:]
        if tokens and tokens[0].isdigit():  # `timeout 60 …`
            tokens = tokens[1:]
    if not tokens:
        return "read", "", ""
    program = tokens[0].rsplit("/", 1)[-1]
    rest: list[str] = []
    namespace = ""
    skip = False
    for index, token in enumerate(tokens[1:], 1):
        if skip:
            skip = False
            continue
        if token.startswith("-"):
            skip = token in _VALUE_FLAGS and "=" not in token
            if skip and token in ("-n", "--namespace") and index + 1 < len(tokens):
                namespace = tokens[index + 1]
            continue
        rest.append(token)
    sub = rest[0].lower() if rest else ""
    args = rest[1:]
    redirect = _REDIRECT.search(_QUOTED.sub(" ", segment))  # a "> 0" inside quotes is text, not a redirect
    if program in ("git",):
        return _git(segment, sub, args)
    if program in ("gh", "glab"):
        action = rest[1].lower() if len(rest) > 1 else ""
        if action in ("create", "merge", "close", "comment", "review", "edit", "reopen", "rerun", "run", "delete"):
            obj = {"pr": "PR", "mr": "MR"}.get(sub, sub)
            title = _first_group(_TITLE.search(segment))
            numbers = " ".join(f"#{a}" for a in rest[2:3] if a.isdigit())
            verb = "opened" if action == "create" and sub in ("pr", "mr", "issue") else past(action)
            phrase = " ".join(p for p in (verb, obj, numbers) if p) + (f": {title}" if title else "")
            return "change", f"gh {sub} {action}", phrase
        return "read", f"gh {sub}", ""
    if program in ("kubectl", "oc", "helm"):
        verb = sub
        if sub == "rollout" and args:
            verb, args = args[0], args[1:]
            verb = {"undo": "rollback"}.get(verb, verb)
        if verb in ("get", "describe", "logs", "top", "explain", "status", "history", "list", "ls", "diff",
                    "template", "version", "config", "auth", "port-forward", "exec", "cp", "wait"):
            return "read", f"{program} {sub}", ""
        if verb in ("lint", "test", "verify"):
            return "check", f"{program} {sub}", ""
        objects = [a.replace("/", " ", 1) if a.count("/") == 1 and not a.startswith((".", "/")) else a for a in args]
        where = f" in {namespace}" if namespace else ""
        return "change", f"{program} {sub}", _phrase(verb, objects) + where
    if program in ("docker", "podman", "docker-compose"):
        verb = sub
        if sub == "compose" and args:
            verb, args = args[0], args[1:]
        if verb in ("build", "push", "run", "restart", "stop", "start", "rm", "tag", "up", "down", "pull",
                    "kill", "rmi", "prune", "create", "login"):
            return "change", f"{program} {verb}", _phrase(verb, args)
        return "read", f"{program} {verb}", ""
    if program in ("systemctl", "service", "launchctl", "supervisorctl", "pm2", "nginx"):
        verbs = ("restart", "start", "stop", "reload", "enable", "disable", "kill", "load", "unload", "daemon-reload")
        verb = sub if program != "service" else (args[0] if args else "")
        unit = args if program != "service" else [sub]
        if verb in verbs:
            return "change", f"{program} {verb}", _phrase(verb, unit)
        if program == "nginx" and "-s" in segment:
            return "change", "nginx reload", "reloaded nginx"
        return "read", f"{program} {verb}", ""
    if program in ("terraform", "tofu", "pulumi", "cdk", "serverless", "sls"):
        if sub in ("apply", "destroy", "import", "up", "deploy", "taint", "state"):
            return "change", f"{program} {sub}", _phrase(sub, [program] + args)
        return "check", f"{program} {sub}", ""
    if program in _PACKAGE_TOOLS:
        return _package(program, sub, args, rest)
    if program in _RUNNERS_CHECK or (program in ("python", "python3") and sub in ("-m",)):
        return "check", program, ""
    if program in ("python", "python3", "node", "ruby", "bash", "sh", "zsh", "deno", "php", "perl"):
        if "-m" in tokens:
            module = tokens[tokens.index("-m") + 1] if tokens.index("-m") + 1 < len(tokens) else ""
            if module in ("pytest", "unittest", "mypy", "ruff", "black", "flake8", "pylint", "tox"):
                return "check", module, ""
            if module in ("pip",):
                return _package("pip", tokens[tokens.index("-m") + 2] if len(tokens) > tokens.index("-m") + 2 else "",
                                args, rest)
        if sub.endswith(("manage.py",)) and args:
            if args[0] in ("migrate", "createsuperuser", "loaddata", "collectstatic", "flush"):
                return "change", f"manage.py {args[0]}", _phrase(args[0], args[1:])
            if args[0] == "test":
                return "check", "manage.py test", ""
        return _script(sub, program, args)
    if program in ("make", "just", "task", "invoke", "rake"):
        target = sub
        if target.startswith(("deploy", "release", "install", "migrate", "publish", "rollout", "push", "seed")):
            return "change", f"{program} {target}", f"ran {program} {target}"
        return "check", f"{program} {target}", ""
    if program in ("alembic", "flyway", "liquibase", "prisma", "knex", "sequelize", "dbmate", "goose"):
        if sub == "revision":
            return "change", f"{program} revision", f"created {program} revision {' '.join(args[:4])}".strip()
        if sub in ("upgrade", "downgrade", "migrate", "deploy", "stamp", "up", "down", "push"):
            return "change", f"{program} {sub}", _phrase("migrate" if sub in ("upgrade", "up") else sub,
                                                         [program, *args])
        return "read", program, ""
    if program in ("rails", "bin/rails") and sub.startswith("db:"):
        return "change", f"rails {sub}", f"ran rails {sub}"
    if program in ("dbt",):
        if sub in ("run", "build", "seed", "snapshot"):
            return "change", f"dbt {sub}", f"ran dbt {sub} {' '.join(args[:3])}".strip()
        return "check", f"dbt {sub}", ""
    if program in ("psql", "mysql", "sqlite3", "clickhouse-client", "bq", "snowsql", "mongosh"):
        if sql := _SQL_CHANGE.search(segment):
            return "change", program, f"ran {sql.group(1).upper()} on {program}"
        return "read", program, ""
    if program in ("aws", "gcloud", "az", "doctl", "flyctl", "fly", "heroku", "vercel", "netlify", "wrangler",
                   "firebase", "eksctl", "gsutil"):
        for i, word in enumerate(rest):
            head = word.lower().split("-", 1)[0]
            if head in CHANGE_VERBS or head in ("cp", "sync", "mv", "rm", "invoke", "run", "put", "deploy", "scale"):
                kept = [a for a in rest[i + 1:] if not a.startswith(("s3://",)) or True][:3]
                return "change", f"{program} {' '.join(rest[:i + 1])}", _phrase(head, [*rest[:i], *kept])
        return "read", f"{program} {sub}", ""
    if program in ("curl", "http", "https", "wget", "xh"):
        method = re.search(r"-X\s*(POST|PUT|PATCH|DELETE)|--request\s+(POST|PUT|PATCH|DELETE)", segment, re.I)
        if method or re.search(r"\s(?:-d|--data(?:-raw|-binary)?|--json|-F)\s", segment):
            verb = (method.group(1) or method.group(2)).upper() if method else "POST"
            url = next((t for t in tokens if t.startswith(("http://", "https://"))), "")
            return "change", program, f"sent {verb} {url}".strip()
        return "read", program, ""
    if program == "find" and ("-delete" in tokens or "-exec" in tokens):
        done = tokens[tokens.index("-exec") + 1] if "-exec" in tokens and tokens.index("-exec") + 1 < len(tokens) else "rm"
        verb = {"gzip": "compressed", "rm": "removed", "chmod": "changed mode of", "chown": "changed owner of"}.get(
            done, "removed" if "-delete" in tokens else f"ran {done} on")
        return "change", f"find {done}", f"{verb} {' '.join(short_path(a) for a in rest[:1])} files {' '.join(rest[1:3])}".strip()
    if program in ("gzip", "xz", "zstd", "bzip2", "zip") or (program == "tar" and any("c" in t for t in tokens[1:2])):
        return "change", program, f"compressed {' '.join(short_path(a) for a in rest[:2])}".strip()
    if program == "journalctl" and any(t.startswith("--vacuum") for t in tokens):
        return "change", "journalctl vacuum", "vacuumed the journal " + " ".join(t for t in tokens if t.startswith("--vacuum"))
    if program in ("kill", "pkill", "killall"):
        return "change", program, f"killed {' '.join(rest[:2])}".strip()
    if program == "crontab":
        if "-l" in tokens:
            return "read", "crontab", ""
        return "change", "crontab", ("removed crontab" if "-r" in tokens else "installed crontab") + \
            (f" of {tokens[tokens.index('-u') + 1]}" if "-u" in tokens[:-1] else "")
    if program == "certbot" and sub in ("certificates", "plugins", "show_account", "help"):
        return "read", "certbot", ""
    if program in _CHANGE_PROGRAMS or (program == "sed" and "-i" in tokens):
        verb = {"mkdir": "created", "mv": "moved", "cp": "copied", "rm": "removed", "touch": "created",
                "chmod": "changed mode of", "chown": "changed owner of", "ln": "linked", "rsync": "synced",
                "scp": "copied", "tee": "wrote", "sed": "edited", "truncate": "truncated", "crontab": "installed crontab",
                "useradd": "added user", "usermod": "modified user", "passwd": "set password for", "certbot": "renewed",
                "htpasswd": "set password in", "createdb": "created database", "dropdb": "dropped database"}.get(program,
                                                                                                       program)
        targets = [short_path(a) for a in rest][-2:] if program not in ("sed",) else [short_path(a) for a in rest][-1:]
        return "change", program, f"{verb} {' '.join(targets)}".strip()
    if redirect and program in ("echo", "printf", "cat", "jq", "envsubst", "base64", "openssl", "yq"):
        return "change", "write", f"wrote {short_path(redirect.group(1))}"
    if program.endswith((".sh", ".py", ".rb", ".js")) or program.startswith("./"):
        return _script(program, program, [t for t in tokens[1:] if not t.startswith("-")])
    return "read", program, ""


def _git(segment: str, sub: str, args: list[str]) -> tuple[str, str, str]:
    if sub == "commit":
        message = _first_group(_QUOTED_MESSAGE.search(segment)).split("\n", 1)[0].strip().strip("'\"")
        return "change", "git commit", f"committed '{message}'" if message else "committed"
    if sub == "push":
        branch = next((a for a in reversed(args) if a not in ("origin", "upstream", "HEAD")), "")
        return "change", "git push", f"pushed {branch}".strip()
    if sub == "stash":
        return "change", "git stash", {"pop": "popped the stash", "apply": "applied the stash",
                                       "drop": "dropped a stash"}.get(args[0] if args else "", "stashed changes")
    if sub == "pull":
        return "change", "git pull", f"pulled {args[-1]}" if args else "pulled"
    if sub in ("merge", "rebase", "revert", "cherry-pick", "tag", "stash", "reset", "rm", "mv", "apply", "am"):
        verb = {"rm": "remove", "mv": "move"}.get(sub, sub)
        return "change", f"git {sub}", _phrase(verb, args[:2])
    if sub in ("checkout", "switch") and ("-b" in segment or "-c" in segment):
        return "change", f"git {sub}", f"created branch {args[0] if args else ''}".strip()
    if sub == "branch" and args and "-" not in segment:
        return "change", "git branch", f"created branch {args[0]}"
    return "read", f"git {sub}", ""


def _package(program: str, sub: str, args: list[str], rest: list[str]) -> tuple[str, str, str]:
    if sub in ("install", "i", "add", "remove", "uninstall", "rm", "publish", "upgrade", "get", "update", "version"):
        if sub in ("install", "i", "update") and not args:
            return "check", f"{program} {sub}", ""  # restoring a lockfile's packages is set-up, not a step
        verb = {"i": "install", "add": "install", "rm": "remove", "get": "install"}.get(sub, sub)
        return "change", f"{program} {sub}", _phrase(verb, args[:4])
    if sub == "run" and args:
        script = args[0]
        if script.startswith(("test", "lint", "check", "build", "type", "format", "e2e")):
            return "check", f"{program} run {script}", ""
        if script.startswith(("deploy", "release", "migrate", "publish", "seed")):
            return "change", f"{program} run {script}", f"ran {program} run {script}"
        return "check", f"{program} run {script}", ""
    if sub in ("test", "t", "lint", "build", "vet", "check", "clippy", "fmt", "bench"):
        return "check", f"{program} {sub}", ""
    return "read", f"{program} {sub}", ""


def _script(path: str, program: str, args: Sequence[str] = ()) -> tuple[str, str, str]:
    name = path.rsplit("/", 1)[-1].lower()
    if any(verb in name for verb in _SCRIPT_VERBS):
        return "change", name, " ".join(["ran", short_path(path), *args[:4]])
    if "test" in name:
        return "check", name, ""
    return "read", name or program, ""


def _phrase(verb: str, args: list[str]) -> str:
    return " ".join([past(verb), *(short_path(a) for a in args[:3])]).strip()


def _first_group(match: re.Match[str] | None) -> str:
    if match is None:
        return ""
    return next((g for g in match.groups() if g), "")


# --- the result ---


def glossed(phrase: str, result: str) -> str:
    """A script's step says what it reported: "ran scripts/rotate_keys.sh: rotated … 14 -> 15",
    the line of its output that names what the script does, else its last line."""
    name = phrase.split(" ", 2)[1].rsplit("/", 1)[-1].lower() if phrase.count(" ") else ""
    lines = [" ".join(line.split()) for line in result.splitlines()[:40] if line.strip()]
    verb = next((v for v in _SCRIPT_VERBS if v in name), "")
    line = next((line for line in lines if verb and verb[:5] in line.lower()), lines[-1] if lines else "")
    return f"{phrase}: {line}" if line and len(line) <= 120 else phrase


class Outcome(NamedTuple):
    status: str  # "ok" | "failed" | "pending"
    detail: str  # the error's first line, or what it waits on
    ids: tuple[str, ...]  # identifiers the result carries
    verb: str = ""  # a JSON result's status when it says what was done ("submitted", "booked")
    text: str = ""  # the start of the result, for a script's step
    # a batch that partly went through ({"removed": [...], "errors": [...]}): how much of it ("44 of 47"),
    # what it was done to, and what failed and why
    tally: str = ""
    done: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    # done, and an answer to it is due: {"status": "submitted", "decision_eta": "10 business days"}
    awaited: str = ""


_FAIL_HEAD = re.compile(
    r"(?:error|errors|exception|traceback|fatal|failed|failure|fail\b|denied|permission denied|access denied|"
    r"unauthori[sz]ed|forbidden|not found|no such|invalid|cannot|can't|could not|couldn't|unable to|timeout|"
    r"timed out|refused|connection refused|rejected|declined|conflict|bad request|exit code:? *[1-9]|exited with|"
    r"command not found|npm err|e:|usage:|[45]\d\d\b|http [45]\d\d|status:? *[45]\d\d|.{0,40}: command not found|"
    # "Email NOT sent: the user interrupted the action", "Interrupted by user", "Aborted": it did not happen
    r"(?:[\w-]+ ){0,3}(?:was |were )?not (?:sent|submitted|saved|created|applied|executed|run|completed|done|"
    r"processed|posted|booked|published)\b|interrupted\b|aborted\b)"
)
_FAIL_ANYWHERE = re.compile(
    r"\b(?:exit code|exit status|returned non-zero exit status|exited with code|process completed with exit code)"
    r":? *[1-9]|traceback \(most recent call last\)|\b[1-9]\d* (?:failed|failing|errors?)\b|^error[:\[ ]|"
    r"\bbuild failed\b|\bnpm err!|\bfatal:|\berror: |\bfailed to\b|: operation not permitted\b|: permission denied\b|"
    r"\ban error occurred \(\w+\)",
    re.MULTILINE,
)
_FAIL_STATUS = frozenset("error failed failure declined rejected denied invalid unauthorized forbidden "
                         "not_found conflict".split())
_PENDING_STATUS = re.compile(r"^(?:pending|pending[_ ]\w+|awaiting[_ ]\w+|requires?[_ ]approval|needs[_ ]approval|"
                             r"on[_ ]hold|in[_ ]review|waiting[_ ]\w+|submitted[_ ]for[_ ]approval|escalated)$")
_PENDING_TEXT = re.compile(r"\b(?:pending (?:\w+ ){0,2}(?:approval|review|sign-?off|manager|finance|decision)|requires? "
                           r"(?:\w+ ){0,2}approval|awaiting (?:\w+ ){0,2}(?:approval|review|sign-?off|confirmation|decision)|"
                           r"on hold)\b")
_ID_IN_TEXT = re.compile(
    r"/(?:pull|pulls|merge_requests)/(\d+)|/issues/(\d+)|\b([A-Z][A-Z0-9]{1,9}(?:-[A-Z0-9]{1,12}){0,3}?-\d{2,}(?:-[A-Z0-9]{1,12}){0,3})\b|(?<![\w/#])#(\d{2,7})\b|"
    r"^\[[\w./-]+ ([0-9a-f]{7,12})\]"
)
_ID_JSON_KEY = re.compile(r"(?:^|_)(?:id|number|no|code|ref|reference|confirmation|pnr|locator|url|sha|hash)$|"
                          r"^(?:user|email|login|username|account|order|ticket|rma|invoice|booking)$")


def outcome(text: str, is_error: bool, kind: str) -> Outcome:
    """Did the call succeed? Read from the error flag, the result's first line, a JSON
    body's `error`/`ok`/`status`, and a test run's summary."""
    body = text.strip()
    data = _json(body)
    ids = _ids(body, data)
    first = _first_line(body)
    if is_error:
        return Outcome("failed", _error_line(body) or first, ids)
    if data is not None:
        batch = _batch(data)
        if batch is not None and batch[0]:  # some of it went through: a step, and a failure beside it
            tally, done, failed = batch
            ids = tuple(i for i in ids if not any(f.startswith(f"{i}:") or f.startswith(f"{i} ") for f in failed))
            return Outcome("ok", first, ids, _done_status(data), body[:2000] if kind == "change" else "", tally, done, failed)
        if batch is not None:
            return Outcome("failed", "; ".join(batch[2][:3])[:160] or first, ids)
        verdict = _json_verdict(data)
        if verdict is not None:
            return Outcome(verdict[0], verdict[1] or first, ids)
    verb = _done_status(data)
    low_head = body[:300].lower().lstrip("\"'`[({ ")
    if kind != "read" or low_head.startswith(("error", "exception", "traceback", "fatal", "failed")):
        if _FAIL_HEAD.match(low_head) or (kind != "read" and (_FAIL_ANYWHERE.search(body[:400].lower())
                                                              or _FAIL_ANYWHERE.search(body[-400:].lower()))):
            worked = _SUCCEEDED.search(body[:600]) if not _FAIL_HEAD.match(low_head) else None
            broke = _FAIL_ANYWHERE.search(body.lower(), worked.end()) if worked is not None else None
            if worked is not None and broke is not None and _FAIL_ANYWHERE.search(body[: worked.start()].lower()) is None:
                # "Successfully received certificate." and then a hook's error: the work is done, a side of it failed
                return Outcome("ok", first, ids, verb, body[:2000] if kind == "change" else "",
                               failed=(_error_line(body[max(0, broke.start() - 200):]),))
            return Outcome("failed", _error_line(body) or first, ids)
    if kind == "change" and (pending := _PENDING_TEXT.search(body[:300].lower())):
        # the line that says so names who it waits on ("PENDING SUPERVISOR APPROVAL (queue: T. Nakamura)")
        line = body[max(body.rfind("\n", 0, pending.start()) + 1, pending.start() - 60): pending.end() + 80]
        return Outcome("pending", " ".join(line.split("\n", 1)[0].split())[:160] or pending.group(0), ids)
    return Outcome("ok", first, ids, verb, body[:2000] if kind == "change" else "", awaited=_awaited(data))


# A line that says the command did what it was for, before anything after it went wrong.
_SUCCEEDED = re.compile(r"(?im)^[^\n]{0,40}\b(?:successfully|succeeded\b|success:)")
_DONE_STATUSES = frozenset("submitted created sent cancelled canceled booked scheduled approved confirmed refunded "
                           "issued processed completed opened closed updated deleted shipped reserved assigned "
                           "escalated merged deployed published posted paid transferred renewed activated "
                           "deactivated suspended resolved filed registered invited added removed".split())


def _done_status(data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    status = data.get("status") or data.get("state")
    return status.lower() if isinstance(status, str) and status.lower() in _DONE_STATUSES else ""


_FAILED_KEYS = ("failed", "errors", "failures", "rejected")
_ASKED_KEYS = ("requested", "total", "eligible", "submitted", "count", "attempted")


def _batch(data: Any) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
    """A result that says which items of a batch went through and which failed ({"removed":
    ["CV-0301", …], "errors": [{"id": "CV-0304", "error": "not found"}]}, {"requested": 47,
    "quarantined": 44, "failed": […]}): how many went through ("44 of 47", "" when nothing did),
    the items it names as done, and each failure with its reason. None when nothing failed."""
    if not isinstance(data, dict):
        return None
    failures = next((data[key] for key in _FAILED_KEYS if isinstance(data.get(key), list)), None)
    if not failures:
        return None
    done: list[str] = []
    count = 0
    for key, value in list(data.items())[:40]:
        low = str(key).lower()
        if low in _FAILED_KEYS or low in _ASKED_KEYS or not (low.endswith("ed") or low.endswith("ed_ids")
                                                                  or low in _DONE_STATUSES or low == "sent"):
            continue
        if isinstance(value, list) and value:
            done.extend(str(item) for item in value[:8] if isinstance(item, (str, int)) and not isinstance(item, bool))
            count = count or len(value)
        elif isinstance(value, int) and not isinstance(value, bool) and value > 0:
            count = count or value
    if not count:
        return "", (), tuple(_failure(item) for item in failures[:8])
    asked = next((data[key] for key in _ASKED_KEYS if isinstance(data.get(key), int) and not isinstance(data[key], bool)), 0)
    asked = asked or count + len(failures)
    return f"{count} of {asked}", tuple(done), tuple(_failure(item) for item in failures[:8])


def _failure(item: Any) -> str:
    """One failed item of a batch: what it was, and why ("CV-0304: not found")."""
    if not isinstance(item, dict):
        return " ".join(str(item).split())[:80]
    values = [" ".join(str(value).split()) for value in item.values() if isinstance(value, (str, int))
              and not isinstance(value, bool)]
    reason = next((" ".join(str(item[key]).split()) for key in ("reason", "error", "message", "detail")
                   if isinstance(item.get(key), str)), "")
    named = [value for value in values if value != reason][:2]
    return f"{' '.join(named)}: {reason}"[:100] if reason else " ".join(named)[:100]


def _json(body: str) -> Any:
    if not body.startswith("{") or len(body) > 50_000:
        return None
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None


def _json_verdict(data: Any) -> tuple[str, str] | None:
    if not isinstance(data, dict):
        return None
    error = data.get("error") or data.get("errors")
    if error:
        detail = error.get("message", "") if isinstance(error, dict) else str(error)
        return "failed", " ".join(str(detail).split())[:160]
    for flag in ("ok", "success", "succeeded"):
        if data.get(flag) is False:
            return "failed", str(data.get("message") or data.get("reason") or "")[:160]
    status = data.get("status") or data.get("state") or data.get("result")
    if isinstance(status, str):
        low = status.lower().strip()
        if low in _FAIL_STATUS or low.startswith(("not_", "not ")):  # "not_enrolled": the thing asked for did not happen
            return "failed", str(data.get("message") or data.get("reason") or status)[:160]
        if _PENDING_STATUS.match(low):
            said = str(data.get("message") or data.get("reason") or status.replace("_", " "))[:160]
            who = next((" ".join(value.split()) for key in _AWAITED_WHO
                        if isinstance(value := data.get(key), str) and value.strip()), "")
            who = who.split(" (", 1)[0][:40]  # the name, not its role
            if who and who.lower() not in said.lower():
                said = f"{said} ({who})"
            when = awaited_for(data)
            return "pending", f"{said} ({when})" if when else said
    return None


# Who a waiting result says the answer is awaited from.
_AWAITED_WHO = ("approver", "approver_name", "routed_to", "assigned_to", "assignee", "reviewer", "requested_reviewer",
                "review_required_by", "owner", "awaiting")


# How long an answer takes, as a result states it: "sla": "5-7 business days", "decision_eta", "expected_response".
_AWAITED_KEY = re.compile(r"(?:^|_)(?:sla|decision_eta|expected_(?:response|review|decision)\w*|response_time)$")


def _awaited(data: Any) -> str:
    """What a result that went through still waits on: queued for sending or handling, or an answer due
    ("pending (10 business days)"); "" when nothing."""
    if not isinstance(data, dict):
        return ""
    when = awaited_for(data)
    status = data.get("status") or data.get("state")
    if isinstance(status, str) and status.lower().strip() in ("queued", "in_queue"):
        return f"queued ({when})" if when else "queued"
    return f"pending ({when})" if when else ""


def awaited_for(data: Any) -> str:
    """When the answer a result waits on is due ("5-7 business days"), if it says."""
    if not isinstance(data, dict):
        return ""
    for key, value in list(data.items())[:40]:
        if isinstance(value, (str, int)) and not isinstance(value, bool) and _AWAITED_KEY.search(str(key).lower()):
            return " ".join(str(value).split())[:60]
    return ""


def _ids(body: str, data: Any) -> tuple[str, ...]:
    found: dict[str, None] = {}
    if isinstance(data, dict):
        for key, value in list(data.items())[:40]:
            if isinstance(value, (str, int)) and not isinstance(value, bool) and _ID_JSON_KEY.search(str(key).lower()) \
                    and not str(key).lower().startswith(("message", "request", "trace", "event", "correlation", "session")):
                text = str(value)
                if "/pull/" in text or "/issues/" in text:
                    found.update(dict.fromkeys(_text_ids(text)))
                elif 0 < len(text) <= 24 and not text.startswith("http"):
                    found[text] = None
    found.update(dict.fromkeys(a or b for a, b in _COMMIT_LINE.findall(body[:4000])))
    found.update(dict.fromkeys(_PUSHED_LINE.findall(body[:4000])))
    found.update(dict.fromkeys(_text_ids(body[:2000])))
    return tuple(found)[:12]


def _text_ids(text: str) -> list[str]:
    ids = []
    for match in _ID_IN_TEXT.finditer(text):
        pr, issue, code, number, sha = match.groups()
        ids.append(f"PR #{pr}" if pr else f"issue #{issue}" if issue else code or (f"#{number}" if number else sha))
    return ids


def _first_line(body: str) -> str:
    for line in body.splitlines():
        line = " ".join(line.split())
        if line:
            return line[:160]
    return ""


_LOCATED_ERROR = re.compile(r"[\w/.-]+\.\w{1,5}:\d+(?::\d+)?:?\s*(?:error|E\d{3})\b|^error(?:\[\w+\])?: [^\n]{8,}")


# The tests a runner names as failing: pytest's "FAILED tests/x.py::test_y - Error" and "____ test_y ____",
# jest/vitest's "FAIL src/x.test.ts > suite > case" and "× case", go's "--- FAIL: TestY", cargo's
# "test y ... FAILED"; where they are (a test file's "path:line:"), and the first error they hit.
_FAILING_TEST = re.compile(
    r"^(?:FAILED|ERROR) (?P<file>[^\s:]+\.\w+)(?:::(?P<test>[\w\[\].-]+))?(?: - (?P<error>[^\n]{3,}))?|"
    r"^_{3,} (?:\w+\.)?(?P<header>\w[\w\[\].-]*) _{3,}$|"
    r"^ *FAIL +(?P<suite>[^\s>]+\.\w+)(?: > (?P<case>[^\n]{1,80}))?|^ *(?:×|✕) (?P<mark>[^\n]{3,80}?)(?: \d+ ?ms)?$|"
    r"^--- FAIL: (?P<go>\w+)|^test (?P<cargo>[\w:]+) \.\.\. FAILED",
    re.MULTILINE,
)
_TEST_FILE_AT = re.compile(r"^([\w./-]*test[\w./-]*\.\w+):\d+", re.MULTILINE)
_FIRST_ERROR = re.compile(r"^(?:E +)?((?:\w+\.)*\w*(?:Error|Exception)\b:? ?[^\n]{0,80})|^ *→ ([^\n]{5,80})", re.MULTILINE)
_RUN_SUMMARY = re.compile(r"[^\n]*\b[1-9]\d* (?:failed|failing)\b[^\n]*")


def _failing_tests(body: str) -> str:
    """A test run's failure as people report it: each failing test by name, where it is and
    what it hit, then the run's count ("test_vat_for in tests/test_tax.py fails: NameError:
    name 'date' is not defined (1 failed, 31 passed)")."""
    failing: dict[str, tuple[str, str]] = {}  # test (or file) -> its file, its error
    for match in _FAILING_TEST.finditer(body):
        found = match.groupdict()
        where = found["file"] or found["suite"] or ""
        name = found["test"] or found["header"] or found["case"] or found["mark"] or found["go"] or found["cargo"] or where
        name = name.rsplit(" > ", 1)[-1].strip()
        known = failing.get(name, ("", ""))
        failing[name] = (known[0] or where, known[1] or " ".join((found["error"] or "").split()))
    if not failing:
        return ""
    located = _TEST_FILE_AT.findall(body)
    first_error = _FIRST_ERROR.search(body)
    parts = []
    for name, (where, error) in list(failing.items())[:2]:
        where = where or (located[0] if len(failing) == 1 and located else "")
        if not error and len(failing) == 1 and first_error is not None:
            error = " ".join((first_error.group(1) or first_error.group(2)).split())
        said = f"{name} in {where}" if where and where != name else name
        parts.append(f"{said} fails: {error[:80]}" if error else f"{said} fails")
    if len(failing) > 2:
        parts.append(f"and {len(failing) - 2} more")
    summary = _RUN_SUMMARY.findall(body[-800:])
    count = f" ({' '.join(summary[-1].split()).strip('= ')})" if summary else ""
    return f"{'; '.join(parts)}{count}"[:200]


def _error_line(body: str) -> str:
    """The line that says what went wrong: the failing tests of a test run, the last
    `…Error: …` line of a traceback, a test summary, or the first line that mentions an error."""
    tests = _failing_tests(body)
    if tests:
        return tests
    lines = [" ".join(line.split()) for line in body.splitlines() if line.strip()]
    for line in lines[:80]:  # a compiler's or linter's "path:line: error: …" says the most
        if _LOCATED_ERROR.search(line):
            return line[:160]
    for line in lines[:60]:
        if line.startswith(("FAILED ", "ERROR ", "E   ")):
            return line[:160]
    for line in reversed(lines[-40:]):
        low = line.lower()
        if re.match(r"^[\w.]*(?:error|exception)\b", low) or re.search(r"\b[1-9]\d* (?:failed|errors?)\b", low):
            return line[:160]
    for line in lines[:40]:
        if (_FAIL_ANYWHERE.search(line.lower()) or _FAIL_HEAD.match(line.lower())) \
                and not re.match(r"exit code:? *\d+$", line.lower()):
            return line[:160]
    return lines[0][:160] if lines else ""


_ID_KIND = re.compile(r"[A-Za-z]+[-_]")
_COMMIT_PHRASE = re.compile(r"\bcommitted(?: '[^']*')?")
_BARE_PR = re.compile(r"\bPR\b(?!\s*#)(:?)")


def step_name(call: Call, result: Outcome) -> str:
    """The finished step: the call's phrase and the identifiers its result returned; when
    the result's status is a past participle ("submitted", "booked"), that is the verb."""
    phrase = glossed(call.phrase, result.text) if call.phrase.startswith("ran ") else call.phrase
    if result.tally:  # a batch that partly went through: what it was done to, not what was asked
        phrase = without(phrase, [failure.split(": ", 1)[0] for failure in result.failed])
    branch = _COMMITTED_ON.search(result.text[:4000]) if "committed" in phrase else None
    if branch is not None and branch.group(1).lower() not in phrase.lower():  # where the commit went, as its result says
        phrase = _COMMIT_PHRASE.sub(lambda m: f"{m.group(0)} on {branch.group(1)}", phrase, count=1)
    low = (phrase if result.tally else call.phrase).lower()
    ids = [i for i in dict.fromkeys((*result.ids, *result.done)) if i.lower() not in low]
    if result.verb and phrase.startswith("created ") and result.verb != "created":
        phrase = result.verb + phrase[phrase.index(" "):]
    pr = next((i for i in ids if i.startswith("PR #")), "")
    if pr and "#" not in phrase and _BARE_PR.search(phrase):
        phrase = _BARE_PR.sub(lambda m: pr + (":" if m.group(1) else ""), phrase, count=1).replace("::", ":")
        ids.remove(pr)
    first = _ID_KIND.match(ids[0]) if len(ids) > 3 else None
    alike = [i for i in ids if i.startswith(first.group(0))] if first is not None else []
    if 3 < len(alike) <= 5:  # a batch: each of its ids, or CV-0101, CV-0102 … CV-0108 when it is long
        shown = f" ({', '.join(alike)})"
    elif len(alike) > 5:
        shown = f" ({alike[0]}, {alike[1]} … {alike[-1]})"
    else:
        shown = f" ({', '.join(ids[:3])})" if ids else ""
    if result.tally:
        why = result.failed[0].split(": ", 1)[-1] if result.failed else ""
        shown = f"{shown} ({result.tally}; {len(result.failed)} failed: {why[:60]})"
    elif result.failed:  # it did its work, then something after it failed: the note says so
        shown = f"{shown} (then: {result.failed[0][:60]})"
    return (phrase[: max(80, 200 - len(shown))].rstrip() + shown)[:200]  # a long command keeps room for what it returned


def without(phrase: str, names: Sequence[str]) -> str:
    """A call's phrase without the items of it that failed ("removed cover CV-0301, CV-0304" →
    "removed cover CV-0301" when CV-0304 was not found)."""
    for name in names:
        if len(name) >= 3:
            phrase = phrase.replace(f", {name}", "").replace(f"{name}, ", "")
    return phrase


_ITEM_NUMBER = re.compile(r"^(?:step\s*)?\d{1,2}[.):]\s+", re.IGNORECASE)
# No plan a person follows is longer; every later event of the session is matched against
# each item, so a list of 50,000 (0.7 s to read, then more on each turn) is cut to its start.
MAX_TODOS = 100
# How todo tools spell an item's state, as the three the reader knows.
_TODO_STATES = {"completed": "completed", "complete": "completed", "done": "completed", "finished": "completed",
                "in_progress": "in_progress", "active": "in_progress", "doing": "in_progress", "started": "in_progress",
                "current": "in_progress"}


def _todo_list(arguments: Any) -> bool:
    """Arguments shaped as a todo list: items each with its words and a state ("set_plan",
    "update_todo_list" as well as TodoWrite; a customer's "change_plan" carries no such list)."""
    items = todos(arguments)
    return len(items) >= 2 and isinstance(arguments, dict) and any(
        isinstance(item, dict) and any(key in item for key in ("status", "state", "done", "completed", "checked"))
        for value in arguments.values() if isinstance(value, list) for item in value[:MAX_TODOS])


def todos(arguments: Any) -> list[tuple[str, str]]:
    """A todo-list tool's items and their states (`pending`, `in_progress`, `completed`)."""
    items = arguments.get("todos") or arguments.get("plan") or arguments.get("items") or arguments.get("tasks") \
        or arguments.get("steps") if isinstance(arguments, dict) else None
    found: list[tuple[str, str]] = []
    for item in items[:MAX_TODOS] if isinstance(items, list) else []:
        if isinstance(item, dict):
            text = str(item.get("content") or item.get("step") or item.get("title") or item.get("task")
                       or item.get("text") or item.get("description") or "")
            state = _TODO_STATES.get(str(item.get("status") or item.get("state") or "pending").lower().replace("-", "_"),
                                     "pending")
            if item.get("done") is True or item.get("completed") is True or item.get("checked") is True:
                state = "completed"
            text = _ITEM_NUMBER.sub("", " ".join(text.split()))  # "1. Reproduce the bug": the list numbers it
            if text:
                found.append((text[:160], state))
    return found
