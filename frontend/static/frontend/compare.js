// Compare pages: trials' curves overlaid (one metric at a time), or sweeps' best so far
// against resource spent, one line each. The tables are rendered by the server.

import { DIVERGED_AXIS, diverged, divergedTrace, loadPlotly, num } from "./util.js";

const PALETTE = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#4d7c0f", "#be185d", "#475569", "#0d9488"];
const FONT = { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12, color: "#1f2430" };
const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

const root = document.getElementById("compare");
const data = JSON.parse(document.getElementById("compare-data").textContent);
const node = document.getElementById("chart-compare");

function layout(x, y) {
  return {
    // The legend sits above the plot: below it, it would cover the axis title on a phone.
    font: FONT, margin: { l: 56, r: 16, t: 12, b: 44 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff",
    hovermode: "closest", showlegend: true,
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", font: { size: 11 } },
    xaxis: { title: { text: x }, gridcolor: "#eef0f3", zeroline: false },
    yaxis: { title: { text: y }, gridcolor: "#eef0f3", zeroline: false },
    yaxis9: DIVERGED_AXIS,
  };
}

function empty(text) {
  const p = document.createElement("p");
  p.className = "chart-empty";
  p.textContent = text;
  node.replaceChildren(p);
}

function trialTraces(metric) {
  const broken = [];
  const traces = data.trials.map((t, i) => {
    const points = t.curves[metric] || [];
    for (const [x, value] of points) if (diverged(value)) broken.push({ x, value, text: `trial #${t.number}` });
    return {
      type: "scatter", mode: points.length <= 2 ? "lines+markers" : "lines",
      x: points.map((p) => p[0]), y: points.map((p) => num(p[1])), connectgaps: false,
      name: `#${t.number} · bracket ${t.bracket} rung ${t.rung}`,
      line: { color: PALETTE[i % PALETTE.length], width: 1.8 }, marker: { color: PALETTE[i % PALETTE.length], size: 6 },
      hovertemplate: `trial #${t.number}<br>step %{x}<br>${metric} %{y:.4g}<extra></extra>`,
    };
  });
  if (broken.length) traces.push(divergedTrace(broken));
  return traces;
}

function drawTrials(Plotly, metric) {
  const traces = trialTraces(metric);
  if (!traces.some((t) => t.x?.length)) return empty(`None of these trials reported ${metric || "a metric"} yet.`);
  node.querySelector(".chart-empty")?.remove();
  const resource = [...new Set(data.trials.map((t) => t.resource_name))].join(" / ");
  Plotly.react(node, traces, layout(resource, metric), CONFIG);
}

function drawSweeps(Plotly) {
  const traces = data.sweeps.map((s, i) => ({
    type: "scatter", mode: "lines", x: s.best_so_far.spent, y: s.best_so_far.best.map(num),
    line: { shape: "hv", color: PALETTE[i % PALETTE.length], width: 2.2 },
    name: `${s.name} #${s.id} (${s.metric || "no metric"}, ${s.maximize ? "max" : "min"})`,
    hovertemplate: `${s.name}<br>best %{y:.4g} after %{x} ${s.resource_name}<extra></extra>`,
  }));
  if (!traces.some((t) => t.x.length)) return empty("None of these sweeps has a finished trial yet.");
  node.querySelector(".chart-empty")?.remove();
  const metrics = [...new Set(data.sweeps.map((s) => s.metric || "metric"))];
  const resources = [...new Set(data.sweeps.map((s) => s.resource_name))];
  const y = metrics.length > 1 ? `${metrics.join(" / ")} (different metrics)` : metrics[0];
  Plotly.react(node, traces, layout(`${resources.join(" / ")} spent`, y), CONFIG);
}

const Plotly = await loadPlotly(JSON.parse(document.getElementById("plotly-url").textContent));
node.replaceChildren();
if (root.dataset.kind === "trials") {
  const select = document.getElementById("compare-metric");
  drawTrials(Plotly, select.value);
  select.addEventListener("change", () => drawTrials(Plotly, select.value));
} else {
  drawSweeps(Plotly);
}
root.dataset.drawn = "1";
