// New sweep: a YAML editor with line numbers, errors at their line and column while typing
// (the server's own validation), and a live plan preview.

import { debounce, el, postJSON, swapHTML } from "./util.js";

const textarea = document.getElementById("yaml");
const gutter = document.getElementById("gutter");
const marks = document.getElementById("marks");
const issuesList = document.getElementById("issues");
const status = document.getElementById("editor-status");
const preview = document.getElementById("preview");
const launch = document.getElementById("launch-btn");
const fileInput = document.getElementById("yaml-file");
const validateURL = JSON.parse(document.getElementById("validate-url").textContent);

let issues = [];
let asked = 0;
let shown = 0;
const PAD = 8;

function lineHeight() {
  return parseFloat(getComputedStyle(textarea).lineHeight) || 20;
}

function charWidth() {
  const probe = el("span", { text: "x".repeat(40) });
  probe.style.cssText = `font: ${getComputedStyle(textarea).font}; position: absolute; visibility: hidden; white-space: pre`;
  document.body.append(probe);
  const width = probe.getBoundingClientRect().width / 40;
  probe.remove();
  return width || 7.5;
}

function renderGutter() {
  const count = textarea.value.split("\n").length;
  const byLine = new Map();
  for (const issue of issues) {
    const list = byLine.get(issue.line) || [];
    list.push(issue);
    byLine.set(issue.line, list);
  }
  const spans = [];
  for (let line = 1; line <= count; line++) {
    const here = byLine.get(line);
    const span = el("span", { text: String(line) });
    if (here) {
      span.className = here.some((i) => i.kind === "error") ? "err" : "warn";
      span.title = here.map((i) => `${i.column}: ${i.message}`).join("\n");
    }
    spans.push(span);
  }
  gutter.replaceChildren(...spans);
  renderMarks();
  syncScroll();
}

function renderMarks() {
  const height = lineHeight();
  const width = charWidth();
  const left = parseFloat(getComputedStyle(textarea).paddingLeft) || 12;
  marks.replaceChildren(
    ...issues.map((issue) => {
      const mark = el("div", { class: issue.kind === "error" ? "err" : "warn", "data-line": issue.line });
      mark.style.top = `${PAD + (issue.line - 1) * height}px`;
      const col = el("span", { class: "col" });
      col.style.left = `${left + (issue.column - 1) * width}px`;
      if (issue.kind === "error") mark.append(col);
      return mark;
    }),
  );
}

function syncScroll() {
  gutter.scrollTop = textarea.scrollTop;
  marks.style.transform = `translate(${-textarea.scrollLeft}px, ${-textarea.scrollTop}px)`;
}

// Each issue starts with a button, so the list is reachable by keyboard: it moves the cursor
// to the issue's line and column in the editor.
function issueItem(kind, line, column, message) {
  const jump = el("button", { type: "button", class: "pos", text: `Line ${line}, col ${column}`, title: "Go to this line in the editor" });
  const item = el("li", { class: `issue ${kind}`, "data-line": line, "data-column": column }, jump, " ", message);
  item.addEventListener("click", () => jumpTo(line, column));
  return item;
}

function renderIssues(result) {
  const items = issues.map((issue) => issueItem(issue.kind, issue.line, issue.column, issue.message));
  issuesList.replaceChildren(...items);
  const errors = result.errors.length;
  status.replaceChildren(
    result.valid
      ? el("span", { class: "ok", text: `✓ Valid: ${result.plan.total_trials.toLocaleString("en-US")} trials planned` })
      : el("span", { class: "bad", text: `${errors} error${errors === 1 ? "" : "s"}` }),
  );
}

function renderPreview(result) {
  if (result.valid) swapHTML(preview, result.table);
  else if (!preview.querySelector("#preview-empty")) {
    preview.replaceChildren(
      el("div", { class: "empty small", id: "preview-empty" }, el("p", { text: "Fix the errors to see the bracket table." })),
    );
  }
  launch.disabled = !result.valid;
}

async function validate() {
  const ticket = ++asked;
  status.replaceChildren(el("span", { class: "muted", text: "Checking…" }));
  const result = await postJSON(validateURL, { yaml: textarea.value });
  if (ticket < shown) return; // an older answer arriving late
  shown = ticket;
  issues = [
    ...result.errors.map((e) => ({ ...e, kind: "error" })),
    ...result.warnings.map((w) => ({ ...w, kind: "warning" })),
  ];
  renderIssues(result);
  renderGutter();
  renderPreview(result);
}

function jumpTo(line, column) {
  const lines = textarea.value.split("\n");
  let offset = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
  offset += Math.max(0, column - 1);
  textarea.focus();
  textarea.setSelectionRange(offset, offset);
  textarea.scrollTop = Math.max(0, (line - 5) * lineHeight());
  syncScroll();
}

const validateSoon = debounce(() => validate().catch((e) => status.replaceChildren(el("span", { class: "bad", text: String(e) }))), 300);

textarea.addEventListener("input", () => {
  renderGutter();
  validateSoon();
});
textarea.addEventListener("scroll", syncScroll);
// Tab indents; Escape releases the keyboard, so the Tab after it moves on to the next control
// (the hint under the editor says so).
let released = false;
textarea.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    released = true;
    return;
  }
  if (event.key !== "Tab" || event.shiftKey || released) {
    released = false;
    return;
  }
  event.preventDefault();
  textarea.setRangeText("  ", textarea.selectionStart, textarea.selectionEnd, "end");
  textarea.dispatchEvent(new Event("input"));
});
textarea.addEventListener("focus", () => {
  released = false;
});
fileInput?.addEventListener("change", async () => {
  const file = fileInput.files[0];
  if (!file) return;
  textarea.value = await file.text();
  fileInput.value = ""; // the editor now holds the text: edits must not be overridden by the upload
  document.getElementById("file-read").textContent = `Read ${file.name} into the editor`;
  renderGutter();
  validate();
});
for (const item of issuesList.querySelectorAll(".issue")) {
  const { line, column } = item.dataset;
  const message = item.lastChild.textContent.trim();
  item.replaceWith(issueItem(item.classList.contains("error") ? "error" : "warning", Number(line), Number(column), message));
}

document.getElementById("editor").classList.add("enhanced");
renderGutter();
validate();
