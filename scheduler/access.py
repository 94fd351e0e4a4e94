"""Who may do what with a sweep: team roles and share links, decided in this one place.

Pages, the API and websockets all ask `sweep_access`; a sweep the caller may not see is
reported as missing (404), never as forbidden, so sweep ids leak nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core import signing
from django.db import transaction

from .models import Membership, ShareLink, Sweep, Team

VIEWER, MEMBER, ADMIN = Membership.Role.VIEWER, Membership.Role.MEMBER, Membership.Role.ADMIN
RANK = {VIEWER: 0, MEMBER: 1, ADMIN: 2}
SHARE_SALT = "hbsite.share-link"


@dataclass(frozen=True)
class Access:
    """A caller's access to one sweep: a team role, or a read-only share link."""

    sweep: Sweep
    role: str
    share_link: ShareLink | None = None

    def allows(self, need: str) -> bool:
        """Tell whether this access includes the `need` role (viewer < member < admin)."""
        return RANK[self.role] >= RANK[need]


def team_role(user, team_id: int) -> str | None:
    """Return the user's role in a team, or None."""
    if not user.is_authenticated:
        return None
    return (
        Membership.objects.filter(team_id=team_id, user=user).values_list("role", flat=True).first()
    )


def visible_sweeps(user):
    """Return the sweeps of every team the user belongs to."""
    return Sweep.objects.visible_to(user)


def teams_of(user, need: str = VIEWER):
    """Return the teams in which the user has at least the `need` role."""
    if not user.is_authenticated:
        return Team.objects.none()
    roles = [role for role, rank in RANK.items() if rank >= RANK[need]]
    return Team.objects.filter(memberships__user=user, memberships__role__in=roles).distinct()


def sweep_access(user, sweep_id: int, share_token: str | None = None) -> Access | None:
    """Return the caller's access to a sweep, or None when it must look missing."""
    sweep = Sweep.objects.select_related("team", "owner").filter(pk=sweep_id).first()
    if sweep is None:
        return None
    role = team_role(user, sweep.team_id)
    if role is not None:
        return Access(sweep=sweep, role=role)
    link = share_link_from_token(share_token) if share_token else None
    if link is not None and link.sweep_id == sweep.pk:
        return Access(sweep=sweep, role=VIEWER, share_link=link)
    return None


def sweeps_access(
    user, sweep_ids: list[int], share_token: str | None = None
) -> dict[int, Access] | None:
    """Return the caller's access to each of several sweeps, or None when any must look
    missing (the caller learns nothing about which one). A share link opens only its own
    sweep, so a link holder can read several sweeps only when they are that one."""
    found: dict[int, Access] = {}
    for sweep_id in dict.fromkeys(sweep_ids):
        one = sweep_access(user, sweep_id, share_token)
        if one is None:
            return None
        found[sweep_id] = one
    return found


class LinkSigner(signing.TimestampSigner):
    """Sign with the link's creation time instead of the clock's, so a link has one token.

    The token keeps `signing.dumps`'s format, so `signing.loads` reads it; a link's validity
    comes from its row (revoked, expired), never from the token's age.
    """

    def __init__(self, link: ShareLink) -> None:
        super().__init__(salt=SHARE_SALT)
        self.created_at = link.created_at

    def timestamp(self) -> str:
        return signing.b62_encode(int(self.created_at.timestamp()))


def share_token(link: ShareLink) -> str:
    """Return the signed token that grants read access through a share link; the same token
    every time for the same link."""
    return LinkSigner(link).sign_object({"l": link.pk, "n": link.nonce})


def share_link_from_token(token: str) -> ShareLink | None:
    """Return the valid share link a token stands for, or None (bad, revoked or expired)."""
    try:
        data = signing.loads(token, salt=SHARE_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    link = ShareLink.objects.filter(pk=data.get("l"), nonce=data.get("n")).first()
    return link if link is not None and link.is_valid else None


@transaction.atomic
def personal_team(user) -> Team:
    """Return the user's personal team, creating it (with the user as admin) if needed."""
    team = Team.objects.filter(personal=True, memberships__user=user).first()
    if team is None:
        team = Team.objects.create(name=f"{user.get_username()}'s team", personal=True)
        Membership.objects.create(team=team, user=user, role=ADMIN)
    return team


def can_delete(found: Access, user) -> bool:
    """Tell whether a user may delete a sweep: admins any, members their own, links never."""
    if found.share_link is not None or not found.allows(MEMBER):
        return False
    return found.allows(ADMIN) or found.sweep.owner_id == user.pk


def can_control(found: Access) -> bool:
    """Tell whether the caller may pause, resume, retry or change the concurrency of a sweep:
    its team's members and admins; viewers and share links never."""
    return found.share_link is None and found.allows(MEMBER)


# Editing a sweep's tags and note: any member or admin of its team (not only its owner).
ANNOTATE = MEMBER


def can_annotate(found: Access) -> bool:
    """Tell whether the caller may edit the sweep's tags and note (never through a link)."""
    return found.share_link is None and found.allows(ANNOTATE)


def team_allows(user, team_id: int, need: str = VIEWER) -> bool:
    """Tell whether the user has at least the `need` role in a team."""
    role = team_role(user, team_id)
    return role is not None and RANK[role] >= RANK[need]


# Team webhooks (scheduler/webhooks.py): admins make, change, test and delete them and see
# their full URLs (a Slack webhook URL is itself a credential); every member, viewers
# included, sees the webhooks' names, events and host and their delivery log, which holds no
# secret, so anyone who follows the team's sweeps can tell whether notifications arrive.
WEBHOOK_MANAGE = ADMIN
WEBHOOK_READ = VIEWER


def can_manage_webhooks(user, team_id: int) -> bool:
    """Tell whether a user may make, change, test and delete a team's webhooks."""
    return team_allows(user, team_id, WEBHOOK_MANAGE)


def can_read_webhooks(user, team_id: int) -> bool:
    """Tell whether a user may list a team's webhooks and read their delivery log."""
    return team_allows(user, team_id, WEBHOOK_READ)
