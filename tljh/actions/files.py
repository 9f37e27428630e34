"""Directories, files and symlinks, with exact modes and atomic replacement."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Callable

from tljh.actions import Action, Change
from tljh.diskspace import DiskFull as DiskFull  # (imported from here by tljh-config, reload, the installer)
from tljh.diskspace import is_disk_full
from tljh.journal import Entry, Journal


def write_atomic(path: Path, data: bytes, mode: int, uid: int = 0, gid: int = 0) -> None:
    """Ensure path holds data with mode and owner, replacing it in one rename (never half-written).

    On a full disk the file at path is left as it was and DiskFull says where and how much.
    """
    try:
        _write_atomic(path, data, mode, uid, gid)
    except OSError as e:
        if is_disk_full(e) and not isinstance(e, DiskFull):
            raise DiskFull(path, len(data)) from None
        raise


def _write_atomic(path: Path, data: bytes, mode: int, uid: int, gid: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)
            if os.geteuid() == 0:
                os.fchown(f.fileno(), uid, gid)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _previous_owner_and_mode(path: Path) -> dict[str, int]:
    """The mode and owner path has now (none if it does not exist), for the journal."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return {}
    return {"mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}


def _restore_owner_and_mode(path: Path, entry: Entry) -> None:
    """Undo a journalled chmod/chown: put back the mode or owner the entry recorded."""
    if not path.exists():
        return
    if entry.change.startswith("chmod") and "mode" in entry.data:
        os.chmod(path, int(entry.data["mode"]))
    if entry.change.startswith("chown") and "uid" in entry.data and os.geteuid() == 0:
        os.chown(path, int(entry.data["uid"]), int(entry.data.get("gid", -1)))
    return


def _mode_and_owner(path: Path, mode: int, uid: int) -> list[Change]:
    st = path.lstat()
    changes = []
    if stat.S_IMODE(st.st_mode) != mode:
        changes.append(Change(f"chmod {mode:o}", str(path)))
    if os.geteuid() == 0 and st.st_uid != uid:
        changes.append(Change(f"chown {uid}", str(path)))
    return changes


class Directory(Action):
    """A directory with a given mode, owned by root."""

    kind = "directory"

    def __init__(self, path: Path, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        self.path, self.mode, self.uid, self.gid = path, mode, uid, gid

    @property
    def title(self) -> str:
        return f"directory {self.path}"

    def plan(self) -> list[Change]:
        if not self.path.is_dir():
            return [Change("create", str(self.path))]
        return _mode_and_owner(self.path, self.mode, self.uid)

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        for change in changes:
            self._record(journal, change, data=dict(_previous_owner_and_mode(self.path)))
        self.path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path, self.mode)
        if os.geteuid() == 0:
            os.chown(self.path, self.uid, self.gid)

    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        path = Path(entry.target)
        if entry.change == "create":
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            return None
        _restore_owner_and_mode(path, entry)
        return None


class File(Action):
    """A file with exact content and mode. Content may be computed when the plan is made."""

    kind = "file"

    def __init__(
        self,
        path: Path,
        content: bytes | str | Callable[[], bytes | str],
        mode: int = 0o644,
        backups: Path | None = None,
        validate: Callable[[Path], None] | None = None,
    ) -> None:
        self.path, self._content, self.mode = path, content, mode
        self.backups = backups
        self.validate = validate

    @property
    def title(self) -> str:
        return f"file {self.path}"

    def content(self) -> bytes:
        value = self._content() if callable(self._content) else self._content
        return value.encode("utf-8") if isinstance(value, str) else value

    def plan(self) -> list[Change]:
        if not self.path.exists() and not self.path.is_symlink():
            return [Change("create", str(self.path))]
        if self.path.is_symlink() or not self.path.is_file():
            return [Change("replace", str(self.path))]
        if self.path.read_bytes() != self.content():
            return [Change("update", str(self.path))]
        return _mode_and_owner(self.path, self.mode, 0)

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        backup = self._backup() if changes[0].what in ("update", "replace") else None
        previous = _previous_owner_and_mode(self.path)
        for change in changes:
            self._record(journal, change, backup, data=dict(previous))
        data = self.content()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.validate is not None:
            self._validated(data)
        write_atomic(self.path, data, self.mode)

    def _validated(self, data: bytes) -> None:
        """Check data with self.validate on a private copy before it can replace the real file."""
        assert self.validate is not None
        with tempfile.TemporaryDirectory() as tmp:
            candidate = Path(tmp) / self.path.name
            write_atomic(candidate, data, self.mode)
            self.validate(candidate)

    def _backup(self) -> str | None:
        """Keep the file about to be replaced, so revert can put it back."""
        if self.backups is None:
            return None
        self.backups.mkdir(parents=True, exist_ok=True, mode=0o700)
        dest = Path(tempfile.mkdtemp(dir=self.backups, prefix=f"{self.path.name}.")) / self.path.name
        shutil.copy2(self.path, dest, follow_symlinks=False)
        return str(dest)

    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        path = Path(entry.target)
        if entry.backup and Path(entry.backup).exists():
            os.replace(entry.backup, path)
        elif entry.change == "create":
            path.unlink(missing_ok=True)
        elif entry.change in ("update", "replace"):
            return f"{path}: the file it replaced was not kept; left as TLJH wrote it"
        else:
            _restore_owner_and_mode(path, entry)
        return None


class KeptFile(Action):
    """A file made once with initial content and then left to its owner (a secret, acme.json).

    Only its existence and mode are ensured; what the service writes into it is kept.
    """

    kind = "kept-file"

    def __init__(self, path: Path, initial: Callable[[], bytes], mode: int = 0o600) -> None:
        self.path, self.initial, self.mode = path, initial, mode

    @property
    def title(self) -> str:
        return f"file {self.path}"

    def plan(self) -> list[Change]:
        if not self.path.exists():
            return [Change("create", str(self.path))]
        return _mode_and_owner(self.path, self.mode, 0)

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        previous = _previous_owner_and_mode(self.path)
        for change in changes:
            self._record(journal, change, data=dict(previous))
        data = self.path.read_bytes() if self.path.exists() else self.initial()
        write_atomic(self.path, data, self.mode)

    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        if entry.change == "create":
            Path(entry.target).unlink(missing_ok=True)
            return None
        _restore_owner_and_mode(Path(entry.target), entry)
        return None


class Symlink(Action):
    """A symlink at `path` pointing to `target`; refuses to replace anything that is not ours."""

    kind = "symlink"

    def __init__(self, path: Path, target: Path, ours: Callable[[Path], bool]) -> None:
        self.path, self.target, self.ours = path, target, ours

    @property
    def title(self) -> str:
        return f"symlink {self.path}"

    def plan(self) -> list[Change]:
        if not self.path.is_symlink():
            if self.path.exists():
                raise ForeignFileError(self.path, "is not a symlink we made")
            return [Change("create", str(self.path))]
        current = Path(os.readlink(self.path))
        if current == self.target:
            return []
        if not self.ours(current):
            raise ForeignFileError(self.path, f"points to {current}, not to TLJH")
        return [Change("update", str(self.path))]

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        for change in changes:
            self._record_target(journal, change, os.readlink(self.path) if self.path.is_symlink() else None)
        tmp = self.path.with_name(f".{self.path.name}.tljh-new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(self.target)
        os.replace(tmp, self.path)

    def _record_target(self, journal: Journal, change: Change, backup: str | None) -> None:
        self._record(journal, change, backup, data={"link": str(self.target)})

    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        path = Path(entry.target)
        path.unlink(missing_ok=True)
        if entry.backup:
            path.symlink_to(entry.backup)
        return None


class ForeignFileError(Exception):
    """A path the installer would manage belongs to something else; it is left alone."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"{path} {why}; refusing to replace it. Move it away and run the installer again.")


class MovedAside(Action):
    """A file that must not be where it is (e.g. upstream TLJH's rules/dynamic.toml), kept in the backups directory."""

    kind = "moved-aside"

    def __init__(self, path: Path, backups: Path) -> None:
        self.path, self.backups = path, backups

    @property
    def title(self) -> str:
        return f"{self.path} moved aside"

    def plan(self) -> list[Change]:
        return [Change("move aside", str(self.path))] if self.path.exists() else []

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        self.backups.mkdir(parents=True, exist_ok=True, mode=0o700)
        dest = self.backups / f"upstream-{self.path.name}"
        n = 1
        while dest.exists():
            n += 1
            dest = self.backups / f"upstream-{self.path.name}.{n}"
        self._record(journal, changes[0], str(dest))
        os.replace(self.path, dest)

    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        if entry.backup and Path(entry.backup).exists():
            os.replace(entry.backup, entry.target)
        return None
