// The sweep page, live: events in seq order update the bracket table, stats, trial table,
// event log, charts and the early-stop banner, without a reload.

import { Charts } from "./charts.js";
import { Importance } from "./importance.js";
import { Picker } from "./picker.js";
import { SeqSocket } from "./live.js";
import { el, fmt, getJSON, postForm, swapHTML, throttle, withShare } from "./util.js";

const root = document.getElementById("sweep");
const urls = JSON.parse(document.getElementById("sweep-urls").textContent);
const share = root.dataset.share;
const log = document.getElementById("log");
const tableBox = document.getElementById("trial-table");
let stateSeq = Number(root.dataset.seq);
let tableTicket = 0;
let tableShown = 0;

const charts = new Charts({
  urls,
  share,
  metric: root.dataset.metric,
  maximize: root.dataset.maximize === "1",
  resource: root.dataset.resource,
});

const importance = new Importance({ url: urls.importance, plotly: urls.plotly, share, resource: root.dataset.resource, trial: urls.trial });

new Picker(document.getElementById("compare-trials"), tableBox, { min: 2, max: 10, noun: "trial", share });

function tableQuery() {
  const query = new URLSearchParams(location.search);
  query.delete("share");
  return query.toString();
}

function chartQuery() {
  const query = new URLSearchParams();
  for (const [key, value] of new URLSearchParams(location.search)) {
    if (["bracket", "rung", "status"].includes(key) || key === "metric" || key.startsWith("p_")) query.set(key, value);
  }
  return query.toString();
}

function endpoint(base) {
  const query = tableQuery();
  return withShare(base + (query ? `?${query}` : ""), share);
}

// --- state: status badge, stats and bracket table ----------------------------------------

async function refreshState() {
  const data = await getJSON(endpoint(urls.state));
  if (data.seq < stateSeq) return; // older than what is on screen
  stateSeq = data.seq;
  swapHTML(document.getElementById("sweep-stats"), data.stats);
  swapHTML(document.getElementById("bracket-live"), data.brackets);
  setStatus(data.status, data.active);
}

function setStatus(status, active) {
  root.dataset.status = status;
  const badge = document.querySelector("#sweep-status .badge");
  if (badge && badge.dataset.status !== status) {
    badge.dataset.status = status;
    badge.className = `badge badge-${status}`;
    badge.textContent = status.replaceAll("_", " ");
  }
  if (!active) document.getElementById("stop-form")?.remove();
}

const refreshStateSoon = throttle(() => refreshState().catch(console.error), 400);

// --- trial table -------------------------------------------------------------------------

let tableStale = false;

// A live refresh never swaps the filter row under the user's cursor: it leaves the table
// stale until focus leaves the row. A refresh the user asked for (a filter, a sort, a page)
// always swaps, and puts the cursor back in the field it was in.
async function refreshTable({ asked = false } = {}) {
  const ticket = ++tableTicket;
  const data = await getJSON(endpoint(urls.trials));
  if (ticket < tableShown) return;
  tableShown = ticket;
  const focused = document.activeElement?.closest?.("#trial-filters") ? document.activeElement : null;
  if (focused && !asked) {
    tableStale = true;
    return;
  }
  tableStale = false;
  swapHTML(tableBox, data.html);
  if (focused?.name) tableBox.querySelector(`#trial-filters [name="${CSS.escape(focused.name)}"]`)?.focus();
}

const refreshTableSoon = throttle(() => refreshTable().catch(console.error), 1000);

tableBox.addEventListener("focusout", (event) => {
  if (tableStale && !event.relatedTarget?.closest?.("#trial-filters")) refreshTableSoon();
});

function navigate(query) {
  const params = new URLSearchParams(query.replace(/^\?/, ""));
  if (share) params.set("share", share);
  const search = params.toString();
  history.pushState(null, "", `${location.pathname}${search ? `?${search}` : ""}#trials`);
  tableShown = 0;
  refreshTable({ asked: true }).catch(console.error);
  refreshState().catch(console.error);
  charts.filter(chartQuery());
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("#trial-table a[href^='?'], #bracket-live a.cell-link");
  if (!link || event.metaKey || event.ctrlKey) return;
  event.preventDefault();
  navigate(link.getAttribute("href").split("#")[0]);
  if (link.classList.contains("cell-link")) document.getElementById("trials").scrollIntoView({ behavior: "smooth" });
});

