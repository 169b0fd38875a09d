// The societas dashboard: runs list, run view (scrubber, charts, story, world view, event log,
// model panel), agent inspector, live updates and the experiment view.
// Rule: agent and model text only ever enters the page through textContent (see h()), shown
// with control characters made visible (clean()); nothing is parsed as HTML.
(function () {
"use strict";

const { lineChart, barChart, intervalChart, treeChart, graphChart, fmt, PALETTE } = window.charts;

// -- small helpers ---------------------------------------------------------------------------

// Control characters (ANSI escapes, NUL, ...) would be invisible or mangle the page: show them
// as the Unicode control pictures instead (ESC -> ␛). Newlines and tabs stay.
function clean(value) {
  const s = value === null || value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, (c) => c === "\u007f" ? "\u2421" : String.fromCharCode(0x2400 + c.charCodeAt(0)));
}

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "className") el.className = v;
    else if (k === "style") el.style.cssText = v; // CSSOM: allowed by the page's CSP
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(clean(c)));
  }
  return el;
}

// replaceChildren would show null as the text "null": drop empty children first.
function fill(el, ...kids) {
  el.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false).map((k) => (k instanceof Node ? k : document.createTextNode(clean(k)))));
}

function link(text, hash) { return h("a", { href: hash }, text); }
function q(params) { return new URLSearchParams(params).toString(); }

async function api(path, params, headers) {
  const url = `/api/${path}?${q(params || {})}`;
  const res = await fetch(url, { cache: "no-store", headers: headers || {} });
  let data;
  try { data = await res.json(); } catch (e) { throw new Error(`${url}: ${res.status} ${res.statusText}`); }
  if (!res.ok) throw new Error(data && data.error ? data.error : `${url}: ${res.status}`);
  return data;
}

function route() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [name, query] = raw.split("?");
  return { name: name || "", params: new URLSearchParams(query || "") };
}

function go(name, params, replace) {
  const hash = `#/${name}?${q(params)}`;
  if (replace) history.replaceState(null, "", hash); else location.hash = hash;
}

function setStatus(text) { document.getElementById("status").textContent = text; }
function crumbs(...parts) {
  const nav = document.getElementById("crumbs");
  fill(nav, ...parts.flatMap((p, i) => (i ? [" / ", p] : [p])).map((p) => (p instanceof Node ? p : document.createTextNode(clean(p)))));
}
function badge(status, live) {
  return h("span", { className: `badge ${live ? "live" : status}` }, live ? "live" : status);
}
function pct(v) { return v === null || v === undefined ? "–" : `${(100 * v).toFixed(1)}%`; }

// -- runs list -------------------------------------------------------------------------------

let stopLive = null;
function stopStreams() { if (stopLive) { stopLive(); stopLive = null; } clearInterval(state.timer); state.timer = null; clearInterval(state.seatTimer); state.seatTimer = null; }

async function showRuns(main) {
  crumbs("runs");
  const data = await api("runs");
  setStatus(`${data.runs.length} run(s) under ${data.root}`);
  const filter = h("input", { type: "search", placeholder: "filter: scenario, model, status, folder", id: "run-filter", size: 40 });
  const tbody = h("tbody");
  const cols = ["run", "status", "scenario", "model", "ticks", "calls", "tokens", "cost", "fallbacks"];
  function render() {
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    const rows = data.runs.filter((r) => {
      const hay = [r.id, r.status, r.scenario, r.model, r.live ? "live" : ""].join(" ").toLowerCase();
      return words.every((w) => hay.includes(w));
    });
    fill(tbody, ...rows.map((r) => h("tr", { className: "clickable", "data-run": r.id, onclick: () => go("run", { id: r.id }) },
      h("td", {}, link(r.id || "(this run)", `#/run?${q({ id: r.id })}`)),
      h("td", {}, badge(r.status, r.live)),
      h("td", {}, r.scenario || ""), h("td", {}, r.model || ""),
      h("td", { className: "num" }, r.num_ticks === undefined ? "" : `${r.ticks_completed} / ${r.num_ticks}`),
      h("td", { className: "num" }, fmt(r.calls)), h("td", { className: "num" }, fmt(r.tokens)),
      h("td", { className: "num" }, r.cost === undefined ? "" : `$${r.cost.toFixed(4)}`),
      h("td", { className: "num" }, r.fallback_rate === undefined ? "" : pct(r.fallback_rate)))));
  }
  filter.addEventListener("input", render);
  render();
  const exps = data.experiments.length
    ? h("div", { className: "panel" }, h("h3", {}, "Experiments"), h("ul", { id: "experiments" }, data.experiments.map((e) => h("li", {}, link(e || "(this experiment)", `#/exp?${q({ id: e })}`)))))
    : null;
  fill(main, 
    h("h2", {}, "Runs"), exps,
    h("div", { className: "panel" }, h("div", { className: "filters" }, filter),
      h("table", { id: "runs" }, h("thead", {}, h("tr", {}, cols.map((c, i) => h("th", { className: i >= 4 ? "num" : "" }, c)))), tbody)));
  if (data.runs.length === 1 && !data.experiments.length && route().name === "") go("run", { id: data.runs[0].id }, true);
  else if (!data.runs.length && data.experiments.length === 1 && route().name === "") go("exp", { id: data.experiments[0] }, true);
}

// -- run view --------------------------------------------------------------------------------

const state = { run: null, id: null, tick: null, playing: null, timer: null, seatTimer: null, agent: null, log: null, cascades: null, follows: null };

function tickIndex(tick) { return state.run.ticks.indexOf(tick); }
function lastTick() { const t = state.run.ticks; return t.length ? t[t.length - 1] : 0; }

