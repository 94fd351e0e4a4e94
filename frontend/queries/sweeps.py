"""The sweeps list: one page of sweeps with progress and best value, in four queries.

What the list shows is narrowed by a `catalog.SweepSearch` (words in the name or tags, a
tag, status, owner, team); the status tabs count the sweeps the rest of the search finds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, Max, Min, Q

from scheduler import access, catalog
from scheduler.models import Membership, Sweep, Trial, TrialStatus, ranked_q

from .common import metric_of, page_number

PAGE_SIZE = 50


@dataclass(frozen=True)
class SweepRow:
    sweep: Sweep
    done: int
    planned: int
    best: float | None
    metric: str
    stopped: int = 0

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.done / self.planned)) if self.planned else 0


@dataclass(frozen=True)
class SweepList:
    rows: list[SweepRow]
    status: str
    counts: dict[str, int]
    page: int
    pages: int
    total: int
    search: catalog.SweepSearch = catalog.SweepSearch()


@dataclass(frozen=True)
class TabCounts:
    """What the status tabs and the summary line show: sweeps per status among those the
    rest of the search finds, and the total under the chosen status filter."""

    status: str
    counts: dict[str, int]
    total: int
    search: catalog.SweepSearch = catalog.SweepSearch()


def tab_counts(user, wanted: catalog.SweepSearch) -> TabCounts:
    """Count the sweeps a user can see and the search finds, per status (one query)."""
    found = catalog.search(access.visible_sweeps(user), wanted.without_status())
    counts = dict(found.values_list("status").annotate(n=Count("id")).order_by())
    status = wanted.status
    total = sum(n for s, n in counts.items() if not status or s in catalog.statuses(status))
    return TabCounts(status, counts, total, wanted)


def sweep_list(user, wanted: catalog.SweepSearch, page: Any = 1) -> SweepList:
    """Return one page of the sweeps a user can see that the search finds, newest first."""
    tabs = tab_counts(user, wanted)
    chosen = catalog.search(access.visible_sweeps(user), wanted)
    pages = max(1, math.ceil(tabs.total / PAGE_SIZE))
    number = page_number(page, pages)
    start = (number - 1) * PAGE_SIZE
    ordered = chosen.select_related("owner", "team").order_by("-created_at", "-id")
    sweeps = list(ordered[start : start + PAGE_SIZE])
    return SweepList(rows(sweeps), tabs.status, tabs.counts, number, pages, tabs.total, wanted)


def link(wanted: catalog.SweepSearch, **changes: Any) -> str:
    """Return the list's query string ("?q=..&status=..") for the search with `changes`."""
    fields = {"text": "", "tag": "", "status": "", "owner": "", "team": None}
    search = catalog.SweepSearch(**{**{k: getattr(wanted, k) for k in fields}, **changes})
    return "?" + urlencode(search.query_string())


def owners_and_teams(user) -> tuple[list[str], list[tuple[int, str]]]:
    """Return what the owner and team filters offer: the members of the user's teams, and
    those teams, each by name (one query)."""
    rows = Membership.objects.filter(team__memberships__user=user).values_list(
        "team_id", "team__name", "user__username"
    )
    teams: dict[int, str] = {}
    owners: set[str] = set()
    for team_id, team_name, username in rows:
        teams[team_id] = team_name
        owners.add(username)
    return sorted(owners), sorted(teams.items(), key=lambda item: (item[1], item[0]))


def matching_ids(user, wanted: catalog.SweepSearch, ids: list[int]) -> set[int]:
    """Return which of the given sweeps the user can see and the search finds (one query)."""
    found = catalog.search(access.visible_sweeps(user).filter(pk__in=ids[:100]), wanted)
    return set(found.values_list("id", flat=True))


def rows(sweeps: list[Sweep]) -> list[SweepRow]:
    """Attach progress and best values to sweeps with one aggregate query."""
    if not sweeps:
        return []
    ranked = ranked_q()  # the trials results.best_trial ranks, so the list shows its value
    stats = {
        row["sweep_id"]: row
        for row in Trial.objects.filter(sweep__in=[s.pk for s in sweeps])
        .values("sweep_id")
        .annotate(
            done=Count("id", filter=Q(status__in=Trial.ENDED) & ~Q(status=TrialStatus.STOPPED)),
            stopped=Count("id", filter=Q(status=TrialStatus.STOPPED)),
            low=Min("metric_value", filter=ranked),
            high=Max("metric_value", filter=ranked),
        )
        .order_by()
    }
    return [row_of(sweep, stats.get(sweep.pk, {})) for sweep in sweeps]


def row_of(sweep: Sweep, stat: dict[str, Any]) -> SweepRow:
    metric = metric_of(sweep)
    best = stat.get("high" if metric.maximize else "low") if metric else None
    planned = int((sweep.plan or {}).get("total_trials") or 0)
    name = metric.name if metric else ""
    done, stopped = int(stat.get("done") or 0), int(stat.get("stopped") or 0)
    return SweepRow(sweep, done, planned, best, name, stopped)


def rows_by_id(user, ids: list[int]) -> list[SweepRow]:
    """Return fresh rows for the given sweeps the user can see (for live updates)."""
    sweeps = list(
        access.visible_sweeps(user).filter(pk__in=ids[:100]).select_related("owner", "team")
    )
    return rows(sweeps)
