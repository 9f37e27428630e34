"""Privacy of what others must not read: the users' homes (0700) and TLJH's state files (no access
for group or others). Both are re-checked at every run; making something private is never undone.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from tljh.actions import Action, Change
from tljh.journal import Entry, Journal

HOME_MODE = 0o700
UID_MIN = 1000


def hub_homes(group: str) -> list[Path]:
    """The homes of the regular accounts in group (the hub users' accounts), in name order."""
    try:
        members = sorted(grp.getgrnam(group).gr_mem)
    except KeyError:
        return []
    homes = []
    for name in members:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid >= UID_MIN and entry.pw_dir not in ("", "/"):
            homes.append(Path(entry.pw_dir))
    return homes


class PrivateHomes(Action):
    """Every hub user's home directory is 0700 (a plugin's new-user hook may have opened it)."""

    kind = "private-homes"

    def __init__(self, homes: Callable[[], Iterable[Path]]) -> None:
        self.homes = homes

    @property
    def title(self) -> str:
        return "the hub users' homes are private"

    def plan(self) -> list[Change]:
        changes = []
        for home in self.homes():
            try:
                st = home.lstat()
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) != HOME_MODE:
                changes.append(Change(f"chmod {HOME_MODE:o}", str(home)))
        return changes

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        for change in changes:
            self._record(journal, change)
            os.chmod(change.target, HOME_MODE)

    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        """A home made private stays private."""
        return None


class PrivateFiles(Action):
    """No regular file directly in these directories can be read or written by group or others
    (the owner's bits are kept, so a script stays executable by root)."""

    kind = "private-files"

    def __init__(self, directories: Iterable[Path]) -> None:
        self.directories = list(directories)

    @property
    def title(self) -> str:
        return "state files are private"

    def plan(self) -> list[Change]:
        changes = []
        for directory in self.directories:
            if not directory.is_dir():
                continue
            for path in sorted(directory.iterdir()):
                st = path.lstat()
                if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077:
                    changes.append(Change(f"chmod {stat.S_IMODE(st.st_mode) & 0o700:o}", str(path)))
        return changes

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        for change in changes:
            self._record(journal, change)
            os.chmod(change.target, int(change.what.split()[1], 8))

    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        """A file made private stays private."""
        return None
