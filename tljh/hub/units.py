"""What systemd says about a user's server unit: its state, whether a new run failed, its last log lines."""

from __future__ import annotations

import asyncio


async def _output(*argv: str) -> str:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return out.decode(errors="replace")


async def unit_properties(unit: str) -> dict[str, str]:
    """The unit's ActiveState, SubState, Result and InvocationID (empty values if it is not loaded)."""
    text = await _output("systemctl", "show", "-p", "ActiveState,SubState,Result,InvocationID", unit)
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
