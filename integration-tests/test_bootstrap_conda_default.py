"""The default user environment is conda: on a fresh machine that cannot reach the Miniforge
download (as here), the installer stops before changing anything, saying where it tried and how
to point it at a mirror. Runs before the session install (files run in name order)."""

from __future__ import annotations

from machine import Machine

MINIFORGE = "https://github.com/conda-forge/miniforge/releases/download/"


def test_unreachable_miniforge_stops_the_default_install_before_any_change(machine: Machine, checkout: str) -> None:
    result = machine.run(
        ["python3", f"{checkout}/bootstrap/bootstrap.py", "--admin", "someone"], check=False, timeout=900
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"error: could not download the Miniforge installer from {MINIFORGE}" in result.stderr, output
    assert "set TLJH_MINIFORGE_URL to a mirror URL or a local copy of it" in result.stderr
    assert "Traceback" not in output
    # the bootstrap made the hub venv; the installer changed nothing
    assert machine.run(["ls", "-A", "/opt/tljh"]).stdout.split() == ["hub", "installer.log"]
    assert not machine.succeeds(["test", "-e", "/etc/systemd/system/jupyterhub.service"])
