"""The user environment at <prefix>/user: one interface, one class per kind (venv now; conda next).

The installer, the plugin hooks and the spawner only use this interface, so they do not care
which kind is installed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from tljh.actions import Action
from tljh.actions.python import PipPackages, PipRequirements, Venv
from tljh.paths import USER_VENV_REQUIREMENTS, Paths


@dataclass(frozen=True)
class ExtraPackages:
    """What plugins and the admin ask for on top of the base packages."""

    conda: tuple[str, ...] = ()
    conda_channels: tuple[str, ...] = ()
    pip: tuple[str, ...] = ()


class UserEnvironment(ABC):
    """A kind of user environment: the actions that make it and install packages into it."""

    kind: str

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
        if extra.pip:
            actions.append(PipPackages(env, extra.pip))
        return actions


KINDS: dict[str, type[UserEnvironment]] = {"venv": VenvUserEnvironment}


def user_environment(kind: str, paths: Paths) -> UserEnvironment:
    return KINDS[kind](paths)