async function showRun(main, params) {
  const id = params.get("id") || "";
  const data = await api("run", { run: id });
  const sameRun = state.id === id && state.run;
  state.run = data; state.id = id;
  const wanted = params.get("tick");
  if (wanted !== null && wanted !== "") state.tick = Number(wanted);
  else if (!sameRun || state.tick === null) state.tick = lastTick();
  if (!data.ticks.includes(state.tick) && data.ticks.length) state.tick = lastTick();
  state.agent = params.get("agent") || null;
  const r = data.run;
  crumbs(link("runs", "#/"), id || "(this run)");
  setStatus(`${r.scenario} · ${r.status}${r.live ? " (live)" : ""}`);
  fill(main, 
    runHead(r, id),
    statsBlock(r),
    r.error ? h("p", { className: "error" }, r.error) : null,
    h("div", { className: "panel scrubber", id: "scrubber" }),
    h("div", { id: "seat" }),
    h("div", { className: "panel" }, h("div", { className: "story", id: "story" })),
    h("div", { id: "world" }),
    h("div", { id: "agent" }),
    h("div", { className: "grid2" },
      h("div", { className: "panel" }, h("h3", {}, "Story, tick by tick"), h("div", { className: "storylist", id: "storylist" })),
      h("div", { className: "panel" }, h("h3", {}, "Agents"), h("div", { id: "agents" }), h("h3", { style: "margin-top:10px" }, "Final metrics"), h("div", { id: "final" }))),
    h("div", { className: "panel" }, h("h3", {}, "Per-tick series (click a chart to jump to a tick)"), h("div", { className: "charts", id: "series" })),
    h("div", { className: "panel" }, h("h3", {}, "Model calls"), h("div", { className: "charts", id: "llm" })),
    h("div", { className: "panel eventlog" }, h("h3", {}, "Event log"), h("div", { id: "log" })),
  );
  renderScrubber(); renderAgents(); renderFinal(); renderLog();
  paintTick();
  if (state.agent) renderAgent();
  document.body.setAttribute("data-ready", "run");
  if (r.status === "running") { startLive(); startSeat(); }
}

function runHead(r, id) {
  return h("div", { className: "row", id: "runhead" }, h("h2", {}, `${r.scenario}: ${id || r.run_id}`), badge(r.status, r.live));
}

function statsBlock(r) {
  const items = [
    ["ticks", `${r.ticks_completed} / ${r.num_ticks}`], ["model", r.model], ["seed", r.seed],
    ["model calls", fmt(r.calls)], ["failed calls", fmt(r.failed_calls)],
    ["tokens", `${fmt(r.prompt_tokens)} + ${fmt(r.completion_tokens)}`], ["cost", `$${r.cost.toFixed(4)}`],
    ["fallbacks", `${r.fallbacks} (${pct(r.fallback_rate)})`],
  ];
  return h("div", { className: "stats", id: "stats" }, items.map(([k, v]) => h("div", {}, h("span", {}, k), h("b", {}, v))));
}

function renderScrubber() {
  const ticks = state.run.ticks;
  const box = document.getElementById("scrubber");
  const play = h("button", { id: "play", title: "play / pause (space)" }, state.playing ? "pause" : "play");
  const range = h("input", { type: "range", id: "tick", min: 0, max: Math.max(0, ticks.length - 1), step: 1, value: Math.max(0, tickIndex(state.tick)), "aria-label": "tick" });
  const label = h("span", { className: "ticklabel", id: "ticklabel" });
  range.addEventListener("input", () => { setTick(ticks[Number(range.value)]); });
  play.addEventListener("click", togglePlay);
  fill(box, play, h("button", { onclick: () => step(-1), title: "previous tick" }, "◀"), range, h("button", { onclick: () => step(1), title: "next tick" }, "▶"), label);
}

function step(d) {
  const i = tickIndex(state.tick) + d;
  if (i >= 0 && i < state.run.ticks.length) setTick(state.run.ticks[i]);
}

function togglePlay() {
  if (state.playing) { clearInterval(state.playing); state.playing = null; }
  else {
    if (tickIndex(state.tick) >= state.run.ticks.length - 1 && state.run.ticks.length) setTick(state.run.ticks[0]);
    state.playing = setInterval(() => {
      const i = tickIndex(state.tick);
      if (i >= state.run.ticks.length - 1) { togglePlay(); return; }
      setTick(state.run.ticks[i + 1]);
    }, 700);
  }
  const b = document.getElementById("play"); if (b) b.textContent = state.playing ? "pause" : "play";
}

function setTick(tick) {
  if (tick === state.tick) return;
  state.tick = tick;
  const p = route().params; p.set("tick", tick);
  history.replaceState(null, "", `#/run?${p.toString()}`);
  paintTick();
  if (state.agent) renderAgent();
  if (document.getElementById("log-thistick") && document.getElementById("log-thistick").checked) renderLog();
}

function storyAt(tick) { return state.run.story.find((s) => s.tick === tick); }

function paintTick() {
  const range = document.getElementById("tick");
  if (range) range.value = Math.max(0, tickIndex(state.tick));
  const label = document.getElementById("ticklabel");
  if (label) label.textContent = `tick ${state.tick} of ${state.run.ticks.length ? lastTick() : "–"}`;
  const s = storyAt(state.tick);
  const story = document.getElementById("story");
  fill(story, h("span", {}, s ? s.text : `tick ${state.tick}`), s && s.detail ? h("div", { className: "muted", style: "font-size:12px" }, s.detail) : null);
  const list = document.getElementById("storylist");
  fill(list, ...state.run.story.map((e) => h("div", { className: e.tick === state.tick ? "current" : "", onclick: () => setTick(e.tick) }, e.text)));
  const cur = list.querySelector(".current"); if (cur) cur.scrollIntoView({ block: "nearest" });
  renderSeries(); renderLLM(); renderWorld();
}

function chartBox(title, svg, id) {
  return h("div", { className: "chart", "data-series": id || title }, h("div", { className: "title" }, title), svg);
}

function renderSeries() {
  const box = document.getElementById("series");
  const list = state.run.series;
  if (!list.length) { fill(box, h("p", { className: "muted" }, "No numeric world state, outcomes or per-tick metrics in this run.")); return; }
  fill(box, ...list.map((s) => chartBox(`${s.name} (${s.source})`, lineChart([{ name: s.name, points: s.points }], { tick: state.tick, onPick: setTick }), s.name)));
}

function renderLLM() {
  const rows = state.run.llm;
  const box = document.getElementById("llm");
  if (!rows.length || !rows.some((r) => r.calls)) { fill(box, h("p", { className: "muted" }, "No model calls in this run.")); return; }
  const pts = (k) => rows.map((r) => [r.tick, r[k]]);
  const o = { tick: state.tick, onPick: setTick };
  const legend = (names) => h("div", { className: "legend" }, names.map((n, i) => h("span", {}, h("i", { style: `background:${PALETTE[i]}` }), n)));
  fill(box, 
    chartBox("calls per tick", lineChart([{ name: "calls", points: pts("calls") }], o)),
    chartBox("tokens per tick", h("div", {}, lineChart([{ name: "prompt", points: pts("prompt_tokens") }, { name: "completion", points: pts("completion_tokens") }], o), legend(["prompt", "completion"]))),
    chartBox("latency (ms) per tick", h("div", {}, lineChart([{ name: "mean", points: pts("latency_mean_ms") }, { name: "max", points: pts("latency_max_ms") }], o), legend(["mean", "max"]))),
    chartBox("failures per tick", h("div", {}, lineChart([{ name: "failed calls", points: pts("failed") }, { name: "calls with faults", points: pts("faults") }, { name: "fallbacks", points: pts("fallbacks") }], Object.assign({ yMin: 0 }, o)), legend(["failed calls", "calls with faults", "fallbacks"]))),
  );
}

