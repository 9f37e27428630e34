"""The hub venv is never left half-upgraded: a copy of it is kept while a run changes it.

Before the first change this run makes to <prefix>/hub (plugins, pinned packages, traefik), the
venv is copied to <prefix>/hub.previous (venvs hold absolute paths, so the copy is only ever
put back at the same place, by renaming) and <state>/hub-env.upgrading is written. When every
change to the hub env is made, both go. If the run fails before that, the copy is put back;
if it is killed, jupyterhub.service puts it back before the hub's next start (its
ExecStartPre, only while no install holds the install lock), so a restart or a reboot never
meets a half-upgraded hub env. A re-run then upgrades again.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from tljh.actions.files import write_atomic
from tljh.diskspace import DiskFull, says_disk_full, tree_size
from tljh.paths import Paths
from tljh.run import CommandError, run

log = logging.getLogger("tljh")


def copy_or_say_disk_full(env: Path, copy: Path) -> None:
    """Ensure copy is a whole copy of env; if it cannot be made, no part of it is left, and on a
    full disk DiskFull says how much the copy needs (env itself is untouched)."""
    try:
        run(["cp", "-a", "--reflink=auto", str(env), str(copy)])
    except CommandError as e:
        shutil.rmtree(copy, ignore_errors=True)
        if says_disk_full(e.output):
            raise DiskFull(copy, tree_size(env), where=copy.parent,
                           doing=f"to keep a copy of the hub environment {env} while this run changes it",
                           outcome=f"{env} was not changed", again="run the installer again") from None
        raise


def previous(paths: Paths) -> Path:
    return paths.prefix / "hub.previous"


def marker(paths: Paths) -> Path:
    return paths.state_dir / "hub-env.upgrading"


class HubEnvBackup:
    """The copy of the hub venv kept while this run changes it."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.taken = False

    def before_change(self) -> None:
        """Ensure a whole copy of the hub env, as it was before any unfinished upgrade, is kept."""
        if self.taken or not (self.paths.hub_env / "bin/python3").exists():
            return
        self.taken = True
        if marker(self.paths).exists() and previous(self.paths).is_dir():
            return  # a killed run's copy: the env itself may be half-upgraded, the copy is not
        partial = self.paths.prefix / "hub.previous.partial"
        for stale in (partial, previous(self.paths)):
            shutil.rmtree(stale, ignore_errors=True)
        copy_or_say_disk_full(self.paths.hub_env, partial)
        partial.rename(previous(self.paths))
        marker(self.paths).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(marker(self.paths), f"{previous(self.paths)}\n".encode(), 0o644)

    def done(self) -> None:
        """Every change to the hub env is made: the copy is not needed any more."""
        marker(self.paths).unlink(missing_ok=True)
        shutil.rmtree(previous(self.paths), ignore_errors=True)
        self.taken = False

    def restore(self) -> bool:
        """Put the kept copy back in place of a hub env this run failed to finish; whether it did."""
        if not marker(self.paths).exists() or not previous(self.paths).is_dir():
            return False
        failed = self.paths.prefix / "hub.failed"
        shutil.rmtree(failed, ignore_errors=True)
        if self.paths.hub_env.exists():
            self.paths.hub_env.rename(failed)
        previous(self.paths).rename(self.paths.hub_env)
        marker(self.paths).unlink()
        shutil.rmtree(failed, ignore_errors=True)
        self.taken = False
        log.warning("the hub env was put back as it was before this run")
        return True
