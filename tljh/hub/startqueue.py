"""A bounded number of user servers starting at once; the others wait their turn, first come first served.

Starting a Jupyter server costs a few CPU-seconds (imports, extension discovery). When a class
presses start together, starting them all at once makes every start slow and the hub itself
starved, and the hub's timeouts then fail most of them. Here at most `slots` starts run at once;
the rest wait in arrival order and can always say how many are ahead of them.

Pure asyncio, one instance per hub process (see `shared_queue`).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any


class StartQueue:
    """At most `slots` holders at once; waiters are served in the order they arrived."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"a start queue needs at least one slot, not {slots}")
        self.slots = slots
        self._holding: set[asyncio.Future[None]] = set()
        self._waiting: list[asyncio.Future[None]] = []

    def ahead_of(self, ticket: asyncio.Future[None]) -> int:
        """How many waiters are before `ticket` (0 once it has a slot or is first in line)."""
        try:
            return self._waiting.index(ticket)
        except ValueError:
            return 0

    @property
    def running(self) -> int:
        """How many holders have a slot now."""
        return len(self._holding)

    @property
    def waiting(self) -> int:
        """How many are waiting for a slot."""
        return len(self._waiting)

    def enter(self) -> asyncio.Future[None]:
        """A ticket: a future that is done once its holder has a slot (at once when one is free)."""
        ticket: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.running < self.slots and not self._waiting:
            self._grant(ticket)
        else:
            self._waiting.append(ticket)
        return ticket

    async def wait(self, ticket: asyncio.Future[None]) -> None:
        """Return once `ticket` has a slot; cancelling the waiter does not cancel the ticket (leave() does)."""
        await asyncio.shield(ticket)

    def leave(self, ticket: asyncio.Future[None]) -> None:
        """Give the ticket's slot back (or its place in line, if it never got a slot)."""
        if ticket in self._waiting:
            self._waiting.remove(ticket)
            ticket.cancel()
            return
        if ticket in self._holding:
            self._holding.remove(ticket)
            while self._waiting and self.running < self.slots:
                self._grant(self._waiting.pop(0))

    def _grant(self, ticket: asyncio.Future[None]) -> None:
        self._holding.add(ticket)
        ticket.set_result(None)


def progress_event(phase: str, queue: StartQueue, ticket: asyncio.Future[None] | None) -> dict[str, Any]:
    """The progress event a user sees in `phase` ("waiting", "starting" or "answering")."""
    if phase == "waiting" and ticket is not None and not ticket.done():
        ahead = queue.ahead_of(ticket)
        return {"progress": 10, "message": f"Waiting for a start slot: {ahead} ahead of you "
                f"({queue.slots} servers start at a time)"}
    if phase == "answering":
        return {"progress": 60, "message": "Your server is loading Jupyter..."}
    return {"progress": 30, "message": "Starting your server..."}


def default_slots(cpus: int | None = None) -> int:
    """Servers starting at once when config.yaml does not say: two per CPU core, at least 2."""
    return max(2, 2 * (cpus if cpus is not None else os.cpu_count() or 1))


_queues: dict[int, StartQueue] = {}


def shared_queue(slots: int) -> StartQueue:
    """The hub's one queue for `slots` (the setting is read at hub start, so it is one queue in practice)."""
    return _queues.setdefault(slots, StartQueue(slots))
