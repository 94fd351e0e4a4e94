"""`manage.py sweep validate|plan|submit|status|stop`: sweeps from the command line."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from scheduler import access, plan_table, planning, results, sweeps
from scheduler import spec as specs
from scheduler.models import Sweep, Trial

POLL_SECONDS = 1.0


class Command(BaseCommand):
    help = "Validate, plan, submit, follow and stop Hyperband sweeps."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("validate", help="check a polyaxonfile").add_argument("file")
        plan = sub.add_parser("plan", help="print the bracket plan of a polyaxonfile")
        plan.add_argument("file")
        plan.add_argument("--json", action="store_true", help="print the plan as JSON")
        submit = sub.add_parser("submit", help="create a sweep and start it")
        submit.add_argument("file")
        submit.add_argument("--user", help="owner's username (default: the first superuser)")
        submit.add_argument("--name")
        submit.add_argument("--wait", action="store_true", help="follow it until it ends")
        sub.add_parser("status", help="print a sweep's state").add_argument("id", type=int)
        sub.add_parser("stop", help="stop a running sweep").add_argument("id", type=int)

    def handle(self, *args: object, **options: object) -> None:
        action = str(options["action"])
        getattr(self, f"do_{action}")(**options)

    def load(self, file: str) -> tuple[str, specs.SweepSpec]:
        """Read and parse a file; print every error and exit 1 when it is invalid."""
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file}: cannot read: {exc}") from exc
        try:
            spec = specs.parse(text)
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
        """Print progress until the sweep ends; exit 1 unless it succeeded or stopped early."""
        seen = ""
        while True:
            sweep = Sweep.objects.get(pk=sweep_id)
            line = status_line(sweep)
            if line != seen:
                self.stdout.write(line)
                seen = line
            if not sweep.is_active:
                break
            time.sleep(POLL_SECONDS)
        if sweep.status not in ("succeeded", "early_stopped"):
            sys.exit(1)

    def do_status(self, id: int, **_: object) -> None:
        sweep = get_sweep(id)
        self.stdout.write(status_line(sweep))
        best = results.best(sweep)
        if best is not None:
            self.stdout.write("best: " + json.dumps(best))
        if sweep.status_reason:
            self.stdout.write(f"reason: {sweep.status_reason}")

    def do_stop(self, id: int, **_: object) -> None:
        sweep = get_sweep(id)
        if not sweeps.stop_sweep(sweep.pk):
            raise CommandError(f"sweep {id} is {sweep.status}, not running")
        self.stdout.write(f"sweep {id} stopped")


def status_line(sweep: Sweep) -> str:
    """Summarize a sweep in one line: status and trial counts."""
    totals = results.progress(sweep)["totals"]
    counts, planned = totals["counts"], totals["planned_trials"]
    done = sum(n for s, n in counts.items() if s in Trial.ENDED)
    parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    return f"sweep {sweep.pk} {sweep.status}: {done}/{planned} trials done ({parts or 'none yet'})"


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
