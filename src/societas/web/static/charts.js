// Hand-made SVG charts for the societas dashboard: lines over ticks, grouped bars, histograms,
// intervals. Every label is set with textContent, so data never becomes markup.
(function () {
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const PALETTE = ["#2f6fb0", "#d1603d", "#3a9a5b", "#8e5ab5", "#c49a1a", "#1b9aa8", "#b0476f",
  "#5d6d7e", "#7fa33a", "#e07b39"];

function svgEl(tag, attrs) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  return el;
}

function svgText(x, y, text, attrs) {
  const el = svgEl("text", Object.assign({ x, y }, attrs || {}));
  el.textContent = String(text);
  return el;
}

function niceTicks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toFixed(10));
  return out;
}

function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
  if (a >= 1000) return Math.round(v).toLocaleString("en");
  return String(+v.toPrecision(4));
}

// Lines over ticks. series: [{name, points: [[tick, value], ...], color?}]
// opts: {width, height, tick (cursor), onPick(tick), yMin, yMax, refLines: [{y, label}], step}
function lineChart(series, opts) {
  const o = Object.assign({ width: 320, height: 140 }, opts || {});
  const W = o.width, H = o.height, L = 44, R = 8, T = 8, B = 20;
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img" });
  const xs = [], ys = [];
  for (const s of series) for (const [x, y] of s.points) { xs.push(x); if (y !== null) ys.push(y); }
  for (const s of series) for (const [, lo, hi] of s.band || []) { if (lo !== null) ys.push(lo); if (hi !== null) ys.push(hi); }
  if (o.refLines) for (const r of o.refLines) ys.push(r.y);
  if (!xs.length) { svg.appendChild(svgText(W / 2, H / 2, "no data", { "text-anchor": "middle" })); return svg; }
  let x0 = Math.min(...xs), x1 = Math.max(...xs);
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  let y0 = o.yMin !== undefined ? o.yMin : Math.min(...ys), y1 = o.yMax !== undefined ? o.yMax : Math.max(...ys);
  if (y0 === y1) { y0 -= 1; y1 += 1; }
  const pad = (y1 - y0) * 0.06; if (o.yMin === undefined) y0 -= pad; if (o.yMax === undefined) y1 += pad;
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  for (const v of niceTicks(y0, y1, 4)) {
    svg.appendChild(svgEl("line", { x1: L, x2: W - R, y1: sy(v), y2: sy(v), class: "grid" }));
    svg.appendChild(svgText(L - 4, sy(v) + 3, fmt(v), { "text-anchor": "end" }));
  }
  const xticks = niceTicks(x0, x1, 6).filter((v) => Number.isInteger(v));
  for (const v of xticks) svg.appendChild(svgText(sx(v), H - 6, v, { "text-anchor": "middle" }));
  svg.appendChild(svgEl("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" }));
  if (o.refLines) for (const r of o.refLines) {
    svg.appendChild(svgEl("line", { x1: L, x2: W - R, y1: sy(r.y), y2: sy(r.y), stroke: "#b5542c", "stroke-dasharray": "2 3" }));
    if (r.label) svg.appendChild(svgText(W - R - 2, sy(r.y) - 3, r.label, { "text-anchor": "end" }));
  }
  series.forEach((s, i) => {
    const color = s.color || PALETTE[i % PALETTE.length];
    const band = (s.band || []).filter((b) => b[1] !== null && b[2] !== null);
    if (band.length > 1) {
      const upper = band.map(([x, , hi]) => `${sx(x)},${sy(hi)}`);
      const lower = band.slice().reverse().map(([x, lo]) => `${sx(x)},${sy(lo)}`);
      svg.appendChild(svgEl("polygon", { points: upper.concat(lower).join(" "), fill: color, class: "band" }));
    }
    const pts = s.points.filter((p) => p[1] !== null);
    if (pts.length > 1) {
      let d = "";
      pts.forEach(([x, y], j) => {
        if (o.step && j > 0) d += `L${sx(x)},${sy(pts[j - 1][1])}`;
        d += `${j ? "L" : "M"}${sx(x)},${sy(y)}`;
      });
      svg.appendChild(svgEl("path", { d, fill: "none", stroke: color, "stroke-width": 1.6 }));
    }
    if (pts.length <= 80) for (const [x, y] of pts) {
      const c = svgEl("circle", { cx: sx(x), cy: sy(y), r: 2.4, fill: color });
      const t = svgEl("title", {}); t.textContent = `${s.name}: tick ${x}: ${fmt(y)}`;
      c.appendChild(t); svg.appendChild(c);
    }
  });
  if (o.tick !== undefined && o.tick !== null && o.tick >= x0 && o.tick <= x1) {
    svg.appendChild(svgEl("line", { x1: sx(o.tick), x2: sx(o.tick), y1: T, y2: H - B, class: "cursor" }));
  }
  if (o.onPick) {
    svg.style.cursor = "crosshair";
    svg.addEventListener("click", (ev) => {
      const box = svg.getBoundingClientRect();
      const x = ((ev.clientX - box.left) / box.width) * W;
      const t = Math.round(x0 + ((x - L) / (W - L - R)) * (x1 - x0));
      o.onPick(Math.max(Math.ceil(x0), Math.min(Math.floor(x1), t)));
    });
  }
  return svg;
}

