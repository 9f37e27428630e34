"""System resources: apt packages and unix groups."""

from __future__ import annotations

import grp
import shutil

from tljh.actions import Action, Change
from tljh.journal import Entry, Journal
from tljh.run import run

APT_LOCK_TIMEOUT_SECONDS = 1200


def missing_packages(dpkg_status: str, wanted: list[str]) -> list[str]:
    """The wanted packages that `dpkg-query -W -f '${Package} ${db:Status-Status}\\n'` says are not installed."""
    installed = set()
    for line in dpkg_status.splitlines():
        name, _, status = line.partition(" ")
        if status.strip() == "installed":
            installed.add(name.split(":")[0])
    return [p for p in wanted if p not in installed]


class AptPackages(Action):
    """Debian packages, installed from the machine's own apt sources."""

    kind = "apt"

    def __init__(self, packages: list[str]) -> None:
        self.packages = packages

    @property
    def title(self) -> str:
        return "apt packages " + " ".join(self.packages)

    def plan(self) -> list[Change]:
        status = run(
            ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *self.packages], check=False
        ).stdout
        return [Change("install", p) for p in missing_packages(status, self.packages)]

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        lock = ["-o", f"DPkg::Lock::Timeout={APT_LOCK_TIMEOUT_SECONDS}"]
        for change in changes:
            self._record(journal, change)
        if run(["dpkg", "--audit"], check=False).stdout.strip():  # a run killed mid-install left dpkg half done
            run(["dpkg", "--configure", "-a"])
        run(["apt-get", *lock, "update"])
        run(["apt-get", *lock, "install", "--yes", "--no-install-recommends", *[c.target for c in changes]])

    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        """Packages TLJH installed are kept: python3 and sudo are shared with the rest of the system."""
        return f"apt package {entry.target} (installed by TLJH) is kept; `apt-get remove {entry.target}` removes it"


def group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


class Group(Action):
    """A unix group."""

    kind = "group"

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def title(self) -> str:
        return f"group {self.name}"

    def plan(self) -> list[Change]:
        return [] if group_exists(self.name) else [Change("create", self.name)]

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        self._record(journal, changes[0])
        run(["groupadd", "--system", self.name])

    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        if entry.change == "create" and group_exists(entry.target):
            run(["groupdel", entry.target])
        return None


def visudo_check(path: object) -> None:
    """Refuse a sudoers file that sudo would not parse (raises CommandError)."""
    visudo = shutil.which("visudo") or "/usr/sbin/visudo"
    run([visudo, "-cf", str(path)])
