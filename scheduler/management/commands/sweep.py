"""`manage.py sweep validate|plan|submit|status|stop|pause|resume|retry|concurrency`: sweeps
from the command line."""

from __future__ import annotations

import json
import shutil
import sys
import time
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from hbsite import examples
from scheduler import access, control, metric_values, plan_table, planning, results, stored, sweeps
from scheduler import spec as specs
from scheduler.models import Sweep, Trial

POLL_SECONDS = 1.0
FILE_HELP = "a polyaxonfile, or the name of a shipped example (hyperband.yml, ...)"


class Command(BaseCommand):
    help = "Validate, plan, submit, follow and stop Hyperband sweeps."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("validate", help="check a polyaxonfile").add_argument("file", help=FILE_HELP)
        plan = sub.add_parser("plan", help="print the bracket plan of a polyaxonfile")
        plan.add_argument("file", help=FILE_HELP)
        plan.add_argument("--json", action="store_true", help="print the plan as JSON")
        submit = sub.add_parser("submit", help="create a sweep and start it")
        submit.add_argument("file", help=FILE_HELP)
        submit.add_argument("--user", help="owner's username (default: the first superuser)")
        submit.add_argument("--name")
        submit.add_argument("--wait", action="store_true", help="follow it until it ends")
        sub.add_parser("status", help="print a sweep's state").add_argument("id", type=int)
        sub.add_parser("stop", help="stop a running sweep").add_argument("id", type=int)
        self.add_control_arguments(sub)

    def add_control_arguments(self, sub) -> None:
        """The actions of a team member on a sweep; --user names who acts (the event log)."""
        pause = sub.add_parser("pause", help="start nothing new; running trials finish")
        pause.add_argument("--requeue", action="store_true", help="stop and requeue them instead")
        resume = sub.add_parser("resume", help="resume a paused, stopped or failed sweep")
        resume.add_argument("--retry-failed", action="store_true", help="retry failed trials too")
        retry = sub.add_parser("retry", help="retry failed trials as new attempts")
        retry.add_argument("--trial", type=int, action="append", help="a trial id (repeatable)")
        retry.add_argument("--bracket", type=int, help="only this bracket's failed trials")
        retry.add_argument("--rung", type=int, help="only this rung's failed trials")
        concurrency = sub.add_parser("concurrency", help="change trials at once, applied now")
        for parser in (pause, resume, retry, concurrency):
            parser.add_argument("id", type=int, help="the sweep id")
            parser.add_argument("--user", help="who acts (default: the first superuser)")
        concurrency.add_argument("concurrency", type=int, help="from 1 to 10000")

    def handle(self, *args: object, **options: object) -> None:
        action = str(options["action"])
        getattr(self, f"do_{action}")(**options)

    def load(self, file: str) -> tuple[str, specs.SweepSpec]:
        """Read and parse a file; print every error and exit 1 when it is invalid."""
        try:
            text = examples.read_sweep(file)
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file}: cannot read: {exc}") from exc
        try:
            spec = stored.validate(text)
        except specs.SpecError as exc:
            for issue in exc.issues:
                self.stderr.write(issue.format(file))
            sys.exit(1)
        for warning in spec.warnings:
            self.stderr.write(warning.format(file) + " (warning)")
        return text, spec

    def do_validate(self, file: str, **_: object) -> None:
        _, spec = self.load(file)
        plan = planning.build_plan(spec)
        shape = f"{len(plan.brackets)} brackets"
        if plan.budget is not None:
            shape = f"{plan.budget[0]} random + {plan.budget[1]} suggested"
        self.stdout.write(
            f"{file}: ok: {spec.algorithm}, {len(spec.matrix.params)} params, {shape}, "
            f"{plan.total_configs} configs, {plan.total_trials} trials, "
            f"concurrency {spec.concurrency}"
        )

    def do_plan(self, file: str, json: bool = False, **_: object) -> None:
        _, spec = self.load(file)
        plan = planning.build_plan(spec)
        kind = planning.resource_type(spec)
        if json:
            self.stdout.write(plan_table.render_json(plan, kind))
            return
        self.stdout.write(plan_table.render_table(plan, kind, planning.resource_name(spec)))

    def do_submit(self, file: str, user: str | None, name: str | None, wait: bool, **_):
        text, _spec = self.load(file)
        owner = find_user(user)
        sweep = sweeps.create_sweep(text, team=access.personal_team(owner), owner=owner, name=name)
        self.stdout.write(f"sweep {sweep.pk} created: {sweep.name}")
        if wait:
            self.follow(sweep.pk)

    def follow(self, sweep_id: int) -> None:
        """Show progress until the sweep ends; exit 1 unless it succeeded or stopped early.

        On a terminal a bar (trials done / planned) updates in place; otherwise each change
        is one plain line. The last line is the final status line either way.
        """
        out = self.stdout._out  # the raw stream: the wrapper would end every write in \n
        on_tty = self.stdout.isatty()
        # A terminal that reports no size (a bare pseudo-terminal) counts as 80 × 24: tqdm
        # would otherwise draw nothing there.
        size = shutil.get_terminal_size()
        bar = tqdm(unit="trial", file=out, disable=not on_tty, ncols=size.columns, nrows=size.lines)
        seen = ""
        with bar:
            while True:
                sweep = Sweep.objects.get(pk=sweep_id)
                progress = sweep_progress(sweep)
                if not on_tty and progress.line != seen:
                    self.stdout.write(progress.line)
                    seen = progress.line
                elif on_tty:
                    bar.total, bar.n = progress.planned, progress.done
                    bar.set_description(f"sweep {sweep.pk} {sweep.status}", refresh=False)
                    bar.set_postfix_str(progress.counts)
                if not sweep.is_active:
                    break
                time.sleep(POLL_SECONDS)
        if on_tty:
            self.stdout.write(progress.line)
        if sweep.status not in ("succeeded", "early_stopped"):
            sys.exit(1)

    def do_status(self, id: int, **_: object) -> None:
        sweep = get_sweep(id)
        self.stdout.write(status_line(sweep))
        best = results.best(sweep)
        if best is not None:
            self.stdout.write("best: " + json.dumps(metric_values.wire_tree(best), allow_nan=False))
        if sweep.status_reason:
            self.stdout.write(f"reason: {sweep.status_reason}")

    def do_stop(self, id: int, **_: object) -> None:
        sweep = get_sweep(id)
        if not sweeps.stop_sweep(sweep.pk):
            raise CommandError(f"sweep {id} is {sweep.status}, not running")
        self.stdout.write(f"sweep {id} stopped")

    def do_pause(self, id: int, user: str | None, requeue: bool, **_: object) -> None:
        sweep = act(lambda actor: control.pause(id, actor, requeue), id, user)
        requeued = " (running trials requeued)" if requeue else ""
        self.stdout.write(f"sweep {id} paused{requeued}: {status_line(sweep)}")

    def do_resume(self, id: int, user: str | None, retry_failed: bool, **_: object) -> None:
        sweep = act(lambda actor: control.resume(id, actor, retry_failed), id, user)
        self.stdout.write(f"sweep {id} resumed (run {sweep.run}): {status_line(sweep)}")

    def do_retry(self, id: int, user: str | None, trial, bracket, rung, **_: object) -> None:
        retried = act(lambda actor: control.retry(id, actor, trial, bracket, rung), id, user)
        self.stdout.write(f"sweep {id}: retrying trial(s) {', '.join(map(str, retried))}")

    def do_concurrency(self, id: int, user: str | None, concurrency: int, **_: object) -> None:
        act(lambda actor: control.set_concurrency(id, concurrency, actor), id, user)
        self.stdout.write(f"sweep {id}: concurrency {concurrency}")


