"""Pages that tell the truth, through Django's test client: what a stopped sweep ran, stopped
and never ran; the trial page's and the sweeps list's live fragments; the new-sweep form's
team check and upload note; branded error pages and no debug pages."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Count
from django.template.loader import render_to_string
from django.test import Client
from django.utils import timezone

from scheduler import sweeps, trials
from scheduler.models import Sweep
from tests.conftest import login
from tests.sweeps import started_sweep, tiny_yaml

pytestmark = pytest.mark.django_db


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def cell_text(html: str, key: str) -> str:
    """Return the text of the bracket table cell `key` ("2:1")."""
    found = re.search(rf'data-cell="{key}">(.*?)</td>', html, re.S)
    assert found, f"no cell {key}"
    return text_of(found.group(1))


# --- stopped sweeps: run, stopped, never run ---------------------------------------------


def test_a_running_sweep_says_waiting_for_rungs_not_started(client, cast, sweep):
    state = login(client, cast.viewer).get(f"/ui/sweeps/{sweep.pk}/state/").json()
    assert "waiting" in cell_text(state["brackets"], "2:2")
    assert "never run" not in state["brackets"] + state["stats"]


def test_a_trial_killed_before_it_started_never_ran(client, cast, sweep):
    queued = sweep.trials.filter(bracket=2, rung=1, status="queued").first()
    assert trials.kill(queued.pk)
    state = login(client, cast.viewer).get(f"/ui/sweeps/{sweep.pk}/state/").json()
    cell = cell_text(state["brackets"], "2:1")
    assert "1 never run" in cell and "stopped" not in cell
    assert "1 never run" in text_of(state["stats"]) and "stopped" not in text_of(state["stats"])


def test_a_stopped_sweep_shows_what_ran_what_stopped_and_what_never_ran(client, cast, sweep):
    running = sweep.trials.filter(bracket=1, rung=0).first()
    running.status, running.started_at = "running", timezone.now()
    running.save(update_fields=["status", "started_at"])
    sweeps.stop_sweep(sweep.pk)
    counts = dict(sweep.trials.values_list("status").annotate(n=Count("id")).order_by())
    state = login(client, cast.viewer).get(f"/ui/sweeps/{sweep.pk}/state/").json()
    stats = text_of(state["stats"])

    ran = counts.get("succeeded", 0)
    never = 22 - ran - 1  # all but the succeeded trials and the one that had started
    assert f"{ran} / 22 trials done" in stats
    assert "1 stopped" in stats and f"{never} never run" in stats
    # A rung that never started: its configs will never run; nothing says "waiting".
    assert "1 never run" in cell_text(state["brackets"], "2:2")
    assert "waiting" not in state["brackets"]
    # The started trial is "stopped"; its cell's queued ones never ran.
    bracket_1 = cell_text(state["brackets"], "1:0")
    assert "1 stopped" in bracket_1 and f"{5 - 1} never run" in bracket_1


# --- the trial page's live fragment --------------------------------------------------------


def test_the_trial_fragment_carries_metric_times_exit_code_and_lineage(client, cast, sweep):
    trial = sweep.trials.filter(bracket=2, rung=0, promoted=True).first()
    child = sweep.trials.get(parent=trial)
    page = login(client, cast.viewer).get(f"/trials/{trial.pk}/").content.decode()
    assert f'data-config="{trial.config_id}"' in page and 'id="trial-facts"' in page

    live = client.get(f"/ui/trials/{trial.pk}/live/").json()
    assert live["status"] == "succeeded" and live["promoted"] is True
    assert live["lineage_ids"] == [trial.pk, child.pk]
    facts = text_of(live["facts"])
    assert f"{trial.metric_value:.6g}"[:5] in facts
    assert trial.finished_at.strftime("%H:%M:%S") in facts
    assert f"#{child.number}" in text_of(live["lineage"])
    assert live["seq"] == Sweep.objects.get(pk=sweep.pk).last_seq


# --- the sweeps list's live fragment -------------------------------------------------------


def test_the_sweeps_fragment_carries_tab_counts_summary_and_fresh_ages(client, cast, sweep):
    viewer = login(client, cast.viewer)
    before = viewer.get(f"/ui/sweeps/rows/?ids={sweep.pk}&status=running").json()
    assert "1 sweep running in your teams" in text_of(before["summary"])
    Sweep.objects.filter(pk=sweep.pk).update(created_at=timezone.now() - timedelta(hours=3))
    started_sweep(cast.team, cast.member, tiny_yaml(name="second"))

    after = viewer.get(f"/ui/sweeps/rows/?ids={sweep.pk}&status=running").json()
    assert "2 sweeps running in your teams" in text_of(after["summary"])
    tab = re.search(r'status=running"[^>]*>(.*?)</a>', after["tabs"], re.S)
    assert tab and text_of(tab.group(1)).split() == ["Running", "2"]
    assert '<a href="?status=running" class="active">' in after["tabs"]
    assert "3 h ago" in after["rows"][str(sweep.pk)]


# --- the new-sweep form --------------------------------------------------------------------


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_launching_into_a_team_the_user_may_not_create_in_is_refused(client, cast, who):
    before = Sweep.objects.count()
    response = login(client, getattr(cast, who)).post(
        "/sweeps/new/", {"yaml": tiny_yaml(), "team": cast.team.pk, "action": "launch"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="refusal"' in page and "You may not create sweeps in that team" in page
    assert Sweep.objects.count() == before  # not quietly created in a personal team


def test_launching_into_a_team_the_user_is_a_member_of_works(client, cast):
    response = login(client, cast.member).post(
        "/sweeps/new/", {"yaml": tiny_yaml(), "team": cast.team.pk, "action": "launch"}
    )
    assert response.status_code == 302
    assert Sweep.objects.get().team == cast.team


def test_an_uploaded_file_is_named_after_it_is_read(client, cast):
    upload = SimpleUploadedFile("my-sweep.yml", tiny_yaml(name="uploaded").encode())
    response = login(client, cast.member).post(
        "/sweeps/new/", {"file": upload, "team": cast.team.pk, "action": "preview"}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Read my-sweep.yml" in page and "name: uploaded" in page


# --- error pages ---------------------------------------------------------------------------


def test_another_teams_sweep_is_a_branded_404_without_url_patterns(client, cast):
    theirs = started_sweep(cast.other_team, cast.outsider, tiny_yaml(name="theirs"))
    response = login(client, cast.viewer).get(f"/sweeps/{theirs.pk}/")
    page = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in page and 'class="topbar"' in page and "Sign out" in page
    assert "URLconf" not in page and "theirs" not in page


def test_a_form_without_its_token_gets_the_branded_403(cast):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.member)
    response = client.post("/teams/", {"name": "new"})
    assert response.status_code == 403
    assert "The form expired" in response.content.decode()


def test_the_500_page_renders_without_a_request():
    page = render_to_string("500.html")
    assert "Something went wrong" in page and 'class="topbar"' in page


def test_debug_is_off_unless_the_environment_turns_it_on():
    env = {k: v for k, v in os.environ.items() if k != "DEBUG"}
    env["DJANGO_SETTINGS_MODULE"] = "hbsite.settings"
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    argv = [sys.executable, "-c", code]
    result = subprocess.run(argv, cwd=settings.BASE_DIR, env=env, capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
    # `make run` (bin/run-system -> `hbsite run`) turns nothing of it back on.
    from hbsite import cli

    script = (settings.BASE_DIR / "bin" / "run-system").read_text()
    assert "DEBUG" not in script and "DEBUG" not in cli.PLAIN_HTTP
