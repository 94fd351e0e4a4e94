"""The sweep page: bracket table, progress, best trial, event log, early-stop banner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scheduler import access as acl
from scheduler import events, notes, results, stored
from scheduler import spec as specs
from scheduler.models import Event, Sweep, Trial

from .. import eventtext
from .brackets import BracketTable, live_table
from .common import metric_of, resource_name
from .iterations import IterationTable, iteration_table
from .trial_table import TrialTable, trial_table

LOG_SIZE = 100


@dataclass(frozen=True)
class Progress:
    """Trials that ran to their end (`done`), hold a slot (`active`), were stopped after
    they started (`stopped`), and planned runs that will never happen (`never_run`, once
    the sweep has ended), out of the `planned` trials."""

    done: int
    active: int
    planned: int
    stopped: int = 0
    never_run: int = 0

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.done / self.planned)) if self.planned else 0


@dataclass(frozen=True)
class SweepState:
    """What live updates refresh: status, progress, best trial, the bracket table and, for a
    bo sweep, the iterations shown in its place."""

    sweep: Sweep
    table: BracketTable
    progress: Progress
    best: Trial | None
    metric: specs.Metric | None
    iterations: IterationTable | None = None


@dataclass(frozen=True)
class SweepPage:
    access: acl.Access
    state: SweepState
    trials: TrialTable
    log: list[dict[str, Any]]
    early_stop: dict[str, Any] | None
    metric_missing: dict[str, Any] | None

    @property
    def can_run(self) -> bool:
        return self.access.allows(acl.MEMBER)

    @property
    def can_annotate(self) -> bool:
        return acl.can_annotate(self.access)

    @property
    def notes(self) -> SweepNotes:
        return sweep_notes(self.access)


@dataclass(frozen=True)
class SweepNotes:
    """The sweep's tags and its note, rendered (see scheduler.notes); `linked`: the tags
    link to the sweeps list (not for a share link's reader, who cannot open it)."""

    sweep: Sweep
    html: str
    linked: bool


def sweep_notes(found: acl.Access) -> SweepNotes:
    """Render a sweep's note for whoever reads the page through `found`."""
    return SweepNotes(found.sweep, notes.render(found.sweep.note), found.share_link is None)


def progress_of(table: BracketTable, planned: int) -> Progress:
    """Sum the bracket table's live counts: trials run, holding a slot, stopped, never run."""
    cells = [cell for _, row in table.rows for cell in row if cell is not None]
    occupying = sum(cell.counts.get(s, 0) for cell in cells for s in Trial.OCCUPYING)
    done = sum(cell.ran for cell in cells)
    stopped = sum(cell.stopped for cell in cells)
    return Progress(done, occupying, planned, stopped, sum(cell.never_run for cell in cells))


def sweep_state(sweep: Sweep) -> SweepState:
    """Read the live part of the sweep page (three queries; four for a bo sweep)."""
    metric, spec = metric_of(sweep), stored.spec_of(sweep)
    table = live_table(sweep, resource_name(sweep), metric)
    planned = int((sweep.plan or {}).get("total_trials") or 0)
    iterations = iteration_table(sweep, spec) if spec.bo is not None else None
    best = results.best_trial(sweep)
    return SweepState(sweep, table, progress_of(table, planned), best, metric, iterations)


def event_log(sweep: Sweep, limit: int = LOG_SIZE) -> list[dict[str, Any]]:
    """Return the latest events, newest first, each with its log line."""
    return [eventtext.with_text(e) for e in results.latest_events(sweep.pk, limit)]


def last_payload(sweep: Sweep, kind: str) -> dict[str, Any] | None:
    """Return the payload of the sweep's latest event of one kind, or None."""
    event = Event.objects.filter(sweep=sweep, kind=kind).order_by("-seq").first()
    return event.payload if event else None


def early_stop(sweep: Sweep) -> dict[str, Any] | None:
    """Return the early-stop event's payload of an early-stopped sweep."""
    return last_payload(sweep, events.EARLY_STOPPED) if sweep.status == "early_stopped" else None


def metric_missing(sweep: Sweep) -> dict[str, Any] | None:
    """Return what a rung that ranked nothing reported, with its log line as `text`."""
    payload = last_payload(sweep, events.METRIC_MISSING) if sweep.status == "failed" else None
    return {**payload, "text": events.missing_text(payload)} if payload else None


def sweep_page(found: acl.Access, get: Any) -> SweepPage:
    """Return everything the sweep page renders, in a fixed number of queries."""
    sweep = found.sweep
    return SweepPage(found, sweep_state(sweep), trial_table(sweep, get), event_log(sweep),
                     early_stop(sweep), metric_missing(sweep))  # fmt: skip


def events_after(sweep_id: int, after: int, limit: int) -> list[dict[str, Any]]:
    """Return up to `limit` events with seq > after, in order, for a resync."""
    page, _ = results.events_after(sweep_id, after, limit)
    return [eventtext.with_text(e) for e in page]
