"""The built wheel in a fresh virtualenv: the `hbsite` command, the shipped examples, the data
directory outside site-packages, and `hbsite run` serving pages and passing /readyz, on the
test's PostgreSQL and Redis, and on the embedded ones when neither is given nor answering.

Slow (a wheel build, an install and two runs of the system, a few minutes), so it has its own
marker: `pytest -m "not install"` leaves it out.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import ROOT, alive, free_port, pid_in, stop_process, wait_for
from tests.sweeps import tiny_yaml

# Building a virtualenv with the whole runtime takes minutes on a loaded 2-core machine.
pytestmark = [pytest.mark.install, pytest.mark.timeout(1200)]


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=900, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir"]
    run([*pip, str(dist), str(ROOT)])
    (built,) = dist.glob("hbsite-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv with the wheel installed at the lock file's versions, no extras."""
    path = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", str(path)])
    lock = ROOT / "requirements.lock"
    # Without PYTHONPATH: a checkout on it (with its egg-info) would count as installed.
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run([str(path / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-compile",
         "-c", str(lock), str(wheel)], env=clean)  # fmt: skip
    return path


@pytest.fixture
def user_env(venv, tmp_path) -> dict[str, str]:
    """A user's environment: a home of its own, outside the checkout, the venv on PATH, and a
    database that does not exist (what needs none must not touch it)."""
    home = tmp_path / "home"
    home.mkdir()
    path = f"{venv / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin"
    nowhere = "postgres://postgres@127.0.0.1:5432/hbsite_test_no_such_database"
    return {"HOME": str(home), "PATH": path, "LANG": "C.UTF-8", "DATABASE_URL": nowhere}


def hbsite(venv: Path, *args: str, env: dict[str, str], cwd: Path) -> str:
    return run([str(venv / "bin" / "hbsite"), *args], env=env, cwd=cwd).stdout


def test_the_wheel_carries_templates_static_files_examples_and_migrations(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    needed = {
        "hbsite/examples/hyperband.yml",
        "hbsite/examples/train_digits.py",
        "frontend/templates/frontend/base.html",
        "scheduler/migrations/0001_initial.py",
    }
    assert needed <= names
    assert any(n.startswith("frontend/static/frontend/") and n.endswith(".js") for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "hbsite = hbsite.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_the_installed_command_validates_a_shipped_example(venv, user_env, tmp_path):
    assert "runner" in hbsite(venv, "--help", env=user_env, cwd=tmp_path)
    out = hbsite(venv, "sweep", "validate", "hyperband.yml", env=user_env, cwd=tmp_path)
    assert "hyperband.yml: ok: hyperband" in out and "206 trials" in out


def test_the_data_directory_is_the_users_not_site_packages(venv, user_env, tmp_path):
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = run([str(venv / "bin" / "python"), "-c", purelib], env=user_env).stdout.strip()
    lines = hbsite(venv, "paths", env=user_env, cwd=tmp_path).splitlines()
    data = Path(next(line for line in lines if line.startswith("data directory:")).split()[-1])
    assert data.is_relative_to(user_env["HOME"]) and not data.is_relative_to(site)
    own = {**user_env, "HBSITE_DATA_DIR": str(tmp_path / "chosen")}
    chosen = hbsite(venv, "paths", env=own, cwd=tmp_path)
    assert f"data directory:   {tmp_path / 'chosen'}" in chosen


def test_the_example_trainer_says_what_to_install_without_the_extra(venv, user_env, tmp_path):
    argv = [str(venv / "bin" / "python"), "-m", "hbsite.examples.train_digits", "--epochs=1"]
    result = subprocess.run(argv, env=user_env, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 1
    assert "numpy" in result.stderr and "pip install 'hbsite[examples]'" in result.stderr


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_hbsite_run_serves_pages_and_becomes_ready(venv, user_env, process_env, tmp_path):
    port = free_port()
    keep = (
        "DATABASE_URL",
        "REDIS_URL",
        "HBSITE_REDIS_PREFIX",
        "HBSITE_HEARTBEAT_SECONDS",
        "HBSITE_LOST_AFTER_SECONDS",
    )
    env = {**user_env, **{k: process_env[k] for k in keep}, "HBSITE_PORT": str(port),
           "HBSITE_RUNNERS": "1", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    proc, log = start_run(venv, env, tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: status_of(f"{url}/readyz") == 200, timeout=90, every=0.5)
        assert status_of(f"{url}/accounts/login/") == 200
        assert status_of(f"{url}/static/frontend/app.css") == 200
    finally:
        stop_process(proc)
    data = Path(user_env["HOME"]) / ".local" / "share" / "hbsite"
    assert (data / "supervisor" / "supervisord.log").is_file()
    # What ran before supervisord took over the process reached the log, in order.
    text = log.read_text()
    assert "Running migrations:" in text and text.index("Running migrations:") < text.index(
        "supervisord started"
    )
    # Given real servers, no embedded one starts.
    assert "embedded " not in text
    assert not (data / "postgres").exists() and not (data / "valkey").exists()


def test_hbsite_run_embeds_postgresql_and_redis_when_none_answers(venv, user_env, tmp_path):
    """No DATABASE_URL or REDIS_URL and nothing at the default addresses (moved to unused
    ports): the system comes up on its own PostgreSQL and Valkey, runs a sweep to the end,
    serves the dashboard, and stops both servers when it stops."""
    port, data = free_port(), tmp_path / "data"
    env = {k: v for k, v in user_env.items() if k != "DATABASE_URL"}
    env |= {
        "HBSITE_DEFAULT_DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/hbsite",
        "HBSITE_DEFAULT_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "HBSITE_DATA_DIR": str(data), "HBSITE_PORT": str(port), "HBSITE_RUNNERS": "4",
        "HBSITE_API_URL": f"http://127.0.0.1:{port}", "PYTHONUNBUFFERED": "1",
    }  # fmt: skip
    proc, log = start_run(venv, env, tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: status_of(f"{url}/readyz") == 200, timeout=120, every=0.5)
        urls = dict(re.findall(r"^embedded \w+ in .*: (\w+)=(\S+)$", log.read_text(), re.M))
        assert set(urls) == {"DATABASE_URL", "REDIS_URL"}
        assert urls["DATABASE_URL"].startswith(f"postgres://postgres@{quote(str(data), safe='')}")
        served = {**env, **urls}
        (tmp_path / "tiny.yml").write_text(tiny_yaml())
        hbsite(venv, "manage", "demo", "--sweep", "tiny.yml", env=served, cwd=tmp_path)

        def ended() -> str | None:
            line = hbsite(venv, "sweep", "status", "1", env=served, cwd=tmp_path)
            return None if " running:" in line or " created:" in line else line

        assert "sweep 1 succeeded: 22/22 trials done" in wait_for(ended, timeout=180, every=1)
        page = signed_in_page(url, "/sweeps/1/", "demo", "hbsite-demo")
        assert "<h1>tiny</h1>" in page and "succeeded" in page
        servers = [
            pid_in(data / "postgres" / "postmaster.pid"),
            pid_in(data / "valkey" / "valkey.pid"),
        ]
    finally:
        # As `kill PID` would: hbsite run passes it on to supervisord, waits for the
        # processes (up to 20 s each), then stops the servers.
        os.kill(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=120)
        stop_process(proc)
    assert proc.returncode == 0
    assert not any(map(alive, servers))


def start_run(venv: Path, env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen, Path]:
    """Start `hbsite run --no-demo` in a session of its own; return it and its log file."""
    log = cwd / "run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(venv / "bin" / "hbsite"), "run", "--no-demo"], env=env,
                                cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    return proc, log


def signed_in_page(url: str, path: str, username: str, password: str) -> str:
    """Sign in through the login form (CSRF cookie and token) and return the page at `path`."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login = f"{url}/accounts/login/"
    form = opener.open(login, timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    fields = {"csrfmiddlewaretoken": token, "username": username, "password": password}
    body = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(login, data=body, headers={"Referer": login})
    opener.open(request, timeout=10).read()
    with opener.open(f"{url}{path}", timeout=10) as response:
        assert response.url.endswith(path), response.url  # not sent back to the login page
        return response.read().decode()


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0
