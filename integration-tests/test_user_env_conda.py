"""The conda user environment in a real machine, against the stand-in Miniforge installer.

Miniforge and conda channels cannot be reached from the machines this project is tested on, so
tests/standin/Miniforge3-standin.sh (a venv with conda-meta/ and conda/mamba shims that log their
argv) is served by an HTTP server on the host (127.0.0.1 is shared with the machine) and given to
the installer through TLJH_MINIFORGE_URL (and TLJH_MINIFORGE_SHA256, or the pinned digest).

The session machine's user environment is a venv (it is installed with --user-env venv), and the
installer's units and services are global, so the conda kind is built under other prefixes
(/opt/tljh-conda-*) by userenv_driver.py, which runs the installer's own user-environment step
(the kind's check, then its actions, with the real pip, download and installer). The refusal to
switch kinds is checked with the real installer on the session install.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from machine import Machine
from standin import STANDIN, Served, serve_standin

if TYPE_CHECKING:
    from conftest import Installation

HUB_PYTHON = "/opt/tljh/hub/bin/python"
DRIVER = "/srv/tljh/integration-tests/userenv_driver.py"
PREFIX = "/opt/tljh-conda-test"
ENV = f"{PREFIX}/user"
SERVICES = ("jupyterhub", "traefik")


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """The stand-in installer over HTTP on the host's 127.0.0.1; records the paths requested."""
    with serve_standin() as served:
        yield served


@pytest.fixture(scope="module")
def cleanup(machine: Machine, installed: Installation) -> Iterator[None]:
    """Remove the extra prefixes afterwards, pass or fail."""
    yield
    machine.run(["sh", "-c", "rm -rf /opt/tljh-conda-*"])


def drive(machine: Machine, prefix: str, url: str, sha256: str | None, *extra: str) -> tuple[int, list[str], str]:
    """Run the user-environment step at prefix; (exit code, the commands it ran, all output)."""
    env = {"TLJH_MINIFORGE_URL": url, "STANDIN_PIP_VERSION": "23.0.1"}
    if sha256:
        env["TLJH_MINIFORGE_SHA256"] = sha256
    result = machine.run([HUB_PYTHON, DRIVER, prefix, *extra], env=env, check=False, timeout=600)
    commands = [line[2:] for line in result.stdout.splitlines() if line.startswith("$ ")]
    return result.returncode, commands, result.stdout + result.stderr


