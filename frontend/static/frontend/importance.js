// The sweep page's importance card: which params explain the ranking metric at one rung
// (a bar per param), and a slice plot per param (the metric against the param's value).
// Reloaded, throttled, as trials finish; the rung picked stays picked.

import { el, fmt, getJSON, loadPlotly, num, throttle, withShare } from "./util.js";

const FONT = { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12, color: "#1f2430" };
const CONFIG = { displaylogo: false, responsive: true, displayModeBar: false };
const RELOAD_MS = 10_000;
const PENDING_MS = 1_500;

function note(node, text) {
  node.replaceChildren(el("p", { class: "chart-empty", text }));
}

export class Importance {
  constructor({ url, plotly, share, resource, trial }) {
    Object.assign(this, { url, plotly, share, resource, trial });
    this.card = document.getElementById("importance");
    this.bars = document.getElementById("chart-importance");
    this.slices = document.getElementById("chart-slices");
    this.select = document.getElementById("importance-level");
    this.summary = document.getElementById("importance-summary");
    this.level = "";
    this.select.addEventListener("change", () => {
      this.level = this.select.value;
      this.load().catch(console.error);
    });
    this.reloadSoon = throttle(() => this.load().catch(console.error), RELOAD_MS);
    note(this.bars, "Loading…");
  }

  async load() {
    const query = this.level ? `?resource=${encodeURIComponent(this.level)}` : "";
    const [data, Plotly] = await Promise.all([getJSON(withShare(this.url + query, this.share)), loadPlotly(this.plotly)]);
    this.Plotly = Plotly;
    this.fillLevels(data);
    this.describe(data);
    this.drawBars(data);
    this.drawSlices(data);
    this.card.dataset.loaded = String(data.trials);
    // The scheduler is computing it: ask again soon, until it is in.
    // After a minute it asks less often and says what may be wrong.
    clearTimeout(this.pendingTimer);
    this.waited = data.pending ? (this.waited || 0) + 1 : 0;
    if (data.pending && this.waited > 40) this.summary.textContent += " Still waiting: is the scheduler worker running?";
    const wait = this.waited > 40 ? RELOAD_MS : PENDING_MS;
    if (data.pending) this.pendingTimer = setTimeout(() => this.load().catch(console.error), wait);
    else performance.mark("hb:importance");
  }

  levelName(level) {
    const where = level.resource === null ? "all trials" : `${this.resource} ${fmt(level.resource)}`;
    return `${where} · ${level.usable} usable`;
  }

  fillLevels(data) {
    const chosen = data.level ? String(data.level.resource ?? "") : "";
    const options = data.levels
      .slice()
      .sort((a, b) => (b.resource ?? 0) - (a.resource ?? 0))
      .map((level) => {
        const value = level.resource === null ? "" : String(level.resource);
        const option = el("option", { value, text: this.levelName(level) });
        if (value === chosen) option.selected = true;
        return option;
      });
    this.select.replaceChildren(...options);
    this.select.disabled = options.length < 2;
  }

  describe(data) {
    const level = data.level;
    const left = level && level.excluded ? ` ${level.excluded} failed, lost or NaN trial${level.excluded > 1 ? "s" : ""} left out.` : "";
    if (data.pending) {
      this.summary.textContent = `Computing importance from ${data.sampled_from} trials at ${this.levelName(level).split(" · ")[0]}…`;
      this.summary.className = "importance-summary muted";
      return;
    }
    if (!data.available) {
      this.summary.textContent = data.reason + left;
      this.summary.className = "importance-summary muted";
      return;
    }
    const sampled = data.sampled_from > data.trials ? ` (a sample of ${data.sampled_from})` : "";
    const fit = data.fit === null ? "" : ` Out-of-bag R² ${fmt(Number(data.fit.toFixed(2)))}${data.fit < 0.3 ? ": the params explain little of the ranking, so read the shares with care" : ""}.`;
    this.summary.textContent = `Rests on ${data.trials} trials${sampled} at ${this.levelName(level).split(" · ")[0]}.${left}${fit}`;
    this.summary.className = "importance-summary";
  }

