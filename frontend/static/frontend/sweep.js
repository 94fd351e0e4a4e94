// The sweep page, live: events in seq order update the bracket table, stats, trial table,
// event log, charts, the early-stop banner and the tags and note, without a reload.

import { Charts } from "./charts.js";
import { Importance } from "./importance.js";
import { Picker } from "./picker.js";
import { SeqSocket } from "./live.js";
import { csrfToken, el, fmt, getJSON, postForm, swapHTML, throttle, withShare } from "./util.js";

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
  showNotes(data.notes);
  setStatus(data.status, data.active);
  setControls(data);
}

// The controls (pause, resume, retry, concurrency, stop) follow the sweep's state; they are
// not swapped while the cursor is in them, so a number being typed is never lost.
function setControls(data) {
  document.getElementById("sweep-paused").hidden = !data.paused;
  const run = document.getElementById("sweep-run");
  run.hidden = data.run < 2;
  run.textContent = `run ${data.run}`;
  document.getElementById("sweep-concurrency").textContent = data.concurrency;
  const box = document.getElementById("sweep-controls");
  if (box.contains(document.activeElement) && document.activeElement.tagName !== "BUTTON") return;
  swapHTML(box, data.controls);
}

// --- tags and note -----------------------------------------------------------------------

const notesForm = document.getElementById("notes-form");

// Show the tags and note as saved; the edit form follows them only while it is closed, so
// an edit someone else saves never overwrites what this user is typing.
function showNotes(html) {
  swapHTML(document.getElementById("notes-live"), html);
  const editing = document.getElementById("notes-edit");
  if (!notesForm || editing?.open) return;
  notesForm.elements.tags.value = document.getElementById("sweep-tags").dataset.tags;
  notesForm.elements.note.value = document.getElementById("note-source").content.textContent;
}

notesForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("notes-error");
  const response = await fetch(notesForm.action, {
    method: "POST",
    credentials: "same-origin",
    headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: new FormData(notesForm),
  });
  const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  error.hidden = response.ok;
  error.textContent = response.ok ? "" : `Not saved: ${data.error}`;
  if (!response.ok) return;
  document.getElementById("notes-edit").open = false;
  showNotes(data.notes);
});

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
  if (!confirm(`Kill trial #${kill.dataset.number}?`)) return;
  kill.disabled = true;
  await postForm(document.getElementById("kill-form"), kill.getAttribute("formaction")).catch(console.error);
});

document.addEventListener("click", async (event) => {
  const retry = event.target.closest("button[data-retry]");
  if (!retry) return;
  event.preventDefault();
  retry.disabled = true;
  const answer = await sendControl(document.getElementById("kill-form"), retry.getAttribute("formaction"));
  if (!answer.ok) {
    retry.disabled = false;
    alert(answer.error);
  }
  refreshTableSoon();
});

// Every form in the controls posts in the background; a refusal (409) shows its reason.
async function sendControl(form, url) {
  const response = await fetch(url || form.action, {
    method: "POST",
    credentials: "same-origin",
    headers: { Accept: "application/json", "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value },
    body: new FormData(form),
  });
  const body = await response.json().catch(() => ({}));
  return response.ok ? { ok: true } : { ok: false, error: body.error || `HTTP ${response.status}` };
}

document.getElementById("sweep-controls").addEventListener("submit", async (event) => {
  const form = event.target;
  event.preventDefault();
  if (form.dataset.confirm && !confirm(form.dataset.confirm)) return;
  const button = form.querySelector("button");
  const error = document.getElementById("control-error");
  button.disabled = true;
  if (form.id === "stop-form") button.textContent = "Stopping…";
  const answer = await sendControl(form).catch((e) => ({ ok: false, error: String(e) }));
  if (error) error.textContent = answer.ok ? "" : answer.error;
  if (!answer.ok) button.disabled = false;
  document.activeElement?.blur();
  refreshState().catch(console.error);
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
  const link = el("a", { href: withShare(urls.trial.replace("/0/", `/${payload.trial}/`), share), text: `#${payload.number ?? payload.trial}` });
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

const TABLE_EVENTS = new Set([
  "trial_queued", "trial_started", "trial_finished", "trial_requeued", "rung_promoted", "sweep_started", "sweep_finished",
  "sweep_paused", "sweep_resumed", "concurrency_changed", "trials_retried",
]);

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
