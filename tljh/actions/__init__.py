"""Actions: one small object per resource the installer manages.

Each action can `plan()` (what would change, without changing anything), `apply()` (make the
machine match, journalling each change before making it), `verify()` (an empty plan means the
resource is as installed) and `revert()` (undo what its journal entries say it did).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from tljh.journal import Entry, Journal


@dataclass(frozen=True)
class Change:
    """One difference between the machine and what an action wants: `what` happens to `target`."""

    what: str
    target: str

    def __str__(self) -> str:
        return f"{self.what} {self.target}"


class Action(ABC):
    """A resource the installer ensures. Subclasses implement plan, _apply and revert."""

    kind: str = "action"

    @property
    @abstractmethod
    def title(self) -> str:
        """A short human description, shown as the step's name."""

    @abstractmethod
    def plan(self) -> list[Change]:
        """What apply() would change now; [] when the machine already matches."""

    @abstractmethod
    def _apply(self, changes: list[Change], journal: Journal) -> None:
        """Make the planned changes."""

    def apply(self, journal: Journal) -> list[Change]:
        """Ensure the resource; returns the changes made ([] if nothing was needed)."""
        changes = self.plan()
        if changes:
            self._apply(changes, journal)
        return changes

    def verify(self) -> list[Change]:
        """What differs from the installed state; [] when all is as the installer left it."""
        return self.plan()

    def revert(self, entry: Entry) -> None:
        """Undo one journalled change of this action."""
        raise NotImplementedError(f"{self.kind} cannot undo {entry.change} of {entry.target}")

    def _record(self, journal: Journal, change: Change, backup: str | None = None) -> None:
        journal.record(Entry(kind=self.kind, target=change.target, change=change.what, backup=backup))
