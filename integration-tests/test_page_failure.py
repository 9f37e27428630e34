"""A failed install shows its failure on the progress page, which stays up after the installer exits;
with port 80 taken the bootstrap goes on without the page.

On the session machine: traefik is stopped (the page needs port 80) and /usr/bin/tljh-config is
made to point elsewhere, so the installer refuses at its "tljh-config command" step, before it
touches any service. Afterwards the page server is stopped, the link and traefik restored, and
the hub checked, so later tests see the default hub.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from browser import dump_dom, screenshot
from hubclient import http_get
from machine import BOOTSTRAP_TIMEOUT, Machine, bootstrap_argv, wait_for_http
from pagewatch import ARTIFACTS, PAGE_URL, get

if TYPE_CHECKING:
    from conftest import Installation

LINK = "/usr/bin/tljh-config"
FAILING_STEP = "tljh-config command"
PID_FILE = "/run/tljh-progress-page.pid"


@dataclass
class FailedRun:
    result: subprocess.CompletedProcess[str]
    status: dict
    dom: str
    logs: str


def stop_page_server(machine: Machine) -> None:
    """Stop the page server left up by the failed run, the way the next installer run does."""
    machine.run([
        "/opt/tljh/hub/bin/python3", "-c",
        "from tljh.paths import Paths; from tljh.install.progress import stop_page; stop_page(Paths())",
    ])


def test_port_80_taken_is_said_and_the_bootstrap_carries_on(machine: Machine, installed: Installation,
                                                            hub_url: str) -> None:
    """On the live hub (traefik holds port 80) the page is skipped, said so, and the bootstrap goes on
    (here to a pip spec that does not exist, so it stops there without touching anything)."""
    result = machine.run(
        ["python3", "/srv/tljh/bootstrap/bootstrap.py", "--show-progress-page", "--admin", "admin"],
        env={"TLJH_BOOTSTRAP_PIP_SPEC": "/nonexistent/tljh"},
        check=False,
        timeout=300,
    )
    assert "[bootstrap] port 80 is already in use" in result.stdout
    assert "carrying on without the progress page" in result.stdout
    assert "[bootstrap] bootstrap: tljh package ..." in result.stdout  # it went on to install
    assert result.returncode == 1 and "/nonexistent/tljh" in result.stderr
    assert "progress page shows this error" not in result.stderr
    assert http_get(f"{hub_url}/hub/api").status_code == 200
    for path in ("/var/run/index.html", PID_FILE):
        assert not machine.succeeds(["test", "-e", path]), f"{path} was written"


@pytest.fixture(scope="module")
def failed_run(machine: Machine, installed: Installation, admin_name: str, admin_password: str) -> FailedRun:
    """The failed run's outcome, captured while its page was up; the machine restored before the tests."""
    target = machine.run(["readlink", LINK]).stdout.strip()
    machine.run(["systemctl", "stop", "traefik"])
    machine.run(["ln", "-sfn", "/bin/true", LINK])
    try:
        result = machine.run(
            ["python3", "/srv/tljh/bootstrap/bootstrap.py", *bootstrap_argv(admin_name, admin_password),
             "--show-progress-page"],
            check=False,
            timeout=BOOTSTRAP_TIMEOUT,
        )
        answer = get(PAGE_URL + "status.json")  # the installer has exited: is the page still up?
        status = json.loads(answer[1]) if answer and answer[0] == 200 else {}
        dom = dump_dom(PAGE_URL)
        screenshot(PAGE_URL, ARTIFACTS / f"{machine.distro}.failure-page.png")
        logs = (get(PAGE_URL + "logs") or (0, b""))[1].decode(errors="replace")
    finally:
        stop_page_server(machine)
        machine.run(["ln", "-sfn", target, LINK])
        machine.run(["systemctl", "start", "traefik"])
        assert wait_for_http("http://127.0.0.1/hub/api", timeout=60), "the hub did not come back after the test"
    return FailedRun(result, status, dom, logs)


def test_failed_install_exits_non_zero_and_says_where_to_look(failed_run: FailedRun) -> None:
    assert failed_run.result.returncode == 1
    err = failed_run.result.stderr
    assert f"{LINK} points to /bin/true, not to TLJH" in err
    assert "The progress page shows this error and stays up" in err
    assert "Traceback" not in err + failed_run.result.stdout


def test_status_names_the_failed_step_and_the_error(failed_run: FailedRun) -> None:
    status = failed_run.status
    assert status["state"] == "failed", status
    assert status["error"]["step"] == FAILING_STEP
    assert LINK in status["error"]["message"]
    assert status["log"] == "/opt/tljh/installer.log"
    states = {s["title"]: s["state"] for s in status["steps"]}
    assert states[FAILING_STEP] == "failed"
    assert states["hub environment"] == "done" and states["services"] == "pending"


def test_page_shows_the_failure_after_the_installer_exited(failed_run: FailedRun) -> None:
    dom = failed_run.dom
    assert '<div id="error">' in dom, dom[:3000]  # no longer hidden
    assert f'<strong id="error-step">{FAILING_STEP}</strong>' in dom
    assert "points to /bin/true, not to TLJH" in dom
    assert '<code id="error-log">/opt/tljh/installer.log</code>' in dom
    assert "<title>TLJH install FAILED</title>" in dom
    assert "refusing to replace it" in failed_run.logs


def test_services_were_left_alone_and_the_hub_is_back(machine: Machine, failed_run: FailedRun, hub_url: str) -> None:
    assert machine.run(["systemctl", "is-active", "jupyterhub"], check=False).stdout.strip() == "active"
    assert machine.run(["readlink", LINK]).stdout.strip() == "/opt/tljh/hub/bin/tljh-config"
    assert http_get(f"{hub_url}/hub/api").status_code == 200
    for path in ("/var/run/index.html", "/var/run/favicon.ico", PID_FILE):
        assert not machine.succeeds(["test", "-e", path]), f"{path} is still there"
