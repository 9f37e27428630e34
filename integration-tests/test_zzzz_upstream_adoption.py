"""A machine installed by upstream TLJH, upgraded in place by the release bootstrap file.

Runs last: the session install is removed, an "installed by upstream" machine is built from
shared/UPSTREAM.md's facts (upstream_machine.py), then the release bootstrap file is piped into
`python3 - --version=latest` (upstream's documented upgrade command) with no environment variable
and no checkout in the machine. Every user logs in with their password into their existing home,
the admin stays admin, the state files are kept, upstream's dynamic.toml is moved aside, the user
environment keeps its canary package, and a second run changes nothing. The machine is left with a
working install (ours).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from hubclient import HubClient, http_get
from machine import BOOTSTRAP_TIMEOUT, Machine, tail
from release import release_bootstrap
from upstream_machine import CANARY, UpstreamUser, build_upstream, seed_state, take_down_ours

if TYPE_CHECKING:
    from conftest import Installation

pytestmark = pytest.mark.one_distro

USERS = (UpstreamUser("ada", "ada-pw:1", admin=True), UpstreamUser("bob", "bob pw 2", admin=False))
KEPT = ("/opt/tljh/state/jupyterhub_cookie_secret", "/opt/tljh/state/traefik-api.secret", "/opt/tljh/state/acme.json")
SERVICES = ("jupyterhub", "traefik")
HIDDEN = "/srv/.tljh-hidden-by-test"


@dataclass
class Adoption:
    first: subprocess.CompletedProcess[str]
    digests_before: str  # sha256sum of the KEPT files before our bootstrap ran
    accounts_before: str  # the jupyter-* accounts before


def digests(machine: Machine) -> str:
    return machine.run(["sha256sum", *KEPT]).stdout


def accounts(machine: Machine) -> str:
    return machine.run(["sh", "-c", "getent passwd | cut -d: -f1 | grep '^jupyter-' | sort"]).stdout


def active_since(machine: Machine) -> list[str]:
    show = ["systemctl", "show", "-p", "ActiveEnterTimestampMonotonic", "--value"]
    return [machine.run([*show, unit]).stdout for unit in SERVICES]


def run_release(machine: Machine, *args: str) -> subprocess.CompletedProcess[str]:
    """The release bootstrap file piped into python3 - (no environment variable, no checkout)."""
    script = release_bootstrap().read_text()
    machine.run(["mv", "/srv/tljh", HIDDEN])
    try:
        return machine.run(["python3", "-", *args], input=script, check=False, timeout=BOOTSTRAP_TIMEOUT)
    finally:
        machine.run(["mv", HIDDEN, "/srv/tljh"])


@pytest.fixture(scope="module")
def adoption(machine: Machine, installed: Installation) -> Iterator[Adoption]:
    seed_state(machine, "/opt/tljh/hub/bin/python", USERS)
    take_down_ours(machine)
    build_upstream(machine, USERS)
    before = Adoption(subprocess.CompletedProcess([], 0), digests(machine), accounts(machine))
    before.first = run_release(machine, "--version=latest")
    yield before


def test_release_bootstrap_adopts_the_upstream_install(adoption: Adoption) -> None:
    output = adoption.first.stdout + adoption.first.stderr
    assert adoption.first.returncode == 0, tail(output, 80)
    assert "adopting the TLJH install found in /opt/tljh" in output
    assert "kept: hub database (users, admins, servers): /opt/tljh/state/jupyterhub.sqlite" in output
    assert "moved aside: /opt/tljh/state/rules/dynamic.toml" in output


def test_state_files_are_kept_and_dynamic_toml_moved_aside(machine: Machine, adoption: Adoption) -> None:
    assert digests(machine) == adoption.digests_before
    assert not machine.succeeds(["test", "-e", "/opt/tljh/state/rules/dynamic.toml"])
    assert "VersionTLS12" in machine.run(["cat", "/opt/tljh/state/backups/upstream-dynamic.toml"]).stdout
    assert machine.succeeds(["test", "-s", "/opt/tljh/state/rules/tljh-tls.toml"])


def test_the_user_environment_is_kept_with_the_canary(machine: Machine, adoption: Adoption) -> None:
    name, version = CANARY.split("==")
    found = machine.run(["/opt/tljh/user/bin/python", "-c", f"import {name}; print({name}.__version__)"]).stdout
    assert found.strip() == version
    assert machine.succeeds(["test", "-f", "/opt/tljh/user/conda-meta/history"])  # the same conda env


@pytest.mark.parametrize("user", USERS, ids=[u.name for u in USERS])
def test_every_user_logs_in_to_their_home_and_file(adoption: Adoption, hub_url: str, user: UpstreamUser) -> None:
    client = HubClient(hub_url)
    client.login(user.name, user.password)
    assert client.user_model()["admin"] is user.admin
    seen = client.evaluate("import os, pwd; (pwd.getpwuid(os.getuid()).pw_name, open(os.path.expanduser('~/notes.txt')).read())")
    assert seen == repr((user.account, user.note))


def test_no_account_was_added(machine: Machine, adoption: Adoption) -> None:
    # after the logins above (tests run in file order): the spawner reused the upstream accounts
    assert accounts(machine) == adoption.accounts_before


def test_second_run_changes_nothing(machine: Machine, adoption: Adoption, hub_url: str) -> None:
    before = active_since(machine)
    result = run_release(machine, "--version=latest")
    output = result.stdout + result.stderr
    assert result.returncode == 0, tail(output, 60)
    assert "adopting" not in output
    assert active_since(machine) == before
    assert digests(machine) == adoption.digests_before
    assert http_get(f"{hub_url}/hub/api").status_code == 200