function renderAgents() {
  const box = document.getElementById("agents");
  const actors = state.run.actors;
  if (!actors.length) { fill(box, h("p", { className: "muted" }, "No agent events.")); return; }
  const shown = actors.slice(0, 300);
  fill(box, h("div", { className: "clip", style: "max-height:18em" }, shown.map((a) => h("span", { className: "chip", "data-agent": a, onclick: () => openAgent(a) }, a))),
    actors.length > shown.length ? h("p", { className: "muted" }, `${actors.length - shown.length} more: filter the event log by agent`) : null);
}

function renderFinal() {
  const m = state.run.final_metrics;
  const keys = Object.keys(m);
  fill(document.getElementById("final"), keys.length
    ? h("table", {}, h("tbody", {}, keys.map((k) => h("tr", {}, h("td", {}, k), h("td", { className: "num" }, fmt(m[k]))))))
    : h("p", { className: "muted" }, "none yet"));
}

// -- world views -------------------------------------------------------------------------------

function renderWorld() {
  const w = state.run.world;
  const box = document.getElementById("world");
  const view = { commons: commonsView, town: townView, social: socialView, donor: donorView }[w.view];
  fill(box, view ? view(w) : h("span"));
}

function messagesAt(w, tick) {
  const msgs = (w.messages || []).filter((m) => m.tick === tick);
  if (!msgs.length) return h("p", { className: "muted" }, "No messages at this tick.");
  return h("div", { className: "clip", id: "messages" }, msgs.map((m) => h("div", { className: "msg" },
    h("span", { className: "who" }, h("a", { onclick: () => openAgent(m.actor) }, m.actor || "?")),
    m.audience && m.audience.length ? h("span", { className: "muted" }, `→ ${m.audience.join(", ")} `) : null,
    h("span", { className: "muted" }, `[${m.phase}] `), h("span", { className: "text" }, m.text))));
}

function commonsView(w) {
  const months = w.months;
  const cur = months.find((m) => m.tick === state.tick) || months[months.length - 1];
  const fishers = Array.from(new Set(months.flatMap((m) => Object.keys(m.wanted))));
  const stock = lineChart([{ name: "stock at the start of the month", points: months.map((m) => [m.tick, m.stock_before]) },
    { name: "left after fishing", points: months.map((m) => [m.tick, m.stock_after]) }],
    { tick: state.tick, onPick: setTick, yMin: 0, yMax: w.capacity || undefined, width: 420, height: 180, refLines: cur && cur.threshold !== undefined && cur.threshold !== null ? [] : [] });
  const bars = barChart(fishers.map((f) => ({ label: f, values: [cur.wanted[f], cur.caught[f]] })), ["asked", "caught"], { width: 420, height: 180 });
  const legend = (names) => h("div", { className: "legend" }, names.map((n, i) => h("span", {}, h("i", { style: `background:${PALETTE[i]}` }), n)));
  return h("div", { className: "panel", "data-view": "commons" }, h("h3", {}, `Commons: month ${cur.month}${cur.collapsed ? " (collapsed)" : ""}`),
    h("div", { className: "grid3" },
      h("div", {}, h("div", { className: "title" }, "stock over time"), stock, legend(["at the start of the month", "left after fishing"])),
      h("div", {}, h("div", { className: "title" }, `catches per fisher, month ${cur.month}`), bars, legend(["asked", "caught"])),
      h("div", {}, h("div", { className: "title" }, "the discussion this month"), messagesAt(w, cur.tick))));
}

function townView(w) {
  let frame = null;
  for (const f of w.frames) if (f.tick <= state.tick) frame = f;
  frame = frame || w.frames[0];
  const byPlace = {};
  for (const [who, place] of Object.entries(frame.where)) (byPlace[place] = byPlace[place] || []).push(who);
  const heard = new Set(w.heard ? w.heard.exposed[String(frame.tick)] || [] : []);
  const yes = w.heard ? w.heard.said_yes[String(frame.tick)] : null;
  const residents = Object.keys(frame.where).length;
  const places = w.places.map((p) => h("div", { className: `place ${p.kind === "home" ? "home" : ""}`, "data-place": p.name },
    h("div", { className: "pname" }, p.name), h("div", { className: "pkind" }, p.kind),
    h("div", {}, (byPlace[p.name] || []).map((a) => h("span", { className: `chip ${heard.has(a) ? "heard" : ""}`, title: clean(frame.activities[a] || ""), onclick: () => openAgent(a) }, a, frame.activities[a] ? ` · ${frame.activities[a]}` : "")))));
  const party = w.heard
    ? h("p", { id: "heard" }, h("span", { className: "chip heard" }, "heard of the party"),
      ` ${heard.size} of ${residents} residents by this hour (host ${w.heard.host}; ${w.heard.description} at ${w.heard.place})`,
      yes ? `; survey: ${yes.length} said yes` : "")
    : null;
  return h("div", { className: "panel", "data-view": "town" }, h("h3", {}, `Town: day ${frame.day}, ${frame.clock}`), party,
    h("div", { className: "grid2" }, h("div", { className: "town" }, places), h("div", {}, h("div", { className: "title" }, "conversations this hour"), messagesAt(w, frame.tick))));
}

