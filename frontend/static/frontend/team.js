// The team page's webhook delivery log stays current: it is fetched again every 3 s while a
// delivery is pending (a test just sent, a retry waiting) and every 15 s otherwise, and not
// at all while the tab is hidden.
import { getJSON } from "./util.js";

const table = document.getElementById("delivery-log");
const SOON = 3000;
const LATER = 15000;

function hasPending() {
  return table.querySelector("[data-status=pending]") !== null;
}

async function refresh() {
  if (document.visibilityState === "visible") {
    try {
      const fresh = await getJSON(table.dataset.rowsUrl);
      table.tBodies[0].innerHTML = fresh.rows;
    } catch (error) {
      console.warn("delivery log not refreshed:", error);
    }
  }
  setTimeout(refresh, hasPending() ? SOON : LATER);
}

if (table) setTimeout(refresh, hasPending() ? SOON : LATER);
