"""What the first bootstrap run leaves on the machine: files, modes, units, groups."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from machine import REPO_ROOT, Machine

if TYPE_CHECKING:
    from conftest import Installation

HUB = "/opt/tljh/hub"
USER_ENV = "/opt/tljh/user"


def test_bootstrap_succeeded(installed: Installation, record_property: Callable[[str, object], None]) -> None:
    """The piped bootstrap exited 0 (the fixture fails otherwise); record how long it took."""
    record_property("bootstrap_seconds", round(installed.seconds, 1))
    print(f"bootstrap took {installed.seconds:.0f} s; output in {installed.log}")
    assert installed.result.returncode == 0


def test_hub_environment_is_a_root_owned_venv(machine: Machine, installed: Installation) -> None:
    assert machine.stat(HUB)[0] == "root"
    assert machine.succeeds(["test", "-x", f"{HUB}/bin/python"])
    assert machine.succeeds([f"{HUB}/bin/python", "-c", "import jupyterhub"])


def test_traefik_binary(machine: Machine, installed: Installation) -> None:
    owner, _, mode = machine.stat(f"{HUB}/bin/traefik")
    assert owner == "root"
    assert mode & 0o111, f"traefik is not executable (mode {mode:o})"
    version = machine.run([f"{HUB}/bin/traefik", "version"], timeout=30)
    pinned = re.search(r'TRAEFIK_VERSION = "([^"]+)"', (REPO_ROOT / "tljh/paths.py").read_text())
    assert pinned is not None
    assert re.search(rf"Version:\s+{re.escape(pinned.group(1))}\b", version.stdout), version.stdout


def test_user_environment(machine: Machine, installed: Installation) -> None:
    owner, _, mode = machine.stat(USER_ENV)
    assert owner == "root"
    assert not mode & 0o022, f"{USER_ENV} is group or other writable (mode {mode:o})"
    assert machine.succeeds(["test", "-x", f"{USER_ENV}/bin/python"])
    machine.run([f"{USER_ENV}/bin/python", "-c", "import jupyterlab, notebook, jupyterhub"], timeout=120)


def test_user_environment_cannot_be_changed_by_users(machine: Machine, installed: Installation) -> None:
    """No file in the shared user environment is group/other writable or owned by anyone but root."""
    found = machine.run(
        ["find", USER_ENV, "-not", "-type", "l", "(", "-perm", "/022", "-o", "-not", "-user", "root", ")", "-print"],
        timeout=120,
    ).stdout.splitlines()
    assert not found, f"{len(found)} writable or non-root paths, e.g.:\n" + "\n".join(found[:20])


def test_tljh_config_command_is_linked(machine: Machine, installed: Installation) -> None:
    assert machine.succeeds(["test", "-L", "/usr/bin/tljh-config"]), "/usr/bin/tljh-config is not a symlink"
    target = machine.run(["readlink", "-f", "/usr/bin/tljh-config"]).stdout.strip()
    assert target == machine.run(["readlink", "-f", f"{HUB}/bin/tljh-config"]).stdout.strip()
    assert machine.succeeds(["test", "-x", target])


def test_config_directory(machine: Machine, installed: Installation) -> None:
    owner, _, mode = machine.stat("/opt/tljh/config")
    assert (owner, mode) == ("root", 0o700), f"{owner} {mode:o}"
    assert machine.succeeds(["test", "-f", "/opt/tljh/config/config.yaml"])
    assert machine.succeeds(["test", "-d", "/opt/tljh/config/jupyterhub_config.d"])


def test_state_directory(machine: Machine, installed: Installation) -> None:
    owner, _, mode = machine.stat("/opt/tljh/state")
    assert (owner, mode) == ("root", 0o700), f"{owner} {mode:o}"


@pytest.mark.parametrize(
    "name", ["jupyterhub.sqlite", "jupyterhub_cookie_secret", "traefik.toml", "acme.json", "traefik-api.secret"]
)
def test_state_file(machine: Machine, installed: Installation, name: str) -> None:
    """The hub's database and cookie secret, traefik's config, acme.json and the API secret: root only."""
    owner, _, mode = machine.stat(f"/opt/tljh/state/{name}")
    assert owner == "root"
    assert not mode & 0o077, f"{name} mode {mode:o}"


def test_traefik_rules_directory(machine: Machine, installed: Installation) -> None:
    """The hub writes its routes into the rules directory traefik watches."""
    assert machine.succeeds(["test", "-s", "/opt/tljh/state/rules/rules.toml"])


@pytest.mark.parametrize("unit", ["jupyterhub", "traefik"])
def test_service_is_installed_enabled_and_active(machine: Machine, installed: Installation, unit: str) -> None:
    assert machine.succeeds(["test", "-f", f"/etc/systemd/system/{unit}.service"])
    assert machine.run(["systemctl", "is-enabled", unit], check=False).stdout.strip() == "enabled"
    assert machine.run(["systemctl", "is-active", unit], check=False).stdout.strip() == "active"


@pytest.mark.parametrize("group", ["jupyterhub-users", "jupyterhub-admins"])
def test_group_exists(machine: Machine, installed: Installation, group: str) -> None:
    assert machine.succeeds(["getent", "group", group])


def test_admin_sudoers_rule(machine: Machine, installed: Installation) -> None:
    path = "/etc/sudoers.d/jupyterhub-admins"
    owner, _, mode = machine.stat(path)
    assert owner == "root"
    assert mode == 0o440, f"mode {mode:o}"  # the File action's mode
    machine.run(["visudo", "-cf", path])
    assert "%jupyterhub-admins" in machine.run(["cat", path]).stdout


def test_installer_log_is_private(machine: Machine, installed: Installation) -> None:
    owner, _, mode = machine.stat("/opt/tljh/installer.log")
    assert owner == "root"
    assert mode == 0o600, f"mode {mode:o}"  # what setup_logging and the bootstrap write
