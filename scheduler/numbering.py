"""Trial numbers (#1..#N within a sweep) for the rows a step is about to insert.

The database numbers any trial inserted without one (migration 0007's trigger: it locks the
sweep's row and takes the highest number plus one). Code that inserts many trials at once
numbers them here instead, with one query rather than one trigger lookup per row: it runs
under the sweep's row lock (`sweeps.lock_sweep`, which every scheduling step holds), which
the trigger also takes, so the two never hand out the same number.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Max

from .models import Sweep, Trial


def numbered(sweep: Sweep, rows: Iterable[Trial]) -> list[Trial]:
    """Give new, unsaved trial rows of the locked sweep the next numbers, in their order."""
    made = list(rows)
    last = Trial.objects.filter(sweep=sweep).aggregate(last=Max("number"))["last"] or 0
    for number, row in enumerate(made, start=last + 1):
        row.number = number
    return made
