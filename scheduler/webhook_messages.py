"""What a webhook receives: a Slack-compatible JSON body (no Django).

The body is both a Slack incoming-webhook message and a Standard Webhooks payload:

    {"text": "<one line for people, in Slack's mrkdwn>",
     "type": "sweep.succeeded",            # the event type (scheduler.models_webhooks)
     "timestamp": "2026-12-01T02:00:00+00:00",
     "data": {"event_id": 41, "sweep": {...}, "team": {...}, ...}}

Slack shows `text` and ignores the other fields; other receivers read `type` and `data`.
Metric values are numbers, or "NaN", "Infinity", "-Infinity" (as in every hbsite payload).
"""

from __future__ import annotations

import json
from typing import Any

ENDINGS = {
    "succeeded": "finished",
    "failed": "failed",
    "early_stopped": "stopped early",
    "stopped": "was stopped",
}


def escape(text: str) -> str:
    """Escape &, < and > as Slack's mrkdwn needs (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    return f"<{url}|{escape(label)}>"


def number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, int | float) else str(value)


def sweep_text(sweep: dict[str, Any], best: dict[str, Any] | None, metric: str | None) -> str:
    """One line saying how a sweep ended and its best trial."""
    status = str(sweep["status"])
    head = f"Sweep {link(sweep['url'], sweep['name'])} (#{sweep['id']}) "
    head += ENDINGS.get(status, status)
    if sweep.get("reason"):
        head += f": {escape(sweep['reason'])}"
    if best is None:
        return head + ". No trial ranked."
    what = f"{escape(metric)} " if metric else ""
    # The trial as people read it: its number in the sweep (the id for events written before
    # trials had numbers).
    name = f"trial #{best['number']}" if best.get("number") else f"trial id {best['trial']}"
    where = f"{name}, bracket {best['bracket']} rung {best['rung']}"
    return f"{head}. Best {what}{number(best['value'])} ({where})."


def rung_text(sweep: dict[str, Any], rung: dict[str, Any], metric: str | None) -> str:
    """One line saying which configs a finished rung promoted."""
    count = len(rung.get("promoted") or [])
    configs = "config" if count == 1 else "configs"
    line = (
        f"Sweep {link(sweep['url'], sweep['name'])} (#{sweep['id']}): bracket {rung['bracket']} "
        f"rung {rung['rung']} promoted {count} {configs} to rung {rung['to_rung']}"
    )
    if rung.get("resource") is not None:
        line += f" (resource {number(rung['resource'])})"
    if rung.get("cutoff") is not None:
        line += f", cut-off {escape(metric) + ' ' if metric else ''}{number(rung['cutoff'])}"
    return line + "."


def body(kind: str, text: str, timestamp: str, data: dict[str, Any]) -> str:
    """Return the JSON text sent (and signed) for one message."""
    message = {"text": text, "type": kind, "timestamp": timestamp, "data": data}
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
