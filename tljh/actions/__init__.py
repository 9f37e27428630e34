"""Actions: one small object per resource the installer manages.

Each action can `plan()` (what would change, without changing anything), `apply()` (make the
machine match, journalling each change before making it), `verify()` (an empty plan means the
resource is as installed) and `revert()` (undo what its journal entries say it did).

Every class has its own `kind`, the name its journal entries carry; `undo(entry)` reverses one
entry from what the entry itself says, so uninstall needs no live action (see `undo_entry`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

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
    kinds: ClassVar[dict[str, type[Action]]] = {}
    every_run: str | None = None  # what the action does on every run, whatever its plan says
    env_path: Path | None = None  # the environment a package action installs into (recorded in its entries)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            Action.kinds[cls.kind] = cls

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
        """Undo one journalled change of this action (by the class its kind names: a Service's unit file is a File's)."""
        undo_entry(entry)

    @classmethod
    @abstractmethod
    def undo(cls, entry: Entry) -> str | None:
        """Undo one journalled change from what the entry says; a note when something is left on purpose."""

    def _record(self, journal: Journal, change: Change, backup: str | None = None,
                data: dict[str, Any] | None = None) -> None:
        journal.record(Entry(kind=self.kind, target=change.target, change=change.what, backup=backup,
                             env=str(self.env_path) if self.env_path else None, data=data or {}))


def undo_entry(entry: Entry) -> str | None:
    """Undo one journal entry with the class that wrote it (ValueError for an unknown kind)."""
    load_all_kinds()
    cls = Action.kinds.get(entry.kind)
    if cls is None:
        raise ValueError(f"journal entry of unknown kind {entry.kind!r} ({entry.change} {entry.target})")
    return cls.undo(entry)


def load_all_kinds() -> None:
    """Import every module that defines actions, so each kind is known."""
    import tljh.actions.conda
    import tljh.actions.files
    import tljh.actions.privacy
    import tljh.actions.python
    import tljh.actions.system
    import tljh.actions.systemd
    import tljh.install.hubsetup  # noqa: F401
