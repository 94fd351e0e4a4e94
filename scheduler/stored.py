"""The one typed reading of a stored sweep: its spec and plan as objects, cached per process.

A sweep's YAML never changes once stored, so it is parsed once per process and every reader
(the scheduler, the runner, the API, the pages, the exports) gets the same frozen objects.
"""

from __future__ import annotations

import functools

from . import hyperband, planning
from . import spec as specs
from .models import Sweep


@functools.lru_cache(maxsize=256)
def parse(text: str) -> specs.SweepSpec:
    """Parse sweep YAML once per process; raises specs.SpecError for invalid text."""
    return specs.parse(text)


@functools.lru_cache(maxsize=256)
def _plan(text: str) -> hyperband.Plan:
    return planning.build_plan(parse(text))


def spec_of(sweep: Sweep) -> specs.SweepSpec:
    """Return the typed spec of a stored sweep."""
    return parse(sweep.yaml)


def plan_of(sweep: Sweep) -> hyperband.Plan:
    """Return the typed plan of a stored sweep (the same plan as its stored JSON)."""
    return _plan(sweep.yaml)
