"""One install at a time: <prefix>/.install.lock, held from the bootstrap's start to the installer's end.

The bootstrap takes it before it touches apt or the hub venv and hands the open descriptor to
the installer it becomes (TLJH_INSTALL_LOCK_FD); an installer started on its own takes it
itself. The lock is released by the kernel when the process ends, killed or not, so a crashed
run never blocks the next one. A second run stops at once with a message naming the first.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Mapping

LOCK_NAME = ".install.lock"
LOCK_FD_ENV = "TLJH_INSTALL_LOCK_FD"


class InstallRunning(Exception):
    """Another install holds the lock; the message names it."""


def lock_path(prefix: Path) -> Path:
    return prefix / LOCK_NAME


def _inherited(path: Path, environ: Mapping[str, str]) -> int | None:
    """The descriptor of path the bootstrap handed over, if it is really that file."""
    try:
        fd = int(environ.get(LOCK_FD_ENV, ""))
        same = os.fstat(fd).st_ino == os.stat(path).st_ino
    except (ValueError, OSError):
        return None
    return fd if same else None


def holder(fd: int) -> str:
    text = os.pread(fd, 300, 0).decode(errors="replace").strip()
    return text or "a process that has not said who it is"


def take_install_lock(prefix: Path, role: str, environ: Mapping[str, str] = os.environ) -> int:
    """Ensure this process holds the install lock (kept open until it exits); InstallRunning if another does."""
    path = lock_path(prefix)
    fd = _inherited(path, environ)
    if fd is None:
        prefix.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        who = holder(fd)
        os.close(fd)
        raise InstallRunning(
            f"another install is running on this machine ({who}; lock {path}). "
            "Wait for it to finish, or stop it, then run this again."
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}, the {role}, started {time.strftime('%Y-%m-%d %H:%M:%S %Z')}".encode(), 0)
    return fd
