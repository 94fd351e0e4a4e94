// The sweep page's charts: learning curves (live), best so far, parallel coordinates.
// Every chart has a legend (or a colour bar for parallel coordinates).

import { DIVERGED_AXIS, diverged, divergedTrace, fmt, getJSON, loadPlotly, num, throttle, withShare } from "./util.js";

const PALETTE = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#4d7c0f", "#be185d", "#475569", "#0d9488"];
const FONT = { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12, color: "#1f2430" };
const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

function baseLayout(extra) {
  return {
    font: FONT,
    margin: { l: 56, r: 16, t: 8, b: 44 },
    paper_bgcolor: "#fff",
    plot_bgcolor: "#fff",
    hovermode: "closest",
    showlegend: true,
    legend: { orientation: "h", y: -0.2, x: 0, font: { size: 11 } },
    xaxis: { gridcolor: "#eef0f3", zeroline: false },
    yaxis: { gridcolor: "#eef0f3", zeroline: false },
    ...extra,
  };
}

function emptyNote(node, text) {
  node.replaceChildren();
  const p = document.createElement("p");
  p.className = "chart-empty";
  p.textContent = text;
  node.append(p);
}

export class Charts {
  constructor({ urls, share, metric, maximize, resource }) {
    Object.assign(this, { urls, share, metric, maximize, resource });
    this.query = "";
    this.trials = new Map();
    this.rungs = [];
    this.curvesNode = document.getElementById("chart-curves");
    this.bestNode = document.getElementById("chart-best");
    this.parallelNode = document.getElementById("chart-parallel");
    for (const node of [this.curvesNode, this.bestNode, this.parallelNode]) emptyNote(node, "Loading…");
    this.drawCurvesSoon = throttle(() => this.drawCurves(), 1000);
    this.reloadCurvesSoon = throttle(() => this.loadCurves().catch(console.error), 4000);
    this.reloadBestSoon = throttle(() => this.loadBest().catch(console.error), 2000);
    this.reloadParallelSoon = throttle(() => this.parallelWanted && this.loadParallel().catch(console.error), 5000);
  }

  url(base) {
    const query = this.query ? `?${this.query}` : "";
    return withShare(base + query, this.share);
  }

  async start(query) {
    this.query = query;
    // Fetch the data while Plotly's bundle loads; draw each chart as soon as both are in.
    const plotly = loadPlotly(this.urls.plotly).then((Plotly) => (this.Plotly = Plotly));
    const drawn = (load, name) => load.then(() => performance.mark(`hb:${name}`));
    // Parallel coordinates (WebGL, the slowest to draw) wait until they are scrolled to.
    whenVisible(this.parallelNode).then(() => drawn(this.loadParallel(plotly), "parallel")).catch(console.error);
    await Promise.all([drawn(this.loadCurves(plotly), "curves"), drawn(this.loadBest(plotly), "best")]);
    performance.mark("hb:charts");
  }

  // --- learning curves ---------------------------------------------------------------------

  async loadCurves(ready) {
    const data = await getJSON(this.url(this.urls.curves));
    await ready;
    this.metric = data.metric || this.metric;
    this.rungs = data.rungs;
    this.trials = new Map(data.trials.map((t) => [t.id, { ...t }]));
    this.curvesNote = data.total > data.trials.length ? `${data.trials.length} of ${data.total} trials: running and best first` : "";
    this.drawCurves();
  }

  rungName(rung) {
    const info = this.rungs.find((r) => r.rung === rung);
    const resources = info ? info.resources.map(fmt).join(", ") : "";
    return `rung ${rung}${resources ? ` (${this.resource} ${resources})` : ""}`;
  }

  curveTraces() {
    const byRung = new Map();
    const broken = [];
    const gl = [...this.trials.values()].reduce((n, t) => n + t.points.length, 0) > 4000;
    for (const trial of [...this.trials.values()].sort((a, b) => a.id - b.id)) {
      if (!trial.points.length) continue;
      const trace = byRung.get(trial.rung) || { x: [], y: [], customdata: [], text: [] };
      for (const [step, value] of trial.points) {
        if (diverged(value)) broken.push({ x: step, value, text: `trial #${trial.number} ${this.metric}` });
        trace.x.push(step);
        trace.y.push(num(value));
        trace.customdata.push(trial.id);
        trace.text.push(`trial #${trial.number} · bracket ${trial.bracket}`);
      }
      trace.x.push(null);
      trace.y.push(null);
      trace.customdata.push(null);
      trace.text.push(null);
      byRung.set(trial.rung, trace);
    }
    // Trials that report once or twice are dots; longer curves are lines, with dots when a
    // diverged point cut them into pieces that may be single points.
    const sparse = broken.length > 0 || [...this.trials.values()].every((t) => t.points.length <= 2);
    const traces = [...byRung.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([rung, t]) => ({
        ...t,
        type: gl ? "scattergl" : "scatter",
        mode: sparse ? "lines+markers" : "lines",
        marker: { size: broken.length ? 4 : 6, color: PALETTE[rung % PALETTE.length] },
        name: this.rungName(rung),
        line: { color: PALETTE[rung % PALETTE.length], width: 1.4 },
        opacity: 0.85,
        connectgaps: false,
        hovertemplate: `%{text}<br>${this.resource} %{x}<br>${this.metric} %{y:.4g}<extra>rung ${rung}</extra>`,
      }));
    const links = this.promotionLinks();
    if (links.x.length) traces.push(links);
    if (broken.length) traces.push(divergedTrace(broken));
    return traces;
  }

