"""A second bootstrap run, from the checkout as a file, changes nothing that runs.

Named test_zz_* so it runs after the other files (pytest collects files in name
order), i.e. after the admin's server was started and ran a kernel.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from hubclient import HubClient, http_get
from machine import BOOTSTRAP_TIMEOUT, Machine, bootstrap_argv, tail

if TYPE_CHECKING:
    from conftest import Installation

SERVICES = ("jupyterhub", "traefik")


@dataclass
class Rerun:
    """The second run's result, and when each service had last started before it."""

    result: subprocess.CompletedProcess[str]
    started_before: dict[str, str]


def active_since(machine: Machine, unit: str) -> str:
    """When `unit` last entered the active state (monotonic µs; changes on every restart)."""
    return machine.run(["systemctl", "show", "-p", "ActiveEnterTimestampMonotonic", "--value", unit]).stdout.strip()


@pytest.fixture(scope="module")
def rerun(
    machine: Machine, installed: Installation, admin_server: HubClient, admin_name: str, admin_password: str
) -> Rerun:
    """Run bootstrap.py a second time, as a file from /srv/tljh, with the admin's server running."""
    # files before this one (faults, lifecycle) may have stopped the admin's server or replaced the hub
    client = HubClient(admin_server.base_url)
    client.login(admin_name, admin_password)
    client.start_server()
    before = {unit: active_since(machine, unit) for unit in SERVICES}
    result = machine.run(
        ["python3", "/srv/tljh/bootstrap/bootstrap.py", *bootstrap_argv(admin_name, admin_password)],
        check=False,
        timeout=BOOTSTRAP_TIMEOUT,
    )
    return Rerun(result, before)


def test_second_run_exits_0(rerun: Rerun) -> None:
    output = rerun.result.stdout + rerun.result.stderr
    assert rerun.result.returncode == 0, f"exit code {rerun.result.returncode}\n{tail(output, 60)}"


def test_second_run_restarts_nothing(machine: Machine, rerun: Rerun) -> None:
    after = {unit: active_since(machine, unit) for unit in SERVICES}
    assert after == rerun.started_before


def test_user_server_survives_second_run(machine: Machine, rerun: Rerun, admin_unit: str) -> None:
    assert machine.run(["systemctl", "is-active", admin_unit], check=False).stdout.strip() == "active"


def test_hub_answers_after_second_run(hub_url: str, rerun: Rerun) -> None:
    assert http_get(f"{hub_url}/hub/api").status_code == 200


def test_plugins_are_kept_by_second_run_without_plugin_flags(machine: Machine, rerun: Rerun) -> None:
    state = machine.run(["cat", "/opt/tljh/state/install.json"]).stdout
    assert "tljh-example-plugin" in state and "tljh-new-user==0.1.3" in state
    for module in ("tljh_example_plugin", "tljh_new_user", "termcolor"):
        assert machine.succeeds(["/opt/tljh/hub/bin/python", "-c", f"import {module}"]), module
