"""From a validated spec to its plan: brackets for Hyperband, one rung for the other searches.

Pure Python, no Django: the API, the CLI, the editor and the scheduler all plan through here.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from . import hyperband
from .spec_types import SweepSpec


def build_plan(spec: SweepSpec) -> hyperband.Plan:
    """Plan the brackets of a sweep (one single-rung bracket for random, grid search and bo).

    A discrete matrix smaller than a bracket caps it (see `hyperband.hyperband_plan`); for
    bo it caps the random configs, which are drawn without repeats.
    Raises ValueError for a plan `hyperband` refuses.
    """
    space = spec.matrix
    size = space.size if space.is_discrete else None
    if spec.hyperband is not None:
        hb = spec.hyperband
        return hyperband.hyperband_plan(
            Fraction(hb.max_iter), hb.eta, sizing=hb.sizing, max_configs=size
        )
    if spec.bo is not None:
        initial = min(spec.bo.n_initial_trials, size or spec.bo.n_initial_trials)
        budget = (initial, spec.bo.n_iterations)
        return hyperband.single_rung_plan("bo", sum(budget), budget)
    if spec.random_search is not None:
        wanted = spec.random_search.n_experiments
        return hyperband.single_rung_plan("random_search", min(wanted, size or wanted))
    assert spec.grid_search is not None and size is not None
    wanted = spec.grid_search.n_experiments or size
    return hyperband.single_rung_plan("grid_search", min(wanted, size))


def resource_type(spec: SweepSpec) -> str:
    """Return how rung resources are rendered: "int" (floored) or "float"."""
    return spec.hyperband.resource.type if spec.hyperband else "int"


def resource_name(spec: SweepSpec) -> str:
    """Return the placeholder name of the resource (e.g. num_steps), or "resource"."""
    return spec.hyperband.resource.name if spec.hyperband else "resource"


def plan_dict(spec: SweepSpec) -> dict[str, Any]:
    """Return the JSON plan stored with a sweep and shown by the API, the CLI and the editor."""
    return build_plan(spec).to_dict(resource_type(spec))
