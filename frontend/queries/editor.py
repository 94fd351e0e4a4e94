"""The new-sweep editor: validate YAML as the API does, preview the plan, launch."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from django.template.loader import render_to_string

from hbsite import examples
from scheduler import access as acl
from scheduler import intake, planning, stored, sweeps
from scheduler import spec as specs
from scheduler.models import Sweep, Team

from .brackets import from_plan


@dataclass(frozen=True)
class Checked:
    """The outcome of validating YAML text."""

    valid: bool
    errors: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    plan: dict[str, Any] | None
    table: str
    spec: specs.SweepSpec | None = None
    refusal: str = ""  # why a valid file was still not launched (e.g. the team)

    def as_json(self) -> dict[str, Any]:
        keys = ("valid", "errors", "warnings", "plan", "table")
        return {key: getattr(self, key) for key in keys}


def issue_dicts(issues: Any) -> list[dict[str, Any]]:
    return [{"line": i.line, "column": i.column, "message": i.message} for i in issues]


def check(text: str) -> Checked:
    """Validate YAML and, when it is valid, plan it and render the bracket table."""
    try:
        spec = stored.validate(intake.checked_text(text))
        plan = planning.plan_dict(spec)
    except specs.SpecError as exc:
        return Checked(False, issue_dicts(exc.issues), [], None, "")
    except ValueError as exc:  # intake.IntakeError, or a plan hyperband refuses
        return Checked(False, [{"line": 1, "column": 1, "message": str(exc)}], [], None, "")
    return Checked(True, [], issue_dicts(spec.warnings), plan, plan_table(spec, plan), spec)


def plan_table(spec: specs.SweepSpec, plan: dict[str, Any]) -> str:
    """Render the plan preview: the bracket table and the totals."""
    name = planning.resource_name(spec)
    table = from_plan(plan, name, spec.metric)
    context = {"table": table, "plan": plan, "resource_name": name, "spec": spec}
    return render_to_string("frontend/_plan_preview.html", context)


def member_teams(user) -> list[Team]:
    """Return the teams the user may launch sweeps in (their personal team at least)."""
    teams = list(acl.teams_of(user, acl.MEMBER).order_by("personal", "name"))
    return teams or [acl.personal_team(user)]


def clone_source(user, sweep_id: Any, share: str | None = None) -> Sweep | None:
    """Return the sweep to clone when the user may run it, else None."""
    try:
        found = acl.sweep_access(user, int(sweep_id), share)
    except (TypeError, ValueError):
        return None
    return found.sweep if found and found.allows(acl.MEMBER) else None


NOT_ALLOWED = "You may not create sweeps in that team: pick a team where you are a member."


def launch(user, text: str, team_id: Any, name: str) -> tuple[Sweep | None, Checked]:
    """Create a sweep in one of the user's teams; return it, or None with the errors.

    No team given means the first team the user may launch in; a team the user is not a
    member or admin of (a viewer's team, someone else's team, an unknown id) is refused with
    a message, and nothing is created.
    """
    checked = check(text)
    teams = {str(t.pk): t for t in member_teams(user)}
    team = teams.get(str(team_id)) if team_id else next(iter(teams.values()))
    if team is None:
        return None, replace(checked, refusal=NOT_ALLOWED)
    if not checked.valid:
        return None, checked
    try:
        sweep = sweeps.create_sweep(text, team=team, owner=user, name=name.strip()[:200] or None)
    except specs.SpecError as exc:
        return None, Checked(False, issue_dicts(exc.issues), [], None, "")
    return sweep, checked


EXAMPLE = "quick.yml"


def example() -> str:
    """Return the new-sweep editor's starting YAML: the shipped quick.yml, a 22-trial Hyperband
    sweep that runs in well under a minute (not the 206-trial demo)."""
    return examples.read(EXAMPLE)
