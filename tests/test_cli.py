"""The `konvergo` command as a user runs it: clear one-line errors, tokens, doctor, demo, run."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from konvergo.core.models import BusinessCalendar, WorkerHeartbeat
from konvergo.org.models import Department, User
from konvergo.org.tests.factories import UserFactory


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("konvergo: error:")
    return lines[0]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://root@localhost/x", "is not understood"),
        ("not a url", "is not understood"),
        ("postgres://localhost:5432/", "names no database"),
    ],
)
def test_unparseable_database_url_gives_one_line(run_konvergo, url: str, expected: str) -> None:
    line = one_line_error(run_konvergo("migrate", env={"KONVERGO_DATABASE_URL": url}))
    assert expected in line


def test_unreachable_postgres_gives_one_line(run_konvergo) -> None:
    with socket.socket() as probe:  # a port on which nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgres://konvergo@127.0.0.1:{port}/konvergo"
    for command in (["migrate"], ["worker", "--once"], ["serve", "--port", "0"], ["setup"]):
        line = one_line_error(run_konvergo(*command, env={"KONVERGO_DATABASE_URL": url}))
        assert f"127.0.0.1:{port}" in line
    # doctor reports it in its list of findings instead
    doctor = run_konvergo("doctor", env={"KONVERGO_DATABASE_URL": url})
    assert doctor.returncode == 1
    assert (
        f"FAIL database    postgresql database 'konvergo' at 127.0.0.1:{port} does not answer"
        in doctor.stdout
    )


def test_unwritable_var_dir_gives_one_line(run_konvergo, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_konvergo(
        "migrate",
        env={
            "KONVERGO_VAR_DIR": str(blocker / "var"),
            "KONVERGO_SECRET_KEY": "",
            "KONVERGO_DATABASE_URL": "",
        },
    )
    assert "is not writable" in one_line_error(result)


def test_bad_boolean_setting_gives_one_line(run_konvergo) -> None:
    line = one_line_error(run_konvergo("doctor", env={"KONVERGO_DEBUG": "maybe"}))
    assert "KONVERGO_DEBUG" in line


@pytest.mark.django_db(transaction=True)
def test_token_create_prints_a_working_token_once(run_konvergo) -> None:
    UserFactory.create(username="anna")

    result = run_konvergo("token", "create", "anna", "--name", "laptop")

    assert result.returncode == 0, result.stderr
    raw = result.stdout.strip()
    assert raw.startswith("kvg_")
    response = Client().get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"})
    assert response.json()["username"] == "anna"
    listed = run_konvergo("token", "list", "anna")
    assert "laptop" in listed.stdout
    assert raw not in listed.stdout


@pytest.mark.django_db(transaction=True)
def test_token_create_for_unknown_user_fails_cleanly(run_konvergo) -> None:
    result = run_konvergo("token", "create", "nobody")
    assert result.returncode == 2
    assert "no user named 'nobody'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.django_db(transaction=True)
def test_doctor_lists_problems_and_exits_1_then_0(run_konvergo) -> None:
    sick = run_konvergo("doctor")
    assert sick.returncode == 1
    assert "no job worker is running" in sick.stdout
    assert "1 problem(s) found." in sick.stdout

    now = timezone.now()
    WorkerHeartbeat.objects.create(
        worker_id="w", hostname="h", pid=1, started_at=now, last_seen_at=now
    )
    healthy = run_konvergo("doctor")
    assert healthy.returncode == 0, healthy.stdout
    assert "Everything looks healthy." in healthy.stdout


@pytest.mark.django_db(transaction=True)
def test_demo_creates_a_company_once(run_konvergo) -> None:
    first = run_konvergo("demo")
    assert first.returncode == 0, first.stderr
    assert set(BusinessCalendar.objects.values_list("name", flat=True)) == {
        "Berlin office",
        "Warsaw office",
        "Tehran office",
    }
    sales = Department.objects.get(name="Sales")
    assert sales.head is not None and sales.head.username == "jan.kowalski"
    assert sales.parent is not None and sales.parent.name == "Management"
    assert User.objects.filter(department__isnull=False).count() == 10

    # The lead follow-ups whose three days are over get their call task once the worker runs
    from konvergo.org.models import Notification
    from konvergo.processes.models import HumanTask, ProcessInstance

    assert ProcessInstance.objects.filter(definition__key="lead_followup").count() == 3
    assert not HumanTask.objects.filter(element_id="call_lead").exists()
    approvals = HumanTask.objects.filter(instance__definition__key="quote_approval")
    assert sorted(approvals.values_list("element_id", "assignee__username")) == [
        ("approve_director", "katharina.vogel"),
        ("approve_head", "jan.kowalski"),
        ("send_quote", "anna.nowak"),
    ]
    worked = run_konvergo("worker", "--once")
    assert worked.returncode == 0, worked.stderr
    calls = HumanTask.objects.filter(element_id="call_lead", status="open")
    assert sorted(calls.values_list("assignee__username", flat=True)) == [
        "anna.nowak",
        "lukas.becker",
    ]
    assert Notification.objects.filter(title="Call your lead Rheinmetallbau GmbH").exists()

    again = run_konvergo("demo")
    assert again.returncode == 2
    assert "already loaded" in again.stderr
    assert User.objects.count() == 10


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_run_sets_up_and_serves_on_a_fresh_sqlite(konvergo_env, tmp_path: Path) -> None:
    """What `make run` does, on an empty var/ directory."""
    port = free_port()
    env = {
        **konvergo_env,
        "DJANGO_SETTINGS_MODULE": "konvergo.config.settings",
        "KONVERGO_VAR_DIR": str(tmp_path / "var"),
    }
    env.pop("KONVERGO_SECRET_KEY")
    server = subprocess.Popen(
        [sys.executable, "-m", "konvergo", "run", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        health = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    health = r.status
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.25)
        assert health == 200, "server did not answer /healthz within 120 s"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=5) as login:
            assert login.status == 200
            assert "password" in login.read().decode()
        assert (tmp_path / "var" / "konvergo.sqlite3").exists()
        assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=60)
    assert "Created the account 'admin' with password:" in output
    assert "Demo company loaded." in output
    assert server.returncode == 0, output
    assert "Traceback" not in output
