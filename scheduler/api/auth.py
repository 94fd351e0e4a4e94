"""Who is calling and what they may touch: API, runner and trial tokens, and access lookups.

Users authenticate with `Authorization: Bearer hbs_...` (an ApiToken) or a browser session.
A runner on another machine authenticates with `Authorization: Bearer hbr_...` (a
RunnerToken) on the runner endpoints only, and no other token opens those. A trial's
process posts its metrics with `Authorization: Trial <token>`, the per-trial token
its runner handed it. Sweeps and trials are looked up through `access.sweep_access`, so one
the caller may not see answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

import hmac
from datetime import timedelta

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission

from scheduler import access
from scheduler.models import ApiToken, RunnerToken, SecretToken, Team, Trial, hash_secret

TOUCH_EVERY = timedelta(minutes=1)


def credentials(request, keyword: str) -> str | None:
    """Return the secret of an `Authorization: <keyword> <secret>` header, or None."""
    parts = get_authorization_header(request).split()
    if not parts or parts[0].lower() != keyword.lower().encode():
        return None
    if len(parts) != 2:
        raise exceptions.AuthenticationFailed(
            f"malformed Authorization header: expected '{keyword} <token>'"
        )
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise exceptions.AuthenticationFailed("the token has characters no token has") from None


class BearerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer hbs_...`: a user's API token, looked up by its hash."""

    keyword = "Bearer"

    def authenticate(self, request):
        secret = credentials(request, self.keyword)
        if secret is None:
            return None
        if secret.startswith(RunnerToken.PREFIX):
            raise exceptions.AuthenticationFailed(
                "a runner token (hbr_...) only opens the runner endpoints; use an API token"
            )
        token = (
            ApiToken.objects.select_related("user")
            .filter(key_hash=hash_secret(secret), revoked_at__isnull=True)
            .first()
        )
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("invalid or revoked API token")
        touch(token)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


def touch(token: SecretToken) -> None:
    """Record a token's use, writing at most once a minute per token."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        type(token).objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


class RunnerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer hbr_...`: a runner token, looked up by its hash, of an active
    staff user (a runner runs any team's trials). `request.auth` is the RunnerToken."""

    keyword = "Bearer"

    def authenticate(self, request):
        secret = credentials(request, self.keyword)
        if secret is None:
            return None
        token = (
            RunnerToken.objects.select_related("user")
            .filter(key_hash=hash_secret(secret), revoked_at__isnull=True)
            .first()
        )
        if token is None or not token.user.is_active or not token.user.is_staff:
            raise exceptions.AuthenticationFailed("invalid or revoked runner token")
        touch(token)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="runners"'


class IsRunner(BasePermission):
    """Only a runner token opens the runner endpoints."""

    message = "the runner endpoints take a runner token (hbr_...)"

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, RunnerToken)


class TrialTokenAuthentication(BaseAuthentication):
    """`Authorization: Trial <token>`: the token of the trial named in the URL.

    The request is anonymous; `request.auth` is the trial (with its sweep loaded).
    """

    keyword = "Trial"

    def authenticate(self, request):
        secret = credentials(request, self.keyword)
        if secret is None:
            return None
        trial_id = request.parser_context["kwargs"].get("pk")
        trial = Trial.objects.select_related("sweep").filter(pk=trial_id).first()
        if trial is None or not trial.token_hash:
            raise exceptions.AuthenticationFailed(f"invalid trial token for trial {trial_id}")
        if not hmac.compare_digest(trial.token_hash, hash_secret(secret)):
            raise exceptions.AuthenticationFailed(f"invalid trial token for trial {trial_id}")
        return AnonymousUser(), trial

    def authenticate_header(self, request) -> str:
        return self.keyword


class TrialTokenOrUser(BasePermission):
    """A signed-in user, or a trial token posting that trial's metrics."""

    message = "a trial token may only post metrics"

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, Trial):
            return request.method == "POST"
        return bool(request.user and request.user.is_authenticated)


class BearerScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "an API token, hbs_..."}


class RunnerScheme(OpenApiAuthenticationExtension):
    target_class = RunnerTokenAuthentication
    name = "runnerToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "a runner token, hbr_..."}


class TrialScheme(OpenApiAuthenticationExtension):
    target_class = TrialTokenAuthentication
    name = "trialToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Trial <token>`: the per-trial token from HBSITE_TRIAL_TOKEN",
        }


def require_sweep(user, sweep_id: int, need: str = access.VIEWER) -> access.Access:
    """Return the caller's access to a sweep; 404 when invisible, 403 when the role is short."""
    found = access.sweep_access(user, sweep_id)
    if found is None:
        raise exceptions.NotFound(f"sweep {sweep_id} not found")
    return check_role(found, need)


def require_trial(user, trial_id: int, need: str = access.VIEWER) -> Trial:
    """Return a trial the caller may see (its sweep loaded), checked like its sweep."""
    trial = Trial.objects.select_related("config").filter(pk=trial_id).first()
    found = access.sweep_access(user, trial.sweep_id) if trial is not None else None
    if trial is None or found is None:
        raise exceptions.NotFound(f"trial {trial_id} not found")
    trial.sweep = check_role(found, need).sweep
    return trial


def check_role(found: access.Access, need: str) -> access.Access:
    if not found.allows(need):
        team = found.sweep.team.name
        raise exceptions.PermissionDenied(
            f"this needs the {need} role in team {team!r}; you are a {found.role}"
        )
    return found


def require_team(
    user, team_id: int | None, need: str = access.MEMBER, doing: str = "creating a sweep"
) -> Team:
    """Return the team a new sweep goes to (default: the personal team), or any team the
    caller acts on, checking the role: 404 outside the team, 403 when the role is short."""
    if team_id is None:
        return access.personal_team(user)
    role = access.team_role(user, team_id)
    if role is None:
        raise exceptions.NotFound(f"team {team_id} not found")
    if access.RANK[role] < access.RANK[need]:
        raise exceptions.PermissionDenied(
            f"{doing} in team {team_id} needs the {need} role; you are a {role}"
        )
    return Team.objects.get(pk=team_id)
