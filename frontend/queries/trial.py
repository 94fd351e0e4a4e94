"""The trial page: params, timings, output tail and lineage across rungs."""

from __future__ import annotations

from dataclasses import dataclass

from scheduler import access as acl
from scheduler.models import Trial, TrialAttempt

from .common import metric_of, resource_name


@dataclass(frozen=True)
class TrialPage:
    access: acl.Access
    trial: Trial
    lineage: list[Trial]
    metric: dict[str, str] | None
    resource_name: str
    attempts: list[TrialAttempt]

    @property
    def can_run(self) -> bool:
        return self.access.allows(acl.MEMBER)

    @property
    def can_retry(self) -> bool:
        return acl.can_control(self.access) and self.trial.status in ("failed", "lost")

    @property
    def current_attempt_kept(self) -> bool:
        """Whether the trial's current attempt number is already in its kept history (it
        went back to pending and has not started again)."""
        return bool(self.attempts) and self.attempts[-1].number == self.trial.attempt

    @property
    def params(self) -> list[tuple[str, object]]:
        return sorted(self.trial.config.params.items())


def trial_page(found: acl.Access, trial_id: int) -> TrialPage:
    """Return the trial with its config, its config's trials at every rung and its earlier
    attempts (three queries)."""
    trial = Trial.objects.select_related("config").get(pk=trial_id, sweep=found.sweep)
    trial.sweep = found.sweep
    lineage = list(
        Trial.objects.filter(config_id=trial.config_id)
        .defer("stdout_tail", "stderr_tail", "command")
        .order_by("rung")
    )
    attempts = list(trial.attempts.order_by("number"))
    metric, resource = metric_of(found.sweep), resource_name(found.sweep)
    return TrialPage(found, trial, lineage, metric, resource, attempts)


def output(found: acl.Access, trial_id: int) -> dict[str, object]:
    """Return a trial's status and the tails of its stdout and stderr."""
    row = (
        Trial.objects.filter(pk=trial_id, sweep=found.sweep)
        .values("status", "stdout_tail", "stderr_tail", "exit_code", "error")
        .get()
    )
    return {"trial": trial_id, **row}
