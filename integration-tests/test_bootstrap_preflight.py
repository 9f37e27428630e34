"""The bootstrap's pre-flight checks, on a machine where nothing is installed yet."""

from __future__ import annotations

from machine import Machine

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_bootstrap_as_non_root_refuses_in_one_line(machine: Machine, checkout: str) -> None:
    """Run as a non-root user, the bootstrap exits non-zero with one line that mentions root."""
    result = machine.run(
        [*NOBODY, "python3", f"{checkout}/bootstrap/bootstrap.py"],
        check=False,
        env={"HOME": "/nonexistent"},
        timeout=120,
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0, f"exited 0 as non-root:\n{output}"
    assert "Traceback" not in output, output
    assert len(output.splitlines()) == 1, f"expected a one-line message, got:\n{output}"
    assert "root" in output.lower(), output
