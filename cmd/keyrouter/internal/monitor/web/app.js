// keyrouter dashboard: renders the server's snapshots (server-sent events
// on /events). Hand-written, no dependencies; every value from the server
// goes into the page as text, never as HTML.
"use strict";

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const SVG = "http://www.w3.org/2000/svg";

// sparkline draws counts (oldest first) into svg, scaled to its maximum.
function sparkline(svg, counts) {
  const n = counts.length;
  const top = Math.max(1, ...counts);
  const w = 100, h = 30;
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const pts = counts.map((c, i) => `${(i * w / Math.max(1, n - 1)).toFixed(2)},${(h - 1 - c * (h - 2) / top).toFixed(2)}`);
  let line = svg.querySelector("polyline"), area = svg.querySelector("polygon");
  if (!line) {
    area = document.createElementNS(SVG, "polygon");
    line = document.createElementNS(SVG, "polyline");
    svg.append(area, line);
  }
  line.setAttribute("points", pts.join(" "));
  area.setAttribute("points", `0,${h} ${pts.join(" ")} ${w},${h}`);
  svg.dataset.max = String(top);
}

function fmtNum(x) {
  if (x >= 1e6) return (x / 1e6).toFixed(1) + "M";
  if (x >= 1e4) return (x / 1e3).toFixed(1) + "k";
  return Number.isInteger(x) ? String(x) : x.toFixed(1);
}

function fmtSecs(s) {
  if (s >= 3600 && s % 3600 === 0) return s / 3600 + "h";
  if (s >= 60 && s % 60 === 0) return s / 60 + "m";
  return (Math.round(s * 10) / 10) + "s";
}

function fmtTime(ts) {
  const d = new Date(ts);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

// One card per key, updated in place so the gauges animate.
const cards = new Map();

function keyCard(k) {
  let c = cards.get(k.key);
  if (!c) {
    const root = el("div", { class: "card", "data-key": k.key });
    const badge = el("span", { class: "badge" });
    root.append(el("div", { class: "card-head" }, el("span", { class: "name" }, k.key), el("span", { class: "venue" }), badge));
    const note = el("div", { class: "state-note" });
    const limits = el("div", { class: "limits" });
    const facts = el("div", { class: "facts" });
    const svg = document.createElementNS(SVG, "svg");
    const rate = el("span", { class: "rate" });
    const lasterr = el("div", { class: "lasterr" });
    root.append(note, limits, facts, el("div", { class: "spark" }, svg, rate), lasterr);
    c = { root, badge, note, limits, facts, svg, rate, lasterr, gauges: new Map() };
    cards.set(k.key, c);
  }
  return c;
}

function renderKey(k, now) {
  const c = keyCard(k);
  c.root.dataset.state = k.state;
  c.root.querySelector(".venue").textContent = k.venue + (k.strategies && k.strategies.length ? " · " + k.strategies.join(", ") : "");
  c.badge.dataset.state = k.state;
  c.badge.textContent = k.state;
  let note = "";
  if (k.until) {
    const left = Math.max(0, (new Date(k.until) - now) / 1000);
    note = `until ${fmtTime(k.until)} (${left.toFixed(1)}s)`;
  }
  if (k.message) note += (note ? " — " : "") + k.message;
  if (k.state === "unknown") note = "no heartbeat yet";
  c.note.textContent = note;
  c.note.title = note;

  const seen = new Set();
  for (const l of k.limits) {
    seen.add(l.name);
    let g = c.gauges.get(l.name);
    if (!g) {
      const fill = el("div", { class: "gauge-fill" });
      const bar = el("div", { class: "gauge", "data-limit": l.name }, fill);
      const val = el("span", { class: "lval" });
      const row = el("div", { class: "limit" }, el("div", { class: "limit-label" }, el("span", { class: "lname" }, l.name), val), bar);
      c.limits.append(row);
      g = { row, bar, fill, val };
      c.gauges.set(l.name, g);
    }
    const pct = l.max > 0 ? Math.min(100, 100 * l.used / l.max) : 0;
    g.fill.style.width = pct.toFixed(1) + "%";
    g.bar.dataset.used = String(l.used);
    g.bar.dataset.max = String(l.max);
    g.bar.dataset.level = pct >= 95 ? "full" : pct >= 75 ? "high" : "ok";
    g.val.textContent = `${fmtNum(l.used)} / ${fmtNum(l.max)}` + (l.window > 0 ? ` per ${fmtSecs(l.window)}` : "");
    g.row.title = `${l.name}: ${l.used} of ${l.max} used` + (l.window > 0 ? ` in its ${fmtSecs(l.window)} window` : "") + (l.resets_in > 0 ? `, resets in ${l.resets_in.toFixed(1)}s` : "");
  }
  for (const [name, g] of c.gauges) {
    if (!seen.has(name)) { g.row.remove(); c.gauges.delete(name); }
  }

  c.facts.replaceChildren(
    el("span", null, "queue ", el("b", { "data-queue": "new" }, k.queue_new), " new"),
    el("span", null, el("b", { "data-queue": "cancel" }, k.queue_cancel), " cancel"),
    el("span", null, el("b", null, k.open_orders), " open"),
    el("span", null, "heartbeat ", el("b", null, k.heartbeat_age_ms < 0 ? "—" : (k.heartbeat_age_ms / 1000).toFixed(1) + "s")),
  );
  sparkline(c.svg, k.rate);
  c.rate.replaceChildren(el("b", null, k.per_second.toFixed(1)), " /s");
  c.lasterr.textContent = k.last_error ? `${fmtTime(k.last_error_at)} ${k.last_error}` : "";
  c.lasterr.title = c.lasterr.textContent;
  return c.root;
}

function renderStrategies(list) {
  const body = $("#strategies tbody");
  if (!list.length) {
    body.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: 9 }, "no strategy yet")));
    return;
  }
  body.replaceChildren(...list.map((s) => {
    const svg = document.createElementNS(SVG, "svg");
    sparkline(svg, s.rate);
    const reasons = Object.entries(s.rejected).sort((a, b) => b[1] - a[1]);
    const chips = reasons.length ? reasons.map(([r, n]) => el("span", { class: "chip", "data-reason": r }, `${r} ${fmtNum(n)}`)) : [el("span", { class: "chip none" }, "none")];
    return el("tr", { "data-strategy": s.strategy },
      el("td", null, el("b", null, s.strategy)),
      el("td", { class: "muted" }, (s.policy || "") + (s.keys && s.keys.length ? " · " + s.keys.join(", ") : "")),
      el("td", null, svg, " ", el("b", null, s.per_second.toFixed(1))),
      el("td", { class: "num" }, fmtNum(s.intents)),
      el("td", { class: "num" }, fmtNum(s.accepted)),
      el("td", { class: "num" }, fmtNum(s.fills)),
      el("td", { class: "num" }, fmtNum(s.canceled)),
      el("td", { class: "num" }, fmtNum(s.expired)),
      el("td", null, ...chips));
  }));
}