function socialView(w) {
  const ticks = w.ticks;
  const cur = ticks.find((t) => t.tick === state.tick) || ticks[ticks.length - 1];
  const seedIds = Array.from(new Set(ticks.flatMap((t) => Object.keys(t.cascades))));
  const cascade = lineChart(seedIds.map((s) => ({ name: `cascade of seed ${s}`, points: ticks.map((t) => [t.tick, t.cascades[s] === undefined ? null : t.cascades[s]]) })), { tick: state.tick, onPick: setTick, yMin: 0, width: 420, height: 180 });
  const actionNames = Array.from(new Set(ticks.flatMap((t) => Object.keys(t.actions)))).filter((a) => a !== "idle");
  const actions = lineChart(actionNames.map((a) => ({ name: a, points: ticks.map((t) => [t.tick, t.actions[a] || 0]) })), { tick: state.tick, onPick: setTick, yMin: 0, width: 420, height: 180 });
  const legend = (names) => h("div", { className: "legend" }, names.map((n, i) => h("span", {}, h("i", { style: `background:${PALETTE[i % PALETTE.length]}` }), n)));
  const hist = cur.attitude_hist ? barChart(cur.attitude_hist.map((v, i) => ({ label: i % 5 === 0 ? (-1 + i * 0.1).toFixed(1) : "", values: [v] })), ["users"], { width: 420, height: 180 }) : h("p", { className: "muted" }, "no attitude sample");
  return h("div", { className: "panel", "data-view": "social" }, h("h3", {}, `Social: tick ${cur.tick}: ${fmt(cur.active)} active, ${fmt(cur.posts)} posts, ${fmt(cur.follow_edges)} follow edges`),
    h("div", { className: "grid3" },
      h("div", {}, h("div", { className: "title" }, "rumour cascade size over time"), cascade, legend(seedIds.map((s) => `seed ${s}`))),
      h("div", {}, h("div", { className: "title" }, "actions per tick"), actions, legend(actionNames)),
      h("div", {}, h("div", { className: "title" }, `attitudes at tick ${cur.tick} (sample, -1 to 1)`), hist)),
    w.seeds.length ? h("div", { className: "clip" }, w.seeds.map((s) => h("div", { className: "msg" }, h("span", { className: "who" }, `seed ${s.seed} (${s.label}, ${s.topic}, tick ${s.tick})`), h("span", { className: "text" }, s.text)))) : null,
    w.groups[String(cur.tick)] ? groupAnswers(cur.tick, w.groups[String(cur.tick)]) : null,
    cascadeTrees(cur.tick),
    followSample());
}

// A sample of the follow graph as of the run's latest snapshot: seed authors, the first users
// of each cascade and some of the authors' followers, with the follow edges among them.
const FOLLOW_ROLES = ["seed author", "reposter", "commenter", "follower"];
function followSample() {
  const box = h("div", { id: "follows" }, h("div", { className: "title" }, "a sample of the follow graph (seed authors, cascade users, followers)"));
  const draw = (g) => {
    if (!g.nodes.length) { box.appendChild(h("p", { className: "muted" }, "no follow graph in this run")); return; }
    box.appendChild(h("div", { className: "muted" }, `${g.nodes.length} of ${fmt(g.users)} users and the ${g.edges.length} follow edges among them (of ${fmt(g.follow_edges)}), as of tick ${g.tick}`));
    box.appendChild(graphChart(g.nodes, g.edges, { roles: FOLLOW_ROLES }));
    box.appendChild(h("div", { className: "legend" }, FOLLOW_ROLES.map((n, i) => h("span", {}, h("i", { style: `background:${PALETTE[i % PALETTE.length]}` }), n))));
  };
  if (state.follows && state.follows.id === state.id && state.follows.seq === state.run.max_seq) draw(state.follows.data);
  else api("follows", { run: state.id }).then((data) => { state.follows = { id: state.id, seq: state.run.max_seq, data }; draw(data); }).catch((err) => box.appendChild(h("p", { className: "error" }, String(err.message || err))));
  return box;
}

// The rumour's cascades as trees, as of the selected tick (later posts grey); read once per run.
function cascadeTrees(tick) {
  const box = h("div", { id: "cascades" }, h("div", { className: "title" }, "cascade trees (reposts and comments of each seed post)"));
  const draw = (data) => {
    if (state.tick !== tick) return;
    if (!data.trees.length) { box.appendChild(h("p", { className: "muted" }, "no seed posts in this run")); return; }
    for (const t of data.trees) {
      const shown = t.nodes.filter((n) => n.tick <= tick).length;
      const upto = Object.entries(t.per_tick).filter(([k]) => Number(k) <= tick).reduce((a, [, v]) => a + v, 1);
      box.appendChild(h("div", { className: "tree-box", "data-seed": t.seed },
        h("div", {}, h("b", {}, `seed ${t.seed} (${t.label}, ${t.topic})`), ` ${fmt(upto)} posts in the cascade by tick ${tick}, ${fmt(t.size)} at the end`, t.nodes.length < t.size ? h("span", { className: "muted" }, ` (first ${t.nodes.length} drawn)`) : null, h("span", { className: "muted" }, ` · ${shown} drawn so far`)),
        h("div", { className: "clip", style: "max-height:24em" }, treeChart(t.nodes, { upto: tick }))));
    }
  };
  if (state.cascades && state.cascades.id === state.id && state.cascades.seq === state.run.max_seq) draw(state.cascades.data);
  else api("cascades", { run: state.id }).then((data) => { state.cascades = { id: state.id, seq: state.run.max_seq, data }; draw(data); }).catch((err) => box.appendChild(h("p", { className: "error" }, String(err.message || err))));
  return box;
}

// Archetype groups' answers at a tick: one group_decision event per group, paged on the server.
function groupAnswers(tick, count) {
  const box = h("div", { id: "groups" }, h("div", { className: "title" }, `archetype groups' answers at tick ${tick} (${count})`));
  api("events", { run: state.id, kind: "group_decision", tick, limit: 50 }).then((page) => {
    if (state.tick !== tick) return;
    box.appendChild(h("div", { className: "clip", style: "max-height:16em" }, h("table", {}, h("tbody", {}, page.events.map((e) =>
      h("tr", { className: "clickable", onclick: () => openAgent(e.actor) }, h("td", {}, e.actor || ""), h("td", { className: "text" }, e.summary)))))));
    if (page.next !== null) box.appendChild(h("p", { className: "muted" }, `first 50 of ${count}: the event log shows the rest`));
  }).catch(showError);
  return box;
}

function donorView(w) {
  const gens = w.generations;
  const o = { width: 420, height: 180, yMin: 0 };
  const legend = (names) => h("div", { className: "legend" }, names.map((n, i) => h("span", {}, h("i", { style: `background:${PALETTE[i]}` }), n)));
  return h("div", { className: "panel", "data-view": "donor" }, h("h3", {}, "Donor game: donations per generation"),
    h("div", { className: "grid3" },
      h("div", {}, h("div", { className: "title" }, "mean share of resources given"), barChart(gens.map((g) => ({ label: `gen ${g.generation}`, values: [g.mean_fraction] })), ["share given"], o)),
      h("div", {}, h("div", { className: "title" }, "total given"), barChart(gens.map((g) => ({ label: `gen ${g.generation}`, values: [g.given] })), ["given"], o)),
      h("div", {}, h("div", { className: "title" }, "selection: survivors and newcomers"), barChart(gens.map((g) => ({ label: `gen ${g.generation}`, values: [g.survivors || 0, g.newcomers || 0] })), ["survivors", "newcomers"], o), legend(["survivors", "newcomers"]))));
}

