"""Plugins: loading the entry points of group "tljh" and calling their hooks, failures attributed.

A plugin that fails to import, or raises in a hook, becomes a PluginError whose message names
the plugin and the hook; the traceback goes to the log. Hooks are called one implementation at
a time, in pluggy's order (the last registered first), so every failure has a name (hook wrappers
are refused: no published plugin uses them).
"""

from __future__ import annotations

import importlib
import logging
import re
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

log = logging.getLogger("tljh")
GROUP = "tljh"
LIST_HOOKS = (
    "tljh_extra_apt_packages",
    "tljh_extra_hub_pip_packages",
    "tljh_extra_user_conda_packages",
    "tljh_extra_user_conda_channels",
    "tljh_extra_user_pip_packages",
)
DEFAULT_CONDA_CHANNELS = ("conda-forge",)
# Upstream TLJH modules published plugins import that this package provides (see the README).
UPSTREAM_MODULES = ("tljh.hooks", "tljh.config (its path constants)", "tljh.configurer.load_config",
                    "tljh.user", "tljh.utils.run_subprocess")


class PluginError(Exception):
    """A plugin failed to load or raised in a hook; the message names the plugin and the hook."""


@dataclass(frozen=True)
class HookResults:
    """Everything the list hooks asked for, each list in call order without duplicates."""

    apt: tuple[str, ...] = ()
    hub_pip: tuple[str, ...] = ()
    user_conda: tuple[str, ...] = ()
    user_conda_channels: tuple[str, ...] = ()
    user_pip: tuple[str, ...] = ()
    conda_askers: tuple[str, ...] = ()  # the plugins that asked for conda packages


def load_plugins() -> pluggy.PluginManager:
    """A new plugin manager with every installed entry point of group "tljh" registered.

    Caches are invalidated first, so plugins installed by this process are seen.
    """
    from tljh import hooks

    importlib.invalidate_caches()
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hooks)
    for ep in _entry_points():
        if pm.get_plugin(ep.name) is None and not pm.is_blocked(ep.name):
            pm.register(_load(ep), name=ep.name)
    return pm


def _entry_points() -> list[metadata.EntryPoint]:
    return sorted(metadata.entry_points(group=GROUP), key=lambda ep: ep.name)


def _load(ep: metadata.EntryPoint) -> Any:
    try:
        return ep.load()
    except Exception as e:
        dist = f" from {ep.dist.name} {ep.dist.version}" if ep.dist is not None else ""
        log.exception("plugin %s (%s%s) failed to import", ep.name, ep.value, dist)
        missing = _missing_tljh_name(e)
        if missing:
            raise PluginError(
                f"plugin {ep.name!r} ({ep.value}{dist}) imports {missing} ({e}), an internal module of upstream "
                f"TLJH that this installer does not provide (it provides {', '.join(UPSTREAM_MODULES)}); "
                "remove the plugin or ask its authors to use only tljh.hooks"
            ) from e
        raise PluginError(f"plugin {ep.name!r} ({ep.value}{dist}) failed to import: {type(e).__name__}: {e}") from e


def _missing_tljh_name(error: Exception) -> str | None:
    """The tljh module or name an ImportError could not find (tljh.systemd, tljh.config.X), else None."""
    if not isinstance(error, ImportError) or not error.name or error.name.split(".")[0] != "tljh":
        return None
    found = re.search(r"cannot import name '(\w+)'", str(error))
    return f"{error.name}.{found[1]}" if found else error.name


def call_hook(pm: pluggy.PluginManager, name: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call hook `name` in every plugin that implements it: [(plugin name, its result)]."""
    hook = getattr(pm.hook, name)
    results = []
    for impl in reversed(hook.get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            raise PluginError(f"plugin {impl.plugin_name!r} implements {name} as a hook wrapper, which tljh does not call")
        try:
            result = impl.function(*[kwargs[arg] for arg in impl.argnames])
        except Exception as e:
            log.exception("plugin %s raised in hook %s", impl.plugin_name, name)
            raise PluginError(f"plugin {impl.plugin_name!r} raised in hook {name}: {type(e).__name__}: {e}") from e
        results.append((impl.plugin_name, result))
    return results


def _strings(plugin: str, hook: str, value: Any) -> list[str]:
    """A hook's list of package names or channels, refusing anything that is not one."""
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) and v.strip() for v in value):
        return [v.strip() for v in value]
    raise PluginError(f"plugin {plugin!r} returned {value!r} from hook {hook}; a list of non-empty strings is expected")


def _collect(pm: pluggy.PluginManager, hook: str) -> tuple[list[str], list[str]]:
    """(every string the hook returned, in order and without duplicates; the plugins that returned any)."""
    items: list[str] = []
    askers: list[str] = []
    for plugin, value in call_hook(pm, hook):
        if value is None:
            continue
        strings = _strings(plugin, hook, value)
        if strings:
            askers.append(plugin)
        items += [s for s in strings if s not in items]
    return items, askers


def hook_results(pm: pluggy.PluginManager) -> HookResults:
    """What the plugins ask to install; channels default to conda-forge when conda packages are asked."""
    apt, _ = _collect(pm, "tljh_extra_apt_packages")
    hub_pip, _ = _collect(pm, "tljh_extra_hub_pip_packages")
    conda, askers = _collect(pm, "tljh_extra_user_conda_packages")
    channels, _ = _collect(pm, "tljh_extra_user_conda_channels")
    user_pip, _ = _collect(pm, "tljh_extra_user_pip_packages")
    if conda and not channels:
        channels = list(DEFAULT_CONDA_CHANNELS)
    return HookResults(tuple(apt), tuple(hub_pip), tuple(conda), tuple(channels), tuple(user_pip), tuple(askers))


# ---------------------------------------------------------------- plugin specs

_NAME_SPEC = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([<>=!~][^;@]*)?\s*$")


def spec_project(spec: str) -> str | None:
    """The canonical project name of a `name[extras] specifier` spec; None for paths and URLs."""
    if "/" in spec or spec.startswith("."):
        return None
    match = _NAME_SPEC.match(spec)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else None


def merge_specs(remembered: list[str], requested: list[str]) -> list[str]:
    """Remembered plugin specs with this run's: a new spec for the same project replaces the old one."""
    merged = list(remembered)
    for spec in requested:
        key = spec_project(spec) or spec
        merged = [s for s in merged if (spec_project(s) or s) != key]
        merged.append(spec)
    return merged

