"""Tags (Polyaxon's `tags:`, then edited by members) and a sweep's Markdown note: checked,
stored, rendered safely, logged as events, shown live; and the sweeps list found by name and
tag, filtered by status, owner and team, in the API and on the page."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from scheduler import access, annotating, notes, sharing, sweeps, tags
from scheduler.models import Event, Sweep
from tests.conftest import login
from tests.sweeps import started_sweep, tiny_yaml

TAGGED = "tags: [vision, baseline]\n"


def api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def make(team, owner, name: str, tag_list: tuple[str, ...] = ()) -> Sweep:
    head = f"tags: [{', '.join(tag_list)}]\n" if tag_list else ""
    return sweeps.create_sweep(head + tiny_yaml(name=name), team=team, owner=owner)


# --- pure: tags and notes -------------------------------------------------------------------


def test_tags_are_trimmed_and_kept_once_ignoring_case():
    assert tags.clean([" gpu ", "GPU", "nightly"]) == ["gpu", "nightly"]
    assert tags.split("a, b,, c ,") == ["a", "b", "c"]


@pytest.mark.parametrize("bad", ["", "x" * 51, "a,b", "tab\tin", 3, None])
def test_a_bad_tag_is_refused_by_its_index(bad):
    with pytest.raises(tags.TagError) as info:
        tags.clean(["ok", bad])
    assert info.value.problems[0][0] == 1


def test_a_note_renders_markdown_and_drops_what_could_run():
    html = notes.render(
        "# Run 3\n\n**lr** too high\n\n- a\n- b\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\n"
        "<script>alert(1)</script> <img src=x onerror=alert(2)> "
        "[bad](javascript:alert(3)) [good](https://example.org)\n"
    )
    assert "<h1>Run 3</h1>" in html and "<strong>lr</strong>" in html and "<li>a</li>" in html
    assert "<table>" in html and "<td>1</td>" in html
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html  # shown as text, not dropped unseen
    assert '<a href="https://example.org" rel="noopener noreferrer nofollow">good</a>' in html


def test_a_note_is_stored_with_plain_line_ends_and_refused_past_its_limit():
    assert notes.checked("a\r\nb  \n\n") == "a\nb"
    with pytest.raises(notes.NoteTooLong):
        notes.checked("x" * (notes.MAX_LENGTH + 1))
    with pytest.raises(ValueError):
        notes.checked("nul \x00")


# --- creating and editing -------------------------------------------------------------------


def test_a_sweep_keeps_its_polyaxon_tags(cast):
    sweep = sweeps.create_sweep(TAGGED + tiny_yaml(), team=cast.team, owner=cast.member)
    assert sweep.tags == ["vision", "baseline"]
    body = api(cast.viewer).get(f"/api/sweeps/{sweep.pk}/").json()
    assert body["tags"] == ["vision", "baseline"] and body["spec"]["tags"] == body["tags"]


def test_a_member_sets_tags_and_note_through_the_api_and_the_log_says_who(cast):
    sweep = make(cast.team, cast.admin, "a")
    body = {"tags": ["cnn", " lr-sweep "], "note": "Best so far: **0.12**"}
    answer = api(cast.member).patch(f"/api/sweeps/{sweep.pk}/", body, format="json")
    assert answer.status_code == 200, answer.content
    got = answer.json()
    assert got["tags"] == ["cnn", "lr-sweep"] and got["note"] == "Best so far: **0.12**"
    assert got["note_html"] == "<p>Best so far: <strong>0.12</strong></p>\n"
    assert got["note_updated_by"] == "member"
    kinds = list(Event.objects.filter(sweep=sweep).values_list("kind", "payload"))
    assert ("tags_changed", {"tags": ["cnn", "lr-sweep"], "by": "member"}) in kinds
    assert ("note_changed", {"length": 21, "by": "member"}) in kinds


def test_an_unchanged_edit_logs_nothing(cast):
    sweep = make(cast.team, cast.member, "a", ("x",))
    seq = sweep.last_seq
    annotating.annotate(sweep.pk, cast.member, new_tags=["x"], note="")
    assert Sweep.objects.get(pk=sweep.pk).last_seq == seq


@pytest.mark.parametrize(
    ("body", "field"),
    [({"tags": ["ok", "a,b"]}, "tags"), ({"tags": ["t"] * 1 + [str(i) for i in range(20)]}, "tags"),
     ({"note": "x" * (notes.MAX_LENGTH + 1)}, "note"), ({}, None)],
)  # fmt: skip
def test_bad_tags_or_notes_are_a_400_and_store_nothing(cast, body, field):
    sweep = make(cast.team, cast.member, "a", ("keep",))
    answer = api(cast.member).patch(f"/api/sweeps/{sweep.pk}/", body, format="json")
    assert answer.status_code == 400 and "error" in answer.json()
    if field:
        assert field in str(answer.json())
    assert Sweep.objects.get(pk=sweep.pk).tags == ["keep"]


def test_viewers_outsiders_and_share_links_cannot_edit(cast, client):
    sweep = make(cast.team, cast.member, "a")
    body = {"tags": ["x"]}
    assert (
        api(cast.viewer).patch(f"/api/sweeps/{sweep.pk}/", body, format="json").status_code == 403
    )
    assert (
        api(cast.outsider).patch(f"/api/sweeps/{sweep.pk}/", body, format="json").status_code == 404
    )
    link = sharing.create_link(sweep, cast.member)
    token = access.share_token(link)
    form = {"tags": "x", "note": "hi"}
    assert client.post(f"/sweeps/{sweep.pk}/notes/?share={token}", form).status_code == 404
    login(client, cast.viewer)
    assert client.post(f"/sweeps/{sweep.pk}/notes/", form).status_code == 404
    assert Sweep.objects.get(pk=sweep.pk).tags == []


def test_a_member_edits_from_the_page_and_the_note_is_rendered_safely(cast, client):
    sweep = make(cast.team, cast.admin, "a")
    login(client, cast.member)
    page = client.get(f"/sweeps/{sweep.pk}/").content.decode()
    assert 'id="notes-form"' in page and "No note yet." in page
    form = {"tags": "gpu, nightly", "note": "## Plan\n\n<script>x()</script> try *eta 4*"}
    answer = client.post(f"/sweeps/{sweep.pk}/notes/", form, HTTP_ACCEPT="application/json")
    assert answer.status_code == 200
    assert "<em>eta 4</em>" in answer.json()["notes"]
    page = client.get(f"/sweeps/{sweep.pk}/").content.decode()
    assert "<h2>Plan</h2>" in page and "<script>x()" not in page and "&lt;script&gt;" in page
    assert 'href="/?tag=gpu"' in page and "Edited by member" in page
    assert "member set the tags to gpu, nightly" in page  # the event log
    bad = client.post(f"/sweeps/{sweep.pk}/notes/", {"tags": "a" * 60, "note": ""})
    assert bad.status_code == 302 and Sweep.objects.get(pk=sweep.pk).tags == ["gpu", "nightly"]


def test_viewers_read_notes_without_the_form(cast, client):
    sweep = make(cast.team, cast.member, "a", ("gpu",))
    annotating.annotate(sweep.pk, cast.member, note="read *me*")
    page = login(client, cast.viewer).get(f"/sweeps/{sweep.pk}/").content.decode()
    assert "<em>me</em>" in page and 'id="notes-form"' not in page
    state = client.get(f"/ui/sweeps/{sweep.pk}/state/").json()
    assert "<em>me</em>" in state["notes"] and ">gpu</a>" in state["notes"]


# --- finding sweeps -------------------------------------------------------------------------


@pytest.fixture
def catalog_world(cast):
    """Four sweeps: two teams' worth of names, tags, owners and statuses."""
    from scheduler.models import Membership

    Membership.objects.create(team=cast.other_team, user=cast.viewer, role="viewer")
    found = {
        "resnet": make(cast.team, cast.member, "resnet-lr", ("vision", "gpu")),
        "bert": make(cast.team, cast.admin, "bert-small", ("nlp",)),
        "mnist": make(cast.team, cast.member, "mnist", ("Vision-old",)),
        "theirs": make(cast.other_team, cast.outsider, "resnet-theirs", ("vision",)),
    }
    sweeps.stop_sweep(found["bert"].pk)
    return found


