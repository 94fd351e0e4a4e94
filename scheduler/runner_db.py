"""Claiming a trial attempt, and the runner backend that works on the database directly.

`start` is the one claim every runner goes through: the local backend below calls it on
the database, the API's runner endpoints (scheduler.api.views_runner) call it for a runner
on another machine. It fences the attempt (scheduler.trials.claim), renders the command,
fixes the checkpoint dir under the runner's data directory and records which runner has it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from django.conf import settings

from . import command, dbretry, handoff, metrics, queueing, stored, trials
from .models import Trial, hash_secret
from .runner import Assignment, End, MayTakeNext, finish_plainly, sweep_dir, worker_name

log = logging.getLogger(__name__)


def checkpoint_dir(trial: Trial, resume: bool, data_dir: Path | str | None = None) -> Path:
    """Resume shares one directory per config across rungs; otherwise each trial gets its
    own. Under `data_dir`, the claiming runner's data directory (default: this machine's)."""
    base = sweep_dir(trial.sweep_id, data_dir)
    return base / "configs" / str(trial.config_id) if resume else base / "trials" / str(trial.pk)


def template_values(trial: Trial) -> dict[str, Any]:
    """Collect what `{{ name }}` may stand for: declarations, inputs, params, the resource.

    Where a name is defined twice, the matrix value beats a declaration or input, and the
    rung's resource beats both (see spec_templates.check_names).
    """
    spec = stored.spec_of(trial.sweep)
    values: dict[str, Any] = {**spec.params, **trial.config.params}
    if spec.hyperband is not None:
        values[spec.hyperband.resource.name] = resource_value(trial)
    return values


def resource_value(trial: Trial) -> int | float | None:
    spec = stored.spec_of(trial.sweep)
    if trial.resource is None or spec.hyperband is None:
        return None
    return int(trial.resource) if spec.hyperband.resource.type == "int" else trial.resource


def prepare(trial: Trial, data_dir: Path | str | None = None, runner: str = "") -> None:
    """Fill in the trial's command, checkpoint dir (under `data_dir`) and runner as it is
    claimed."""
    spec = stored.spec_of(trial.sweep)
    resume = bool(spec.hyperband and spec.hyperband.resume)
    trial.command = command.render(spec.run.parts or spec.run.cmd, template_values(trial))
    trial.checkpoint_dir = str(checkpoint_dir(trial, resume, data_dir))
    trial.runner = runner


def start(trial_id: int, worker: str, runner: str, data_dir: Path | str) -> Assignment | None:
    """Claim a queued trial for `runner` (its name; `worker` is host:pid:thread) whose data
    directory is `data_dir`; return what it needs to run the attempt, or None when the
    trial is not queued (another runner has it, it was stopped) or its sweep is not running.
    """
    claim = trials.claim(trial_id, worker, lambda t: prepare(t, data_dir, runner))
    return None if claim is None else assignment_of(claim)


def assignment_of(claim: trials.Claim) -> Assignment:
    """Return what a runner needs to run the attempt it has claimed."""
    trial = claim.trial  # with its locked sweep, as the claim read it
    spec = stored.spec_of(trial.sweep)
    hyperband = spec.hyperband
    return Assignment(
        trial=trial.pk,
        number=trial.number,
        sweep=trial.sweep_id,
        bracket=trial.bracket,
        rung=trial.rung,
        attempt=trial.attempt,
        token=claim.token,
        params=trial.config.params,
        resource=resource_value(trial),
        resource_name=hyperband.resource.name if hyperband is not None else None,
        resume=bool(hyperband and hyperband.resume),
        command=trial.command,
        checkpoint_dir=trial.checkpoint_dir,
        workdir=spec.run.workdir or "",
        timeout=spec.run.timeout,
    )


@dataclass
class Finishing:
    """One thread's finish waiting in the Finisher: what it brings, and what it gets back."""

    a: Assignment
    ending: handoff.Ending  # its take_next still to be asked of `may_take_next`
    may_take_next: MayTakeNext
    wake: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    settled: bool = False
    outcome: tuple[bool, Assignment | None] = (False, None)
    error: BaseException | None = None
    fall_back: bool = False


