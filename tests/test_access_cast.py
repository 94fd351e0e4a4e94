"""The fixed cast against every page, API endpoint and websocket, as one table.

Callers: the team's admin, member and viewer, a user of another team, an anonymous visitor,
the holder of a live share link and the holder of a revoked one. Outsiders get 404, never 403.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests.sharing_world import client_as, world, ws_connect

CALLERS = ("admin", "member", "viewer", "outsider", "anonymous", "share", "revoked")


def expect(admin, member, viewer, outsider, anonymous, share, revoked) -> dict[str, int]:
    values = (admin, member, viewer, outsider, anonymous, share, revoked)
    return dict(zip(CALLERS, values, strict=True))


READ = expect(200, 200, 200, 404, 302, 200, 404)
RUN = expect(302, 302, 404, 404, 302, 404, 404)  # member actions on pages
SIGNED_IN = expect(200, 200, 200, 200, 302, 302, 302)
TEAM = expect(200, 200, 200, 404, 302, 302, 302)
TEAM_ADMIN = expect(302, 404, 404, 404, 302, 302, 302)
REVOKE = expect(302, 302, 404, 404, 404, 404, 404)

PAGES = [
    ("get", "sweep-detail", "sweep", READ),
    ("get", "ui-state", "sweep", READ),
    ("get", "ui-trials", "sweep", READ),
    ("get", "ui-curves", "sweep", READ),
    ("get", "ui-parallel", "sweep", READ),
    ("get", "ui-best", "sweep", READ),
    ("get", "ui-importance", "sweep", READ),
    ("get", "sweep-export", "sweep/csv", READ),
    ("get", "sweep-export", "sweep/json", READ),
    ("get", "sweep-export", "sweep/best-yaml", READ),
    ("get", "sweep-export", "sweep/yaml", READ),
    ("get", "trial-detail", "trial", READ),
    ("get", "ui-trial-output", "trial", READ),
    ("get", "ui-trial-metrics", "trial", READ),
    ("post", "sweep-stop", "sweep", RUN),
    ("post", "trial-kill", "trial", RUN),
    ("post", "share-create", "sweep", RUN),
    ("post", "sweep-delete", "sweep", RUN),
    ("post", "share-revoke", "spare", REVOKE),
    ("get", "sweep-list", "", SIGNED_IN),
    ("get", "sweep-new", "", SIGNED_IN),
    ("get", "account", "", SIGNED_IN),
    ("get", "team-list", "", SIGNED_IN),
    ("get", "team-detail", "team", TEAM),
    ("post", "team-member-add", "team", TEAM_ADMIN),
]

API_READ = expect(200, 200, 200, 404, 401, 401, 401)
API_RUN = expect(200, 200, 403, 404, 401, 401, 401)
API_CREATE = expect(201, 201, 403, 404, 401, 401, 401)
API_DELETE = expect(204, 204, 403, 404, 401, 401, 401)

ENDPOINTS = [
    ("get", "/api/sweeps/{sweep}/", API_READ),
    ("get", "/api/sweeps/{sweep}/plan/", API_READ),
    ("get", "/api/sweeps/{sweep}/events/", API_READ),
    ("get", "/api/sweeps/{sweep}/importance/", API_READ),
    ("get", "/api/sweeps/{sweep}/export/?format=csv", API_READ),
    ("get", "/api/sweeps/{sweep}/export/?format=json", API_READ),
    ("get", "/api/sweeps/{sweep}/export/?format=best-yaml", API_READ),
    ("get", "/api/sweeps/{sweep}/export/?format=yaml", API_READ),
    ("get", "/api/trials/{trial}/", API_READ),
    ("get", "/api/trials/{trial}/metrics/", API_READ),
    ("get", "/api/sweeps/{sweep}/share-links/", API_RUN),
    ("post", "/api/sweeps/{sweep}/share-links/", API_CREATE),
    ("post", "/api/share-links/{spare}/revoke/", API_RUN),
    ("post", "/api/sweeps/{sweep}/stop/", API_RUN),
    ("post", "/api/sweeps/{sweep}/clone/", API_CREATE),
    ("delete", "/api/sweeps/{sweep}/", API_DELETE),
]

SOCKETS = [
    ("/ws/sweeps/{sweep}/", expect(True, True, True, False, False, True, False)),
    ("/ws/sweeps/", expect(True, True, True, True, False, False, False)),
]


def ids(w, cast) -> dict[str, int]:
    return {"sweep": w.sweep.pk, "trial": w.trial.pk, "spare": w.spare.pk, "team": cast.team.pk}


def page_url(w, cast, name: str, args: str) -> str:
    values = ids(w, cast)
    parts = [values.get(part, part) for part in args.split("/") if part]
    return reverse(name, args=parts)


def with_share(url: str, w, who: str) -> str:
    token = w.tokens.get(who)
    return f"{url}{'&' if '?' in url else '?'}share={token}" if token else url


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize(("method", "name", "args", "expected"), PAGES)
def test_it_checks_every_page(cast, who, method, name, args, expected):
    w = world(cast)
    url = with_share(page_url(w, cast, name, args), w, who)
    response = getattr(client_as(cast, who), method)(url)
    assert response.status_code == expected[who], f"{who} {method} {url}"


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize(("method", "url", "expected"), ENDPOINTS)
def test_it_checks_every_endpoint(cast, who, method, url, expected):
    w = world(cast)
    client = APIClient()
    if hasattr(cast, who):
        client.force_login(getattr(cast, who))
    full = with_share(url.format(**ids(w, cast)), w, who)
    response = getattr(client, method)(full)
    assert response.status_code == expected[who], f"{who} {method} {full}"
    if response.status_code in (403, 404):
        assert "error" in response.json()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize(("path", "expected"), SOCKETS)
def test_it_checks_every_socket(cast, who, path, expected):
    w = world(cast)
    full = with_share(path.format(**ids(w, cast)), w, who)
    accepted, _ = ws_connect(client_as(cast, who), full)
    assert accepted is expected[who], f"{who} {full}"


def test_it_lets_a_member_delete_only_own_sweeps(cast):
    from tests.sharing_world import make_sweep

    theirs = make_sweep(cast.team, cast.admin)
    client = APIClient()
    client.force_login(cast.member)
    assert client.delete(f"/api/sweeps/{theirs.pk}/").status_code == 403
    page = client_as(cast, "member").post(reverse("sweep-delete", args=[theirs.pk]))
    assert page.status_code == 404
    client.force_login(cast.admin)
    assert client.delete(f"/api/sweeps/{theirs.pk}/").status_code == 204