def ids(answer) -> set[int]:
    return {row["id"] for row in answer.json()["results"]}


def test_the_api_finds_sweeps_by_words_in_name_or_tags(cast, catalog_world):
    w, client = catalog_world, api(cast.viewer)
    assert ids(client.get("/api/sweeps/?q=resnet")) == {w["resnet"].pk, w["theirs"].pk}
    assert ids(client.get("/api/sweeps/?q=VISION")) == {
        w["resnet"].pk, w["mnist"].pk, w["theirs"].pk,
    }  # fmt: skip
    assert ids(client.get("/api/sweeps/?q=vision resnet")) == {w["resnet"].pk, w["theirs"].pk}
    assert ids(client.get("/api/sweeps/?tag=vision")) == {w["resnet"].pk, w["theirs"].pk}


def test_a_search_reads_each_tag_not_the_lists_json(cast, catalog_world):
    client = api(cast.viewer)
    for text in ('"', "[", ",", "%", "_"):
        assert ids(client.get("/api/sweeps/", {"q": text})) == set(), text
    assert ids(client.get("/api/sweeps/", {"q": "ISIO"})) == ids(
        client.get("/api/sweeps/?q=vision")
    )


def test_the_api_filters_by_status_owner_and_team(cast, catalog_world):
    w, client = catalog_world, api(cast.viewer)
    assert ids(client.get("/api/sweeps/?status=stopped")) == {w["bert"].pk}
    assert ids(client.get("/api/sweeps/?status=active&owner=member")) == {
        w["resnet"].pk, w["mnist"].pk,
    }  # fmt: skip
    assert ids(client.get(f"/api/sweeps/?team={cast.other_team.pk}")) == {w["theirs"].pk}
    assert api(cast.member).get(f"/api/sweeps/?team={cast.other_team.pk}").json()["results"] == []
    assert client.get("/api/sweeps/?status=nope").status_code == 400


