"""System resources: apt packages and unix groups."""

from __future__ import annotations

import grp
import re
import shutil

from tljh.actions import Action, Change
from tljh.journal import Entry, Journal
from tljh.run import CommandError, redact, run

APT_LOCK_TIMEOUT_SECONDS = 1200
# E: Failed to fetch http://deb.debian.org/debian/pool/main/s/sl/sl_5.02-1%2bb1_amd64.deb  Could not connect to ...
APT_FETCH_FAILED = re.compile(r"^[WE]: Failed to fetch (\S+)\s+(.*?)\s*$", re.M)
APT_ERROR = re.compile(r"^E: (?!Failed to fetch|Some files failed)(.+?)\s*$", re.M)
APT_HINT = ("Check this machine's network, apt's proxy (Acquire::http::Proxy in /etc/apt/apt.conf.d/, http_proxy) "
            "and its apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/).")


class AptFetchError(Exception):
    """apt could not fetch from the machine's Debian/Ubuntu mirror; the message names the URLs."""


def apt_fetch_failures(output: str) -> list[str]:
    """`URL (reason)` for each file apt says it could not fetch, each URL once, in order."""
    failures: dict[str, str] = {}
    for url, reason in APT_FETCH_FAILED.findall(output):
        failures.setdefault(url, f"{url} ({reason.rstrip(':')})" if reason else url)
    return list(failures.values())


def apt_failure_message(packages: list[str], output: str) -> str | None:
    """One message for apt-get's failure to install packages because its mirror could not be reached
    (output: that of `apt-get update` and of the failed `apt-get install`); None if it does not say so."""
    failures = apt_fetch_failures(output)
    if not failures:
        return None
    errors = APT_ERROR.findall(output)
    said = f" ({errors[0]})" if errors else ""
    more = f" and {len(failures) - 3} more (see the log)" if len(failures) > 3 else ""
    return (f"apt-get could not install {' '.join(packages)}{said}: it could not fetch "
            f"{'; '.join(failures[:3])}{more}. " + APT_HINT)


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
        updated = run(["apt-get", *lock, "update"])  # exits 0 when a mirror fails; its W: lines say which
        packages = [c.target for c in changes]
        try:
            run(["apt-get", *lock, "install", "--yes", "--no-install-recommends", *packages])
        except CommandError as e:
            message = apt_failure_message(packages, redact(f"{e.output}\n{updated.stdout}"))
            if message is None:
                raise
            raise AptFetchError(message) from None

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
