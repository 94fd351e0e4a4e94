"""One line of text per sweep event, for the event log (server-rendered and live)."""

from __future__ import annotations

import math
from typing import Any

from scheduler import events, metric_values

NON_FINITE = {"NaN": "NaN", "Infinity": "+∞", "-Infinity": "−∞"}


def number(value: Any) -> str:
    """Format a metric or resource value compactly; NaN and infinities (as floats or in their
    JSON string form, see metric_values) as NaN, +∞ and −∞."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else NON_FINITE[metric_values.to_wire(value)]
    return NON_FINITE.get(str(value), str(value))


def _numbers(p: dict[str, Any], limit: int = 8) -> str:
    """List queued trials by number (#3, #4); by id ("id 812") in a payload without numbers."""
    shown = p.get("numbers") or [f"id {i}" for i in p.get("trials") or []]
    listed = ", ".join(f"#{n}" if isinstance(n, int) else str(n) for n in shown[:limit])
    return listed + (f" and {len(shown) - limit} more" if len(shown) > limit else "")


def _ids(p: dict[str, Any], key: str, limit: int = 8) -> str:
    """List the trials under `key` by number (#3), by id ("id 812") when the payload does not
    carry their numbers (`trial_numbers`: id -> number)."""
    ids = p.get(key) or []
    numbers = p.get("trial_numbers") or {}
    shown = [f"#{numbers[str(i)]}" if str(i) in numbers else f"id {i}" for i in ids[:limit]]
    return ", ".join(shown) + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def trial_label(p: dict[str, Any]) -> str:
    """Name a trial as people read it: "trial #3", its number within the sweep (the global id
    only for a payload written before trials had numbers)."""
    number = p.get("number")
    return f"trial #{number}" if number else f"trial id {p.get('trial')}"


def _trial(p: dict[str, Any]) -> str:
    return f"{trial_label(p)} (bracket {p.get('bracket')}, rung {p.get('rung')})"


def _finished(p: dict[str, Any]) -> str:
    text = f"{_trial(p)} {p.get('status')}"
    if p.get("metric_value") is not None:
        text += f", metric {number(p['metric_value'])}"
    if p.get("error") and p.get("status") != "succeeded":
        text += f": {p['error']}"
    return text


def _promoted(p: dict[str, Any]) -> str:
    n = len(p.get("promoted") or [])
    cutoff = "" if p.get("cutoff") is None else f", cut-off {number(p['cutoff'])}"
    more = f" more (topped up: {p['top_up']} before)" if p.get("top_up") else ""
    return (
        f"bracket {p.get('bracket')} rung {p.get('rung')}: {n}{more} promoted to rung "
        f"{p.get('to_rung')} at resource {number(p.get('resource'))}{cutoff}"
    )


def _early(p: dict[str, Any]) -> str:
    return (
        f"early stop: {_trial(p)} reached {p.get('metric')} = {number(p.get('value'))} "
        f"(rule {p.get('rule')})"
    )


def _rejected(p: dict[str, Any]) -> str:
    reasons = "; ".join(p.get("reasons") or [])
    return f"{_trial(p)}: {p.get('count')} metric point(s) or line(s) not stored: {reasons}"


def _configs_made(p: dict[str, Any]) -> str:
    parts = []
    for made in p.get("configs") or []:
        text = f"config {made.get('index')} {made.get('how')}"
        if made.get("acquisition") is not None:
            text += f" (acquisition {number(made['acquisition'])})"
        parts.append(text)
    return "; ".join(parts)


def _paused(p: dict[str, Any]) -> str:
    text = f"paused by {p.get('by')}: nothing new starts"
    if p.get("requeue"):
        return f"{text}; running trials {_ids(p, 'requeued') or 'none'} requeued"
    return f"{text}; running trials finish"


def _resumed(p: dict[str, Any]) -> str:
    text = f"resumed by {p.get('by')}"
    if p.get("requeued") or p.get("retried"):
        text += f" as run {p.get('run')}"
    if p.get("requeued"):
        text += f"; {len(p['requeued'])} stopped trial(s) requeued"
    if p.get("retried"):
        text += f"; {len(p['retried'])} failed trial(s) retried"
    return text


def _retried(p: dict[str, Any]) -> str:
    text = f"{p.get('by')} retried {_ids(p, 'trials')} as new attempts"
    rungs = ", ".join(f"bracket {s} rung {i}" for s, i in p.get("reopened") or [])
    return text + (f"; {rungs} will be topped up once they end" if rungs else "")


def _concurrency(p: dict[str, Any]) -> str:
    text = f"{p.get('by')} changed concurrency from {p.get('old')} to {p.get('new')}"
    return text + (f"; {_ids(p, 'unqueued')} back to pending" if p.get("unqueued") else "")


def _finished_sweep(p: dict[str, Any]) -> str:
    reason = f": {p['reason']}" if p.get("reason") else ""
    return f"sweep {p.get('status')}{reason}"


TEXTS = {
    events.SWEEP_CREATED: lambda p: (
        f"sweep created: {p.get('plan', {}).get('total_trials')} trials planned"
    ),
    events.SWEEP_STARTED: lambda p: f"sweep started with {p.get('trials')} first-rung trials",
    events.SWEEP_FINISHED: _finished_sweep,
    events.TRIAL_QUEUED: lambda p: f"queued {_numbers(p)}",
    events.TRIAL_STARTED: lambda p: f"{_trial(p)} started (attempt {p.get('attempt')})",
    events.TRIAL_FINISHED: _finished,
    events.TRIAL_REQUEUED: lambda p: f"{_trial(p)} requeued: runner {p.get('lost_worker')} lost",
    events.RUNG_PROMOTED: _promoted,
    events.EARLY_STOPPED: _early,
    events.METRICS_REJECTED: _rejected,
    events.METRIC_MISSING: events.missing_text,
    events.CONFIGS_MADE: _configs_made,
    events.SWEEP_PAUSED: _paused,
    events.SWEEP_RESUMED: _resumed,
    events.TRIALS_RETRIED: _retried,
    events.CONCURRENCY_CHANGED: _concurrency,
    events.TAGS_CHANGED: lambda p: (
        f"{p.get('by') or 'someone'} set the tags to {', '.join(p.get('tags') or []) or 'none'}"
    ),
    events.NOTE_CHANGED: lambda p: (
        f"{p.get('by') or 'someone'} {'edited' if p.get('length') else 'cleared'} the note"
    ),
}


LABELS = {
    events.SWEEP_CREATED: "created",
    events.SWEEP_STARTED: "started",
    events.SWEEP_FINISHED: "sweep ended",
    events.TRIAL_QUEUED: "queued",
    events.TRIAL_STARTED: "trial started",
    events.TRIAL_FINISHED: "trial ended",
    events.TRIAL_REQUEUED: "requeued",
    events.RUNG_PROMOTED: "promoted",
    events.EARLY_STOPPED: "early stop",
    events.METRICS_REJECTED: "not stored",
    events.METRIC_MISSING: "no metric",
    events.CONFIGS_MADE: "configs",
    events.SWEEP_PAUSED: "paused",
    events.SWEEP_RESUMED: "resumed",
    events.TRIALS_RETRIED: "retried",
    events.CONCURRENCY_CHANGED: "concurrency",
    events.TAGS_CHANGED: "tags",
    events.NOTE_CHANGED: "note",
}


def describe(kind: str, payload: dict[str, Any]) -> str:
    """Return the log line for an event."""
    text = TEXTS.get(kind)
    return text(payload) if text else kind.replace("_", " ")


def with_text(event: dict[str, Any]) -> dict[str, Any]:
    """Return an event message (seq, kind, payload, time) with its log line added."""
    text = describe(event["kind"], event.get("payload") or {})
    return {**event, "text": text, "label": LABELS.get(event["kind"], event["kind"])}
