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
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from tljh.diskspace import DiskFull, is_disk_full

_appending = threading.Lock()  # the environments' steps run in threads and append to the same journal


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
        line = (json.dumps(asdict(entry), sort_keys=True) + "\n").encode("utf-8")
        try:
            _append(self.path, line)
        except OSError as e:
            if is_disk_full(e):
                raise DiskFull(self.path, len(line), outcome=f"{self.path} ends with its last whole entry and "
                               "the change it was to record was not made") from None
            raise

    def entries(self) -> list[Entry]:
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        return [entry for entry in map(_parsed, lines) if entry is not None]

    def reversed(self) -> Iterator[Entry]:
        """Entries newest first: the order in which to undo them."""
        return reversed(self.entries())


def _append(path: Path, line: bytes) -> None:
    with _appending:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            append_whole_line(fd, line)
        finally:
            os.close(fd)


def append_whole_line(fd: int, line: bytes) -> None:
    """Ensure line (one entry, ending in a newline) ends the file on a line of its own, flushed to
    disk; if that fails (a full disk, an interruption), the file is cut back to what it was, so no
    part of the line is left for the next entry to be glued onto.

    A line torn by a run killed mid-append (it cannot be cut back) is ended first.
    """
    size = os.fstat(fd).st_size
    torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
    data = (b"\n" if torn else b"") + line
    try:
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
        os.fsync(fd)
    except BaseException:
        os.ftruncate(fd, size)
        raise


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
