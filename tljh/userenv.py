"""The user environment at <prefix>/user: one interface, one class per kind (venv now; conda next).

The installer, the plugin hooks and the spawner only use this interface, so they do not care
which kind is installed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from tljh.actions import Action
from tljh.actions.python import PipPackages, PipRequirements, RequirementsFile, Venv
from tljh.paths import USER_VENV_REQUIREMENTS, Paths


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

    def __init__(self, paths: Paths) -> None:
        self.paths = paths

    @abstractmethod
    def actions(self, extra: ExtraPackages) -> list[Action]:
        """Actions that create or upgrade the environment and install `extra` into it."""


class VenvUserEnvironment(UserEnvironment):
    """A venv made by the system's python3, with the base packages from the package index."""

    kind = "venv"

    def actions(self, extra: ExtraPackages) -> list[Action]:
        env = self.paths.user_env
        actions: list[Action] = [Venv(env), PipRequirements(env, USER_VENV_REQUIREMENTS)]
        return actions + pip_extras(env, extra)


def pip_extras(env: Path, extra: ExtraPackages) -> list[Action]:
    """The hooks' pip packages, then the admin's requirements file, installed with the env's pip."""
    actions: list[Action] = []
    if extra.pip:
        actions.append(PipPackages(env, extra.pip))
    if extra.requirements is not None:
        actions.append(RequirementsFile(env, extra.requirements.source, extra.requirements.text))
    return actions


KINDS: dict[str, type[UserEnvironment]] = {"venv": VenvUserEnvironment}


def user_environment(kind: str, paths: Paths) -> UserEnvironment:
    return KINDS[kind](paths)
