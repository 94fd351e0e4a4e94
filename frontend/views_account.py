"""The account page: API tokens (create, list, revoke); a new token's secret is shown once."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from scheduler.models import ApiToken
from scheduler.yamlsource import unstorable


def account_context(request: HttpRequest, **extra) -> dict:
    tokens = request.user.api_tokens.filter(revoked_at__isnull=True).order_by("-created_at")
    teams = request.user.memberships.select_related("team").order_by("team__name")
    return {"tokens": tokens, "memberships": teams, **extra}


@login_required
def account(request: HttpRequest) -> HttpResponse:
    """Show the user's tokens; POST `name` creates one and shows its secret this once."""
    if request.method != "POST":
        return render(request, "frontend/account/account.html", account_context(request))
    name = request.POST.get("name", "").strip()[:100] or "token"
    problem = unstorable(name)
    if problem:
        messages.error(request, f"the token name: {problem}")
        return render(
            request, "frontend/account/account.html", account_context(request), status=400
        )
    token, secret = ApiToken.issue(request.user, name)
    context = account_context(request, new_token=token, secret=secret)
    return render(request, "frontend/account/account.html", context)


@require_POST
@login_required
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    found = request.user.api_tokens.filter(pk=token_id, revoked_at__isnull=True)
    if not found.update(revoked_at=timezone.now()):
        raise Http404("No such token")
    messages.success(request, "Token revoked; scripts using it can no longer sign in.")
    return redirect("account")
