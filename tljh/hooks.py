"""The plugin interface: pluggy hooks in the project "tljh", found through entry points "tljh".

These names and signatures are public: published plugins implement them with
`from tljh.hooks import hookimpl`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("tljh")
hookimpl = pluggy.HookimplMarker("tljh")


@hookspec
def tljh_extra_user_conda_packages() -> list[str]:  # type: ignore[empty-body]
    """Conda packages to install in the user environment."""


@hookspec
def tljh_extra_user_conda_channels() -> list[str]:  # type: ignore[empty-body]
    """Conda channels the extra conda packages come from."""


@hookspec
def tljh_extra_user_pip_packages() -> list[str]:  # type: ignore[empty-body]
    """pip packages to install in the user environment."""


@hookspec
def tljh_extra_hub_pip_packages() -> list[str]:  # type: ignore[empty-body]
    """pip packages to install in the hub environment."""


@hookspec
def tljh_extra_apt_packages() -> list[str]:  # type: ignore[empty-body]
    """apt packages to install on the machine."""


@hookspec
def tljh_custom_jupyterhub_config(c: Any) -> None:
    """Edit the JupyterHub configuration object after config.yaml is applied."""


@hookspec
def tljh_config_post_install(config: dict[str, Any]) -> None:
    """Edit the config.yaml mapping during install (without clobbering what the admin set)."""


@hookspec
def tljh_post_install() -> None:
    """Run last in the installer."""


@hookspec
def tljh_new_user_create(username: str) -> None:
    """Called in the hub right after the unix user `username` is created."""


@lru_cache(maxsize=1)
def plugin_manager() -> pluggy.PluginManager:
    """The plugin manager with every installed plugin of the entry-point group "tljh" loaded.

    Cached for the hub process; the installer, which installs plugins, loads them afresh.
    """
    from tljh.plugins import load_plugins

    return load_plugins()
