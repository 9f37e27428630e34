"""The record of every change the installer made, written before the change is made.

One JSON object per line in <state>/journal.jsonl. Uninstall walks it backwards; status reads it
to know which actions were installed. Entries name the action kind, its target and, where
something was replaced, the backup that restores it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator


@dataclass(frozen=True)
class Entry:
    """One change: `kind` of action, `target` it touched, `change` made, optional `backup`."""

    kind: str
    target: str
    change: str
    backup: str | None = None
    time: float = field(default_factory=time.time)


class Journal:
    """Append-only journal; appends are flushed and fsynced so a crash never loses a record."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, entry: Entry) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(entry), sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def entries(self) -> list[Entry]:
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [Entry(**json.loads(line)) for line in lines if line.strip()]

    def reversed(self) -> Iterator[Entry]:
        """Entries newest first: the order in which to undo them."""
        return reversed(self.entries())


class NullJournal(Journal):
    """A journal that records nothing (for dry runs and checks)."""

    def __init__(self) -> None:
        super().__init__(Path(os.devnull))

    def record(self, entry: Entry) -> None:
        pass
