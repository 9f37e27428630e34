"""Whatever interrupts a reload or kills a service, the hub comes back (issue 11).

Named test_zz_* because it breaks the session install on purpose (a corrupt rules file,
interrupted reloads, SIGKILLed services); every test leaves the hub serving with the session's
configuration, which the last one checks with a no-op re-run of the installer.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from hubclient import HubClient, HubClientError, http_get
from machine import BOOTSTRAP_TIMEOUT, Machine, bootstrap_argv, tail

if TYPE_CHECKING:
    from conftest import Installation

CONFIG = "/opt/tljh/config/config.yaml"
RULES = "/opt/tljh/state/rules/rules.toml"
SERVICES = ("jupyterhub", "traefik")

# Runs a reload inside the machine and sends it a signal once the hub has been restarted by it
# (so the signal lands during the wait for the new hub); prints the exit code, then stderr.
INTERRUPT_DRIVER = r"""
import signal, subprocess, sys, time
def since():
    return subprocess.run(["systemctl", "show", "-p", "ActiveEnterTimestampMonotonic", "--value", "jupyterhub"],
                          capture_output=True, text=True).stdout.strip()
before = since()
p = subprocess.Popen(["tljh-config", "reload"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                     start_new_session=True)
deadline = time.monotonic() + 60
while since() == before and p.poll() is None and time.monotonic() < deadline:
    time.sleep(0.05)
time.sleep(0.3)
p.send_signal(getattr(signal, sys.argv[1]))
out, err = p.communicate(timeout=240)
print(p.returncode)
print(err)
"""


def active_since(machine: Machine, unit: str) -> str:
    """When `unit` last entered the active state (monotonic µs; changes on every restart)."""
    return machine.run(["systemctl", "show", "-p", "ActiveEnterTimestampMonotonic", "--value", unit]).stdout.strip()


def tljh_config(machine: Machine, *args: str) -> subprocess.CompletedProcess[str]:
    return machine.run(["tljh-config", *args], check=False, timeout=240)


def hub_answers(hub_url: str) -> bool:
    try:
        return http_get(f"{hub_url}/hub/api", timeout=2).status_code == 200
    except HubClientError:
        return False


def wait_until_answering(hub_url: str, timeout: float = 60) -> float:
    """Seconds until /hub/api answers 200 through the proxy; fails the test after timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if hub_answers(hub_url):
            return time.monotonic() - start
        time.sleep(0.1)
    pytest.fail(f"the hub did not answer within {timeout:.0f}s")


@pytest.fixture(scope="module")
def session_config(machine: Machine, installed: Installation) -> Iterator[bytes]:
    """config.yaml as the session install left it; put back (and reloaded) after this file."""
    original = machine.host_path(CONFIG).read_bytes()
    yield original
    if machine.host_path(CONFIG).read_bytes() != original:
        machine.host_path(CONFIG).write_bytes(original)
        tljh_config(machine, "reload")


@pytest.fixture
def user(admin_server: HubClient) -> HubClient:
    """The admin, logged in, with a running server reachable through the proxy."""
    admin_server.open_server()
    return admin_server


# ---------------------------------------------------------------- reload: every way out restores the last good


def test_reload_repairs_an_unreadable_rules_file(machine: Machine, session_config: bytes, user: HubClient,
                                                  hub_url: str) -> None:
    rules = machine.host_path(RULES)
    rules.write_text(rules.read_text() + "garbage appended by a full disk [\n")
    result = tljh_config(machine, "reload")
    assert result.returncode == 0, result.stderr
    assert hub_answers(hub_url)
    user.open_server()  # the user's route is back, and the user's cookie still works
    assert machine.host_path(RULES + ".unreadable").read_text().endswith("full disk [\n")


@pytest.mark.parametrize("signame", ["SIGINT", "SIGHUP"])
def test_a_reload_interrupted_during_the_wait_restores_the_last_good_config(
    machine: Machine, session_config: bytes, user: HubClient, hub_url: str, signame: str
) -> None:
    assert tljh_config(machine, "set", "limits.cpu", "1").returncode == 0
    driven = machine.run(["python3", "-c", INTERRUPT_DRIVER, signame], timeout=300).stdout
    code, _, stderr = driven.partition("\n")
    assert code.strip() == "130", driven
    assert f"interrupted by {signame}" in stderr and "serving with it again" in stderr, stderr
    assert machine.host_path(CONFIG).read_bytes() == session_config
    assert hub_answers(hub_url)
    user.open_server()


# ---------------------------------------------------------------- dead services come back


@pytest.mark.parametrize("unit", ["jupyterhub", "traefik"])
def test_a_sigkilled_service_comes_back_and_users_keep_their_servers(
    machine: Machine, session_config: bytes, user: HubClient, hub_url: str, admin_unit: str, unit: str
) -> None:
    server_pid = machine.run(["systemctl", "show", "-p", "MainPID", "--value", admin_unit]).stdout.strip()
    machine.run(["systemctl", "kill", "--signal=SIGKILL", "--kill-whom=main", unit])
    start = time.monotonic()
    time.sleep(0.2)
    seconds = time.monotonic() - start + wait_until_answering(hub_url)
    print(f"\n{unit} SIGKILLed: the hub answered through the proxy again after {seconds:.1f}s", file=sys.stderr)
    journal = machine.run(["journalctl", "-u", unit, "-n", "25", "--no-pager", "-o", "short-monotonic"]).stdout
    print(journal, file=sys.stderr)
    assert machine.run(["systemctl", "show", "-p", "MainPID", "--value", admin_unit]).stdout.strip() == server_pid
    user.open_server()  # reachable through the proxy with the same cookie: no new login
    assert user.evaluate("6 * 7") == "42"


# ---------------------------------------------------------------- the installer's record stays current


def test_a_rerun_after_a_reload_restarts_nothing(machine: Machine, session_config: bytes, user: HubClient,
                                                 admin_name: str, admin_password: str, hub_url: str) -> None:
    assert tljh_config(machine, "set", "limits.cpu", "2").returncode == 0
    reloaded = tljh_config(machine, "reload")
    assert reloaded.returncode == 0, reloaded.stderr
    before = {unit: active_since(machine, unit) for unit in SERVICES}
    result = machine.run(
        ["python3", "/srv/tljh/bootstrap/bootstrap.py", *bootstrap_argv(admin_name, admin_password)],
        check=False,
        timeout=BOOTSTRAP_TIMEOUT,
    )
    assert result.returncode == 0, tail(result.stdout + result.stderr, 60)
    assert {unit: active_since(machine, unit) for unit in SERVICES} == before
    assert hub_answers(hub_url)
