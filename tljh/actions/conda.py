"""The conda user environment: Miniforge installed from a verified download, packages kept at floors,
and conda packages installed with mamba (or conda).

conda and mamba are used as the machine configures them (.condarc channel aliases and mirrors,
proxy variables): channels are given by name, never as URLs of our choosing.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from tljh.actions import Action, Change
from tljh.actions.files import write_atomic
from tljh.actions.python import run_installing
from tljh.diskspace import USER_CONDA_BYTES
from tljh.journal import Entry, Journal
from tljh.run import run

DOWNLOAD_TIMEOUT_SECONDS = 60
CHUNK = 1 << 20


class UserEnvError(Exception):
    """The user environment cannot be made or used as asked; the message says why and what to do."""


@dataclass(frozen=True)
class InstallerSource:
    """Where the Miniforge installer comes from, and the sha256 it must have (and who said so)."""

    url: str
    sha256: str
    sha256_origin: str


def is_conda_env(prefix: Path) -> bool:
    return (prefix / "conda-meta" / "history").is_file()


def is_empty_or_missing(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def conda_versions(prefix: Path) -> dict[str, str]:
    """{package: version} of a conda env, from its conda-meta/<name>-<version>-<build>.json files."""
    versions: dict[str, str] = {}
    for record in (prefix / "conda-meta").glob("*.json"):
        parts = record.name[: -len(".json")].rsplit("-", 2)
        if len(parts) == 3:
            versions[parts[0].lower()] = parts[1]
    return versions


def conda_command(prefix: Path) -> str:
    """mamba when the env has it (faster), else conda."""
    mamba = prefix / "bin" / "mamba"
    return str(mamba if mamba.exists() else prefix / "bin" / "conda")


def conda_spec_name(spec: str) -> str:
    return re.split(r"[\s=<>!~\[]", spec.strip(), maxsplit=1)[0].lower()


def below(version: str, floor: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version) < Version(floor)
    except InvalidVersion:
        return True


DOWNLOAD_ATTEMPTS = 4  # then one message; waits of 1, 2, 4 s between them


def download(url: str, dest: Path, attempts: int = DOWNLOAD_ATTEMPTS, sleep: Callable[[float], None] = time.sleep) -> str:
    """Copy url (http, https or file URL, or a local path) to dest; the sha256 of what was written.

    A network failure (refused, reset, timed out, a 5xx answer) is retried with backoff, up to
    `attempts` tries; then, or at once for an answer that will not change (404, a missing
    file, a full disk), UserEnvError names the URL and what went wrong. dest is removed on failure.
    """
    for attempt in range(1, attempts + 1):
        try:
            return _copy(url, dest)
        except (OSError, ValueError) as e:
            dest.unlink(missing_ok=True)
            if attempt == attempts or not _transient(e):
                tries = f" ({attempt} attempts)" if attempt > 1 else ""
                raise UserEnvError(
                    f"could not download the Miniforge installer from {url}{tries}: {_reason(e, dest)}; "
                    "set TLJH_MINIFORGE_URL to a mirror URL or a local copy of it"
                ) from None
            sleep(2.0 ** (attempt - 1))
    raise AssertionError("not reached")


def _copy(url: str, dest: Path) -> str:
    if urlsplit(url).scheme in ("http", "https", "file"):
        source = urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS)
    else:
        source = open(url, "rb")  # noqa: SIM115 -- closed by the with below
    with source, open(dest, "wb") as out:
        digest = hashlib.sha256()
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _transient(error: BaseException) -> bool:
    """Whether trying again may help: a network failure or a server error, not a refusal or a local problem."""
    if isinstance(error, urllib.error.HTTPError):
        return error.code >= 500 or error.code == 429
    if isinstance(error, urllib.error.URLError):
        return not isinstance(error.reason, FileNotFoundError)
    return isinstance(error, (ConnectionError, TimeoutError, http.client.HTTPException))


def _reason(error: BaseException, dest: Path) -> str:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        free = shutil.disk_usage(dest.parent).free // (1 << 20)
        return f"no space left in {dest.parent} ({free} MiB free; the installer needs about 100 MiB)"
    return str(error)


def install_command(prefix: Path, specs: list[str], channels: tuple[str, ...]) -> list[str]:
    """The conda/mamba command that installs specs into prefix from channels (given by name)."""
    channel_args = [arg for channel in channels for arg in ("--channel", channel)]
    return [conda_command(prefix), "install", "--yes", "--prefix", str(prefix), *channel_args, *specs]


class VerifiedInstaller:
    """The Miniforge installer, downloaded once into a private temporary directory and checked.

    `path()` downloads and verifies it on first use (UserEnvError on failure, leaving nothing);
    `discard()` removes it.
    """

    def __init__(self, source: Callable[[], InstallerSource], workdir: Path) -> None:
        self.source, self.workdir = source, workdir
        self._dir: Path | None = None

    def path(self) -> Path:
        if self._dir is None:
            source = self.source()
            self.workdir.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=self.workdir, prefix=".miniforge-"))
            try:
                verify(download(source.url, tmp / "Miniforge3.sh"), source)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            self._dir = tmp
        return self._dir / "Miniforge3.sh"

    def discard(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


class Miniforge(Action):
    """A conda env at `prefix`, made by the Miniforge installer after its sha256 is checked.

    The installer writes `prefix` into the env's files, so it runs into `prefix` itself: the file
    `unfinished` marks the time it runs, a failure removes what it made, and a marker left by a
    crash makes the next run remove the unfinished env and start again. An existing conda env is
    kept (upgraded by the actions after this one); anything else already at `prefix` is refused.
    """

    kind = "miniforge"

    def __init__(self, prefix: Path, installer: VerifiedInstaller, unfinished: Path) -> None:
        self.prefix, self.installer, self.unfinished = prefix, installer, unfinished
        self.env_path = prefix

    @property
    def title(self) -> str:
        return f"Miniforge in {self.prefix}"

    def plan(self) -> list[Change]:
        if self.unfinished.exists():
            return [Change("remove unfinished", str(self.prefix)), Change("install", str(self.prefix))]
        if is_conda_env(self.prefix):
            return []
        refuse_foreign(self.prefix)
        return [Change("install", str(self.prefix))]

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        try:
            installer = self.installer.path()
            for change in changes:
                self._record(journal, change)
            write_atomic(self.unfinished, f"{self.prefix}\n".encode(), 0o644)
            shutil.rmtree(self.prefix, ignore_errors=True)  # empty, or unfinished by a crash
            try:
                run_installing(["/bin/bash", str(installer), "-b", "-p", str(self.prefix)], self.prefix, USER_CONDA_BYTES)
                run(["chmod", "-R", "go-w", str(self.prefix)])
            except BaseException:
                shutil.rmtree(self.prefix, ignore_errors=True)
                self.unfinished.unlink(missing_ok=True)
                raise
            self.unfinished.unlink(missing_ok=True)
        finally:
            self.installer.discard()

    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        if entry.change == "install":
            shutil.rmtree(entry.target, ignore_errors=True)
        return None


def verify(digest: str, source: InstallerSource) -> None:
    """Refuse an installer whose sha256 is not the expected one."""
    if digest != source.sha256:
        raise UserEnvError(
            f"the Miniforge installer from {source.url} has sha256 {digest}, but {source.sha256} "
            f"({source.sha256_origin}) was expected; it was not run and nothing was installed"
        )


def refuse_foreign(prefix: Path) -> None:
    """Refuse a non-empty `prefix` that is not a conda env (it is never overwritten)."""
    if is_empty_or_missing(prefix) or is_conda_env(prefix):
        return
    what = "a Python venv" if (prefix / "pyvenv.cfg").exists() else "not a conda environment"
    hint = " (this machine's user environment is a venv: use --user-env venv)" if "venv" in what else ""
    raise UserEnvError(
        f"{prefix} is not empty and is {what}{hint}; it was left as it is. "
        f"Move it away to let the installer put a Miniforge environment there."
    )


class CondaFloors(Action):
    """Core packages of the conda env at no less than their floor versions (upgraded in place)."""

    kind = "conda-floors"

    def __init__(self, prefix: Path, floors: dict[str, str], channel: str) -> None:
        self.prefix, self.floors, self.channel = prefix, floors, channel
        self.env_path = prefix

    @property
    def title(self) -> str:
        return "conda floors " + " ".join(f"{n}>={v}" for n, v in self.floors.items())

    def plan(self) -> list[Change]:
        versions = conda_versions(self.prefix)
        return [
            Change("upgrade", f"{name}>={floor}")
            for name, floor in self.floors.items()
            if name not in versions or below(versions[name], floor)
        ]

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        for change in changes:
            self._record(journal, change)
        run_installing(install_command(self.prefix, [c.target for c in changes], (self.channel,)), self.prefix)

    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        """An upgrade is not rolled back (the older build may be gone from the channel)."""
        return f"{entry.target} stays upgraded in {entry.env}"


class CondaPackages(Action):
    """Conda packages (from the plugins' hooks) present in the env; installed from `channels` if not."""

    kind = "conda-packages"

    def __init__(self, prefix: Path, specs: tuple[str, ...], channels: tuple[str, ...]) -> None:
        self.prefix, self.specs, self.channels = prefix, specs, channels
        self.env_path = prefix

    @property
    def title(self) -> str:
        return f"conda packages {' '.join(self.specs)}"

    def plan(self) -> list[Change]:
        versions = conda_versions(self.prefix)
        return [Change("install", spec) for spec in self.specs if conda_spec_name(spec) not in versions]

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        for change in changes:
            self._record(journal, change)
        run_installing(install_command(self.prefix, [c.target for c in changes], self.channels), self.prefix)

    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        prefix = Path(entry.env or "")
        if entry.env and is_conda_env(prefix):
            run([conda_command(prefix), "remove", "--yes", "--prefix", str(prefix), conda_spec_name(entry.target)],
                check=False)
        return None