def standin_sha256() -> str:
    import hashlib

    return hashlib.sha256(STANDIN.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def first_install(machine: Machine, installed: Installation, served: Served, cleanup: None) -> tuple[int, list[str], str]:
    return drive(machine, PREFIX, served.url, standin_sha256(),
                 "--conda", "numpy", "--channel", "conda-forge", "--pip", "tabulate==0.10.0")


def test_fresh_conda_env_runs_exactly_these_commands(machine: Machine, first_install: tuple[int, list[str], str],
                                                     served: Served) -> None:
    code, commands, output = first_install
    assert code == 0, output
    requirements = machine.run([HUB_PYTHON, "-c", "from tljh.paths import USER_LOCK as r; print(r)"])
    mamba = f"{ENV}/bin/mamba install --yes --prefix {ENV} --channel conda-forge"
    pip = f"{ENV}/bin/python -m pip install --no-warn-script-location"
    pip_config = f"{ENV}/bin/python -m pip config list"  # before each pip install: which bounds the machine sets
    assert re.fullmatch(rf"/bin/bash {PREFIX}/\.miniforge-\w+/Miniforge3\.sh -b -p {ENV}", commands[0]), commands
    assert commands[1:] == [
        f"chmod -R go-w {ENV}",
        f"{mamba} {shlex.join(['conda>=24.7', 'mamba>=1.5', 'pip>=23.1'])}",
        pip_config,
        f"{pip} --require-hashes -r {requirements.stdout.strip()}",
        f"{mamba} numpy",
        pip_config,
        f"{pip} tabulate==0.10.0",
    ]
    assert served.requests == [f"/{STANDIN.name}"]
    shim_log = machine.run(["cat", f"{ENV}/.standin-commands.jsonl"]).stdout
    assert f'["{ENV}/bin/mamba", "install", "--yes", "--prefix", "{ENV}", "--channel", "conda-forge", "numpy"]' in shim_log


def test_conda_env_has_the_user_packages(machine: Machine, first_install: tuple[int, list[str], str]) -> None:
    machine.run([f"{ENV}/bin/python", "-c", "import jupyterhub, jupyterlab, notebook, tabulate"], timeout=120)
    hub = machine.run([HUB_PYTHON, "-c", "import jupyterhub; print(jupyterhub.__version__)"]).stdout.strip()
    user = machine.run([f"{ENV}/bin/python", "-c", "import jupyterhub; print(jupyterhub.__version__)"]).stdout
    assert user.strip().split(".")[0] == hub.split(".")[0]
    assert machine.succeeds(["test", "-f", f"{ENV}/conda-meta/numpy-1.0-0.json"])  # mamba's record
    assert not machine.succeeds(["test", "-e", f"{PREFIX}/state/user-env.unfinished"])


def test_conda_env_is_root_owned_and_not_writable_by_users(
    machine: Machine, first_install: tuple[int, list[str], str]
) -> None:
    owner, _, mode = machine.stat(ENV)
    assert (owner, mode) == ("root", 0o755), f"{owner} {mode:o}"
    found = machine.run(
        ["find", ENV, "-not", "-type", "l", "(", "-perm", "/022", "-o", "-not", "-user", "root", ")", "-print"],
        timeout=120,
    ).stdout.splitlines()
    assert not found, "\n".join(found[:20])


def test_existing_conda_env_is_upgraded_in_place(
    machine: Machine, first_install: tuple[int, list[str], str], served: Served
) -> None:
    """An env from an older install (conda below its floor) gets only the upgrade: no download, nothing removed."""
    machine.run(["sh", "-c", f"mv {ENV}/conda-meta/conda-24.7-0.json {ENV}/conda-meta/conda-4.10.3-0.json"])
    machine.run(["sh", "-c", f"echo mine > {ENV}/installed-by-an-admin"])
    code, commands, output = drive(machine, PREFIX, served.url, standin_sha256(),
                                   "--conda", "numpy", "--channel", "conda-forge", "--pip", "tabulate==0.10.0")
    assert code == 0, output
    assert commands == [f"{ENV}/bin/mamba install --yes --prefix {ENV} --channel conda-forge 'conda>=24.7'"]
    assert output.splitlines()[-1] == 'changes: ["upgrade conda>=24.7"]'
    assert len(served.requests) == 1  # not downloaded again
    assert machine.run(["cat", f"{ENV}/installed-by-an-admin"]).stdout.strip() == "mine"
    code, commands, output = drive(machine, PREFIX, served.url, standin_sha256(), "--conda", "numpy")
    assert (code, commands) == (0, []), output


def test_checksum_mismatch_installs_nothing(machine: Machine, served: Served, cleanup: None) -> None:
    """Without TLJH_MINIFORGE_SHA256 the pinned digest is expected: the stand-in is refused, unrun."""
    prefix = "/opt/tljh-conda-sum"
    code, commands, output = drive(machine, prefix, served.url, None)
    assert code == 1
    assert re.search(r"error: the Miniforge installer from \S+ has sha256 [0-9a-f]{64}, but [0-9a-f]{64} "
                     r"\(pinned for Miniforge [\d.-]+ (x86_64|aarch64)\) was expected; it was not run", output), output
    assert not any("Miniforge3.sh" in c for c in commands)
    assert machine.run(["ls", "-A", prefix]).stdout.split() == ["state"]  # no env, no download left


def test_failed_download_installs_nothing(machine: Machine, served: Served, cleanup: None) -> None:
    prefix = "/opt/tljh-conda-404"
    missing = served.url.replace(STANDIN.name, "Miniforge3-missing.sh")
    code, _, output = drive(machine, prefix, missing, standin_sha256())
    assert code == 1
    assert f"error: could not download the Miniforge installer from {missing}" in output, output
    assert machine.run(["ls", "-A", prefix]).stdout.split() == ["state"]


def test_non_conda_directory_is_refused_and_kept(machine: Machine, served: Served, cleanup: None) -> None:
    prefix = "/opt/tljh-conda-foreign"
    machine.run(["mkdir", "-p", f"{prefix}/user"])
    machine.run(["sh", "-c", f"echo data > {prefix}/user/precious"])
    code, commands, output = drive(machine, prefix, served.url, standin_sha256())
    assert code == 1
    assert f"error: {prefix}/user is not empty and is not a conda environment; it was left as it is" in output
    assert commands == []
    assert machine.run(["ls", "-A", f"{prefix}/user"]).stdout.split() == ["precious"]


def test_switching_kind_on_an_existing_install_is_refused(machine: Machine, installed: Installation) -> None:
    """The session install is a venv: asking the real installer for conda changes nothing."""
    show = ["systemctl", "show", "-p", "ActiveEnterTimestampMonotonic", "--value"]
    before = [machine.run([*show, unit]).stdout for unit in SERVICES]
    journal = machine.run(["wc", "-l", "/opt/tljh/state/journal.jsonl"]).stdout
    result = machine.run([HUB_PYTHON, "-m", "tljh.installer", "--user-env", "conda"], check=False, timeout=300)
    assert result.returncode == 1
    assert "error: this machine's user environment is of kind 'venv'; switching to 'conda' is not supported" in (
        result.stderr), result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert [machine.run([*show, unit]).stdout for unit in SERVICES] == before
    assert machine.run(["wc", "-l", "/opt/tljh/state/journal.jsonl"]).stdout == journal
    assert machine.succeeds(["test", "-f", "/opt/tljh/user/pyvenv.cfg"])
