"""systemd services: the unit file, enabled at boot, running, restarted only when its inputs change."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

from tljh.actions import Action, Change
from tljh.actions.files import File, write_atomic
from tljh.journal import Entry, Journal
from tljh.run import run


def systemctl(*args: str, check: bool = True) -> str:
    return run(["systemctl", *args], check=check).stdout.strip()


def fingerprint(parts: list[bytes]) -> str:
    """A digest of everything a service reads at start; it changes exactly when one of them does."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def files_content(paths: list[Path]) -> list[bytes]:
    """Each path's name and bytes (missing files count as empty), in the given order."""
    return [str(p).encode() + b"\0" + (p.read_bytes() if p.is_file() else b"") for p in paths]


class Service(Action):
    """A unit in /etc/systemd/system: written, enabled, active, and restarted when its inputs change.

    `inputs` returns the bytes of everything the service reads at start (config files, the
    software it runs); their fingerprint after the last (re)start is kept in `fingerprint_file`.
    """

    kind = "service"

    def __init__(
        self, name: str, unit_text: str, units_dir: Path, fingerprint_file: Path, inputs: Callable[[], list[bytes]]
    ) -> None:
        self.name = name
        self.unit = File(units_dir / name, unit_text, 0o644)
        self.fingerprint_file = fingerprint_file
        self.inputs = inputs

    @property
    def title(self) -> str:
        return self.name

    def _fingerprint(self) -> str:
        return fingerprint([self.unit.content(), *self.inputs()])

    def plan(self) -> list[Change]:
        changes = self.unit.plan()
        if systemctl("is-enabled", self.name, check=False) != "enabled":
            changes.append(Change("enable", self.name))
        active = systemctl("is-active", self.name, check=False) == "active"
        stored = self.fingerprint_file.read_text().strip() if self.fingerprint_file.exists() else ""
        if not active:
            changes.append(Change("start", self.name))
        elif stored != self._fingerprint():
            changes.append(Change("restart", self.name))
        return changes

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        whats = {c.what for c in changes}
        unit_changed = bool(self.unit.plan())
        if unit_changed:
            self.unit.apply(journal)
        if unit_changed or whats & {"start", "restart"}:
            # before a (re)start also when the file is unchanged: a run killed between writing it
            # and reloading would otherwise restart the service with the old definition
            systemctl("daemon-reload")
        if "enable" in whats:
            self._record(journal, Change("enable", self.name))
            systemctl("enable", self.name)
        if whats & {"start", "restart"}:
            self._record(journal, Change("start" if "start" in whats else "restart", self.name))
            systemctl("restart", self.name)
        self.remember()

    def restart(self, journal: Journal) -> None:
        """Ensure the service runs with its current inputs: restarted now, whatever its fingerprint says."""
        self._record(journal, Change("restart", self.name))
        systemctl("restart", self.name)
        self.remember()

    def remember(self) -> None:
        """Record the current inputs' fingerprint as the one the running service started with."""
        write_atomic(self.fingerprint_file, self._fingerprint().encode(), 0o600)

    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        """An enabled unit is disabled and stopped (its unit file has an entry of its own)."""
        if entry.change == "enable":
            systemctl("disable", "--now", entry.target, check=False)
        elif entry.change in ("start", "restart"):
            systemctl("stop", entry.target, check=False)
        return None
