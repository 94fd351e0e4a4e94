"""The one typed reading of a stored sweep: its spec and plan as objects, cached per process.

A sweep's YAML never changes once stored, so it is parsed once per process and every reader
(the scheduler, the runner, the API, the pages, the exports) gets the same frozen objects.
"""

from __future__ import annotations

import functools

from django.conf import settings

from . import hyperband, planning
from . import spec as specs
from .models import Sweep


def validate(text: str) -> specs.SweepSpec:
    """Validate new sweep YAML, its plan within `settings.HBSITE_MAX_PLAN_TRIALS` trials.

    Raises specs.SpecError (every problem, with line and column).
    """
    return specs.parse(text, max_plan_trials=settings.HBSITE_MAX_PLAN_TRIALS)


@functools.lru_cache(maxsize=256)
def parse(text: str) -> specs.SweepSpec:
    """Parse stored sweep YAML once per process, whatever the plan limit is now.

    Raises specs.SpecError for invalid text.
    """
    return specs.parse(text, max_plan_trials=None)


@functools.lru_cache(maxsize=256)
def _plan(text: str) -> hyperband.Plan:
    return planning.build_plan(parse(text))


def spec_of(sweep: Sweep) -> specs.SweepSpec:
    """Return the typed spec of a stored sweep."""
    return parse(sweep.yaml)


def plan_of(sweep: Sweep) -> hyperband.Plan:
    """Return the typed plan of a stored sweep (the same plan as its stored JSON)."""
    return _plan(sweep.yaml)