  drawBars(data) {
    if (data.pending && this.barsDrawn) return; // keep the last result until the new one is in
    if (!data.available) {
      note(this.bars, data.reason);
      this.barsDrawn = false;
      return;
    }
    if (!this.barsDrawn) this.bars.replaceChildren();
    const params = data.params.slice().reverse(); // most important on top
    const trace = {
      type: "bar",
      orientation: "h",
      x: params.map((p) => p.share * 100),
      y: params.map((p) => (p.scale === "log" ? `${p.name} (log)` : p.name)),
      text: params.map((p) => `${(p.share * 100).toFixed(1)}%`),
      textposition: "auto",
      marker: { color: "#2563eb" },
      customdata: params.map((p) => [fmt(p.drop), fmt(p.spread), p.kind]),
      hovertemplate: "%{y}: %{x:.1f}% of the importance<br>R² drop %{customdata[0]} ± %{customdata[1]}<br>%{customdata[2]}<extra></extra>",
      name: "share of importance",
    };
    const layout = {
      font: FONT, margin: { l: 110, r: 16, t: 8, b: 40 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff",
      xaxis: { title: { text: `% of the importance for ${data.metric}` }, range: [0, 100], gridcolor: "#eef0f3" },
      yaxis: { automargin: true }, showlegend: false,
    };
    this.Plotly.react(this.bars, [trace], layout, CONFIG);
    this.barsDrawn = true;
  }

  drawSlices(data) {
    const points = data.points.filter((p) => num(p.value) !== null);
    if (!points.length) {
      note(this.slices, "Slice plots appear once trials at this rung succeed.");
      return;
    }
    this.slices.replaceChildren();
    for (const param of data.params) {
      const box = el("figure", { class: "slice", "data-param": param.name });
      const plot = el("div", { class: "slice-plot", role: "img", "aria-label": `${data.metric} against ${param.name}` });
      const share = param.share === null ? "" : ` · ${(param.share * 100).toFixed(0)}%`;
      box.append(el("figcaption", { text: `${param.name}${share}` }), plot);
      this.slices.append(box);
      this.Plotly.newPlot(plot, [sliceTrace(param, points, data.metric)], sliceLayout(param, data), CONFIG);
      plot.on("plotly_click", (event) => {
        const id = event.points?.[0]?.customdata?.[0];
        if (id) location.href = withShare(this.trial.replace("/0/", `/${id}/`), this.share);
      });
    }
  }

  onEvent(event) {
    if (["trial_finished", "rung_promoted", "sweep_finished"].includes(event.kind)) this.reloadSoon();
  }
}

function sliceTrace(param, points, metric) {
  const category = param.scale === "category";
  return {
    type: points.length > 2000 ? "scattergl" : "scatter",
    mode: "markers",
    x: points.map((p) => (category ? String(p.params[param.name]) : p.params[param.name])),
    y: points.map((p) => num(p.value)),
    customdata: points.map((p) => [p.trial, p.number]),
    marker: { size: 6, color: "#2563eb", opacity: 0.6 },
    hovertemplate: `trial #%{customdata[1]}<br>${param.name} %{x}<br>${metric} %{y:.4g}<extra></extra>`,
  };
}

function sliceLayout(param, data) {
  const type = param.scale === "log" ? "log" : param.scale === "category" ? "category" : "linear";
  return {
    font: { ...FONT, size: 11 }, margin: { l: 52, r: 8, t: 6, b: 40 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff",
    showlegend: false, hovermode: "closest",
    xaxis: { type, title: { text: param.name }, gridcolor: "#eef0f3", zeroline: false },
    yaxis: { title: { text: data.metric || "metric" }, gridcolor: "#eef0f3", zeroline: false },
  };
}
