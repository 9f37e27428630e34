"""The default user environment is conda: when the Miniforge download fails, the installer stops
before changing anything, saying where it tried and how to point it at a mirror. The download is
pointed at a closed local port, so the test does not depend on what this network can reach (the
pinned default URL is checked by tests/test_conda.py). Runs before the session install (files run
in name order)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from machine import Machine


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A local port that refuses connections: bound by this test (so nobody else takes it), not listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def fresh_afterwards(machine: Machine) -> Iterator[None]:
    """Remove what the stopped run made (the hub venv, the lock, the log): the session install
    that follows, and test_zz_lifecycle.py's snapshot taken before it, start from a fresh machine."""
    yield
    machine.run(["rm", "-rf", "/opt/tljh"])


def test_a_failed_miniforge_download_stops_the_default_install_before_any_change(
    machine: Machine, checkout: str, closed_port: int, fresh_afterwards: None
) -> None:
    mirror = f"http://127.0.0.1:{closed_port}/miniforge/{{version}}/Miniforge3-{{arch}}.sh"
    result = machine.run(
        ["python3", f"{checkout}/bootstrap/bootstrap.py", "--admin", "someone"],
        env={"TLJH_MINIFORGE_URL": mirror}, check=False, timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    tried = f"http://127.0.0.1:{closed_port}/miniforge/"
    assert f"error: could not download the Miniforge installer from {tried}" in result.stderr, output
    assert "Connection refused" in result.stderr, output
    assert "set TLJH_MINIFORGE_URL to a mirror URL or a local copy of it" in result.stderr
    assert "Traceback" not in output
    # the bootstrap made the hub venv (and took the install lock); the installer changed nothing
    assert sorted(machine.run(["ls", "-A", "/opt/tljh"]).stdout.split()) == [".install.lock", "hub", "installer.log"]
    assert not machine.succeeds(["test", "-e", "/etc/systemd/system/jupyterhub.service"])