// Grouped bars: groups [{label, values: [v per key]}], keys [names]
function barChart(groups, keys, opts) {
  const o = Object.assign({ width: 420, height: 170 }, opts || {});
  const W = o.width, H = o.height, L = 40, R = 8, T = 10, B = 34;
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img" });
  const all = groups.flatMap((g) => g.values).filter((v) => v !== null && v !== undefined);
  const y1 = Math.max(o.yMax || 0, ...all, 1), y0 = 0;
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  for (const v of niceTicks(y0, y1, 4)) {
    svg.appendChild(svgEl("line", { x1: L, x2: W - R, y1: sy(v), y2: sy(v), class: "grid" }));
    svg.appendChild(svgText(L - 4, sy(v) + 3, fmt(v), { "text-anchor": "end" }));
  }
  const gw = (W - L - R) / Math.max(1, groups.length);
  const bw = Math.max(2, (gw * 0.8) / Math.max(1, keys.length));
  groups.forEach((g, gi) => {
    const gx = L + gi * gw + gw * 0.1;
    g.values.forEach((v, ki) => {
      if (v === null || v === undefined) return;
      const r = svgEl("rect", { x: gx + ki * bw, y: sy(v), width: bw - 1, height: Math.max(0, sy(0) - sy(v)), fill: PALETTE[ki % PALETTE.length] });
      const t = svgEl("title", {}); t.textContent = `${g.label} ${keys[ki]}: ${fmt(v)}`;
      r.appendChild(t); svg.appendChild(r);
      if (groups.length * keys.length <= 24) svg.appendChild(svgText(gx + ki * bw + bw / 2, sy(v) - 2, fmt(v), { "text-anchor": "middle" }));
    });
    const label = String(g.label);
    svg.appendChild(svgText(gx + gw * 0.4, H - B + 13, label.length > 14 ? label.slice(0, 13) + "…" : label, { "text-anchor": "middle" }));
  });
  svg.appendChild(svgEl("line", { x1: L, x2: W - R, y1: sy(0), y2: sy(0), class: "axis" }));
  return svg;
}

// Intervals: rows [{label, mean, lo, hi}] drawn as dot and whisker, one row each.
function intervalChart(rows, opts) {
  const o = Object.assign({ width: 360 }, opts || {});
  const rowH = 22, L = 110, R = 14, T = 6, B = 18;
  const W = o.width, H = T + B + rowH * rows.length;
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img" });
  const vals = rows.flatMap((r) => [r.lo, r.hi, r.mean]).filter((v) => v !== null && v !== undefined && Number.isFinite(v));
  if (!vals.length) return svg;
  let x0 = Math.min(...vals), x1 = Math.max(...vals);
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  for (const v of niceTicks(x0, x1, 4)) {
    svg.appendChild(svgEl("line", { x1: sx(v), x2: sx(v), y1: T, y2: H - B, class: "grid" }));
    svg.appendChild(svgText(sx(v), H - 5, fmt(v), { "text-anchor": "middle" }));
  }
  rows.forEach((r, i) => {
    const y = T + rowH * i + rowH / 2;
    const label = String(r.label);
    svg.appendChild(svgText(L - 6, y + 3, label.length > 16 ? label.slice(0, 15) + "…" : label, { "text-anchor": "end" }));
    if (Number.isFinite(r.lo) && Number.isFinite(r.hi)) svg.appendChild(svgEl("line", { x1: sx(r.lo), x2: sx(r.hi), y1: y, y2: y, stroke: PALETTE[i % PALETTE.length], "stroke-width": 2 }));
    if (Number.isFinite(r.mean)) svg.appendChild(svgEl("circle", { cx: sx(r.mean), cy: y, r: 4, fill: PALETTE[i % PALETTE.length] }));
  });
  return svg;
}

