"""What systemd says about a user's server unit: its state, whether a new run failed, its last log
lines; and the stale transient unit file that would stop the next start.

A user's server is a transient unit (`systemd-run --unit jupyter-NAME`), whose file systemd keeps
in /run/systemd/transient/ while the unit is loaded and removes when it unloads the stopped unit.
A `systemctl daemon-reload` between the stop and that removal (an install or a reload at that
moment) turns the file into an ordinary unit file: the stopped unit stays loaded from it, and
every later `systemd-run --unit jupyter-NAME` is refused ("was already loaded or has a fragment
file"), which SystemdSpawner does not notice. `clear_stale_unit` removes such a file before a start.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

TRANSIENT_DIR = Path("/run/systemd/transient")


async def _output(*argv: str) -> str:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return out.decode(errors="replace")


async def unit_properties(unit: str) -> dict[str, str]:
    """The unit's ActiveState, SubState, Result, InvocationID and FragmentPath (empty if it is not loaded)."""
    text = await _output("systemctl", "show", "-p", "ActiveState,SubState,Result,InvocationID,FragmentPath", unit)
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def run_failed(before: dict[str, str], now: dict[str, str]) -> bool:
    """Whether the unit's properties `now` show a run newer than the one in `before`, failed."""
    new_run = bool(now.get("InvocationID")) and now.get("InvocationID") != before.get("InvocationID")
    return new_run and now.get("ActiveState") == "failed"


async def failed_since(unit: str, before: dict[str, str]) -> bool:
    """Whether a run of the unit newer than the one in `before` has failed."""
    return run_failed(before, await unit_properties(unit))


async def unit_report(unit: str, lines: int = 15) -> str:
    """One paragraph for the hub's log: the unit's state and its last log lines."""
    state = await unit_properties(unit)
    log = await _output("journalctl", "-u", unit, "-n", str(lines), "--no-pager", "-o", "cat")
    return (f"{unit}: {state.get('ActiveState', '?')}/{state.get('SubState', '?')} (result "
            f"{state.get('Result', '?')}); its last log lines:\n{log.rstrip()}")


def stale_transient_file(unit: str, props: dict[str, str], transient_dir: Path = TRANSIENT_DIR) -> Path | None:
    """The transient unit file that a stopped unit is still loaded from, if that is the case here."""
    fragment = props.get("FragmentPath", "")
    if props.get("ActiveState") not in ("inactive", "failed") or not fragment:
        return None
    path = Path(fragment)
    names = {unit, f"{unit}.service"}  # SystemdSpawner names its units without the suffix
    return path if path.parent == transient_dir and path.name in names else None


async def clear_stale_unit(unit: str, transient_dir: Path = TRANSIENT_DIR) -> bool:
    """Ensure no stopped unit of this name is left loaded from a transient unit file (which would
    make systemd refuse the next start); whether one was."""
    stale = stale_transient_file(unit, await unit_properties(unit), transient_dir)
    if stale is None:
        return False
    await _output("systemctl", "reset-failed", unit)
    stale.unlink(missing_ok=True)
    await _output("systemctl", "daemon-reload")  # the unit is then not found, and unloaded
    return True
