"""The installer's pre-flight check of free space: refuse early, with the numbers, a run that
cannot fit, rather than fail half way through pip.

Only the environments are estimated (they are the big writes; the measured sizes are in
tljh.diskspace): a new user environment, an upgrade of its packages, and a change to the hub
environment (which is copied first, see tljh.install.hubenv). A run that changes neither needs
nothing here, so a no-op re-run works on a nearly full disk; the small writes (state files, the
journal) say so themselves if they meet a full disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tljh.diskspace import (
    UPGRADE_BYTES,
    USER_CONDA_BYTES,
    USER_VENV_BYTES,
    free_bytes,
    size_text,
    tree_size,
)
from tljh.paths import HUB_LOCK, TRAEFIK_REQUIREMENTS, TRAEFIK_VERSION, Paths


class NotEnoughSpace(Exception):
    """The run would not fit in the free space under the prefix; nothing was changed."""


@dataclass(frozen=True)
class Need:
    """Space this run needs under the prefix for one thing it will install."""

    what: str
    size: int


def space_needed(paths: Paths, user_env_kind: str, state: dict[str, Any], plugins: tuple[str, ...]) -> list[Need]:
    """What this run will install under the prefix, estimated from what is there now."""
    return [*user_env_needs(paths, user_env_kind), *hub_env_needs(paths, state, plugins)]


def user_env_needs(paths: Paths, kind: str) -> list[Need]:
    """A new user environment of kind, or an upgrade of its base packages (none if it is current)."""
    from tljh.install.userenv import user_packages

    env = paths.user_env
    if paths.user_env_unfinished.exists() or not (env / "bin/python").exists():
        return [Need(f"a new {kind} user environment in {env}", USER_CONDA_BYTES if kind == "conda" else USER_VENV_BYTES)]
    if user_packages(env).plan():
        return [Need(f"upgrading the packages of {env}", UPGRADE_BYTES)]
    return []


def hub_env_needs(paths: Paths, state: dict[str, Any], plugins: tuple[str, ...]) -> list[Need]:
    """A copy of the hub environment (kept while it changes) and its new packages, when it changes."""
    env = paths.hub_env  # (made by the bootstrap: the installer runs in it)
    if not hub_env_changes_ahead(paths, state, plugins):
        return []
    return [Need(f"a copy of {env} kept while it changes", tree_size(env)),
            Need(f"new packages in {env}", UPGRADE_BYTES)]


def hub_env_changes_ahead(paths: Paths, state: dict[str, Any], plugins: tuple[str, ...]) -> bool:
    """Whether the plugins, the hub lock or traefik will change the hub environment."""
    from tljh.actions.python import PipRequirements, TraefikBinary
    from tljh.install.steps import plugin_step

    _, plugin_action = plugin_step(paths, state, plugins)
    return bool(plugin_action.plan()
                or PipRequirements(paths.hub_env, HUB_LOCK, ("--require-hashes",)).plan()
                or TraefikBinary(paths.hub_env, TRAEFIK_REQUIREMENTS, TRAEFIK_VERSION).plan())


def ensure_space_for(needs: list[Need], prefix: Path, free: int | None = None) -> None:
    """NotEnoughSpace, naming each need and the free space, if needs do not fit on prefix's file system."""
    total = sum(need.size for need in needs)
    free = free_bytes(prefix) if free is None else free
    if total <= free:
        return
    parts = "; ".join(f"{need.what}: {size_text(need.size)}" for need in needs)
    raise NotEnoughSpace(
        f"not enough free space on the file system of {prefix} for this run: about {size_text(total)} needed "
        f"({parts}), {size_text(free)} free; nothing was changed. Free some space (or give {prefix} a larger "
        "file system) and run the installer again"
    )
