// Small helpers shared by the page modules: fetch with CSRF, throttling, formatting.

// The server's named status sets (frontend/context.py), e.g. statusSets.trial_unfinished.
export const statusSets = JSON.parse(document.getElementById("status-sets")?.textContent || "{}");

export function csrfToken() {
  const field = document.querySelector("input[name=csrfmiddlewaretoken]");
  if (field) return field.value;
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

export async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body ?? {}),
  });
  if (!response.ok && response.status !== 400) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

export async function postForm(form, url) {
  const response = await fetch(url || form.action, {
    method: "POST",
    credentials: "same-origin",
    headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: new FormData(form),
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

// Run `fn` at most once every `ms`; calls in between collapse into one trailing call.
export function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  return function run() {
    const wait = last + ms - Date.now();
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      last = Date.now();
      fn();
    }, Math.max(0, wait));
  };
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export function withShare(url, share) {
  if (!share) return url;
  return url + (url.includes("?") ? "&" : "?") + "share=" + encodeURIComponent(share);
}

// A metric value that is not finite arrives as "NaN", "Infinity" or "-Infinity" (the JSON
// strings Number() reads back); charts draw it as a gap with a "diverged" marker.
const NON_FINITE = { NaN: "NaN", Infinity: "+∞", "-Infinity": "−∞" };

export function diverged(value) {
  return typeof value === "string" && value in NON_FINITE;
}

// The y a chart draws: the number, or null (a gap) for a diverged value.
export function num(value) {
  return typeof value === "number" ? value : null;
}

// Diverged points as one marker trace on an axis of its own ("y9", see DIVERGED_AXIS), at the
// top of the plot (NaN, +∞) or at its bottom (−∞), whatever the metric's scale.
// `points` holds {x, value, text}.
export function divergedTrace(points) {
  return {
    x: points.map((p) => p.x),
    y: points.map((p) => (p.value === "-Infinity" ? 0.03 : 0.97)),
    text: points.map((p) => `${p.text}: ${NON_FINITE[p.value]} (diverged)`),
    type: "scatter",
    mode: "markers",
    name: "diverged (NaN, ±∞)",
    yaxis: "y9",
    marker: { symbol: "x-thin-open", size: 10, color: "#b91c1c", line: { width: 2, color: "#b91c1c" } },
    hovertemplate: "%{text}<br>at %{x}<extra></extra>",
  };
}

export const DIVERGED_AXIS = { overlaying: "y", range: [0, 1], visible: false, fixedrange: true };

export function fmt(value) {
  if (value === null || value === undefined) return "—";
  if (diverged(value)) return NON_FINITE[value];
  if (typeof value === "number") {
    return Number.isInteger(value) ? value.toLocaleString("en-US") : Number(value.toPrecision(6)).toString();
  }
  return String(value);
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

export function swapHTML(target, html) {
  const template = document.createElement("template");
  template.innerHTML = html;
  target.replaceChildren(template.content);
}

// Mark the live indicator in the header: "on", "off" or hidden (null).
export function liveStatus(state, text) {
  const badge = document.getElementById("live-status");
  if (!badge) return;
  badge.hidden = state === null;
  badge.className = "live-status " + (state || "");
  badge.textContent = text || "";
}

export function socketURL(path, share) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return withShare(`${scheme}//${location.host}${path}`, share);
}

let plotlyPromise = null;

// Load Plotly's bundle once, after the page is up, so it never delays the first render.
export function loadPlotly(url) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!plotlyPromise) {
    plotlyPromise = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = url;
      script.async = true;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => reject(new Error("could not load Plotly"));
      document.head.append(script);
    });
  }
  return plotlyPromise;
}