// -- event log ---------------------------------------------------------------------------------

function renderLog() {
  const box = document.getElementById("log");
  const prev = state.log || {};
  const sel = (id, label, values, value) => h("label", {}, `${label} `, h("select", { id }, h("option", { value: "" }, "all"), values.map((v) => h("option", { value: v, selected: v === value }, v))));
  const thisTick = h("input", { type: "checkbox", id: "log-thistick", checked: prev.thisTick !== false });
  const filters = h("div", { className: "filters" },
    sel("log-kind", "kind", state.run.kinds, prev.kind), sel("log-actor", "agent", state.run.actors.slice(0, 2000), prev.actor), sel("log-phase", "phase", state.run.phases, prev.phase),
    h("label", {}, thisTick, " selected tick only"));
  const tbody = h("tbody", { id: "log-rows" });
  const more = h("button", { id: "log-more" }, "more");
  const detail = h("div", { id: "log-detail" });
  fill(box, filters, h("table", {}, h("thead", {}, h("tr", {}, ["seq", "tick", "agent", "kind", "phase", "summary"].map((c) => h("th", {}, c)))), tbody), more, detail);
  let cursor = -1;
  async function load(reset) {
    const f = {
      kind: document.getElementById("log-kind").value, actor: document.getElementById("log-actor").value,
      phase: document.getElementById("log-phase").value, thisTick: thisTick.checked,
    };
    state.log = f;
    if (reset) { cursor = -1; fill(tbody, ); }
    const params = { run: state.id, after: cursor, limit: 100 };
    if (f.kind) params.kind = f.kind; if (f.actor) params.actor = f.actor; if (f.phase) params.phase = f.phase;
    if (f.thisTick) params.tick = state.tick;
    const page = await api("events", params);
    for (const e of page.events) {
      tbody.appendChild(h("tr", { className: "clickable", "data-seq": e.seq, onclick: () => showEvent(e.seq, detail) },
        h("td", { className: "num" }, e.seq), h("td", { className: "num" }, e.tick),
        h("td", {}, e.actor ? h("a", { onclick: (ev) => { ev.stopPropagation(); openAgent(e.actor); } }, e.actor) : ""),
        h("td", {}, e.kind), h("td", {}, e.phase || ""), h("td", { className: "summary text" }, e.summary)));
    }
    if (!tbody.children.length) tbody.appendChild(h("tr", {}, h("td", { colspan: 6, className: "muted" }, "no events match")));
    cursor = page.next === null ? cursor : page.next;
    more.style.display = page.next === null ? "none" : "";
  }
  for (const id of ["log-kind", "log-actor", "log-phase", "log-thistick"]) document.getElementById(id).addEventListener("change", () => load(true));
  more.addEventListener("click", () => load(false));
  load(true).catch(showError);
}

async function showEvent(seq, box) {
  const e = await api("event", { run: state.id, seq });
  fill(box, h("div", { className: "panel" }, h("h3", {}, `event ${e.seq}: ${e.kind} at tick ${e.tick}${e.actor ? ` by ${e.actor}` : ""}`),
    e.payload ? h("pre", {}, JSON.stringify(e.payload, null, 2)) : h("pre", {}, `${e.truncated}\n… (${e.size} characters in all)`),
    e.texts ? callTexts(e.texts) : null));
}

// -- agent inspector ---------------------------------------------------------------------------

function openAgent(agent) {
  state.agent = agent;
  const p = route().params; p.set("agent", agent); p.set("tick", state.tick);
  history.replaceState(null, "", `#/run?${p.toString()}`);
  renderAgent().then(() => document.getElementById("agent").scrollIntoView({ block: "start" }));
}

function callTexts(texts) {
  const parts = [];
  for (const [k, v] of Object.entries(texts)) {
    if (Array.isArray(v) && v.every((m) => m && typeof m === "object" && "content" in m)) {
      parts.push(h("div", {}, h("b", {}, k), v.map((m) => h("div", {}, h("span", { className: "muted" }, `${m.role || ""}:`), h("pre", {}, m.content)))));
    } else {
      parts.push(h("div", {}, h("b", {}, k), h("pre", {}, typeof v === "string" ? v : JSON.stringify(v, null, 2))));
    }
  }
  return h("div", { className: "texts" }, parts);
}

const KIND_TITLES = { group_decision: "Group answers", action: "Actions", message: "Messages", plan: "Plans", reflection: "Reflections", initiative: "Initiatives", prediction: "Predictions", veto: "Vetoes", survey_answer: "Survey answers", decision_fallback: "Fallbacks", outcome: "Outcomes" };

function eventLine(kind, e) {
  let text;
  if (kind === "action") {
    const d = Object.assign({}, e.data || {}); const reason = d.reason; delete d.reason;
    return h("div", { className: "msg", "data-kind": "action" }, h("span", { className: "who" }, `tick ${e.tick}`), `${e.action_type}: ${JSON.stringify(d)}`, e.fallback ? h("span", { className: "badge failed" }, "fallback") : null,
      reason ? h("div", { className: "text muted" }, `reason: ${clean(reason)}`) : null);
  }
  if (kind === "survey_answer") text = `${e.survey}: ${e.question} → ${JSON.stringify(e.answer)}`;
  else if (kind === "decision_fallback") text = `${e.phase}: ${e.reason}: ${e.error}${e.raw_output ? ` (model said: ${e.raw_output})` : ""}`;
  else if (kind === "prediction") text = `${JSON.stringify(e.candidate)} → ${e.predicted} (score ${e.score}${e.chosen ? ", chosen" : ""})`;
  else if (kind === "veto") text = `${JSON.stringify(e.action)}: risk ${e.risk_short}/${e.risk_long} > ${e.threshold}: ${e.reason}`;
  else if (kind === "outcome") text = JSON.stringify(e.data);
  else if (kind === "group_decision") text = `${e.phase}: ${e.size} member(s)${e.reused ? ", reused" : ""}${e.fallback ? ", fallback" : ""}: ${JSON.stringify(e.data)}`;
  else if (kind === "plan") text = `[${e.level}${e.replan ? ", replan" : ""}] ${e.text}${e.reason ? ` (because: ${e.reason})` : ""}`;
  else text = e.text !== undefined ? e.text : JSON.stringify(e);
  return h("div", { className: "msg", "data-kind": kind }, h("span", { className: "who" }, `tick ${e.tick}`), h("span", { className: "text" }, text));
}

