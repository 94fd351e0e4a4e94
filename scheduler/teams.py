"""Teams and their members: create a team, add, re-role and remove members.

A team always keeps at least one admin; the caller's own role is checked by the view.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from .access import ADMIN
from .models import Membership, Team
from .yamlsource import unstorable


class TeamError(ValueError):
    """A membership change that cannot be made; the message says why."""


@transaction.atomic
def create_team(user, name: str) -> Team:
    """Create a team with the user as its admin; TeamError when the name cannot be stored."""
    problem = unstorable(name)
    if problem:
        raise TeamError(f"the team name: {problem}")
    team = Team.objects.create(name=name.strip()[:100] or "New team")
    Membership.objects.create(team=team, user=user, role=ADMIN)
    return team


def members_of(team: Team):
    """Return a team's memberships with their users, by username."""
    return team.memberships.select_related("user").order_by("user__username")


def add_member(team: Team, username: str, role: str) -> Membership:
    """Add a user, found by username, to a team with a role."""
    user = get_user_model().objects.filter(username=username.strip()).first()
    if user is None:
        raise TeamError(f"there is no user {username.strip()!r}")
    if role not in Membership.Role.values:
        raise TeamError(f"unknown role {role!r}")
    membership, created = Membership.objects.get_or_create(
        team=team, user=user, defaults={"role": role}
    )
    if not created:
        raise TeamError(f"{user.get_username()} is already a {membership.role} of this team")
    return membership


@transaction.atomic
def set_role(team: Team, membership_id: int, role: str) -> Membership:
    """Change a member's role, keeping at least one admin."""
    if role not in Membership.Role.values:
        raise TeamError(f"unknown role {role!r}")
    membership = locked_membership(team, membership_id)
    if membership.role == ADMIN and role != ADMIN:
        keep_an_admin(team)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def remove_member(team: Team, membership_id: int) -> None:
    """Remove a member from a team, keeping at least one admin."""
    membership = locked_membership(team, membership_id)
    if membership.role == ADMIN:
        keep_an_admin(team)
    membership.delete()


def locked_membership(team: Team, membership_id: int) -> Membership:
    # Lock every membership of the team so two admins cannot demote each other at once.
    rows = {m.pk: m for m in Membership.objects.select_for_update().filter(team=team)}
    if membership_id not in rows:
        raise TeamError("no such member")
    return rows[membership_id]


def keep_an_admin(team: Team) -> None:
    if Membership.objects.filter(team=team, role=ADMIN).count() <= 1:
        raise TeamError("a team needs at least one admin; make someone else admin first")
