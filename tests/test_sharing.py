"""Share links: created by members, read-only, expiring, revocable, and cut off live."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from frontend import consumers
from scheduler import access, sharing
from scheduler.models import ShareLink
from tests.sharing_world import Socket, make_sweep, ws_headers


def api_as(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_it_creates_a_link_with_an_expiry_through_the_api(cast):
    sweep = make_sweep(cast.team, cast.member)
    expires = (timezone.now() + timedelta(days=2)).isoformat()
    response = api_as(cast.member).post(
        f"/api/sweeps/{sweep.pk}/share-links/", {"expires_at": expires}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["valid"] is True and body["expires_at"] is not None
    assert body["url"].endswith(f"/sweeps/{sweep.pk}/?share={body['token']}")
    assert Client().get(body["url"]).status_code == 200


def test_it_refuses_an_expiry_in_the_past(cast):
    sweep = make_sweep(cast.team, cast.member)
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    response = api_as(cast.member).post(
        f"/api/sweeps/{sweep.pk}/share-links/", {"expires_at": past}, format="json"
    )
    assert response.status_code == 400
    assert "expires_at" in response.json()["error"]


def test_it_lists_links_for_members(cast):
    sweep = make_sweep(cast.team, cast.member)
    sharing.create_link(sweep, cast.admin)
    body = api_as(cast.member).get(f"/api/sweeps/{sweep.pk}/share-links/").json()
    assert [link["created_by"] for link in body] == ["admin"]


def test_it_stops_honouring_an_expired_link(cast):
    sweep = make_sweep(cast.team, cast.member)
    link = sharing.create_link(sweep, cast.member, timezone.now() + timedelta(hours=1))
    url = f"/sweeps/{sweep.pk}/?share={access.share_token(link)}"
    assert Client().get(url).status_code == 200
    ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Client().get(url).status_code == 404


def test_it_scopes_a_link_to_its_sweep(cast):
    sweep, other = make_sweep(cast.team, cast.member), make_sweep(cast.team, cast.member)
    token = access.share_token(sharing.create_link(sweep, cast.member))
    assert Client().get(f"/sweeps/{other.pk}/?share={token}").status_code == 404


def test_it_rejects_a_tampered_token(cast):
    sweep = make_sweep(cast.team, cast.member)
    link = sharing.create_link(sweep, cast.member)
    forged = signing.dumps({"l": link.pk, "n": "0" * 32}, salt=access.SHARE_SALT)
    unsigned = access.share_token(link)[:-3] + "abc"
    for token in (forged, unsigned, "nonsense"):
        assert Client().get(f"/sweeps/{sweep.pk}/?share={token}").status_code == 404


def test_it_shows_the_share_panel_to_members_only(cast):
    sweep = make_sweep(cast.team, cast.member)
    link = sharing.create_link(sweep, cast.member)
    token = access.share_token(link)
    member = Client()
    member.force_login(cast.member)
    page = member.get(f"/sweeps/{sweep.pk}/").content.decode()
    assert token in page and 'id="share-create"' in page and 'id="delete-btn"' in page
    shared = Client().get(f"/sweeps/{sweep.pk}/?share={token}").content.decode()
    assert 'id="share-create"' not in shared and 'id="delete-btn"' not in shared
    assert f"/sweeps/{sweep.pk}/export/csv/?share=" in shared


def test_it_creates_and_revokes_links_from_the_page(cast):
    sweep = make_sweep(cast.team, cast.member)
    client = Client()
    client.force_login(cast.member)
    response = client.post(reverse("share-create", args=[sweep.pk]), {"expires_days": "7"})
    assert response.status_code == 302
    link = sweep.share_links.get()
    assert link.expires_at > timezone.now() + timedelta(days=6)
    client.post(reverse("share-revoke", args=[link.pk]))
    link.refresh_from_db()
    assert link.revoked_at is not None and not link.is_valid


@pytest.mark.django_db(transaction=True)
def test_it_cuts_off_open_sockets_when_revoked(cast):
    from hbsite.asgi import application

    sweep = make_sweep(cast.team, cast.member)
    link = sharing.create_link(sweep, cast.member)
    path = f"/ws/sweeps/{sweep.pk}/?share={access.share_token(link)}"

    async def scenario():
        socket = Socket(application, path, ws_headers(Client()))
        assert await socket.connect() == (True, None)
        await database_sync_to_async(sharing.revoke_link)(link)
        closed = await socket.receive_output(timeout=5)
        return closed

    closed = async_to_sync(scenario)()
    assert closed == {"type": "websocket.close", "code": consumers.CLOSE_REVOKED}


@pytest.mark.django_db(transaction=True)
def test_it_keeps_team_sockets_open_when_a_link_is_revoked(cast):
    from hbsite.asgi import application

    sweep = make_sweep(cast.team, cast.member)
    link = sharing.create_link(sweep, cast.member)
    viewer = Client()
    viewer.force_login(cast.viewer)

    async def scenario():
        socket = Socket(application, f"/ws/sweeps/{sweep.pk}/", ws_headers(viewer))
        assert (await socket.connect())[0]
        await database_sync_to_async(sharing.revoke_link)(link)
        assert await socket.receive_nothing(timeout=0.5)
        await socket.disconnect()

    async_to_sync(scenario)()


def test_a_link_keeps_one_token_whatever_the_clock(cast, monkeypatch):
    import time

    link = sharing.create_link(make_sweep(cast.team, cast.member), cast.member)
    token = access.share_token(link)
    later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)
    assert access.share_token(ShareLink.objects.get(pk=link.pk)) == token
    assert access.share_link_from_token(token) == link
