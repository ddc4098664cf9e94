// The wallboard: one row per queue, figures from the stream's "stats" ticks.
import { drawChart } from "./chart.js";
import { el, formatSeconds, serverNow, signInAndStream } from "./common.js";

// The service-level target (share answered within the queue's sla_seconds): the usual
// 80/20 unless the screen's URL says otherwise, e.g. /wallboard?target=90.
const params = new URLSearchParams(location.search);
const TARGET = Math.min(100, Math.max(1, Number(params.get("target")) || 80)) / 100;

const rows = new Map();
let history = {};

function row(name) {
  let found = rows.get(name);
  if (found) return found;
  const cell = (field, extra = {}) => el("td", { dataset: { field }, ...extra }, "–");
  const tr = el("tr", { dataset: { queue: name } },
    el("th", { scope: "row", class: "name" }, name),
    cell("waiting", { class: "big" }),
    cell("longest_wait_seconds", { class: "big" }),
    el("td", { class: "sl" },
      el("span", { dataset: { field: "service_level" }, class: "big" }, "–"),
      el("span", { class: "sl-note" })),
    cell("asa_seconds"),
    el("td", { class: "agents-cell" },
      el("span", { dataset: { field: "agents_available" }, class: "free" }, "–"), " · ",
      el("span", { dataset: { field: "agents_busy" } }, "–"), " · ",
      el("span", { dataset: { field: "agents_away" } }, "–")),
    el("td", { class: "history" }));
  found = { tr, fields: {} };
  for (const node of tr.querySelectorAll("[data-field]")) found.fields[node.dataset.field] = node;
  found.note = tr.querySelector(".sl-note");
  found.history = tr.querySelector(".history");
  rows.set(name, found);
  document.getElementById("queues").append(tr);
  return found;
}

function set(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function render(message) {
  const { stats } = message;
  if (message.history) history = message.history;
  const seen = new Set();
  for (const queue of stats.queues) {
    seen.add(queue.name);
    const r = row(queue.name);
    set(r.fields.waiting, String(queue.waiting));
    set(r.fields.longest_wait_seconds, formatSeconds(queue.longest_wait_seconds));
    set(r.fields.service_level, `${Math.round(queue.service_level * 100)}%`);
    set(r.fields.asa_seconds, formatSeconds(queue.asa_seconds));
    set(r.fields.agents_available, String(queue.agents_available));
    set(r.fields.agents_busy, String(queue.agents_busy));
    set(r.fields.agents_away, String(queue.agents_away));
    const below = queue.service_level < TARGET;
    const near = !below && queue.service_level < TARGET + 0.05;
    r.tr.classList.toggle("below", below);
    r.tr.classList.toggle("near", near);
    r.tr.classList.toggle("waiting", queue.waiting > 0);
    set(r.note, `${below ? "below" : "target"} ${Math.round(TARGET * 100)}% in ${queue.sla_seconds}s`);
    const buckets = [...(history[queue.name] || [])];
    if (message.minute?.[queue.name]) buckets.push(message.minute[queue.name]);
    const nowMinute = Math.floor(serverNow() / 60) * 60;
    drawChart(r.history, buckets, TARGET, nowMinute);
  }
  for (const [name, r] of rows) {
    if (!seen.has(name)) {
      r.tr.remove();
      rows.delete(name);
    }
  }
  const agents = stats.agents;
  set(document.querySelector("[data-agents=idle]"), String(agents.idle));
  set(document.querySelector("[data-agents=busy]"), String(agents.busy));
  set(document.querySelector("[data-agents=away]"), String(agents.away));
  set(document.querySelector("[data-agents=offline]"), String(agents.offline));
  const live = Object.values(stats.contacts).reduce((a, b) => a + b, 0);
  set(document.querySelector("[data-contacts=live]"), String(live));
  set(document.getElementById("footnote"),
    `Service level: answered within each queue's threshold, of those that stopped waiting; target ${Math.round(TARGET * 100)}%.`);
}

function status(text, ok) {
  const node = document.getElementById("status");
  node.textContent = text;
  node.classList.toggle("down", !ok);
}

setInterval(() => {
  document.getElementById("clock").textContent = new Date(serverNow() * 1000).toLocaleTimeString();
}, 1000);

signInAndStream({
  view: "wallboard",
  onStatus: status,
  onMessage(message) {
    if (message.type === "stats") render(message);
  },
  onSignedOut() {
    for (const r of rows.values()) r.tr.remove();
    rows.clear();
  },
});
