"""A class logs in at once: 20 new users start their servers together, and every one comes up,
as its own unix user, with the configured limits; a user waiting in line is told their place.

No timing is asserted (benchmarks/ measures that). config.yaml is restored and the users are
stopped and deleted afterwards, so the files after this one see the session install as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from machine import Machine
from storm import AdminAPI, admin_token, storm

if TYPE_CHECKING:
    from conftest import Installation

CONFIG = "/opt/tljh/config/config.yaml"
USERS = [f"class-{i:02d}" for i in range(20)]
LIMITS = {"limits.memory": "700M", "limits.cpu": "0.5", "spawner.concurrent_starts": "3"}
MEMORY_MAX = str(700 * 1024 * 1024)


@pytest.fixture
def class_hub(machine: Machine, installed: Installation) -> Iterator[AdminAPI]:
    """The session hub with per-user limits, 3 starts at a time and an admin token; restored afterwards."""
    original = machine.host_path(CONFIG).read_bytes()
    api = None
    try:
        for key, value in LIMITS.items():
            machine.run(["tljh-config", "set", key, value])
        with admin_token(machine) as api:
            yield api
            api.stop_and_delete(USERS)
    finally:
        machine.host_path(CONFIG).write_bytes(original)
        machine.run(["tljh-config", "reload", "hub"], timeout=240)


def unit_property(machine: Machine, unit: str, name: str) -> str:
    return machine.run(["systemctl", "show", "-p", name, "--value", unit]).stdout.strip()


@pytest.mark.one_distro
def test_twenty_new_users_start_at_once(machine: Machine, class_hub: AdminAPI) -> None:
    result = storm(class_hub, USERS, timeout=900, watch_progress=True)
    assert not result.failures, f"{len(result.failures)} of {len(USERS)} failed: {result.failures}"
    assert sorted(result.ready_seconds) == USERS
    for name in USERS:
        unit, account = f"jupyter-{name}", f"jupyter-{name}"
        assert unit_property(machine, unit, "ActiveState") == "active", unit
        pid = unit_property(machine, unit, "MainPID")
        assert pid not in ("", "0"), f"no main process for {unit}"
        assert machine.run(["stat", "-c", "%U", f"/proc/{pid}"]).stdout.strip() == account
        assert unit_property(machine, unit, "MemoryMax") == MEMORY_MAX, unit
        assert unit_property(machine, unit, "CPUQuotaPerSecUSec") == "500ms", unit
        assert unit_property(machine, unit, "CPUWeight") == "20", unit
    seen = [m for messages in result.progress.values() for m in messages]
    assert any("Waiting for a start slot" in m and "ahead of you" in m for m in seen), seen
