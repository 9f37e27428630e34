"""The record of every change the installer made, written before the change is made.

One JSON object per line in <state>/journal.jsonl. Uninstall walks it backwards; status reads it
to know what was installed. Each entry is self-describing, so it can be undone without the
action object that wrote it: `kind` names the action class (one kind per class), `target` what it
touched, `change` what it did, `backup` where a replaced file was kept, `env` the environment a
package went into, `data` whatever else undoing needs (an old mode, a project name), `run` the
install run that made it.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator


@dataclass(frozen=True)
class Entry:
    """One change: `kind` of action, `target` it touched, `change` made, and what undoing it needs."""

    kind: str
    target: str
    change: str
    backup: str | None = None
    time: float = field(default_factory=time.time)
    env: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    run: str = ""

    @classmethod
    def from_json(cls, line: str) -> Entry:
        """An entry from one journal line (unknown keys, from a newer writer, are ignored)."""
        raw = json.loads(line)
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def new_run_id() -> str:
    """A run id: when the run started (sortable) and a random part."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


class Journal:
    """Append-only journal; appends are flushed and fsynced so a crash never loses a record.

    Entries recorded through one Journal object carry its run id.
    """

    def __init__(self, path: Path, run: str | None = None) -> None:
        self.path = path
        self.run = run or new_run_id()

    def record(self, entry: Entry) -> None:
        if not self.path.parent.is_dir():  # the journal's directory is a change too, recorded first
            self.path.parent.mkdir(mode=0o700, parents=True)
            self._write(Entry(kind="directory", target=str(self.path.parent), change="create"))
        self._write(entry)

    def _write(self, entry: Entry) -> None:
        if not entry.run:
            entry = Entry(**{**asdict(entry), "run": self.run})
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
        return Entry.from_json(line) if line.strip() else None
    except (ValueError, TypeError):
        return None


class NullJournal(Journal):
    """A journal that records nothing (for dry runs and checks)."""

    def __init__(self) -> None:
        super().__init__(Path(os.devnull), run="none")

    def record(self, entry: Entry) -> None:
        pass
