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
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        torn = os.fstat(fd).st_size > 0 and os.pread(fd, 1, os.fstat(fd).st_size - 1) != b"\n"
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            # a run killed mid-append left a torn last line: start on a line of our own
            f.write(("\n" if torn else "") + json.dumps(asdict(entry), sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def entries(self) -> list[Entry]:
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        return [entry for entry in map(_parsed, lines) if entry is not None]

    def reversed(self) -> Iterator[Entry]:
        """Entries newest first: the order in which to undo them."""
        return reversed(self.entries())


def _parsed(line: str) -> Entry | None:
    """The entry on one line; None for a blank line or one torn by a run killed mid-append."""
    try:
        return Entry(**json.loads(line)) if line.strip() else None
    except (ValueError, TypeError):
        return None


class NullJournal(Journal):
    """A journal that records nothing (for dry runs and checks)."""

    def __init__(self) -> None:
        super().__init__(Path(os.devnull))

    def record(self, entry: Entry) -> None:
        pass
