"""A whole install with the default (conda) user environment, against the stand-in Miniforge.

Runs last (after test_zz_rerun.py): the session install is taken down (services stopped and
removed, /opt/tljh/user, config and state deleted; the hub venv, with its plugins, is kept), and
bootstrap.py is run again without --user-env, with TLJH_MINIFORGE_URL pointing at the stand-in
installer served from the host (tests/standin/Miniforge3-standin.sh) and TLJH_MINIFORGE_SHA256
its digest. The admin then logs in and runs code in a kernel of the conda env; a second run
changes nothing and restarts nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from hubclient import HubClient
from machine import BOOTSTRAP_TIMEOUT, Machine, tail
from standin import STANDIN, serve_standin

if TYPE_CHECKING:
    from conftest import Installation

USER = "/opt/tljh/user"
LOG = "/opt/tljh/installer.log"
SERVICES = ("jupyterhub", "traefik")


@dataclass
class CondaInstall:
    first: str  # output of the first run
    first_code: int
    first_log: str  # what the first run added to installer.log
    requests: list[str]  # paths the host's HTTP server was asked for, over both runs
    env: dict[str, str]


def log_size(machine: Machine) -> int:
    return int(machine.run(["stat", "-c", "%s", LOG]).stdout)


def log_since(machine: Machine, size: int) -> str:
    return machine.run(["tail", "-c", f"+{size + 1}", LOG]).stdout


def commands_in(log: str) -> list[str]:
    """The commands the installer ran, from its log lines `<time> <thread> $ <command>`."""
    return [line.split(" $ ", 1)[1] for line in log.splitlines() if " $ " in line]


def take_down(machine: Machine) -> None:
    """Remove the session install's services, user env, config and state (keep the hub venv)."""
    machine.run(["sh", "-c", "systemctl stop 'jupyter-*' jupyterhub traefik; systemctl disable jupyterhub traefik"])
    machine.run(["rm", "-f", "/etc/systemd/system/jupyterhub.service", "/etc/systemd/system/traefik.service"])
    machine.run(["systemctl", "daemon-reload"])
    machine.run(["rm", "-rf", USER, "/opt/tljh/config", "/opt/tljh/state"])


@pytest.fixture(scope="module")
def conda_install(
    machine: Machine, installed: Installation, admin_name: str, admin_password: str
) -> Iterator[CondaInstall]:
    with serve_standin() as served:
        env = {
            "TLJH_MINIFORGE_URL": served.url,
            "TLJH_MINIFORGE_SHA256": hashlib.sha256(STANDIN.read_bytes()).hexdigest(),
        }
        take_down(machine)
        size = log_size(machine)
        result = machine.run(
            ["python3", "/srv/tljh/bootstrap/bootstrap.py", "--admin", f"{admin_name}:{admin_password}"],
            env=env, check=False, timeout=BOOTSTRAP_TIMEOUT,
        )
        yield CondaInstall(
            result.stdout + result.stderr, result.returncode, log_since(machine, size), served.requests, env
        )


def test_default_install_with_conda_succeeds(conda_install: CondaInstall) -> None:
    assert conda_install.first_code == 0, tail(conda_install.first, 60)


def test_user_env_kind_conda_is_remembered(machine: Machine, conda_install: CondaInstall) -> None:
    state = json.loads(machine.run(["cat", "/opt/tljh/state/install.json"]).stdout)
    assert state["user_env"] == "conda"
    assert machine.succeeds(["test", "-f", f"{USER}/conda-meta/history"])


def test_installer_ran_the_verified_installer_and_mamba(machine: Machine, conda_install: CondaInstall) -> None:
    commands = commands_in(conda_install.first_log)
    mamba = f"{USER}/bin/mamba install --yes --prefix {USER} --channel conda-forge"
    assert any(re.fullmatch(rf"/bin/bash /opt/tljh/\.miniforge-\w+/Miniforge3\.sh -b -p {USER}", c) for c in commands)
    floors = [c for c in commands if c.startswith(mamba) and "conda>=" in c]
    assert floors and floors[0].startswith(f"{mamba} 'conda>=24.7' 'mamba>=1.5'"), commands
    assert f"{mamba} tabulate" in commands  # the example plugin's conda package, now that conda is there
    assert any(c.startswith(f"{USER}/bin/python -m pip install --no-warn-script-location --require-hashes -r ")
               for c in commands)
    assert conda_install.requests[:1] == ["/Miniforge3-standin.sh"]
    assert "warning: plugin(s)" not in conda_install.first


def test_conda_user_env_is_root_owned_and_not_writable_by_users(
    machine: Machine, conda_install: CondaInstall
) -> None:
    found = machine.run(
        ["find", USER, "-not", "-type", "l", "(", "-perm", "/022", "-o", "-not", "-user", "root", ")", "-print"],
        timeout=120,
    ).stdout.splitlines()
    assert not found, "\n".join(found[:20])


def test_admin_runs_code_in_the_conda_env(
    conda_install: CondaInstall, hub_url: str, admin_name: str, admin_password: str
) -> None:
    client = HubClient(hub_url)
    client.login(admin_name, admin_password)
    client.start_server()
    assert client.evaluate("__import__('sys').prefix") == f"'{USER}'"


def test_second_run_changes_nothing(machine: Machine, conda_install: CondaInstall, admin_name: str,
                                    admin_password: str) -> None:
    show = ["systemctl", "show", "-p", "ActiveEnterTimestampMonotonic", "--value"]
    before = [machine.run([*show, unit]).stdout for unit in SERVICES]
    downloads = len(conda_install.requests)
    size = log_size(machine)
    result = machine.run(
        ["python3", "/srv/tljh/bootstrap/bootstrap.py", "--admin", f"{admin_name}:{admin_password}"],
        env=conda_install.env, check=False, timeout=BOOTSTRAP_TIMEOUT,
    )
    assert result.returncode == 0, tail(result.stdout + result.stderr, 60)
    assert [machine.run([*show, unit]).stdout for unit in SERVICES] == before
    assert len(conda_install.requests) == downloads  # the env is kept: nothing downloaded
    conda_commands = [c for c in commands_in(log_since(machine, size)) if c.startswith(USER)]
    assert conda_commands == [], conda_commands
