// The trial page, live: status, metrics chart and output tail while the trial runs.

import { SeqSocket } from "./live.js";
import { DIVERGED_AXIS, diverged, divergedTrace, getJSON, loadPlotly, num, statusSets, swapHTML, throttle, withShare } from "./util.js";

const root = document.getElementById("trial");
const urls = JSON.parse(document.getElementById("trial-urls").textContent);
const trialId = Number(root.dataset.trial);
const configId = Number(root.dataset.config);
const share = root.dataset.share;
const chart = document.getElementById("chart-trial");
const COLORS = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2"];
let series = {};
let liveSeq = Number(root.dataset.seq);
let lineage = new Set([...document.querySelectorAll("#lineage-rows a")].map((a) => Number(a.textContent.slice(1))));
chart.innerHTML = '<p class="chart-empty">Loading…</p>';
let Plotly = null;

function draw() {
  const names = Object.keys(series).sort();
  if (!names.length) {
    chart.innerHTML = '<p class="chart-empty">No metric points yet.</p>';
    return;
  }
  if (chart.querySelector(".chart-empty")) chart.replaceChildren();
  // One y axis per metric (up to three), so a loss and an accuracy are both readable.
  const traces = names.map((name, i) => ({
    x: series[name].map((p) => p[0]),
    y: series[name].map((p) => num(p[1])),
    connectgaps: false,
    name,
    type: "scatter",
    mode: series[name].length > 1 ? "lines+markers" : "markers",
    marker: { size: 5 },
    line: { color: COLORS[i % COLORS.length], width: 2 },
    yaxis: i === 0 ? "y" : i === 1 ? "y2" : "y",
  }));
  const broken = names.flatMap((name) => series[name].filter((p) => diverged(p[1])).map(([x, value]) => ({ x, value, text: name })));
  if (broken.length) traces.push(divergedTrace(broken));
  const layout = {
    yaxis9: DIVERGED_AXIS,
    font: { family: "system-ui, sans-serif", size: 12 },
    margin: { l: 56, r: names.length > 1 ? 56 : 16, t: 8, b: 44 },
    showlegend: true,
    legend: { orientation: "h", y: -0.2 },
    xaxis: { title: { text: "step" }, gridcolor: "#eef0f3" },
    yaxis: { title: { text: names[0] }, gridcolor: "#eef0f3" },
    hovermode: "x unified",
  };
  if (names.length > 1) layout.yaxis2 = { title: { text: names[1] }, overlaying: "y", side: "right", showgrid: false };
  Plotly.react(chart, traces, layout, { displaylogo: false, responsive: true });
}

const drawSoon = throttle(draw, 500);

async function loadMetrics() {
  const data = await getJSON(withShare(urls.metrics, share));
  series = data.series;
  Plotly = await loadPlotly(urls.plotly);
  draw();
}

async function refreshOutput() {
  const data = await getJSON(withShare(urls.output, share));
  for (const name of ["stdout", "stderr"]) {
    const pre = document.getElementById(name);
    const text = data[`${name}_tail`] || "(empty)";
    if (pre.textContent === text) continue;
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = text;
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }
  if (data.status !== root.dataset.status) setStatus(data.status);
}

const refreshOutputSoon = throttle(() => refreshOutput().catch(console.error), 1000);

function setStatus(status) {
  root.dataset.status = status;
  const badge = document.querySelector("#trial-status .badge");
  badge.className = `badge badge-${status}`;
  badge.dataset.status = status;
  badge.textContent = status;
  if (!statusSets.trial_unfinished.includes(status)) document.getElementById("kill-trial")?.remove();
  if (!["failed", "lost"].includes(status)) document.getElementById("retry-trial")?.remove();
  document.getElementById("output-note").textContent = status === "running" ? "live tail" : "final tail";
}

// Metric, times, exit code, duration and lineage: re-rendered by the server on this config's events.
async function refreshLive() {
  const data = await getJSON(withShare(urls.live, share));
  if (data.seq < liveSeq) return; // older than what is on screen
  liveSeq = data.seq;
  swapHTML(document.getElementById("trial-facts"), data.facts);
  swapHTML(document.getElementById("lineage-rows"), data.lineage);
  swapHTML(document.getElementById("attempt-rows"), data.attempts);
  document.getElementById("trial-promoted").hidden = !data.promoted;
  lineage = new Set(data.lineage_ids);
  if (data.status !== root.dataset.status) setStatus(data.status);
}

const refreshLiveSoon = throttle(() => refreshLive().catch(console.error), 500);

// The trials an event names: its own, or those it queued, stopped, requeued or retried.
function trialsOf(p) {
  return [p.trial, ...(p.trials || []), ...(p.stopped_trials || []), ...(p.requeued || []), ...(p.retried || []), ...(p.unqueued || [])];
}

function concernsThisConfig(p) {
  return trialsOf(p).some((id) => lineage.has(id)) || p.config === configId || (p.configs || []).includes(configId);
}

// Output is saved with each heartbeat; poll it only while this trial runs.
function tick() {
  if (root.dataset.status === "running") refreshOutputSoon();
  setTimeout(tick, 2000);
}

new SeqSocket(urls.socket, {
  seq: Number(root.dataset.seq),
  share,
  onEvent: (event) => {
    const p = event.payload || {};
    if (concernsThisConfig(p)) refreshLiveSoon();
    const mine = trialsOf(p).includes(trialId);
    if (!mine) return;
    if (p.status && p.trial === trialId) setStatus(p.status);
    else if (event.kind === "trial_queued") setStatus("queued");
    else if (event.kind === "sweep_finished") setStatus("stopped");
    else if (["trials_retried", "sweep_paused", "sweep_resumed", "concurrency_changed"].includes(event.kind)) {
      setStatus("pending");
      refreshLiveSoon();
    }
    refreshOutputSoon();
    if (event.kind === "trial_finished") loadMetrics().catch(console.error);
  },
  onMetrics: (batch) => {
    const mine = batch[trialId];
    if (!mine || !Plotly) return;
    for (const [name, points] of Object.entries(mine)) (series[name] ||= []).push(...points);
    drawSoon();
    refreshOutputSoon();
  },
});

for (const id of ["kill-trial", "retry-trial"]) {
  document.getElementById(id)?.addEventListener("submit", (event) => {
    if (!confirm(event.target.dataset.confirm)) event.preventDefault();
  });
}

loadMetrics().catch(console.error);
tick();
