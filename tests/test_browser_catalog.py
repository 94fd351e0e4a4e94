"""Tags, notes and finding sweeps, in Chromium against the real ASGI server: a member edits
a sweep's tags and Markdown note and a viewer's open page follows; the sweeps list finds as
you type and follows tag changes live; both fit a phone screen and pass axe.

No Celery worker runs here: changes are made through the scheduler's own functions off the
Playwright thread, so their events are published, and the pages follow them.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from scheduler import annotating, sweeps
from tests.browsing import DESKTOP, PHONE, off_thread, open_page, page_width, shot, sign_in
from tests.sweeps import started_sweep, tiny_yaml
from tests.test_browser_live import mark, not_reloaded

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NOTE = """## Why this sweep

Baseline for the **digits** model; `eta 3` from the paper.

- rung 0 is noisy below 3 steps
- see [the report](https://example.org/report)

| lr | verdict |
|---:|:--|
| 0.1 | too high |

<script>window.__ran = true</script>
"""


def tagged(cast, name: str, tags: str, owner=None):
    text = f"tags: [{tags}]\n" + tiny_yaml(name=name, cmd="sleep 30")
    return off_thread(lambda: started_sweep(cast.team, owner or cast.member, text))


def test_a_member_edits_tags_and_note_and_a_viewer_follows_live(browser, asgi_server, cast):
    sweep = tagged(cast, "digits-hb", "vision")
    viewer_context, viewer, viewer_errors = open_page(browser, asgi_server)
    sign_in(viewer, "viewer")
    viewer.goto(f"/sweeps/{sweep.pk}/")
    expect(viewer.locator("#sweep-tags")).to_contain_text("vision")
    expect(viewer.locator("#notes-form")).to_have_count(0)  # viewers read only
    mark(viewer)

    member_context, member, member_errors = open_page(browser, asgi_server)
    sign_in(member, "member")
    member.goto(f"/sweeps/{sweep.pk}/")
    member.click("#notes-edit summary")
    member.fill("#notes-tags", "vision, baseline, gpu")
    member.fill("#notes-text", NOTE)
    member.locator("#notes").screenshot(path=str(shot_path("catalog-desktop-notes-editing")))
    member.click("#notes-save")
    expect(member.locator("#note-body h2")).to_have_text("Why this sweep")
    expect(member.locator("#notes-edit")).not_to_have_attribute("open", "")

    # The viewer's page follows without a reload: tags, the rendered note, the event log.
    expect(viewer.locator("#sweep-tags a")).to_have_text(["vision", "baseline", "gpu"])
    expect(viewer.locator("#note-body table td").first).to_have_text("0.1")
    expect(viewer.locator("#note-body a")).to_have_attribute("href", "https://example.org/report")
    expect(viewer.locator("#log")).to_contain_text("member edited the note")
    expect(viewer.locator("#log")).to_contain_text("member set the tags to vision, baseline, gpu")
    assert viewer.locator("#note-body script").count() == 0
    assert viewer.evaluate("window.__ran === undefined") and not_reloaded(viewer)
    viewer.locator("#notes").screenshot(path=str(shot_path("catalog-desktop-notes-card")))
    shot(viewer, "catalog-desktop-notes")

    # A bad tag is refused with a message in the form; nothing changes.
    member.click("#notes-edit summary")
    member.fill("#notes-tags", "a" * 60)
    member.click("#notes-save")
    expect(member.locator("#notes-error")).to_contain_text("1 to 50 characters")
    expect(member.locator("#sweep-tags a")).to_have_count(3)
    member_context.close()
    viewer_context.close()
    assert viewer_errors == [] and member_errors == []


def test_notes_and_the_search_fit_a_phone(browser, asgi_server, cast):
    sweep = tagged(cast, "phone-notes", "vision, baseline")
    off_thread(lambda: annotating.annotate(sweep.pk, cast.member, note=NOTE))
    context, page, errors = open_page(browser, asgi_server, viewport=PHONE)
    sign_in(page, "viewer")
    page.fill("#sweep-search input[name=q]", "vision")
    expect(page.locator("#sweeps tbody tr")).to_have_count(1)
    assert page_width(page) <= PHONE["width"]
    shot(page, "catalog-phone-list")
    page.goto(f"/sweeps/{sweep.pk}/")
    expect(page.locator("#note-body h2")).to_have_text("Why this sweep")
    assert page_width(page) <= PHONE["width"]
    page.locator("#notes").screenshot(path=str(shot_path("catalog-phone-notes-card")))
    shot(page, "catalog-phone-notes")
    context.close()
    assert errors == []


def shot_path(name: str):
    from tests.browsing import SHOTS

    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / f"{name}.png"


def test_the_sweeps_list_finds_as_you_type_and_follows_changes(browser, asgi_server, cast):
    resnet = tagged(cast, "resnet-lr", "vision, gpu")
    bert = tagged(cast, "bert-small", "nlp", owner=cast.admin)
    tagged(cast, "mnist", "tiny")
    context, page, errors = open_page(browser, asgi_server, viewport=DESKTOP)
    sign_in(page, "viewer")
    expect(page.locator("#sweeps tbody tr")).to_have_count(3)
    mark(page)

    page.fill("#sweep-search input[name=q]", "VISION")  # a tag, any case
    expect(page.locator("#sweeps tbody tr")).to_have_count(1)
    expect(page.locator(f'#sweeps tr[data-sweep="{resnet.pk}"]')).to_be_visible()
    expect(page.locator("#sweeps-summary")).to_have_text("1 sweep found for “VISION” in your teams")
    assert "q=VISION" in page.url and not_reloaded(page)

    # Live: a sweep that gains the tag appears; one that loses it goes; stopping one moves
    # it between the status tabs' counts.
    off_thread(lambda: annotating.annotate(bert.pk, cast.admin, new_tags=["nlp", "vision"]))
    expect(page.locator(f'#sweeps tr[data-sweep="{bert.pk}"]')).to_be_visible()
    off_thread(lambda: annotating.annotate(resnet.pk, cast.member, new_tags=["gpu"]))
    expect(page.locator(f'#sweeps tr[data-sweep="{resnet.pk}"]')).to_have_count(0)
    off_thread(lambda: sweeps.stop_sweep(bert.pk))
    expect(page.locator('#sweep-tabs a[href="?q=VISION&status=stopped"] .count')).to_have_text("1")

    # Owner and team filters, and a tag chip, narrow the list the same way.
    page.fill("#sweep-search input[name=q]", "")
    page.select_option("#sweep-search select[name=owner]", "member")
    expect(page.locator("#sweeps tbody tr")).to_have_count(2)
    page.click(f'#sweeps tr[data-sweep="{resnet.pk}"] a.chip-tag:has-text("gpu")')
    expect(page.locator("#tag-filter")).to_contain_text("tag: gpu")
    expect(page.locator("#sweeps tbody tr")).to_have_count(1)
    shot(page, "catalog-desktop-list")
    context.close()
    assert errors == []