async function renderAgent() {
  const agent = state.agent;
  const box = document.getElementById("agent");
  if (!agent) { fill(box, ); return; }
  const a = await api("agent", { run: state.id, agent, tick: state.tick });
  if (agent !== state.agent) return;
  const persona = a.persona.length
    ? a.persona.map((p) => h("div", {}, h("span", { className: "muted" }, `${p.from}: `), h("pre", {}, JSON.stringify(p.entry, null, 2))))
    : [h("p", { className: "muted" }, "The run's configuration names no persona for this agent.")];
  const sections = Object.keys(KIND_TITLES).filter((k) => a.events[k] && a.events[k].length).map((k) =>
    h("div", { className: "kindsec", "data-section": k }, h("h3", {}, `${KIND_TITLES[k]} (${a.events[k].length})`),
      h("div", { className: "clip" }, a.events[k].slice().reverse().map((e) => eventLine(k, e)))));
  const calls = a.calls.slice().reverse().map((c) => h("details", { className: "call", "data-call": c.seq },
    h("summary", {}, `tick ${c.tick} · ${c.purpose} · ${c.status} · ${c.prompt_tokens}+${c.completion_tokens} tokens · ${Math.round(c.latency_ms)} ms${c.cache_hit ? " · cache" : ""}${c.attempts > 1 ? ` · ${c.attempts} attempts` : ""}`),
    c.error ? h("div", { className: "error" }, c.error) : null,
    c.faults.length ? h("pre", {}, c.faults.join("\n")) : null,
    c.texts ? callTexts(c.texts) : h("p", { className: "muted" }, "prompt and answer not stored in this run")));
  fill(box, h("div", { className: "panel agentpanel", "data-agent": agent },
    h("div", { className: "row" }, h("h2", {}, `Agent ${agent}`), h("span", { className: "muted" }, `as of tick ${state.tick}`), h("button", { onclick: () => { state.agent = null; const p = route().params; p.delete("agent"); history.replaceState(null, "", `#/run?${p.toString()}`); renderAgent(); } }, "close")),
    interviewBox(agent),
    h("div", { className: "grid2" },
      h("div", {}, h("h3", {}, "Persona"), persona, memoryBlock(a.memories), sections.length ? sections : h("p", { className: "muted" }, "No events of this agent up to this tick.")),
      h("div", {}, h("h3", {}, `Model calls (${a.calls.length}${a.calls.length >= a.limit ? "+" : ""})${a.prompts_stored ? "" : ": prompts not stored in this run"}`), h("div", { className: "clip", style: "max-height:50em" }, calls)))));
}

function memoryBlock(m) {
  if (!m) return null;
  return h("div", { className: "kindsec", "data-section": "memories" },
    h("h3", {}, `Memories after tick ${m.tick} (${m.count}), by retrieval score without a question: ${m.scored_by}`),
    h("div", { className: "clip" }, h("table", {}, h("thead", {}, h("tr", {}, ["score", "importance", "recency", "tick", "kind", "text"].map((c) => h("th", {}, c)))),
      h("tbody", {}, m.records.map((r) => h("tr", {}, h("td", { className: "num" }, fmt(r.score)), h("td", { className: "num" }, fmt(r.importance)),
        h("td", { className: "num" }, r.recency === null ? "–" : fmt(r.recency)), h("td", { className: "num" }, r.tick), h("td", {}, r.kind || ""), h("td", { className: "text" }, r.text)))))));
}

// Ask the agent a question as of the selected tick; the run is not changed.
function interviewBox(agent) {
  const input = h("input", { type: "text", id: "interview-question", size: 60, maxlength: 2000, placeholder: `ask ${agent} a question as of tick ${state.tick}` });
  const out = h("div", { id: "interview-answer", className: "text" });
  const ask = h("button", { id: "interview-ask" }, "ask");
  async function send() {
    if (!input.value.trim()) return;
    const tick = state.tick;
    fill(out, h("span", { className: "muted" }, "asking… (the run's model answers; the run is not changed)"));
    try {
      const r = await api("interview", { run: state.id, agent, tick, question: input.value }, { "X-Societas-Interview": "1" });
      fill(out, h("div", { className: "msg" }, h("span", { className: "who" }, `${agent} at tick ${tick}:`), h("span", {}, r.answer)));
    } catch (err) { fill(out, h("span", { className: "error" }, String(err.message || err))); }
  }
  ask.addEventListener("click", send);
  input.addEventListener("keydown", (ev) => { if (ev.key === "Enter") send(); });
  return h("div", { className: "kindsec" }, h("div", { className: "filters" }, h("b", {}, "Interview"), input, ask), out);
}

// -- live --------------------------------------------------------------------------------------

function startLive() {
  stopStreams();
  const source = new EventSource(`/api/live?${q({ run: state.id })}`);
  let busy = false, seen = state.run.max_seq;
  source.onmessage = async (msg) => {
    const s = JSON.parse(msg.data);
    setStatus(`${state.run.run.scenario} · ${s.status} · tick ${s.ticks_completed} · event ${s.max_seq}`);
    if (busy || (s.max_seq === seen && s.status === state.run.run.status)) return;
    busy = true;
    try {
      const following = state.tick === lastTick();
      const data = await api("run", { run: state.id });
      seen = data.max_seq;
      state.run = data;
      if (following) state.tick = lastTick();
      document.getElementById("stats").replaceWith(statsBlock(data.run));
      document.getElementById("runhead").replaceWith(runHead(data.run, state.id));
      renderScrubber(); renderFinal(); renderAgents(); paintTick();
      if (state.agent) renderAgent();
      if (data.run.status !== "running") { source.close(); setStatus(`${data.run.scenario} · ${data.run.status}`); }
    } finally { busy = false; }
  };
  stopLive = () => source.close();
}

// -- a person's seat (societas run ... --human AGENT) -----------------------------------------

// Decisions of seated agents wait in the run's seat folder; each gets a form built from its
// action's JSON schema. The server checks the answer against the schema before the run sees
// it, and the run validates and records it like a model's answer.
function startSeat() {
  let shown = "";
  async function poll() {
    let data;
    try { data = await api("seat", { run: state.id }); } catch (e) { return; }
    const ids = data.pending.map((r) => r.id).join(",");
    if (ids === shown) return;
    shown = ids;
    const box = document.getElementById("seat");
    if (!box) return;
    fill(box, data.pending.map(seatForm));
  }
  poll();
  state.seatTimer = setInterval(() => { if (state.run && state.run.run.status === "running") poll(); }, 1000);
}

