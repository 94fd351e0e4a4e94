"""Template helpers: status badges, numbers, durations, and links that keep a share token."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django import template
from django.utils import timezone
from django.utils.html import format_html

from scheduler import webhooks

from .. import eventtext

register = template.Library()

LABELS = {"early_stopped": "early stopped"}


@register.filter
def badge(status: str) -> str:
    """Render a coloured status badge."""
    label = LABELS.get(status, status)
    return format_html('<span class="badge badge-{}" data-status="{}">{}</span>', status,
                       status, label)  # fmt: skip


@register.filter
def shown_url(url: str) -> str:
    """Show a webhook URL as non-admins see it: scheme and host only."""
    return webhooks.shown_url(url)


@register.filter
def num(value: Any) -> str:
    """Format a number compactly (6 significant digits, thousands separators for ints)."""
    return eventtext.number(value)


@register.filter
def seconds(value: float | None) -> str:
    """Format a duration in seconds as `4.2 s`, `3m 05s` or `2h 10m`."""
    if value is None:
        return "—"
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


@register.filter
def ago(moment: datetime | None) -> str:
    """Format a moment as a short age: `12 s`, `5 min`, `3 h`, `2 d`."""
    if moment is None:
        return "—"
    delta = (timezone.now() - moment).total_seconds()
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if delta >= size:
            return f"{int(delta // size)} {unit} ago"
    return "just now" if delta < 5 else f"{int(delta)} s ago"


@register.filter
def param(params: dict[str, Any], name: str) -> Any:
    return params.get(name, "") if isinstance(params, dict) else ""


@register.simple_tag(takes_context=True)
def shared(context: template.Context, url: str) -> str:
    """Append the page's share token, if any, to an internal URL."""
    request = context.get("request")
    token = request.GET.get("share") if request is not None else None
    if not token:
        return url
    return f"{url}{'&' if '?' in url else '?'}{urlencode({'share': token})}"


@register.simple_tag(takes_context=True)
def sort_link(context: template.Context, key: str) -> str:
    """Return the query string that sorts the trial table by `key` (toggling direction)."""
    request = context["request"]
    query = request.GET.copy()
    current = query.get("sort", "id")
    query["sort"] = f"-{key}" if current == key else key
    query.pop("page", None)
    return "?" + query.urlencode()


@register.simple_tag(takes_context=True)
def page_link(context: template.Context, page: int) -> str:
    query = context["request"].GET.copy()
    query.pop("results", None)  # the sweeps list's live-results fetch, not part of a link
    query["page"] = str(page)
    return "?" + query.urlencode()


@register.simple_tag(takes_context=True)
def cell_link(context: template.Context, bracket: int, rung: int) -> str:
    """Return the query string that filters the trial table to one bracket table cell."""
    query = context["request"].GET.copy()
    for key in ("page", "bracket", "rung"):
        query.pop(key, None)
    query["bracket"], query["rung"] = str(bracket), str(rung)
    return "?" + query.urlencode()


@register.filter
def sort_mark(current: str, key: str) -> str:
    if current == key:
        return "▲"
    return "▼" if current == f"-{key}" else ""
