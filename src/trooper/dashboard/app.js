// Trooper dashboard. Plain DOM, no build step, no dependencies.
//
// Safety rule: conversation text only ever reaches the page as text nodes (el() and
// textContent); nothing here assigns innerHTML. The server's Content-Security-Policy
// also forbids inline scripts, as a second line of defence.
//
// Live: one EventSource on /events; every session update arrives pushed. On (re)connect
// the page reloads the list (and the open session) once, to catch anything missed.

"use strict";

const state = {
  sessions: new Map(), // id -> summary
  selected: null, // session id
  detail: null, // {summary, signals, system, entries: Map(seq -> entry), requests: Map(seq -> record)}
  renderedSeq: 0, // last transcript entry drawn
  filter: "",
  retry: 0, // timer: read the sessions again after the store was unavailable
};

const $ = (id) => document.getElementById(id);

// el("li", {class: "x"}, "text", child) — strings become text nodes, never markup.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role" || key === "title" || key === "id") {
      node.setAttribute(key, String(value));
    } else node[key] = value;
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

// --- formatting ---

function when(seconds) {
  if (!seconds) return "";
  const date = new Date(seconds * 1000);
  const today = new Date().toDateString() === date.toDateString();
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return today ? time : `${date.toLocaleDateString()} ${time}`;
}