function renderRejections(list) {
  const body = $("#rejections tbody");
  if (!list.length) {
    body.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: 7 }, "no rejection yet")));
    return;
  }
  body.replaceChildren(...list.slice(0, 15).map((r) => el("tr", null,
    el("td", { class: "muted" }, fmtTime(r.ts)),
    el("td", null, r.strategy),
    el("td", null, r.client_order_id),
    el("td", null, r.key || "—"),
    el("td", { class: "muted" }, r.kind),
    el("td", null, el("span", { class: "chip" }, r.reason)),
    el("td", { class: "msg", title: r.message || "" }, r.message || ""))));
}

function renderHalts(list) {
  const box = $("#halts");
  box.hidden = !list.length;
  box.textContent = list.length ? "HALTED: " + list.map((h) => (h.scope === "all" ? "everything" : `${h.scope} ${h.target}`) + (h.reason ? ` (${h.reason})` : "")).join(" · ") : "";
}

function render(snap) {
  const now = new Date(snap.ts);
  const grid = $("#keys");
  const nodes = snap.keys.map((k) => renderKey(k, now));
  const want = new Set(snap.keys.map((k) => k.key));
  for (const [id, c] of cards) if (!want.has(id)) { c.root.remove(); cards.delete(id); }
  nodes.forEach((n, i) => { if (grid.children[i] !== n) grid.insertBefore(n, grid.children[i] || null); });
  renderStrategies(snap.strategies);
  renderRejections(snap.rejections);
  renderHalts(snap.halts);
  const active = snap.keys.filter((k) => k.state === "active").length;
  const rate = snap.keys.reduce((a, k) => a + k.per_second, 0);
  $("#totals").textContent = `${active}/${snap.keys.length} keys active · ${rate.toFixed(1)} accepted/s`;
  $("#clock").textContent = fmtTime(snap.ts);
  document.body.dataset.updated = snap.ts;
}

function connect() {
  const es = new EventSource("events");
  const conn = $("#conn");
  es.addEventListener("open", () => { conn.dataset.live = "true"; conn.textContent = "live"; });
  es.addEventListener("error", () => { conn.dataset.live = "false"; conn.textContent = "reconnecting…"; });
  es.addEventListener("info", (e) => {
    const info = JSON.parse(e.data);
    $("#nats").textContent = info.nats ? "clients: " + info.nats : "";
  });
  es.addEventListener("snapshot", (e) => render(JSON.parse(e.data)));
}

connect();
