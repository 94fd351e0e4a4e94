"""Team pages: the user's teams, creating one, an admin's member management, and the team's
webhooks (admins manage them; every member sees them and their delivery log)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_POST

from scheduler import access as acl
from scheduler import teams, webhooks
from scheduler.models import Membership, Team, Webhook
from scheduler.models_webhooks import DEFAULT_EVENTS, WebhookEvent


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


def team_page(request: HttpRequest, team: Team, status: int = 200, **extra) -> HttpResponse:
    """Render a team's page: members, webhooks and their delivery log."""
    context = {
        "team": team,
        "members": teams.members_of(team),
        "roles": Membership.Role.values,
        "is_admin": acl.team_allows(request.user, team.pk, acl.ADMIN),
        "can_manage_webhooks": acl.can_manage_webhooks(request.user, team.pk),
        "webhooks": webhooks.webhooks_of(team),
        "deliveries": webhooks.deliveries_of(team),
        "webhook_events": [(kind.value, kind.value in DEFAULT_EVENTS) for kind in WebhookEvent],
        **extra,
    }
    return render(request, "frontend/teams/team_detail.html", context, status=status)


@login_required
def team_detail(request: HttpRequest, team_id: int) -> HttpResponse:
    return team_page(request, team_for(request, team_id))


@login_required
def delivery_rows(request: HttpRequest, team_id: int) -> JsonResponse:
    """Return the delivery log's rows as HTML, and whether any delivery is still pending."""
    team = team_for(request, team_id, acl.WEBHOOK_READ)
    deliveries = list(webhooks.deliveries_of(team))
    html = render_to_string("frontend/teams/_delivery_rows.html", {"deliveries": deliveries})
    pending = any(d.status == "pending" for d in deliveries)
    return JsonResponse({"rows": html, "pending": pending})


@require_POST
@login_required
def webhook_create(request: HttpRequest, team_id: int) -> HttpResponse:
    """Make a webhook (admins) and show its secret this once."""
    team = team_for(request, team_id, acl.WEBHOOK_MANAGE)
    form = request.POST
    try:
        hook, secret = webhooks.create_webhook(
            team, request.user, form.get("name", ""), form.get("url", ""), form.getlist("events")
        )
    except webhooks.WebhookError as error:
        messages.error(request, f"Webhook not made: {error}")
        return team_page(request, team, status=400)
    return team_page(request, team, new_webhook=hook, secret=secret)


def toggle_webhook(hook: Webhook) -> str:
    webhooks.change_webhook(hook, active=not hook.active)
    return f"Webhook {hook.name} {'enabled' if hook.active else 'disabled'}."


def test_webhook(hook: Webhook) -> str:
    webhooks.send_test(hook)
    return f"Test message to {hook.name} queued; its delivery shows in the log below."


def delete_webhook(hook: Webhook) -> str:
    hook.delete()
    return f"Webhook {hook.name} deleted with its delivery log."


WEBHOOK_ACTIONS: dict[str, Callable[[Webhook], str]] = {
    "toggle": toggle_webhook,
    "test": test_webhook,
    "delete": delete_webhook,
}


@require_POST
@login_required
def webhook_action(request: HttpRequest, webhook_id: int, action: str) -> HttpResponse:
    """Enable or disable (`toggle`), `test` or `delete` a webhook of a team the user is admin
    of, and say what was done."""
    hook = Webhook.objects.filter(pk=webhook_id).first()
    act = WEBHOOK_ACTIONS.get(action)
    if hook is None or act is None or not acl.can_manage_webhooks(request.user, hook.team_id):
        raise Http404("No such webhook")
    messages.success(request, act(hook))
    return redirect(reverse("team-detail", args=[hook.team_id]) + "#webhooks")


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