  // Dotted lines from a config's last point at one rung to its first point at the next.
  promotionLinks() {
    const link = { x: [], y: [], type: "scatter", mode: "lines+markers", name: "promoted config", hoverinfo: "skip",
      line: { color: "#6b7280", width: 1, dash: "dot" }, marker: { size: 4, color: "#6b7280" } };
    for (const child of this.trials.values()) {
      const parent = child.parent_id && this.trials.get(child.parent_id);
      if (!parent || !parent.points.length || !child.points.length) continue;
      const [px, py] = parent.points[parent.points.length - 1];
      const [cx, cy] = child.points[0];
      link.x.push(px, cx, null);
      link.y.push(num(py), num(cy), null);
    }
    return link;
  }

  drawCurves() {
    if (!this.Plotly) return;
    const traces = this.curveTraces();
    if (!traces.length) {
      emptyNote(this.curvesNode, "No metric points yet: curves appear as trials report.");
      this.curvesDrawn = false;
      return;
    }
    if (!this.curvesDrawn) this.curvesNode.replaceChildren();
    const layout = baseLayout({
      xaxis: { title: { text: this.resource }, gridcolor: "#eef0f3", zeroline: false },
      yaxis: { title: { text: this.metric || "metric" }, gridcolor: "#eef0f3", zeroline: false },
      yaxis9: DIVERGED_AXIS,
      annotations: this.curvesNote ? [{ text: this.curvesNote, xref: "paper", yref: "paper", x: 1, y: 1, showarrow: false, font: { size: 10, color: "#6b7280" }, xanchor: "right" }] : [],
    });
    this.Plotly.react(this.curvesNode, traces, layout, CONFIG);
    if (!this.curvesDrawn) {
      this.curvesNode.on("plotly_click", (event) => {
        const id = event.points?.[0]?.customdata;
        if (id) location.href = withShare(this.urls.trial.replace("/0/", `/${id}/`), this.share);
      });
    }
    this.curvesDrawn = true;
  }

  // A trial started: draw it as soon as it reports, linked to its parent at the rung below.
  trialStarted(payload) {
    if (this.trials.has(payload.trial)) return;
    if (this.query && !this.matchesQuery(payload)) return;
    let parent = null;
    for (const t of this.trials.values()) if (t.config_id === payload.config && t.rung === payload.rung - 1) parent = t.id;
    this.trials.set(payload.trial, { id: payload.trial, number: payload.number, config_id: payload.config, bracket: payload.bracket,
      rung: payload.rung, status: "running", parent_id: parent, points: [] });
  }

  matchesQuery(payload) {
    const query = new URLSearchParams(this.query);
    for (const key of ["bracket", "rung"]) if (query.get(key) && Number(query.get(key)) !== payload[key]) return false;
    return true;
  }

  addPoints(batch) {
    let changed = false;
    for (const [id, series] of Object.entries(batch)) {
      const trial = this.trials.get(Number(id));
      const points = series[this.metric];
      if (!trial || !points) continue;
      trial.points.push(...points);
      changed = true;
    }
    if (changed) this.drawCurvesSoon();
  }

  // --- best so far -------------------------------------------------------------------------

