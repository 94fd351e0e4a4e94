"""Template context for every page: the status sets the page scripts read (no JS copy)."""

from __future__ import annotations

from typing import Any

from scheduler.models import Sweep, Trial


def status_sets(request: Any) -> dict[str, Any]:
    """Return the named status sets; base.html serves them as JSON for the page scripts."""
    sets = {
        "sweep_active": Sweep.ACTIVE,
        "trial_unfinished": Trial.UNFINISHED,
        "trial_occupying": Trial.OCCUPYING,
        "trial_ended": Trial.ENDED,
        "trial_ranked": Trial.RANKED,
    }
    return {"status_sets": {name: [str(s) for s in members] for name, members in sets.items()}}