class Finisher:
    """Finish the attempts of one sweep that this process's runner threads end at about the
    same time in one transaction (scheduler.handoff), one round at a time.

    A thread that finds no round of its sweep under way leads one: it takes every finish
    queued for the sweep, its own included, and does them together; the finishes queued
    meanwhile wait for the next round, led by the first of them. So the sweep's lock is
    taken once per round, not once per trial, and its scheduling step is taken once for
    all of them.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queued: dict[int, list[Finishing]] = {}
        self.leading: set[int] = set()

    def finish(self, mine: Finishing) -> Finishing:
        sweep = mine.a.sweep
        with self.lock:
            self.queued.setdefault(sweep, []).append(mine)
            mine.lead = sweep not in self.leading
            self.leading.add(sweep)
        if not mine.lead:
            mine.wake.wait()  # settled by a round, or asked to lead the next one
        if mine.settled:
            return mine
        with self.lock:
            batch = self.queued.pop(sweep, [])
        try:
            self.round(sweep, batch)
        finally:
            with self.lock:
                waiting = self.queued.get(sweep)
                if waiting:
                    waiting[0].lead = True
                    waiting[0].wake.set()
                else:
                    self.leading.discard(sweep)
        return mine

    def round(self, sweep: int, batch: list[Finishing]) -> None:
        name, data_dir = settings.HBSITE_RUNNER_NAME, settings.HBSITE_DATA_DIR
        keep_for = (queueing.TRIALS, queueing.runner_queue(name))
        try:
            outcomes = dbretry.call(
                handoff.finish_and_claim, sweep, endings(batch), keep_for,
                lambda t: prepare(t, data_dir, name),
            )  # fmt: skip
            for finishing, (done, claim) in zip(batch, outcomes, strict=True):
                finishing.outcome = (done, None if claim is None else assignment_of(claim))
        except dbretry.TRANSIENT as exc:
            for finishing in batch:
                finishing.error = exc
        except Exception:
            # A scheduling step that fails must not lose the attempts' ends: each thread
            # stores its own alone; the `advance` task then takes the step as before.
            log.exception("finishing trials of sweep %s with the next step failed", sweep)
            for finishing in batch:
                finishing.fall_back = True
        finally:
            for finishing in batch:
                finishing.settled = True
                finishing.wake.set()


def endings(batch: list[Finishing]) -> list[handoff.Ending]:
    """Return the round's endings, each taking a next trial when its thread's
    `may_take_next()` says so: asked once per round (it asks the broker), not once per
    thread, as every thread of a runner process asks the same of it."""
    asked: dict[MayTakeNext, bool] = {}
    found = []
    for finishing in batch:
        ask = finishing.may_take_next
        if ask not in asked:
            asked[ask] = ask()
        found.append(replace(finishing.ending, take_next=asked[ask]))
    return found


def fence_of(a: Assignment) -> trials.Fence:
    """Return the fence an assignment speaks for (its token is hashed, as stored)."""
    return trials.Fence(a.trial, a.attempt, hash_secret(a.token))


def fenced_trial(a: Assignment) -> Trial:
    """Return a Trial that speaks for the assignment's attempt in metrics.record: the row
    as it is now (sweep loaded), with the attempt's number and token hash."""
    trial = Trial.objects.select_related("sweep").get(pk=a.trial)
    trial.attempt, trial.token_hash = a.attempt, hash_secret(a.token)
    return trial


class DbBackend:
    """The local runner's backend: the fenced functions, on the database, ridden out with
    scheduler.dbretry. Its runner name is HBSITE_RUNNER_NAME (default: the host name)."""

    transient = dbretry.TRANSIENT

    def __init__(self) -> None:
        self.api_url = settings.HBSITE_API_URL
        self.loaded: dict[tuple[int, int], Trial] = {}
        self.lock = threading.Lock()
        self.finisher = Finisher()

    def start(self, trial_id: int) -> Assignment | None:
        name, data_dir = settings.HBSITE_RUNNER_NAME, settings.HBSITE_DATA_DIR
        return dbretry.call(start, trial_id, worker_name(), name, data_dir)

    def heartbeat(self, a: Assignment, pid: int | None, stdout: str, stderr: str) -> bool:
        try:
            return dbretry.call_within(
                settings.HBSITE_HEARTBEAT_SECONDS,
                trials.heartbeat, fence_of(a), pid, stdout, stderr,
            )  # fmt: skip
        except Exception:
            dbretry.drop_connection()
            raise

    def _trial(self, a: Assignment, budget: float) -> Trial:
        key = (a.trial, a.attempt)
        with self.lock:
            found = self.loaded.get(key)
        if found is None:
            found = dbretry.call_within(budget, fenced_trial, a)
            with self.lock:
                self.loaded[key] = found
        return found

    def record(self, a: Assignment, points: list[metrics.Point], budget: float) -> bool:
        trial = self._trial(a, budget)
        return bool(dbretry.call_within(budget, metrics.record, trial, points))

    def reject(self, a: Assignment, reasons: list[str], count: int, budget: float) -> None:
        dbretry.call_within(budget, metrics.reject, a.trial, reasons, count)

    def finish(
        self, a: Assignment, exit_code: int | None, error: str, stdout: str, stderr: str
    ) -> bool:
        self._forget(a)
        return dbretry.call(trials.finish, fence_of(a), exit_code, error, stdout, stderr)

    def finish_and_take(
        self, a: Assignment, end: End, may_take_next: MayTakeNext, points: list[metrics.Point]
    ) -> tuple[bool, Assignment | None]:
        ending = handoff.Ending(fence_of(a), *end, True, worker_name(), tuple(points))
        finishing = self.finisher.finish(Finishing(a, ending, may_take_next))
        try:
            if finishing.error is not None:
                raise finishing.error
            if finishing.fall_back:
                return finish_plainly(self, a, end, points)
            return finishing.outcome
        finally:
            self._forget(a)

    def give_up(self, a: Assignment, why: str) -> bool:
        self._forget(a)
        return dbretry.call(trials.give_up, fence_of(a), why)

    def _forget(self, a: Assignment) -> None:
        with self.lock:
            self.loaded.pop((a.trial, a.attempt), None)
