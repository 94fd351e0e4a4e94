// Sweeps list: search by name and tag, filter by status, owner and team, with results as
// you type; live status, progress and best value for every row, sweeps that start or stop
// matching the search added or removed, the status tabs' counts and the summary line; every
// row's age is re-rendered twice a minute.

import { Picker } from "./picker.js";
import { getJSON, liveStatus, socketURL, swapHTML, throttle } from "./util.js";

const form = document.getElementById("sweep-search");
const results = document.getElementById("sweep-results");
const tabs = document.getElementById("sweep-tabs");
const summary = document.getElementById("sweeps-summary");
const pending = new Set();
const AGES_EVERY_MS = 30_000;
const TYPING_MS = 250;

// Picks survive live refreshes and new searches: the picker watches the results box.
const compare = document.getElementById("compare-sweeps");
if (compare && results) new Picker(compare, results, { min: 2, max: 5, noun: "sweep" });

// The search the page shows, as a query string without the page number.
function searchQuery() {
  const query = new URLSearchParams(location.search);
  query.delete("page");
  return query;
}

const table = () => document.getElementById("sweeps");

function visibleIds() {
  return [...(table()?.tBodies[0].rows || [])].map((row) => row.dataset.sweep).filter(Boolean);
}

function applyRows(data) {
  const shown = table();
  if (!shown) {
    // The list was empty: a sweep that now matches brings the whole result back.
    if (Object.values(data.matches).some(Boolean)) loadResults().catch(console.error);
    return;
  }
  const body = shown.tBodies[0];
  for (const [id, html] of Object.entries(data.rows)) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    const row = template.content.firstElementChild;
    const current = body.querySelector(`tr[data-sweep="${id}"]`);
    if (current && !data.matches[id]) {
      current.remove(); // it no longer matches the search (status, tags, ...)
      continue;
    }
    if (current) {
      if (Number(current.dataset.seq) > Number(row.dataset.seq)) continue; // stale answer
      const changed = current.dataset.seq !== row.dataset.seq;
      current.replaceWith(row);
      if (!changed) continue; // only its age moved on
    } else if (shown.dataset.page === "1" && data.matches[id]) {
      body.prepend(row);
    } else continue;
    row.classList.add("flash-row");
  }
}

async function refresh() {
  const ids = [...pending];
  pending.clear();
  const query = searchQuery();
  query.set("ids", ids.join(","));
  const data = await getJSON(`/ui/sweeps/rows/?${query}`);
  applyRows(data);
  swapHTML(tabs, data.tabs);
  summary.textContent = data.summary.trim();
}

// Fetch the results for the search in the address bar and show them.
let asked = 0;
async function loadResults() {
  const mine = ++asked;
  const query = searchQuery();
  query.set("results", "1");
  const data = await getJSON(`${location.pathname}?${query}`);
  if (mine !== asked) return; // a newer search is on its way
  swapHTML(results, data.results);
  swapHTML(tabs, data.tabs);
  summary.textContent = data.summary.trim();
}

function search() {
  const query = new URLSearchParams(new FormData(form));
  for (const [key, value] of [...query]) if (!value) query.delete(key);
  history.replaceState(null, "", `${location.pathname}${query.size ? `?${query}` : ""}`);
  loadResults().catch(console.error);
}

let typing = null;
form?.addEventListener("input", (event) => {
  if (event.target.name !== "q") return;
  clearTimeout(typing);
  typing = setTimeout(search, TYPING_MS);
});
form?.addEventListener("change", (event) => {
  if (event.target.tagName === "SELECT") search();
});
form?.addEventListener("submit", (event) => {
  event.preventDefault();
  clearTimeout(typing);
  search();
});

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
