"""Accounts and teams: sign in and out, API tokens, personal teams, members and roles."""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from scheduler.models import ApiToken, Membership, Team, hash_secret
from tests.sharing_world import make_sweep


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_it_signs_in_and_out(cast):
    client = Client()
    response = client.post(reverse("login"), {"username": "member", "password": "pw-member-123"})
    assert response.status_code == 302 and client.get("/").status_code == 200
    assert client.post(reverse("logout")).status_code == 302
    assert client.get("/").status_code == 302


def test_it_requires_csrf_on_forms(cast):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.member)
    assert client.post(reverse("account"), {"name": "x"}).status_code == 403
    assert client.post(reverse("logout")).status_code == 403
    page = client.get(reverse("account")).content.decode()
    assert page.count("csrfmiddlewaretoken") >= 2


def test_it_gives_a_new_user_a_personal_team(db):
    user = get_user_model().objects.create_user("newcomer", password="pw-newcomer-123")
    team = Team.objects.get(memberships__user=user)
    assert team.personal and team.memberships.get().role == "admin"


def test_it_shows_a_new_tokens_secret_once_and_stores_its_hash(cast):
    client = signed_in(cast.member)
    page = client.post(reverse("account"), {"name": "laptop"}).content.decode()
    secret = re.search(r'value="(hbs_[^"]+)"', page).group(1)
    token = ApiToken.objects.get(user=cast.member)
    assert token.name == "laptop" and token.key_hash == hash_secret(secret)
    assert secret not in client.get(reverse("account")).content.decode()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/sweeps/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_it_revokes_a_token(cast):
    token, secret = ApiToken.issue(cast.member, "ci")
    assert (
        signed_in(cast.outsider).post(reverse("token-revoke", args=[token.pk])).status_code == 404
    )
    assert signed_in(cast.member).post(reverse("token-revoke", args=[token.pk])).status_code == 302
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/sweeps/").status_code == 401


def test_it_shows_only_the_sweeps_of_the_users_teams(cast):
    mine = make_sweep(cast.team, cast.member)
    theirs = make_sweep(cast.other_team, cast.outsider)
    ids = [s["id"] for s in APIClient().get("/api/sweeps/").json().get("results", [])]
    assert ids == []
    api = APIClient()
    api.force_login(cast.viewer)
    ids = [s["id"] for s in api.get("/api/sweeps/").json()["results"]]
    assert mine.pk in ids and theirs.pk not in ids


def test_it_lets_anyone_create_a_team_and_become_its_admin(cast):
    response = signed_in(cast.viewer).post(reverse("team-list"), {"name": "Audio"})
    team = Team.objects.get(name="Audio")
    assert response.url == reverse("team-detail", args=[team.pk])
    assert team.memberships.get().user == cast.viewer and team.memberships.get().role == "admin"


def test_it_lets_an_admin_add_rerole_and_remove_members(cast):
    client, team = signed_in(cast.admin), cast.team
    client.post(reverse("team-member-add", args=[team.pk]), {"username": "outsider"})
    joined = Membership.objects.get(team=team, user=cast.outsider)
    assert joined.role == "member"
    client.post(reverse("team-member-role", args=[team.pk, joined.pk]), {"role": "viewer"})
    joined.refresh_from_db()
    assert joined.role == "viewer"
    client.post(reverse("team-member-remove", args=[team.pk, joined.pk]))
    assert not Membership.objects.filter(pk=joined.pk).exists()


def test_it_reports_an_unknown_username(cast):
    client = signed_in(cast.admin)
    url = reverse("team-member-add", args=[cast.team.pk])
    page = client.post(url, {"username": "nobody"}, follow=True).content.decode()
    assert "there is no user &#x27;nobody&#x27;" in page


def test_it_keeps_the_last_admin(cast):
    client, team = signed_in(cast.admin), cast.team
    admin = Membership.objects.get(team=team, user=cast.admin)
    page = client.post(reverse("team-member-remove", args=[team.pk, admin.pk]), follow=True)
    assert "at least one admin" in page.content.decode()
    client.post(reverse("team-member-role", args=[team.pk, admin.pk]), {"role": "member"})
    admin.refresh_from_db()
    assert admin.role == "admin"


def test_it_hides_member_management_from_non_admins(cast):
    team = cast.team
    viewer = Membership.objects.get(team=team, user=cast.viewer)
    url = reverse("team-member-role", args=[team.pk, viewer.pk])
    assert signed_in(cast.member).post(url, {"role": "admin"}).status_code == 404
    page = signed_in(cast.member).get(reverse("team-detail", args=[team.pk])).content.decode()
    assert "Add member" not in page and "viewer" in page
