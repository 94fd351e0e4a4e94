"""The account page: API tokens and, for staff, runner tokens (create, list, revoke); a new
token's secret is shown once."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from scheduler.models import ApiToken, RunnerToken
from scheduler.yamlsource import unstorable

TEMPLATE = "frontend/account/account.html"
# Which token a form creates: `kind` in the POST. Runner tokens are for staff only: a
# runner runs any team's trials.
KINDS = {"api": ApiToken, "runner": RunnerToken}


def account_context(request: HttpRequest, **extra) -> dict:
    user = request.user
    tokens = user.api_tokens.filter(revoked_at__isnull=True).order_by("-created_at")
    runner_tokens = user.runner_tokens.filter(revoked_at__isnull=True).order_by("-created_at")
    teams = user.memberships.select_related("team").order_by("team__name")
    return {"tokens": tokens, "runner_tokens": runner_tokens, "memberships": teams, **extra}


@login_required
def account(request: HttpRequest) -> HttpResponse:
    """Show the user's tokens; POST `name` (and `kind`: api or runner) creates one and shows
    its secret this once."""
    if request.method != "POST":
        return render(request, TEMPLATE, account_context(request))
    kind = request.POST.get("kind", "api")
    if kind not in KINDS or (kind == "runner" and not request.user.is_staff):
        raise Http404("No such token kind")
    name = request.POST.get("name", "").strip()[:100] or "token"
    problem = unstorable(name)
    if problem:
        messages.error(request, f"the token name: {problem}")
        return render(request, TEMPLATE, account_context(request), status=400)
    token, secret = KINDS[kind].issue(request.user, name)
    context = account_context(request, new_token=token, secret=secret, new_kind=kind)
    return render(request, TEMPLATE, context)


@require_POST
@login_required
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    done = "Token revoked; scripts using it can no longer sign in."
    return revoke(request, request.user.api_tokens, token_id, done)


@require_POST
@login_required
def runner_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    done = "Runner token revoked; runners using it can no longer report."
    return revoke(request, request.user.runner_tokens, token_id, done)


def revoke(request: HttpRequest, tokens, token_id: int, done: str) -> HttpResponse:
    """Revoke one of the user's live tokens of a kind and say `done`; 404 when none such."""
    if not tokens.filter(pk=token_id, revoked_at__isnull=True).update(revoked_at=timezone.now()):
        raise Http404("No such token")
    messages.success(request, done)
    return redirect("account")