function fieldSchema(schema, spec) {
  const ref = spec && spec.$ref;
  if (typeof ref === "string" && ref.startsWith("#/$defs/")) return { ...(schema.$defs || {})[ref.split("/").pop()], ...spec };
  return spec || {};
}

function seatInput(name, spec) {
  if (Array.isArray(spec.enum)) return h("select", { name }, spec.enum.map((v) => h("option", { value: String(v) }, String(v))));
  if (spec.type === "integer" || spec.type === "number") return h("input", { type: "number", name, min: spec.minimum, max: spec.maximum, step: spec.type === "integer" ? 1 : "any", required: true });
  if (spec.type === "boolean") return h("input", { type: "checkbox", name });
  if (spec.type === "string") return h("input", { type: "text", name, size: 60, maxlength: spec.maxLength });
  return h("textarea", { name, rows: 3, cols: 60, placeholder: "JSON" });
}

function seatValue(el, spec) {
  if (spec.type === "boolean") return el.checked;
  if (spec.type === "integer" || spec.type === "number") return el.value === "" ? null : Number(el.value);
  if (Array.isArray(spec.enum)) { const hit = spec.enum.find((v) => String(v) === el.value); return hit === undefined ? el.value : hit; }
  if (spec.type === "string") return el.value;
  try { return JSON.parse(el.value); } catch (e) { return el.value; }
}

