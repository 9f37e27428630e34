"""The user environment at <prefix>/user: one interface, one class per kind (conda, the default; venv).

The installer, the plugin hooks and the spawner only use this interface, so they do not care
which kind is installed.
"""

from __future__ import annotations

import os
import platform
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from tljh.actions import Action
from tljh.actions.conda import (
    CondaFloors,
    CondaPackages,
    InstallerSource,
    Miniforge,
    UserEnvError,
    VerifiedInstaller,
    is_conda_env,
    is_empty_or_missing,
    refuse_foreign,
)
from tljh.actions.python import PipPackages, PipRequirements, RequirementsFile, Venv
from tljh.paths import (
    CONDA_CHANNEL,
    CONDA_FLOORS,
    MINIFORGE_SHA256,
    MINIFORGE_URL,
    MINIFORGE_VERSION,
    USER_LOCK,
    Paths,
)

ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


@dataclass(frozen=True)
class UserRequirements:
    """An admin's requirements file (--user-requirements-txt-url): where it is, and what it says."""

    source: str
    text: str


@dataclass(frozen=True)
class ExtraPackages:
    """What plugins and the admin ask for on top of the base packages."""

    conda: tuple[str, ...] = ()
    conda_channels: tuple[str, ...] = ()
    pip: tuple[str, ...] = ()
    requirements: UserRequirements | None = None


class UserEnvironment(ABC):
    """A kind of user environment: the actions that make it and install packages into it."""

    kind: str
    installs_conda_packages: bool = False

    def __init__(self, paths: Paths, environ: Mapping[str, str] | None = None) -> None:
        self.paths = paths
        self.environ = os.environ if environ is None else environ

    @abstractmethod
    def check(self) -> None:
        """Raise UserEnvError, before anything changes, if this kind cannot be made or kept here."""

    @abstractmethod
    def actions(self, extra: ExtraPackages) -> list[Action]:
        """Actions that create or upgrade the environment and install `extra` into it."""

    def discard_downloads(self) -> None:  # noqa: B027 -- optional: most kinds download nothing
        """Remove anything check() fetched that the actions did not use (called when the install ends)."""


class VenvUserEnvironment(UserEnvironment):
    """A venv made by the system's python3, with the base packages from the package index."""

    kind = "venv"

    def check(self) -> None:
        env = self.paths.user_env
        if is_conda_env(env):
            raise UserEnvError(f"{env} is a conda environment; this machine's user environment is of kind "
                               "conda (use --user-env conda); it was left as it is")
        unfinished = self.paths.user_env_unfinished.exists()  # a venv being made when a run was killed
        if not unfinished and not is_empty_or_missing(env) and not (env / "pyvenv.cfg").exists():
            raise UserEnvError(f"{env} is not empty and is not a venv; it was left as it is. "
                               "Move it away to let the installer put a venv there.")

    def actions(self, extra: ExtraPackages) -> list[Action]:
        env = self.paths.user_env
        actions: list[Action] = [Venv(env, unfinished=self.paths.user_env_unfinished), user_packages(env)]
        return actions + pip_extras(env, extra)


class CondaUserEnvironment(UserEnvironment):
    """Miniforge (pinned, sha256-checked) with mamba; the base packages from the package index with pip.

    Order: Miniforge (kept if there), core packages at their floors (mamba), the base user
    packages (pip, the same pins as the venv kind: jupyterhub of the hub's version), the hooks'
    conda packages (mamba, with the hooks' channels), the hooks' pip packages, the admin's file.
    """

    kind = "conda"
    installs_conda_packages = True
    machine = ""  # the architecture, when not this machine's (tests)

    def __init__(self, paths: Paths, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(paths, environ)
        self.installer = VerifiedInstaller(self.installer_source, paths.prefix)

    def check(self) -> None:
        """Refuse a foreign directory; when Miniforge must be installed, download and verify it now."""
        env = self.paths.user_env
        if is_conda_env(env) and not self.paths.user_env_unfinished.exists():
            return
        if not self.paths.user_env_unfinished.exists():
            refuse_foreign(env)
        print(f"fetching the Miniforge installer from {self.installer_source().url}", flush=True)
        self.installer.path()

    def discard_downloads(self) -> None:
        self.installer.discard()

    def installer_source(self) -> InstallerSource:
        """The Miniforge installer for this machine: pinned, or TLJH_MINIFORGE_URL/TLJH_MINIFORGE_SHA256."""
        machine = self.machine or platform.machine()
        arch = ARCHITECTURES.get(machine.lower())
        if arch is None:
            raise UserEnvError(f"Miniforge is installed on x86_64 and aarch64 machines; this one is {machine}. "
                               "Use --user-env venv.")
        template = self.environ.get("TLJH_MINIFORGE_URL") or MINIFORGE_URL
        url = template.replace("{version}", MINIFORGE_VERSION).replace("{arch}", arch)
        override = self.environ.get("TLJH_MINIFORGE_SHA256", "").strip().lower()
        if override and not re.fullmatch(r"[0-9a-f]{64}", override):
            raise UserEnvError(f"TLJH_MINIFORGE_SHA256={override!r} is not a sha256 digest (64 hex digits)")
        if override:
            return InstallerSource(url, override, "from TLJH_MINIFORGE_SHA256")
        return InstallerSource(url, MINIFORGE_SHA256[arch], f"pinned for Miniforge {MINIFORGE_VERSION} {arch}")

    def actions(self, extra: ExtraPackages) -> list[Action]:
        env = self.paths.user_env
        actions: list[Action] = [
            Miniforge(env, self.installer, self.paths.user_env_unfinished),
            CondaFloors(env, CONDA_FLOORS, CONDA_CHANNEL),
            user_packages(env),
        ]
        if extra.conda:
            actions.append(CondaPackages(env, extra.conda, extra.conda_channels or (CONDA_CHANNEL,)))
        return actions + pip_extras(env, extra)


def user_packages(env: Path) -> PipRequirements:
    """The base user packages from their lock, hash-checked; packages users upgraded are kept."""
    return PipRequirements(env, USER_LOCK, ("--require-hashes",), keep_newer=True)


def pip_extras(env: Path, extra: ExtraPackages) -> list[Action]:
    """The hooks' pip packages, then the admin's requirements file, installed with the env's pip."""
    actions: list[Action] = []
    if extra.pip:
        actions.append(PipPackages(env, extra.pip))
    if extra.requirements is not None:
        actions.append(RequirementsFile(env, extra.requirements.source, extra.requirements.text))
    return actions


KINDS: dict[str, type[UserEnvironment]] = {"conda": CondaUserEnvironment, "venv": VenvUserEnvironment}
DEFAULT_KIND = "conda"


def user_environment(kind: str, paths: Paths, environ: Mapping[str, str] | None = None) -> UserEnvironment:
    return KINDS[kind](paths, environ)
