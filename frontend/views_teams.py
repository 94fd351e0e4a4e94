"""Team pages: the user's teams, creating one, and an admin's member management."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from scheduler import access as acl
from scheduler import teams
from scheduler.models import Membership, Team


def team_for(request: HttpRequest, team_id: int, need: str = acl.VIEWER) -> Team:
    """Return a team the user has the `need` role in, or raise 404."""
    if not acl.team_allows(request.user, team_id, need):
        raise Http404("No such team")
    return Team.objects.get(pk=team_id)


@login_required
def team_list(request: HttpRequest) -> HttpResponse:
    """List the user's teams; POST `name` creates a team with the user as admin."""
    status = 200
    if request.method == "POST":
        try:
            team = teams.create_team(request.user, request.POST.get("name", ""))
            return redirect("team-detail", team.pk)
        except teams.TeamError as error:
            messages.error(request, str(error))
            status = 400
    memberships = request.user.memberships.select_related("team").order_by("team__name")
    context = {"memberships": memberships}
    return render(request, "frontend/teams/team_list.html", context, status=status)


@login_required
def team_detail(request: HttpRequest, team_id: int) -> HttpResponse:
    team = team_for(request, team_id)
    context = {
        "team": team,
        "members": teams.members_of(team),
        "roles": Membership.Role.values,
        "is_admin": acl.team_allows(request.user, team_id, acl.ADMIN),
    }
    return render(request, "frontend/teams/team_detail.html", context)


def admin_action(request: HttpRequest, team_id: int, change: Callable[[Team], object]):
    """Apply a membership change as a team admin, reporting a refused change as a message."""
    team = team_for(request, team_id, acl.ADMIN)
    try:
        change(team)
    except teams.TeamError as error:
        messages.error(request, str(error))
    return redirect("team-detail", team_id)


@require_POST
@login_required
def member_add(request: HttpRequest, team_id: int) -> HttpResponse:
    username, role = request.POST.get("username", ""), request.POST.get("role", acl.MEMBER)
    return admin_action(request, team_id, lambda team: teams.add_member(team, username, role))


@require_POST
@login_required
def member_role(request: HttpRequest, team_id: int, member_id: int) -> HttpResponse:
    role = request.POST.get("role", "")
    return admin_action(request, team_id, lambda team: teams.set_role(team, member_id, role))


@require_POST
@login_required
def member_remove(request: HttpRequest, team_id: int, member_id: int) -> HttpResponse:
    return admin_action(request, team_id, lambda team: teams.remove_member(team, member_id))