  async loadBest(ready) {
    const data = await getJSON(withShare(this.urls.best, this.share));
    await ready;
    if (!this.Plotly) return;
    if (!data.spent.length) {
      emptyNote(this.bestNode, "No finished trials yet.");
      this.bestDrawn = false;
      return;
    }
    if (!this.bestDrawn) this.bestNode.replaceChildren();
    const direction = this.maximize ? "highest" : "lowest";
    const broken = data.spent.flatMap((x, i) => (diverged(data.value[i]) ? [{ x, value: data.value[i], text: `trial #${data.number[i]}` }] : []));
    const traces = [
      { x: data.spent, y: data.value.map(num), customdata: data.trial, text: data.number.map((n) => `trial #${n}`), type: data.spent.length > 3000 ? "scattergl" : "scatter",
        mode: "markers", name: `trial ${data.metric || "metric"}`, marker: { size: 4, color: "#94a3b8" },
        hovertemplate: `%{text}<br>%{y:.4g}<extra></extra>` },
      { x: data.spent, y: data.best.map(num), type: "scatter", mode: "lines", line: { shape: "hv", color: "#2563eb", width: 2.2 },
        name: `best so far (${direction})`, hovertemplate: `best %{y:.4g} after %{x} ${data.resource}<extra></extra>` },
    ];
    if (broken.length) traces.push(divergedTrace(broken));
    const layout = baseLayout({
      xaxis: { title: { text: `${data.resource} spent` }, gridcolor: "#eef0f3", zeroline: false },
      yaxis: { title: { text: data.metric || "metric" }, gridcolor: "#eef0f3", zeroline: false },
      yaxis9: DIVERGED_AXIS,
    });
    this.Plotly.react(this.bestNode, traces, layout, CONFIG);
    this.bestDrawn = true;
  }

  // --- parallel coordinates ----------------------------------------------------------------

  async loadParallel(ready) {
    this.parallelWanted = true;
    const data = await getJSON(withShare(this.urls.parallel, this.share));
    await ready;
    if (!this.Plotly) return;
    // Parallel coordinates have no place for NaN or ±∞: diverged configs are counted instead.
    const all = data.rows.length;
    data.rows = data.rows.filter((r) => !diverged(r.metric));
    const hidden = all - data.rows.length;
    if (!data.rows.length) {
      emptyNote(this.parallelNode, "Parallel coordinates appear once trials succeed.");
      this.parallelDrawn = false;
      return;
    }
    if (!this.parallelDrawn) this.parallelNode.replaceChildren();
    const dimensions = data.params.map((name) => dimension(name, data.rows.map((r) => r.params[name])));
    const rungs = [...new Set(data.rows.map((r) => r.rung))].sort((a, b) => a - b);
    dimensions.push({ label: "rung", values: data.rows.map((r) => r.rung), tickvals: rungs, ticktext: rungs.map(String), range: [0, Math.max(1, ...rungs)] });
    const metric = data.rows.map((r) => r.metric);
    dimensions.push({ label: data.metric || "metric", values: metric });
    const trace = {
      type: "parcoords",
      dimensions,
      line: {
        color: metric,
        colorscale: "Viridis",
        reversescale: !data.maximize,
        showscale: true,
        colorbar: { title: { text: `${data.metric}<br>(${data.maximize ? "higher" : "lower"} is better)`, side: "right" }, thickness: 12 },
      },
      labelfont: { size: 12 },
      tickfont: { size: 10 },
    };
    const note = hidden ? [{ text: `${hidden} diverged config${hidden > 1 ? "s" : ""} (NaN, ±∞) not shown`, xref: "paper", yref: "paper", x: 1, y: 1.12, showarrow: false, font: { size: 10, color: "#b91c1c" }, xanchor: "right" }] : [];
    this.Plotly.react(this.parallelNode, [trace], { font: FONT, margin: { l: 60, r: 90, t: 36, b: 20 }, annotations: note }, CONFIG);
    this.parallelDrawn = true;
  }

  // --- live hooks --------------------------------------------------------------------------

  onEvent(event) {
    const { kind, payload } = event;
    if (kind === "trial_started") this.trialStarted(payload);
    if (kind === "trial_finished" || kind === "sweep_finished") {
      const trial = this.trials.get(payload.trial);
      if (trial) trial.status = payload.status;
      this.reloadBestSoon();
      this.reloadParallelSoon();
    }
    if (kind === "rung_promoted" || kind === "sweep_finished") this.reloadCurvesSoon();
  }

  filter(query) {
    this.query = query;
    if (this.Plotly) this.loadCurves().catch(console.error);
  }
}

function whenVisible(node) {
  return new Promise((resolve) => {
    const watch = new IntersectionObserver((entries) => {
      if (!entries.some((e) => e.isIntersecting)) return;
      watch.disconnect();
      resolve();
    }, { rootMargin: "200px" });
    watch.observe(node);
  });
}

// A param axis: numbers as they are; anything else as categories with their labels.
function dimension(name, values) {
  if (values.every((v) => typeof v === "number")) {
    const positive = values.every((v) => v > 0);
    const spread = positive ? Math.max(...values) / Math.min(...values) : 0;
    if (spread > 1000) {
      return { label: `log10 ${name}`, values: values.map((v) => Math.log10(v)) };
    }
    return { label: name, values };
  }
  const labels = [...new Set(values.map(String))].sort();
  return { label: name, values: values.map((v) => labels.indexOf(String(v))), tickvals: labels.map((_, i) => i), ticktext: labels };
}
