"""The install as one list of steps, seen on the session install: the `tljh` command, the journal,
`tljh plan` with nothing to do, `tljh status` clean. (What breaks the install is in test_zz_lifecycle.py.)"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

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
