"""A full disk: one message that names the place, the space needed and the space free.

Shared by everything that writes (the installer's actions, the journal, tljh-config, the hub's
account record), so every full disk reads the same way. The sizes of what an install puts under
the prefix are measured figures (README, "A full disk"), used for the installer's pre-flight check
and for the message when pip or conda run out of space.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

MiB = 1 << 20
NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# What pip, venv/ensurepip, conda and the Miniforge installer print when a write fails so.
NO_SPACE_OUTPUT = ("No space left on device", "Disk quota exceeded")

# On-disk sizes under the prefix, measured (du -sm) on Debian 12 (Python 3.11) with this release's
# locks and rounded up by about a quarter (pip's temporary files, byte-code of a first import).
# Miniforge cannot be downloaded on the machines this is developed on: its figure is an estimate.
HUB_ENV_BYTES = 480 * MiB  # the hub venv: 206 MiB with the hub lock, 383 MiB with traefik
USER_VENV_BYTES = 500 * MiB  # a venv user environment with the user lock: 400 MiB
USER_CONDA_BYTES = 1000 * MiB  # Miniforge (its ~90 MiB installer, ~400 MiB installed) and the user lock
UPGRADE_BYTES = 200 * MiB  # what an upgrade of an environment's packages may add before pip removes the old ones

def is_disk_full(error: BaseException) -> bool:
    """Whether error is a write refused for lack of space (ENOSPC) or quota (EDQUOT)."""
    return isinstance(error, OSError) and error.errno in NO_SPACE_ERRNOS


def says_disk_full(output: str) -> bool:
    """Whether a command's output says a write failed for lack of space (pip, conda, venv)."""
    return any(text in output for text in NO_SPACE_OUTPUT)


def free_bytes(path: Path) -> int:
    """Free bytes (for root) on the file system that holds path, or would hold it (its nearest existing parent)."""
    for candidate in (path, *path.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return 0


def size_text(size: int) -> str:
    """A size for people: exact bytes below 10 MiB (a file's size), MiB above (an environment's)."""
    return f"{size} bytes" if size < 10 * MiB else f"{size // MiB} MiB"


class DiskFull(OSError):
    """A write found no space; says where, how much was needed and how much is free, and what was left.

    By default about a file (path) that was left as it was; `doing` and `outcome` say otherwise
    (an environment pip was installing into). `where` is the directory whose file system is full.
    """

    def __init__(self, path: Path, needed: int, *, where: Path | None = None, doing: str | None = None,
                 outcome: str | None = None, again: str = "run the command again") -> None:
        where = path.parent if where is None else where
        doing = f"to write {path.name}" if doing is None else doing
        if outcome is None:
            outcome = f"{path} was left as it was" if os.path.lexists(path) else f"{path} was not written"
        self.path, self.needed, self.free = path, needed, free_bytes(where)
        super().__init__(errno.ENOSPC, f"no space left on the file system of {where} {doing} "
                         f"({size_text(needed)} needed, {size_text(self.free)} free); {outcome}. "
                         f"Free some space and {again}")

    def __str__(self) -> str:
        return str(self.strerror)


def installing_into(env: Path, needed: int | None = None) -> DiskFull:
    """The full disk pip or conda met while installing into env (a re-run installs what it did not finish);
    needed defaults to what an environment like env takes."""
    return DiskFull(env, typical_size(env) if needed is None else needed, where=env, doing="while installing packages into it",
                    outcome=f"packages left unfinished in {env} count as missing and are installed again "
                            "by the next run",
                    again="run the installer again")


def typical_size(env: Path) -> int:
    """What installing into env takes (the measured sizes above): an upgrade of its packages when
    JupyterHub is in it already, else the whole environment (conda, the hub venv, a user venv)."""
    if any(env.glob("lib/python3*/site-packages/jupyterhub-*.dist-info")):
        return UPGRADE_BYTES
    if (env / "conda-meta").is_dir():
        return USER_CONDA_BYTES
    if env.name == "hub":
        return HUB_ENV_BYTES
    return USER_VENV_BYTES


def tree_size(path: Path) -> int:
    """Bytes path's files take on disk (symlinks not followed; files that vanish meanwhile count as 0)."""
    total = 0
    for directory, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(directory, name)).st_blocks * 512
            except OSError:
                continue
    return total


def disk_full_message(error: OSError, fallback: Path, again: str = "run the command again") -> str:
    """One line for a full disk met by a write nothing else explained: the file (or fallback), the space free."""
    where = Path(error.filename) if error.filename else fallback
    return (f"no space left on the file system of {where} ({size_text(free_bytes(where))} free): "
            f"{error.strerror}. Free some space and {again}")
