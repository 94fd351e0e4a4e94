"""The trial page: params, timings, output tail and lineage across rungs."""

from __future__ import annotations

from dataclasses import dataclass

from scheduler import access as acl
from scheduler.models import Trial

from .common import metric_of, resource_name


@dataclass(frozen=True)
class TrialPage:
    access: acl.Access
    trial: Trial
    lineage: list[Trial]
    metric: dict[str, str] | None
    resource_name: str

    @property
    def can_run(self) -> bool:
        return self.access.allows(acl.MEMBER)

    @property
    def params(self) -> list[tuple[str, object]]:
        return sorted(self.trial.config.params.items())


def trial_page(found: acl.Access, trial_id: int) -> TrialPage:
    """Return the trial with its config and its config's trials at every rung (two queries)."""
    trial = Trial.objects.select_related("config").get(pk=trial_id, sweep=found.sweep)
    trial.sweep = found.sweep
    lineage = list(
        Trial.objects.filter(config_id=trial.config_id)
        .defer("stdout_tail", "stderr_tail", "command")
        .order_by("rung")
    )
    return TrialPage(found, trial, lineage, metric_of(found.sweep), resource_name(found.sweep))


def output(found: acl.Access, trial_id: int) -> dict[str, object]:
    """Return a trial's status and the tails of its stdout and stderr."""
    row = (
        Trial.objects.filter(pk=trial_id, sweep=found.sweep)
        .values("status", "stdout_tail", "stderr_tail", "exit_code", "error")
        .get()
    )
    return {"trial": trial_id, **row}
