// Sweeps list: live status, progress and best value for every row, new sweeps on top, the
// status tabs' counts and the summary line; every row's age is re-rendered twice a minute.

import { Picker } from "./picker.js";
import { getJSON, liveStatus, socketURL, statusSets, swapHTML, throttle } from "./util.js";

const table = document.getElementById("sweeps");
const tabs = document.getElementById("sweep-tabs");
const summary = document.getElementById("sweeps-summary");
const wanted = new URLSearchParams(location.search).get("status") || "";
const pending = new Set();
const AGES_EVERY_MS = 30_000;

if (table) new Picker(document.getElementById("compare-sweeps"), table, { min: 2, max: 5, noun: "sweep" });

function matchesFilter(status) {
  if (!wanted) return true;
  if (wanted === "active") return statusSets.sweep_active.includes(status);
  return status === wanted;
}

function visibleIds() {
  return [...(table?.tBodies[0].rows || [])].map((row) => row.dataset.sweep).filter(Boolean);
}

function applyRows(data) {
  if (!table) return;
  const body = table.tBodies[0];
  for (const [id, html] of Object.entries(data.rows)) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    const row = template.content.firstElementChild;
    const current = body.querySelector(`tr[data-sweep="${id}"]`);
    if (current) {
      if (Number(current.dataset.seq) > Number(row.dataset.seq)) continue; // stale answer
      const changed = current.dataset.seq !== row.dataset.seq;
      current.replaceWith(row);
      if (!changed) continue; // only its age moved on
    } else if (table.dataset.page === "1" && matchesFilter(data.status[id])) {
      body.prepend(row);
    } else continue;
    row.classList.add("flash-row");
  }
}

async function refresh() {
  const ids = [...pending];
  pending.clear();
  const query = new URLSearchParams({ ids: ids.join(","), status: wanted });
  const data = await getJSON(`/ui/sweeps/rows/?${query}`);
  applyRows(data);
  swapHTML(tabs, data.tabs);
  summary.textContent = data.summary.trim();
}

const refreshSoon = throttle(() => refresh().catch(console.error), 1000);

function refreshAll() {
  for (const id of visibleIds()) pending.add(id);
  refreshSoon();
}

function connect(delay = 500) {
  const ws = new WebSocket(socketURL("/ws/sweeps/"));
  ws.onopen = () => liveStatus("on", "Live");
  ws.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.type !== "sweeps") return;
    for (const sweep of data.sweeps) pending.add(sweep.id);
    refreshSoon();
  };
  ws.onclose = () => {
    liveStatus("off", "Reconnecting…");
    // Rows may have changed while we were away: refresh all of them once reconnected.
    setTimeout(() => connect(Math.min(delay * 2, 10000)), delay);
    refreshAll();
  };
}

connect();
setInterval(refreshAll, AGES_EVERY_MS);