function ms(value) {
  return value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

// --- server ---

async function getJSON(path) {
  const response = await fetch(path, { headers: { accept: "application/json" }, credentials: "same-origin" });
  if (!response.ok) {
    let message = `${response.status}`;
    try {
      message = (await response.json()).error.message;
    } catch (_) {
      /* not JSON */
    }
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

async function loadSessions() {
  try {
    const data = await getJSON("/sessions?limit=1000");
    if (document.body.dataset.live === "unavailable") setLive("live", "live");
    state.sessions = new Map(data.sessions.map((s) => [s.id, s]));
    $("count").textContent = data.total > data.sessions.length
      ? `${data.sessions.length} of ${data.total} sessions (most recent)`
      : plural(data.total, "session");
    renderList();
  } catch (error) {
    refused(error);
  }
}

async function loadDetail(id) {
  try {
    const data = await getJSON(`/sessions/${encodeURIComponent(id)}`);
    if (state.selected !== id) return;
    state.detail = {
      summary: data.session,
      signals: data.signals,
      system: data.system,
      entries: new Map(data.transcript.map((e) => [e.seq, e])),
      requests: new Map(data.requests.map((r) => [r.seq, r])),
    };
    state.renderedSeq = 0;
    clear($("s-transcript"));
    renderDetail();
  } catch (error) {
    if (error.status === 404) {
      $("placeholder").textContent = "That session is gone (deleted by retention).";
      showDetail(false);
    } else refused(error);
  }
}

function refused(error) {
  if (error.status === 401 || error.status === 403) {
    setLive("refused", "access refused");
    $("placeholder").textContent = error.message;
    showDetail(false);
    return;
  }
  // The sessions can't be read now (a shared store's Redis is down: 503): say why, try again.
  setLive("unavailable", "store unavailable, retrying…");
  $("count").textContent = error.message;
  clearTimeout(state.retry);
  state.retry = setTimeout(() => {
    loadSessions();
    if (state.selected) loadDetail(state.selected);
  }, 5000);
}

// --- live updates ---

let source = null;

function connect() {
  source = new EventSource("/events");
  source.onopen = () => {
    setLive("live", "live");
    loadSessions();
    if (state.selected) loadDetail(state.selected);
  };
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      // The browser gave up (e.g. the server refused); try again in a while.
      setLive("reconnecting", "disconnected, retrying…");
      setTimeout(connect, 5000);
    } else {
      setLive("reconnecting", "reconnecting…");
    }
  };
  source.addEventListener("session", (event) => applyUpdate(JSON.parse(event.data)));
  source.addEventListener("removed", (event) => {
    for (const id of JSON.parse(event.data).ids) state.sessions.delete(id);
    scheduleList();
  });
}

function setLive(kind, text) {
  const live = $("live");
  live.dataset.state = kind;
  live.textContent = text;
  document.body.dataset.live = kind;
}

function applyUpdate(update) {
  const summary = update.session;
  state.sessions.set(summary.id, summary);
  scheduleList();
  const detail = state.detail;
  if (!detail || state.selected !== summary.id) return;
  detail.summary = summary;
  detail.signals = update.signals;
  for (const entry of update.entries || []) detail.entries.set(entry.seq, entry);
  if (update.request) detail.requests.set(update.request.seq, update.request);
  renderDetail();
}

let listPending = false;
function scheduleList() {
  if (listPending) return;
  listPending = true;
  requestAnimationFrame(() => {
    listPending = false;
    $("count").textContent = plural(state.sessions.size, "session");
    renderList();
  });
}

// --- the session list ---

function visibleSessions() {
  const needle = state.filter.toLowerCase();
  const all = [...state.sessions.values()].sort((a, b) => b.last_seen - a.last_seen);
  if (!needle) return all;
  return all.filter((s) => s.id.toLowerCase().includes(needle) || (s.intent || "").toLowerCase().includes(needle)
    || s.providers.some((p) => p.toLowerCase().includes(needle)));
}

function renderList() {
  const list = $("sessions");
  const sessions = visibleSessions();
  clear(list);
  $("empty").hidden = state.sessions.size > 0;
  for (const s of sessions) {
    const selected = s.id === state.selected;
    const item = el("li", {
      role: "option", id: `opt-${s.id}`, "data-id": s.id, "aria-selected": selected ? "true" : "false",
      onclick: () => select(s.id),
    },
    el("div", { class: "intent-line", title: s.intent || "" }, s.intent || "(no intent yet)"),
    el("div", { class: "meta-line" },
      el("span", { class: "id", title: s.id }, s.id.length > 26 ? `${s.id.slice(0, 25)}…` : s.id),
      el("span", {}, when(s.last_seen)),
      el("span", {}, plural(s.requests, "request")),
      s.in_flight ? el("span", { class: "pill busy" }, "● live") : null,
      s.open_loops ? el("span", { class: "pill open", title: "open loops" }, `${s.open_loops} open`) : null,
      s.completed_steps ? el("span", { class: "pill done", title: "completed steps" }, `${s.completed_steps} done`) : null,
      s.errors ? el("span", { class: "pill error" }, plural(s.errors, "error")) : null,
      s.providers.map((p) => el("span", { class: "pill provider" }, p)),
    ));
    list.append(item);
  }
  if (state.selected && state.sessions.has(state.selected)) {
    list.setAttribute("aria-activedescendant", `opt-${state.selected}`);
  } else list.removeAttribute("aria-activedescendant");
}

function select(id) {
  if (state.selected === id && state.detail) return;
  state.selected = id;
  state.detail = null;
  renderList();
  const option = document.getElementById(`opt-${id}`);
  if (option) option.scrollIntoView({ block: "nearest" });
  history.replaceState(null, "", `#${encodeURIComponent(id)}`);
  loadDetail(id);
}

function move(step) {
  const sessions = visibleSessions();
  if (!sessions.length) return;
  const at = sessions.findIndex((s) => s.id === state.selected);
  const next = at < 0 ? 0 : Math.min(sessions.length - 1, Math.max(0, at + step));
  select(sessions[next].id);
}

// --- one session ---

function showDetail(visible) {
  $("session").hidden = !visible;
  $("placeholder").hidden = visible;
}

function renderDetail() {
  const { summary, signals } = state.detail;
  showDetail(true);
  $("s-id").textContent = summary.id;
  $("s-meta").textContent = [
    `first seen ${when(summary.first_seen)}`,
    `last seen ${when(summary.last_seen)}`,
    plural(summary.requests, "request"),
    plural(summary.messages, "message"),
    `tokens ${summary.tokens_in} in / ${summary.tokens_out} out`,
    summary.tokens_saved ? `${summary.tokens_saved} saved` : null,
    summary.providers.length ? `via ${summary.providers.join(", ")}` : null,
  ].filter(Boolean).join(" · ");
  $("s-intent").textContent = signals.intent || "(not stated yet)";
  $("s-stage").textContent = signals.stage.replace("_", " ");
  $("s-stage").dataset.stage = signals.stage;
  fillLoops("s-open", signals.open_loops, "nothing open");
  fillLoops("s-done", signals.completed_steps, "nothing completed yet");
  $("s-open-count").textContent = signals.open_loops.length ? `(${signals.open_loops.length})` : "";
  $("s-done-count").textContent = signals.completed_steps.length ? `(${signals.completed_steps.length})` : "";
  $("s-resume").textContent = signals.resume_from ? `Resume from step ${signals.resume_from}` : "";
  renderMore(signals);
  renderTimeline();
  renderTranscript();
}

function fillLoops(id, items, none) {
  const list = $(id);
  clear(list);
  if (!items.length) list.append(el("li", { class: "empty" }, none));
  for (const item of items) list.append(el("li", {}, ...named(item)));
}

// The extractor joins an item's name and what the agent said of it with " — " ("step 2: created
// RMA-55120 — RMA issued, label emailed"): the name leads, the agent's words follow in a quieter voice.
const GLOSS = " — ";

function named(item) {
  const at = item.indexOf(GLOSS);
  if (at <= 0) return [item];
  return [el("span", { class: "name" }, item.slice(0, at)), el("span", { class: "said" }, item.slice(at))];
}

function renderMore(signals) {
  const more = $("s-more");
  clear(more);
  const rows = [
    ["Resolved loops", signals.resolved_loops],
    ["Constraints", signals.constraints],
    ["Entities", signals.active_entities],
    ["Facts", signals.facts],
    ["Recent actions", signals.recent_actions],
  ];
  for (const [name, values] of rows) {
    more.append(el("dt", {}, name), el("dd", {}, values.length ? values.join(" · ") : "—"));
  }
  more.append(el("dt", {}, "Confidence"), el("dd", {}, String(signals.confidence)));
}

// How the request was fitted to the answering tier's window: sizes, and what gave way.
function fitted(fit) {
  const cut = fit.cut.filter((c) => c !== "harness text" && c !== "history summarised");
  return `fitted ${fit.tokens_before}→${fit.tokens_after} of ${fit.window} tokens` + (cut.length ? ` (${cut.join(", ")})` : "");
}

function renderTimeline() {
  const list = $("s-timeline");
  clear(list);
  const requests = [...state.detail.requests.values()].sort((a, b) => a.seq - b.seq);
  if (!requests.length) list.append(el("li", { class: "muted" }, "no completed request yet"));
  for (const r of requests) {
    const chain = [];
    // Providers without a key were never candidates: leave them out of the story.
    r.attempts.filter(([, , reason]) => reason !== "no_key").forEach(([provider, status, reason, took, ok, splice], i) => {
      if (i) chain.push(el("span", { class: "arrow" }, "→"));
      // Skipped with no round trip: an open circuit, or a tier without what the request needs.
      const skipped = !ok && status === null && ["circuit_open", "no_tools", "no_images", "too_long"].includes(reason);
      const joined = splice ? ` (${splice})` : "";  // how it carried on a cut stream
      const label = ok ? `${provider} ✓ ${ms(took)}${joined}` : `${provider} ✗ ${[status, reason].filter((x) => x !== null && x !== "").join(" ")}`;
      chain.push(el("span", { class: `attempt ${ok ? "ok" : skipped ? "skipped" : "failed"}`, title: `${ms(took)}` }, label));
    });
    if (!r.attempts.length) chain.push(el("span", { class: "attempt skipped" }, "no provider tried"));
    const bad = r.error || (r.status || 0) >= 400;
    list.append(el("li", {},
      el("span", { class: "seq" }, `#${r.seq}`),
      el("span", { class: "muted small" }, when(r.at)),
      el("span", { class: "chain" }, chain),
      el("span", { class: bad ? "bad" : "facts" }, r.status === null ? "no status" : String(r.status)),
      el("span", { class: "facts" }, [
        r.decision || r.route,
        ms(r.ms),
        r.stream ? "stream" : null,
        `${r.tokens_in}/${r.tokens_out} tokens`,
        r.tokens_saved ? `${r.tokens_saved} saved` : null,
        r.fit ? fitted(r.fit) : null,
        r.degraded && r.degraded.length ? `degraded (${r.degraded.join(", ")})` : null,
      ].filter(Boolean).join(" · ")),
      r.error ? el("span", { class: "bad small" }, r.error) : null,
    ));
  }
}

function renderTranscript() {
  const detail = state.detail;
  const system = $("s-system");
  system.hidden = !detail.system;
  clear(system);
  if (detail.system) system.append(el("div", { class: "who" }, "system"), el("div", { class: "text" }, detail.system));
  const list = $("s-transcript");
  const entries = [...detail.entries.values()].sort((a, b) => a.seq - b.seq);
  for (const entry of entries) {
    if (entry.seq <= state.renderedSeq) continue;
    list.append(renderEntry(entry));
    state.renderedSeq = entry.seq;
  }
}

function renderEntry(entry) {
  const toolOnly = entry.role === "user" && entry.content.length && entry.content.every((b) => b.type === "tool_result");
  const role = toolOnly ? "tool" : entry.role;
  const who = el("div", { class: "who" },
    el("span", {}, toolOnly ? "tool result" : entry.role),
    el("span", { class: "muted" }, when(entry.at)),
    entry.provider ? el("span", { class: "muted" }, `via ${entry.provider}${entry.model ? ` (${entry.model})` : ""}`) : null,
    entry.partial ? el("span", { class: "partial" }, "cut short") : null,
  );
  return el("li", { class: `msg role-${role}`, "data-seq": entry.seq }, who, entry.content.map(renderBlock));
}

const LONG = 1800;

function longText(text, tag, cls) {
  if (text.length <= LONG) return el(tag, { class: cls }, text);
  return el("details", { class: "long" },
    el("summary", {}, `${text.slice(0, 160).replace(/\s+/g, " ")}… (${text.length} characters)`),
    el(tag, { class: cls }, text));
}

function renderBlock(block) {
  switch (block.type) {
    case "text":
      return longText(block.text, "div", "text");
    case "thinking":
      return el("details", { class: "long" }, el("summary", {}, "thinking"), el("div", { class: "text" }, block.text));
    case "tool_use":
      return el("div", { class: "block-tool-use" },
        el("span", { class: "name" }, `⚙ ${block.name}`),
        longText(JSON.stringify(block.input, null, 2), "pre", ""));
    case "tool_result": {
      const text = (block.content || []).map((part) => (part.type === "text" ? part.text : `[image ${part.media_type || part.url || ""}]`)).join("\n");
      return el("div", { class: `block-tool-result${block.is_error ? " error" : ""}` },
        block.is_error ? el("span", { class: "partial" }, "error") : null,
        longText(text, "pre", ""));
    }
    case "image":
      return el("div", { class: "muted" }, `[image ${block.media_type || block.url || ""}]`);
    default:
      return el("div", { class: "muted" }, `[${block.type}]`);
  }
}

// --- keyboard ---

function onKey(event) {
  const typing = event.target instanceof HTMLInputElement;
  if (event.key === "/" && !typing) {
    event.preventDefault();
    $("filter").focus();
    return;
  }
  if (event.key === "Escape") {
    if (typing) {
      $("filter").value = "";
      state.filter = "";
      renderList();
      $("sessions").focus();
    }
    return;
  }
  if (typing || event.altKey || event.ctrlKey || event.metaKey) return;
  if (event.key === "ArrowDown" || event.key === "j") {
    event.preventDefault();
    move(1);
  } else if (event.key === "ArrowUp" || event.key === "k") {
    event.preventDefault();
    move(-1);
  } else if (event.key === "Home") {
    event.preventDefault();
    move(-Infinity);
  } else if (event.key === "End") {
    event.preventDefault();
    move(Infinity);
  } else if (event.key === "Enter" && !state.selected) {
    move(0);
  }
}

function start() {
  $("filter").addEventListener("input", (event) => {
    state.filter = event.target.value;
    renderList();
  });
  $("filter").addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === "ArrowDown") {
      event.preventDefault();
      $("sessions").focus();
      move(0);
    }
  });
  document.addEventListener("keydown", onKey);
  const wanted = decodeURIComponent(location.hash.slice(1));
  if (wanted) select(wanted);
  connect();
}

start();
