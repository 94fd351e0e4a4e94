// Sweeps list: live status, progress and best value for every row, new sweeps on top.

import { getJSON, liveStatus, socketURL, statusSets, throttle } from "./util.js";

const table = document.getElementById("sweeps");
const pending = new Set();

function matchesFilter(status) {
  const wanted = table?.dataset.status;
  if (!wanted) return true;
  if (wanted === "active") return statusSets.sweep_active.includes(status);
  return status === wanted;
}

async function refresh() {
  const ids = [...pending];
  pending.clear();
  if (!ids.length || !table) return;
  const data = await getJSON(`/ui/sweeps/rows/?ids=${ids.join(",")}`);
  const body = table.tBodies[0];
  for (const [id, html] of Object.entries(data.rows)) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    const row = template.content.firstElementChild;
    const current = body.querySelector(`tr[data-sweep="${id}"]`);
    if (current) {
      if (Number(current.dataset.seq) > Number(row.dataset.seq)) continue; // stale answer
      current.replaceWith(row);
    } else if (table.dataset.page === "1" && matchesFilter(data.status[id])) {
      body.prepend(row);
    } else continue;
    row.classList.add("flash-row");
  }
}

const refreshSoon = throttle(() => refresh().catch(console.error), 1000);

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
    for (const row of table?.tBodies[0].rows || []) if (row.dataset.sweep) pending.add(row.dataset.sweep);
    setTimeout(() => connect(Math.min(delay * 2, 10000)), delay);
    refreshSoon();
  };
}

if (table) connect();