tableBox.addEventListener("submit", (event) => {
  event.preventDefault();
  const data = new FormData(event.target);
  const params = new URLSearchParams();
  for (const [key, value] of data) if (value && key !== "share") params.set(key, value);
  navigate(params.toString());
});

tableBox.addEventListener("change", (event) => {
  if (event.target.tagName === "SELECT") event.target.form.requestSubmit();
});

window.addEventListener("popstate", () => {
  refreshTable({ asked: true }).catch(console.error);
  refreshState().catch(console.error);
  charts.filter(chartQuery());
});

// --- controls ----------------------------------------------------------------------------

document.addEventListener("click", async (event) => {
  const kill = event.target.closest("button[data-kill]");
  if (!kill) return;
  event.preventDefault();
  if (!confirm(`Kill trial #${kill.dataset.kill}?`)) return;
  kill.disabled = true;
  await postForm(document.getElementById("kill-form"), kill.getAttribute("formaction")).catch(console.error);
});

document.getElementById("stop-form")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!confirm(event.target.dataset.confirm)) return;
  const button = document.getElementById("stop-btn");
  button.disabled = true;
  button.textContent = "Stopping…";
  await postForm(event.target).catch(console.error);
  refreshStateSoon();
});

// --- events ------------------------------------------------------------------------------

function addLogLine(event) {
  if (log.querySelector(`li[data-seq="${event.seq}"]`)) return;
  log.querySelector(".empty-log")?.remove();
  const item = el(
    "li",
    { class: `ev ev-${event.kind} new`, "data-seq": event.seq },
    el("time", { datetime: event.time, text: event.time.slice(11, 19) }),
    el("span", { class: "ev-kind", text: event.label || event.kind }),
    el("span", { class: "ev-text", text: event.text }),
  );
  // Keep the log newest first, in seq order even if an old event is inserted by a resync.
  const after = [...log.children].find((li) => Number(li.dataset.seq) < event.seq);
  log.insertBefore(item, after || null);
  while (log.children.length > 300) log.lastElementChild.remove();
}

function showEarlyStop(payload) {
  const banners = document.getElementById("banners");
  if (banners.querySelector(".banner-stop")) return;
  const link = el("a", { href: withShare(urls.trial.replace("/0/", `/${payload.trial}/`), share), text: `#${payload.trial}` });
  const value = fmt(payload.value);
  banners.prepend(
    el(
      "div",
      { class: "banner banner-stop", role: "alert", "data-trial": payload.trial },
      el("strong", { text: "Early stop" }),
      el(
        "span",
        {},
        "Trial ",
        link,
        " reached ",
        el("code", { text: `${payload.metric} = ${value}` }),
        ", meeting the rule ",
        el("code", { text: payload.rule }),
        ". The sweep stopped its other trials.",
      ),
    ),
  );
}

// A rung ended and no trial reported the ranking metric: the sweep fails at once.
function showMetricMissing(event) {
  const banners = document.getElementById("banners");
  if (banners.querySelector(".banner-metric")) return;
  const { metric, suggestion } = event.payload;
  const hint = suggestion ? ` Rename the metric to match: "${suggestion}" is not "${metric}".` : "";
  banners.prepend(
    el(
      "div",
      { class: "banner banner-metric", role: "alert", "data-metric": metric },
      el("strong", { text: "Ranking metric never reported" }),
      el("span", { text: `${event.text}. Nothing could be ranked or promoted, so the sweep stopped as failed.${hint}` }),
    ),
  );
}

const TABLE_EVENTS = new Set(["trial_queued", "trial_started", "trial_finished", "trial_requeued", "rung_promoted", "sweep_started", "sweep_finished"]);

function onEvent(event) {
  addLogLine(event);
  if (event.kind === "early_stopped") showEarlyStop(event.payload);
  if (event.kind === "ranking_metric_missing") showMetricMissing(event);
  if (event.kind === "sweep_finished") setStatus(event.payload.status, false);
  refreshStateSoon();
  if (TABLE_EVENTS.has(event.kind)) refreshTableSoon();
  charts.onEvent(event);
  importance.onEvent(event);
}

new SeqSocket(urls.socket, {
  seq: Number(root.dataset.seq),
  share,
  onEvent,
  onMetrics: (batch) => charts.addPoints(batch),
  onResynced: () => performance.mark("hb:live"),
});

charts.start(chartQuery()).catch(console.error);
importance.load().catch(console.error);