function seatForm(req) {
  const schema = req.json_schema || {};
  const props = schema.type === "object" && schema.properties ? schema.properties : null;
  const fields = props ? Object.entries(props).map(([name, spec]) => [name, fieldSchema(schema, spec)]) : [["answer", {}]];
  const inputs = fields.map(([name, spec]) => [name, spec, seatInput(name, spec)]);
  const out = h("div", { className: "seat-result" });
  const send = h("button", { type: "submit", className: "seat-send" }, "send");
  const form = h("form", { className: "seat-form" },
    inputs.map(([name, spec, el]) => h("label", {}, h("b", {}, name), " ", el, spec.description ? h("span", { className: "muted" }, ` ${spec.description}`) : null)),
    send, out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const answer = {};
    for (const [name, spec, el] of inputs) { const v = seatValue(el, spec); if (v !== null) answer[name] = v; }
    const body = props ? answer : answer.answer;
    send.disabled = true;
    try {
      const res = await fetch(`/api/seat?${q({ run: state.id })}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ id: req.id, answer: body }) });
      const data = await res.json();
      if (!res.ok) throw new Error(data.error || `${res.status}`);
      fill(out, h("span", { className: "muted" }, "sent: the run goes on"));
    } catch (err) { send.disabled = false; fill(out, h("span", { className: "error" }, String(err.message || err))); }
  });
  const last = req.messages[req.messages.length - 1];
  return h("div", { className: "panel seat", "data-seat": req.actor || "" },
    h("h3", {}, `Your seat: ${req.actor || "agent"} (${req.purpose})`),
    h("details", {}, h("summary", {}, "the whole prompt"), req.messages.map((m) => h("div", { className: "text" }, h("b", {}, `[${m.role}] `), m.content))),
    h("div", { className: "text" }, last ? last.content : ""),
    form);
}

// -- experiment view ---------------------------------------------------------------------------

async function showExperiment(main, params) {
  const id = params.get("id") || "";
  const e = await api("experiment", { exp: id });
  crumbs(link("runs", "#/"), `experiment ${e.name || id}`);
  setStatus(`${e.scenario} · ${e.runs.length} run(s)`);
  const conditions = Array.from(new Set(e.summary.map((r) => r.condition).concat(e.conditions.map((c) => c.id))));
  const metrics = Array.from(new Set(e.summary.map((r) => r.metric)));
  const cell = (c, m) => e.summary.find((r) => r.condition === c && r.metric === m);
  const detail = h("div", { id: "cell-runs" });
  const table = h("table", { id: "exp-table" }, h("thead", {}, h("tr", {}, h("th", {}, "condition"), metrics.map((m) => h("th", { className: "num" }, m)))),
    h("tbody", {}, conditions.map((c) => h("tr", {}, h("td", {}, c), metrics.map((m) => {
      const r = cell(c, m);
      return h("td", { className: "num cell", "data-condition": c, "data-metric": m, onclick: (ev) => { for (const x of table.querySelectorAll(".cell.selected")) x.classList.remove("selected"); ev.currentTarget.classList.add("selected"); showCell(e, c, m, detail); } },
        r ? `${fmt(r.mean)} [${fmt(r.ci95_low)}, ${fmt(r.ci95_high)}] n=${r.n}` : "–");
    })))));
  const cond = h("table", {}, h("tbody", {}, e.conditions.map((c) => h("tr", {}, h("td", {}, c.id), h("td", { className: "text" }, JSON.stringify(e.branches ? Object.assign({ at: e.branches.at }, e.branches.conditions[c.id] || {}) : c.overrides))))));
  const plots = metrics.map((m) => h("div", { className: "chart" }, h("div", { className: "title" }, `${m}: mean and 95% CI`),
    intervalChart(conditions.map((c) => { const r = cell(c, m) || {}; return { label: c, mean: r.mean, lo: r.ci95_low, hi: r.ci95_high }; }))));
  fill(main, h("h2", {}, `Experiment ${e.name || id} (${e.scenario})`),
    h("div", { className: "panel" }, h("h3", {}, "Conditions"), cond),
    h("div", { className: "panel" }, h("h3", {}, "Conditions × metrics: mean [95% CI] (click a cell for its runs)"), h("div", { style: "overflow:auto" }, table), detail),
    pairedPanel(e),
    seriesBands(e),
    h("div", { className: "panel" }, h("h3", {}, "Intervals"), h("div", { className: "charts" }, plots)));
  document.body.setAttribute("data-ready", "experiment");
}

// Paired differences of a branched experiment (paired.csv): per seed, treatment minus control;
// the runs of a seed share their ticks before the branch point (one parent run per seed).
function pairedPanel(e) {
  if (!e.branches || !e.paired || !e.paired.length) return null;
  const sign = (r) => (Number.isFinite(r.ci95_low) && r.ci95_low > 0 ? "pos" : Number.isFinite(r.ci95_high) && r.ci95_high < 0 ? "neg" : "");
  const cellText = (r) => `${fmt(r.mean_diff)} [${fmt(r.ci95_low)}, ${fmt(r.ci95_high)}] n=${r.n}`;
  const runRows = e.paired.filter((r) => !r.agent);
  const treatments = Array.from(new Set(runRows.map((r) => r.treatment)));
  const metrics = Array.from(new Set(runRows.map((r) => r.metric)));
  const find = (rows, m, t) => rows.find((r) => r.metric === m && r.treatment === t);
  const table = h("table", { id: "paired-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "metric"), treatments.map((t) => h("th", { className: "num" }, `${t} − ${e.branches.control}`)))),
    h("tbody", {}, metrics.map((m) => h("tr", { "data-metric": m }, h("td", {}, m), treatments.map((t) => {
      const r = find(runRows, m, t);
      return h("td", { className: `num ${r ? sign(r) : ""}`, "data-treatment": t }, r ? cellText(r) : "–");
    })))));
  const agentRows = e.paired.filter((r) => r.agent);
  let agents = null;
  if (agentRows.length) {
    const names = Array.from(new Set(agentRows.map((r) => r.metric))).sort();
    const select = h("select", { id: "paired-agent-metric" }, names.map((n) => h("option", { value: n }, n)));
    const box = h("div", { id: "paired-agents" });
    const draw = () => {
      const rows = agentRows.filter((r) => r.metric === select.value);
      const who = Array.from(new Set(rows.map((r) => r.agent)));
      fill(box, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "agent"), treatments.map((t) => h("th", { className: "num" }, `${t} − ${e.branches.control}`)))),
        h("tbody", {}, who.map((a) => h("tr", { "data-agent": a }, h("td", {}, a), treatments.map((t) => {
          const r = rows.find((x) => x.agent === a && x.treatment === t);
          return h("td", { className: `num ${r ? sign(r) : ""}`, "data-treatment": t }, r ? cellText(r) : "–");
        }))))),
      h("div", { className: "charts" }, treatments.map((t) => h("div", { className: "chart" }, h("div", { className: "title" }, `${select.value}: ${t} − ${e.branches.control} per agent`),
        intervalChart(rows.filter((r) => r.treatment === t).map((r) => ({ label: r.agent, mean: r.mean_diff, lo: r.ci95_low, hi: r.ci95_high })))))));
    };
    select.addEventListener("change", draw);
    draw();
    agents = h("div", {}, h("h3", {}, "Per agent (sums of the agent's numeric action fields from the branch point on)"), h("div", { className: "filters" }, select), box);
  }
  const parents = (e.parents || []).map((p) => h("li", {}, `seed ${p.seed}: `, p.run !== null ? link(p.run, `#/run?${q({ id: p.run })}`) : "(outside the served folder)"));
  return h("div", { className: "panel", id: "paired" },
    h("h3", {}, `Paired differences: treatment − ${e.branches.control}, mean over seeds [95% CI]`),
    h("p", { className: "muted" }, `Every condition of a seed continues one parent run from tick ${e.branches.at}; the ticks before are the parent's. Green: the interval lies above 0; red: below.`),
    h("div", { style: "overflow:auto" }, table), agents,
    parents.length ? h("details", {}, h("summary", {}, `parent runs (${parents.length})`), h("ul", { id: "paired-parents" }, parents)) : null);
}

// Per-tick series of the runs, mean and 95% CI band per condition (one series at a time).
function seriesBands(e) {
  const names = Object.keys(e.series || {}).sort();
  if (!names.length) return null;
  const preferred = names.find((n) => /stock|gini|cascade|aware|exposed|mean/.test(n)) || names[0];
  const select = h("select", { id: "exp-series" }, names.map((n) => h("option", { value: n, selected: n === preferred }, n)));
  const chart = h("div", { id: "exp-series-chart" });
  function draw() {
    const per = e.series[select.value] || {};
    const conds = Object.keys(per);
    const lines = conds.map((c) => ({ name: c, points: per[c].map((r) => [r[0], r[1]]), band: per[c].map((r) => [r[0], r[2], r[3]]) }));
    fill(chart, lineChart(lines, { width: 640, height: 220 }),
      h("div", { className: "legend" }, conds.map((c, i) => h("span", {}, h("i", { style: `background:${PALETTE[i % PALETTE.length]}` }), c))));
  }
  select.addEventListener("change", draw);
  draw();
  return h("div", { className: "panel" }, h("h3", {}, `Series over ticks: mean and 95% CI band per condition (${e.series_runs} runs)`),
    h("div", { className: "filters" }, select), chart);
}

function showCell(e, condition, metric, box) {
  const runs = e.runs.filter((r) => r.condition === condition);
  fill(box, h("div", { className: "panel" }, h("h3", {}, `${condition} · ${metric}: ${runs.length} run(s)`),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "seed"), h("th", {}, "run"), h("th", {}, "status"), h("th", { className: "num" }, metric))),
      h("tbody", {}, runs.map((r) => h("tr", { "data-run": r.run || "" }, h("td", {}, r.seed), h("td", {}, r.run !== null ? link(r.run, `#/run?${q({ id: r.run })}`) : "(outside the served folder)"),
        h("td", {}, badge(r.status, false)), h("td", { className: "num" }, fmt(r.metrics[metric]))))))));
}

// -- router ------------------------------------------------------------------------------------

function showError(err) {
  fill(document.getElementById("main"), h("div", { className: "panel" }, h("h2", {}, "Cannot show this"), h("p", { className: "error" }, String(err && err.message ? err.message : err)), link("back to the runs", "#/")));
  document.body.setAttribute("data-ready", "error");
}

let lastRoute = null;
async function render() {
  const r = route();
  const key = `${r.name}?id=${r.params.get("id")}`;
  if (key === lastRoute && r.name === "run") return; // tick and agent changes are handled in place
  lastRoute = key;
  stopStreams();
  if (state.playing) togglePlay();
  document.body.removeAttribute("data-ready");
  const main = document.getElementById("main");
  try {
    if (r.name === "run") await showRun(main, r.params);
    else if (r.name === "exp") await showExperiment(main, r.params);
    else { state.id = null; state.run = null; await showRuns(main); document.body.setAttribute("data-ready", "runs"); }
  } catch (err) { showError(err); }
}

window.addEventListener("hashchange", render);
document.addEventListener("keydown", (ev) => {
  if (route().name !== "run" || !state.run || ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName)) return;
  if (ev.key === " ") { ev.preventDefault(); togglePlay(); }
  else if (ev.key === "ArrowRight") step(1);
  else if (ev.key === "ArrowLeft") step(-1);
});
render();
})();