// A cascade as a tree: depth to the right, one row per post in depth-first order; posts made
// after tick `upto` are drawn grey. nodes: [{post, parent, author, tick, kind, depth}].
function treeChart(nodes, opts) {
  const o = Object.assign({ upto: Infinity, row: 12, col: 70, width: 460 }, opts || {});
  const children = new Map();
  for (const n of nodes) { if (!children.has(n.parent)) children.set(n.parent, []); children.get(n.parent).push(n); }
  const order = [];
  const root = nodes.find((n) => n.parent === -1);
  const stack = root ? [root] : [];
  while (stack.length) {
    const n = stack.pop();
    order.push(n);
    const kids = children.get(n.post) || [];
    for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]);
  }
  const pos = new Map(order.map((n, i) => [n.post, { x: 14 + n.depth * o.col, y: 10 + i * o.row }]));
  const height = 20 + order.length * o.row;
  const maxDepth = Math.max(0, ...order.map((n) => n.depth));
  const svg = svgEl("svg", { width: Math.max(o.width, 40 + maxDepth * o.col), height, class: "tree" });
  const colour = (n) => (n.tick > o.upto ? "#c8c8c8" : n.kind === "post" ? "#222" : n.kind === "comment" ? PALETTE[1] : PALETTE[0]);
  for (const n of order) {
    const p = pos.get(n.parent);
    if (!p) continue;
    const q = pos.get(n.post);
    svg.appendChild(svgEl("path", { d: `M${p.x},${p.y} V${q.y} H${q.x}`, fill: "none", stroke: n.tick > o.upto ? "#e2e2e2" : "#9aa", "stroke-width": 1 }));
  }
  for (const n of order) {
    const q = pos.get(n.post);
    const dot = svgEl("circle", { cx: q.x, cy: q.y, r: n.kind === "post" ? 5 : 3.5, fill: colour(n), "data-post": n.post });
    const title = svgEl("title", {});
    title.textContent = `${n.author === null || n.author === undefined ? "?" : "user_" + n.author} · ${n.kind} · tick ${n.tick}`;
    dot.appendChild(title);
    svg.appendChild(dot);
    svg.appendChild(svgText(q.x + 8, q.y + 4, `user_${n.author} (t${n.tick})`, { "font-size": 9, fill: n.tick > o.upto ? "#bbb" : "#555" }));
  }
  return svg;
}

// Users on a circle with the follow edges among them (a line from follower to followee, a dot
// near the followee's end). nodes: [{user, role, followers}], edges: [[src, dst]].
function graphChart(nodes, edges, opts) {
  const o = Object.assign({ size: 420, roles: [] }, opts || {});
  const c = o.size / 2, r = o.size / 2 - 30;
  const at = new Map(nodes.map((n, i) => {
    const a = (2 * Math.PI * i) / Math.max(1, nodes.length) - Math.PI / 2;
    return [n.user, { x: c + r * Math.cos(a), y: c + r * Math.sin(a) }];
  }));
  const svg = svgEl("svg", { width: o.size, height: o.size, class: "graph" });
  for (const [u, v] of edges) {
    const a = at.get(u), b = at.get(v);
    if (!a || !b) continue;
    svg.appendChild(svgEl("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, stroke: "#8aa", "stroke-opacity": 0.45, "stroke-width": 1 }));
    svg.appendChild(svgEl("circle", { cx: a.x + 0.85 * (b.x - a.x), cy: a.y + 0.85 * (b.y - a.y), r: 1.6, fill: "#688" }));
  }
  for (const n of nodes) {
    const p = at.get(n.user);
    const k = Math.max(0, o.roles.indexOf(n.role));
    const dot = svgEl("circle", { cx: p.x, cy: p.y, r: 3 + Math.min(6, Math.log2(1 + n.followers)), fill: PALETTE[k % PALETTE.length], "data-user": n.user });
    const title = svgEl("title", {});
    title.textContent = `user_${n.user} · ${n.role} · ${n.followers} followers`;
    dot.appendChild(title);
    svg.appendChild(dot);
  }
  return svg;
}

window.charts = { lineChart, barChart, intervalChart, treeChart, graphChart, fmt, PALETTE };
})();