def act(action, sweep_id: int, username: str | None):
    """Run a control action as a member or admin of the sweep's team; CommandError if the user
    may not act or the action does not apply."""
    actor = find_user(username)
    found = access.sweep_access(actor, sweep_id)
    if found is None:
        raise CommandError(f"no sweep {sweep_id} visible to {actor.get_username()}")
    if not access.can_control(found):
        raise CommandError(f"{actor.get_username()} is a {found.role}: only members act")
    try:
        return action(actor)
    except control.ControlError as exc:
        raise CommandError(str(exc)) from exc


class Progress(NamedTuple):
    """A sweep's trials: ended, planned, counts per status as text, and the status line."""

    done: int
    planned: int
    counts: str
    line: str


def sweep_progress(sweep: Sweep) -> Progress:
    totals = results.progress(sweep)["totals"]
    counts, planned = totals["counts"], totals["planned_trials"]
    done = sum(n for s, n in counts.items() if s in Trial.ENDED)
    parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none yet"
    line = f"sweep {sweep.pk} {sweep.status}: {done}/{planned} trials done ({parts})"
    return Progress(done, planned, parts, line)


def status_line(sweep: Sweep) -> str:
    """Summarize a sweep in one line: status and trial counts."""
    return sweep_progress(sweep).line


def get_sweep(sweep_id: int) -> Sweep:
    sweep = Sweep.objects.filter(pk=sweep_id).first()
    if sweep is None:
        raise CommandError(f"no sweep {sweep_id}")
    return sweep


def find_user(username: str | None):
    users = get_user_model().objects
    user = (
        users.filter(username=username).first()
        if username
        else users.filter(is_superuser=True).order_by("id").first()
    )
    if user is None:
        raise CommandError("no such user: pass --user NAME (or create a superuser first)")
    return user