def test_the_list_page_searches_and_keeps_the_search_in_its_tabs(cast, catalog_world, client):
    w = catalog_world
    page = login(client, cast.viewer).get("/?q=vision&owner=member").content.decode()
    assert f'data-sweep="{w["resnet"].pk}"' in page and f'data-sweep="{w["mnist"].pk}"' in page
    assert (
        f'data-sweep="{w["bert"].pk}"' not in page and f'data-sweep="{w["theirs"].pk}"' not in page
    )
    assert 'href="?q=vision&amp;status=running&amp;owner=member"' in page
    assert "2 sweeps found for “vision” owned by member" in page
    results = client.get(f"/?results=1&tag=nlp&team={cast.team.pk}").json()
    assert f'data-sweep="{w["bert"].pk}"' in results["results"]
    assert "1 sweep found tagged nlp" in results["summary"]


def test_live_rows_say_whether_each_sweep_still_matches(cast, catalog_world, client):
    w = catalog_world
    login(client, cast.viewer)
    query = f"/ui/sweeps/rows/?ids={w['resnet'].pk},{w['bert'].pk}&q=vision"
    before = client.get(query).json()["matches"]
    assert before == {str(w["resnet"].pk): True, str(w["bert"].pk): False}
    annotating.annotate(w["resnet"].pk, cast.member, new_tags=["audio"])
    annotating.annotate(w["bert"].pk, cast.member, new_tags=["vision"])
    after = client.get(query).json()["matches"]
    assert after == {str(w["resnet"].pk): False, str(w["bert"].pk): True}


@pytest.mark.django_db(transaction=True)
def test_the_list_socket_hears_of_a_tag_change(cast):
    from tests.test_consumers import connect, receive

    sweep = started_sweep(cast.team, cast.member)

    async def scenario():
        comm, _ = await connect("/ws/sweeps/", cast.viewer)
        edit = database_sync_to_async(annotating.annotate)
        await edit(sweep.pk, cast.member, new_tags=["live"])
        got = await receive(comm, "sweeps")
        await comm.disconnect()
        return got

    got = async_to_sync(scenario)()
    assert sweep.pk in [s["id"] for s in got["sweeps"]]
