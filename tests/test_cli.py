"""`manage.py sweep ...` as a user types it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hbsite import examples
from tests.conftest import ROOT

REFERENCE = examples.read("reference.yml")


def manage(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture
def reference_file(tmp_path: Path) -> Path:
    path = tmp_path / "reference.yml"
    path.write_text(REFERENCE)
    return path


def test_it_validates_the_reference_example(reference_file: Path) -> None:
    result = manage("sweep", "validate", str(reference_file))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    assert "hyperband" in lines[0] and "143 configs" in lines[0] and "206 trials" in lines[0]


def test_it_prints_every_error_with_file_line_and_column(tmp_path: Path) -> None:
    bad = REFERENCE.replace("eta: 3", "eta: 1").replace("uniform: [0, 0.9]", "uniform: [1, 0]")
    path = tmp_path / "bad.yml"
    path.write_text(bad)
    result = manage("sweep", "validate", str(path))
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "(warning)" not in line]
    assert len(errors) == 2
    eta_line, lr_line = line_of(bad, "eta: 1"), line_of(bad, "uniform: [1, 0]")
    assert errors[0].startswith(f"{path}:{eta_line}:10: ") and "eta" in errors[0]
    assert errors[1].startswith(f"{path}:{lr_line}:7: ") and "learning_rate" in errors[1]


def test_it_says_a_matrix_without_algorithm_is_a_grid_search() -> None:
    result = manage("sweep", "validate", "hbsite/examples/quick_start.yml")
    assert result.returncode == 0, result.stderr
    assert "ok: grid_search, 2 params, 1 brackets, 4 configs, 4 trials" in result.stdout
    notes = [line for line in result.stderr.splitlines() if "no search algorithm section" in line]
    assert len(notes) == 1 and notes[0].endswith("(warning)")
    hptuning = line_of((ROOT / "hbsite" / "examples" / "quick_start.yml").read_text(), "hptuning:")
    assert notes[0].startswith(f"hbsite/examples/quick_start.yml:{hptuning}:1: ")


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_it_prints_the_plan_as_json(reference_file: Path) -> None:
    result = manage("sweep", "plan", str(reference_file), "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["algorithm"] == "hyperband" and (plan["max_iter"], plan["eta"]) == (81, 3)
    assert [b["rungs"][0]["configs"] for b in plan["brackets"]] == [81, 34, 15, 8, 5]
    assert [[r["resource"] for r in b["rungs"]] for b in plan["brackets"]][1] == [3, 9, 27, 81]
    assert (plan["total_configs"], plan["total_trials"]) == (143, 206)


def test_it_prints_the_plan_as_a_bracket_table(reference_file: Path) -> None:
    result = manage("sweep", "plan", str(reference_file))
    assert result.returncode == 0, result.stderr
    rows = {line.split("|")[0].strip(): line for line in result.stdout.splitlines()}
    header_line = next(line for line in result.stdout.splitlines() if "bracket=4" in line)
    header = [cell.strip() for cell in header_line.split("|")[1:]]
    assert header == [f"bracket={s}" for s in (4, 3, 2, 1, 0)]
    assert [c.strip() for c in rows["rung 0"].split("|")[1:]] == [
        "81 × 1", "34 × 3", "15 × 9", "8 × 27", "5 × 81",
    ]  # fmt: skip
    assert re.search(r"^total trials: +206$", result.stdout, re.MULTILINE)


def test_it_offers_the_papers_table_1_sizing(reference_file: Path) -> None:
    text = reference_file.read_text().replace("resume: False", "resume: False\n    sizing: table1")
    reference_file.write_text(text)
    plan = json.loads(manage("sweep", "plan", str(reference_file), "--json").stdout)
    assert [b["rungs"][0]["configs"] for b in plan["brackets"]] == [81, 27, 9, 6, 5]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_it_submits_and_waits_for_a_sweep(celery_worker, process_env, cast, tmp_path) -> None:
    path = tmp_path / "quick.yml"
    path.write_text(
        REFERENCE.replace("max_iter: 81", "max_iter: 9").replace(
            "cmd: python -m hbsite.examples.train_digits --epochs={{ num_steps }} "
            "--learning-rate={{ learning_rate }}",
            "workdir: .\n  cmd: python tests/scripts/quadratic.py --x={{ learning_rate }} "
            "--steps={{ num_steps }}",
        )
    )
    result = manage("sweep", "submit", str(path), "--user", "admin", "--wait", env=process_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "created" in result.stdout.splitlines()[0]
    assert "succeeded: 22/22 trials done" in result.stdout.splitlines()[-1]
    sweep_id = result.stdout.split()[1]
    status = manage("sweep", "status", sweep_id, env=process_env)
    assert f"sweep {sweep_id} succeeded" in status.stdout
    assert "best: " in status.stdout


# --- the `hbsite` command ---------------------------------------------------------------------


def hbsite(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "hbsite", *args]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)


def test_the_hbsite_command_lists_its_commands_and_passes_the_rest_to_django() -> None:
    listed = hbsite("--help")
    assert listed.returncode == 0
    assert all(name in listed.stdout for name in ("run", "runner", "manage", "sweep", "paths"))
    manage_help = hbsite("manage", "help", "migrate")
    assert manage_help.returncode == 0 and "usage: hbsite manage migrate" in manage_help.stdout
    assert hbsite("nonsense").returncode == 2


@pytest.mark.parametrize("name", examples.names())
def test_every_shipped_example_validates_by_name(name: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hbsite", "sweep", "validate", name],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{name}: ok: ")


def test_a_file_of_that_name_wins_over_the_shipped_example(tmp_path: Path) -> None:
    (tmp_path / "hyperband.yml").write_text("version: 2\n")
    argv = [sys.executable, "-m", "hbsite", "sweep", "validate", "hyperband.yml"]
    result = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and result.stderr.startswith("hyperband.yml:1:")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_waiting_on_a_terminal_shows_a_bar_updating_in_place(
    celery_worker, process_env, cast, tmp_path
):
    import pty

    text = REFERENCE.replace("max_iter: 81", "max_iter: 3").replace(
        "cmd: python -m hbsite.examples.train_digits --epochs={{ num_steps }} "
        "--learning-rate={{ learning_rate }}",
        "workdir: .\n  cmd: python tests/scripts/quadratic.py --x={{ learning_rate }} "
        "--steps={{ num_steps }}",
    )
    path = tmp_path / "tty.yml"
    path.write_text(text)
    total = json.loads(hbsite("sweep", "plan", str(path), "--json").stdout)["total_trials"]
    primary, secondary = pty.openpty()
    argv = [sys.executable, "-m", "hbsite", "sweep", "submit", str(path), "--user", "admin",
            "--wait"]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=ROOT, env=process_env, stdout=secondary, stderr=secondary)
    os.close(secondary)
    raw = read_all(primary)
    output = raw.replace("\r\n", "\n")  # the terminal turns \n into \r\n
    assert proc.wait(timeout=120) == 0, output
    assert re.search(rf"\r[^\n]*{total}/{total}", output), output  # redrawn in place
    last = output.rstrip("\n").split("\n")[-1]
    assert last.endswith(f"succeeded: {total}/{total} trials done ({total} succeeded)"), output


def read_all(fd: int) -> str:
    """Read a pseudo-terminal until its other end is closed."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")
