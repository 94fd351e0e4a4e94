// Pick rows to compare: checkboxes (form="<form id>") in a table that is re-rendered live.
// The picks live here, so a live refresh or another page of the table keeps them; the form
// opens the compare page with ?ids=1,2,3 once between `min` and `max` rows are picked.

import { withShare } from "./util.js";

export class Picker {
  constructor(form, container, { min, max, noun, share = "" }) {
    Object.assign(this, { form, min, max, noun, share });
    this.picked = [];
    this.button = form.querySelector("button");
    this.count = form.querySelector("[data-count]");
    container.addEventListener("change", (event) => {
      const box = event.target;
      if (box.form !== form) return;
      this.picked = this.picked.filter((id) => id !== box.value);
      if (box.checked) this.picked.push(box.value);
      this.update();
    });
    // A live refresh swaps the rows: tick again what was picked.
    new MutationObserver(() => this.restore(container)).observe(container, { childList: true, subtree: true });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!this.ready()) return;
      location.href = withShare(`${form.action}?ids=${this.picked.join(",")}`, share);
    });
    this.restore(container);
    this.update();
  }

  ready() {
    return this.picked.length >= this.min && this.picked.length <= this.max;
  }

  restore(container) {
    for (const box of container.querySelectorAll(`input[type=checkbox][form="${this.form.id}"]`)) {
      const want = this.picked.includes(box.value);
      if (box.checked !== want) box.checked = want;
    }
  }

  update() {
    const n = this.picked.length;
    this.button.disabled = !this.ready();
    let text = n ? `${n} ${this.noun}${n > 1 ? "s" : ""} picked` : `pick ${this.min}–${this.max} ${this.noun}s`;
    if (n > this.max) text += `: at most ${this.max}`;
    this.count.textContent = text;
  }
}
