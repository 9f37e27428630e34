"""The release bootstrap file, piped into `python3 -` with no environment variable and no checkout
in the machine, installs the tljh wheel it carries (hub dependencies from the hash-checked lock),
and the admin logs in.

It upgrades the session install in place (so it runs after test_zz_rerun.py, which re-runs from
the checkout): the checkout /srv/tljh is moved away while it runs and put back afterwards; the
machine is left with a working install (of the release wheel).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from hubclient import HubClient, http_get
from machine import BOOTSTRAP_TIMEOUT, Machine, tail
from release import release_bootstrap, wheel_sha256

if TYPE_CHECKING:
    from conftest import Installation

HIDDEN = "/srv/.tljh-hidden-by-test"
HUB_PYTHON = "/opt/tljh/hub/bin/python"


@pytest.fixture(scope="module")
def release_run(machine: Machine, installed: Installation, admin_name: str,
                admin_password: str) -> Iterator[subprocess.CompletedProcess[str]]:
    script = release_bootstrap().read_text()
    machine.run(["mv", "/srv/tljh", HIDDEN])
    try:
        yield machine.run(["python3", "-", "--admin", f"{admin_name}:{admin_password}"], input=script,
                          check=False, timeout=BOOTSTRAP_TIMEOUT)
    finally:
        machine.run(["mv", HIDDEN, "/srv/tljh"])


def test_release_file_installs_with_no_checkout_and_no_variable(release_run: subprocess.CompletedProcess[str]) -> None:
    output = release_run.stdout + release_run.stderr
    assert release_run.returncode == 0, tail(output, 60)
    assert f"carried in this file (sha256 {wheel_sha256(release_bootstrap())} checked)" in output


def test_hub_has_the_carried_wheel_and_the_locked_dependencies(machine: Machine, release_run: subprocess.CompletedProcess[str]) -> None:
    code = "import importlib.metadata as m; print(m.distribution('the-littlest-jupyterhub').read_text('direct_url.json'))"
    origin = machine.run([HUB_PYTHON, "-c", code]).stdout
    assert "the_littlest_jupyterhub-" in origin and ".whl" in origin and "/srv/" not in origin
    log = machine.run(["cat", "/opt/tljh/installer.log"]).stdout
    assert "--require-hashes -r /opt/tljh/.bootstrap-" in log


def test_admin_logs_in_after_the_release_install(release_run: subprocess.CompletedProcess[str], hub_url: str,
                                                 admin_name: str, admin_password: str) -> None:
    assert http_get(f"{hub_url}/hub/api").status_code == 200
    client = HubClient(hub_url)
    client.login(admin_name, admin_password)
