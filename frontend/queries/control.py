"""What the sweep page's controls offer: pause or resume, retry failed trials, concurrency."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count

from scheduler import access as acl
from scheduler import control
from scheduler.models import Sweep


@dataclass(frozen=True)
class Controls:
    """The control panel of one sweep for one caller (`can_act`: a member or admin)."""

    sweep: Sweep
    can_act: bool
    failed_rungs: list[tuple[int, int, int]]  # (bracket, rung, failed or lost trials)

    @property
    def failed(self) -> int:
        return sum(n for _, _, n in self.failed_rungs)

    @property
    def resumable(self) -> bool:
        """An ended sweep that may run again as a new run."""
        return self.sweep.status in control.RESUMABLE

    @property
    def can_retry(self) -> bool:
        return self.failed > 0 and may_retry(self.sweep, self.can_act)


def may_retry(sweep: Sweep, can_act: bool) -> bool:
    """Tell whether a caller who may (not) act can retry this sweep's failed trials now: an
    active sweep, or a stopped or failed one (the retry resumes it)."""
    return can_act and (sweep.is_active or sweep.status in control.RESUMABLE)


def controls(found: acl.Access) -> Controls:
    """Read the controls of a sweep (one query, and none for a caller who may not act)."""
    sweep, can_act = found.sweep, acl.can_control(found)
    if not can_act:
        return Controls(sweep, False, [])
    rows = (
        control.failed_of(sweep)
        .values("bracket", "rung")
        .annotate(n=Count("id"))
        .order_by("-bracket", "rung")
    )
    return Controls(sweep, True, [(r["bracket"], r["rung"], r["n"]) for r in rows])
