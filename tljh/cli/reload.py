"""`tljh-config reload`: apply config.yaml to the running hub and proxy, transactionally.

The last configuration that came up healthy is kept in <state>/last-good/ (config.yaml and
the proxy files rendered from it). A reload validates config.yaml, renders traefik's files,
restarts what needs it and waits until /hub/api answers 200 through the proxy. If that does
not happen, the last good configuration is put back (config.yaml too, so a reboot cannot bring
the broken one up), the services are restarted with it, and ReloadFailed says what failed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tljh import config as config_file
from tljh.config import ConfigError
from tljh.hub.traits import hub_config
from tljh.health import HubNotReady, unit_state, wait_for_hub
from tljh.paths import Paths
from tljh.run import CommandError, run
from tljh.schema import problems
from tljh.traefik import EXTRA_PREFIX, ensure_acme_storage, entrypoint, proxy_files, prepare_hub_rules, write_proxy_files

HUB = "jupyterhub.service"
PROXY = "traefik.service"
DEFAULT_TIMEOUT = 60.0


class ReloadFailed(Exception):
    """The new configuration did not come up healthy; the message says what failed and what was done."""


@dataclass(frozen=True)
class Snapshot:
    """A configuration: config.yaml's bytes and the proxy files rendered from it."""

    config_bytes: bytes
    files: dict[Path, str | None] = field(default_factory=dict)

    def config(self) -> Any:
        return config_file.loads(self.config_bytes.decode("utf-8"))


@dataclass(frozen=True)
class Outcome:
    restarted: list[str]
    seconds: float
    lost_admin: list[str] = field(default_factory=list)


def lost_admins(new: Any, good: Any, paths: Paths) -> list[str]:
    """Who is an admin now (in the last good config.yaml or in the hub's database) but not in new."""
    from tljh.config import get_item
    from tljh.hub.users import hub_user_names

    before = set(get_item(good, "users.admin") or []) | set(hub_user_names(paths.hub_db, admins_only=True))
    return sorted(before - set(get_item(new, "users.admin") or []))


def validated(config_path: Path) -> Any:
    """config.yaml, loaded and checked; ConfigError with every problem when it is not valid."""
    config = config_file.load(config_path)
    found = problems(config)
    if found:
        raise ConfigError(f"{config_path} is not valid, nothing was reloaded:\n  " + "\n  ".join(found))
    return config


def preflight(config: Any) -> None:
    """What must hold on the machine before the proxy uses config: its certificate files exist."""
    from tljh.config import get_item

    if not get_item(config, "https.enabled", False):
        return
    for key in ("https.tls.cert", "https.tls.key"):
        path = get_item(config, key)
        if path and not Path(path).is_file():
            raise ConfigError(f"{key}: {path} does not exist or is not a file; nothing was reloaded")


def api_password(paths: Paths) -> str:
    return paths.traefik_api_secret.read_text().strip() if paths.traefik_api_secret.exists() else ""


# ------------------------------------------------------------------ the last good configuration


def load_good(paths: Paths, current: Any) -> Snapshot:
    """The last configuration that came up healthy.

    Without one (installed before this was kept), the fallback is every default plus the
    current users section, so admins keep their rights.
    """
    saved = paths.last_good_dir / "config.yaml"
    if saved.is_file():
        manifest = json.loads((paths.last_good_dir / "proxy.json").read_text())
        return Snapshot(saved.read_bytes(), {Path(p): c for p, c in manifest.items()})
    fallback: dict[str, Any] = {"users": current["users"]} if "users" in current else {}
    data = config_file.dump(fallback).encode() if fallback else b""
    return Snapshot(data, proxy_files(fallback, paths))


def save_good(paths: Paths, snapshot: Snapshot) -> None:
    """Remember snapshot as the last good configuration (root-only files)."""
    from tljh.actions.files import write_atomic

    paths.last_good_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    manifest = json.dumps({str(p): c for p, c in snapshot.files.items()}, indent=1, sort_keys=True)
    write_atomic(paths.last_good_dir / "proxy.json", manifest.encode(), 0o600)
    write_atomic(paths.last_good_dir / "config.yaml", snapshot.config_bytes, 0o600)


def remember_current(paths: Paths) -> None:
    """After a healthy install: the config on disk is the last good one."""
    config = config_file.load(paths.config_file)
    raw = paths.config_file.read_bytes() if paths.config_file.exists() else b""
    save_good(paths, Snapshot(raw, proxy_files(config, paths)))


# ------------------------------------------------------------------ deciding what to restart


def units_to_restart(component: str, new: Any, good: Any, files: dict[Path, str | None], paths: Paths) -> list[str]:
    """The units to restart, proxy first: the one asked for, and the other one if it reads a change.

    traefik reads traefik.toml only at start (its rules directory is watched); the hub reads
    config.yaml only at start. After a reload both run with what config.yaml says.
    """
    units = {PROXY} if component == "proxy" else {HUB}
    current = paths.traefik_toml.read_text(encoding="utf-8") if paths.traefik_toml.is_file() else None
    if files.get(paths.traefik_toml) != current:
        units.add(PROXY)
    password = api_password(paths)
    if hub_config(new, paths, password) != hub_config(good, paths, password):
        units.add(HUB)
    return [u for u in (PROXY, HUB) if u in units]


# ------------------------------------------------------------------ applying


def restart(units: list[str]) -> dict[str, int]:
    """Restart units in order; their NRestarts right after, to notice a crash loop."""
    watch = {}
    for unit in units:
        run(["systemctl", "restart", unit])
        watch[unit] = int(unit_state(unit).get("NRestarts", "0") or 0)
    return watch


def apply(snapshot_files: dict[Path, str | None], config: Any, paths: Paths, units: list[str], timeout: float) -> float:
    """Write the proxy files, restart units and wait until the hub answers; seconds it took."""
    for copy in paths.traefik_rules_dir.glob(f"{EXTRA_PREFIX}*.toml"):
        if snapshot_files.get(copy) is None:
            copy.unlink()  # an admin's dynamic rule file that is not part of this configuration
    write_proxy_files(snapshot_files)
    ensure_acme_storage(config, paths)
    prepare_hub_rules(paths.traefik_rules_dir / "rules.toml", entrypoint(config), HUB in units)
    start = time.monotonic()
    watch = restart(units)
    wait_for_hub(config, timeout=timeout, watch=watch)
    time.sleep(1.0)  # a hub that answers once and then dies is not healthy
    wait_for_hub(config, timeout=timeout, watch=watch)
    return time.monotonic() - start


def reload(component: str, paths: Paths, config_path: Path, timeout: float = DEFAULT_TIMEOUT) -> Outcome:
    """Apply config.yaml; on failure restore the last good configuration and raise ReloadFailed."""
    config = validated(config_path)
    preflight(config)
    files = proxy_files(config, paths)
    raw = config_path.read_bytes() if config_path.exists() else b""
    good = load_good(paths, config)
    units = units_to_restart(component, config, good.config(), files, paths)
    lost = lost_admins(config, good.config(), paths) if HUB in units else []
    try:
        seconds = apply(files, config, paths, units, timeout)
    except (HubNotReady, CommandError) as failure:
        raise ReloadFailed(rollback(paths, config_path, raw, good, failure, timeout)) from None
    save_good(paths, Snapshot(raw, files))
    return Outcome(units, seconds, lost)


def rollback(paths: Paths, config_path: Path, raw: bytes, good: Snapshot, failure: Exception, timeout: float) -> str:
    """Put the last good configuration back and restart both services; the message for the admin."""
    from tljh.actions.files import write_atomic

    write_atomic(paths.failed_config, raw, 0o600)
    config_file.replace(config_path, good.config_bytes)
    detail = f"{failure}\n{failure.tail()}" if isinstance(failure, CommandError) else str(failure)
    what = f"The new configuration did not come up healthy:\n{detail}\n"
    kept = f"Your configuration was saved to {paths.failed_config}; {config_path} is back to the last good one"
    try:
        seconds = apply(good.files, good.config(), paths, [PROXY, HUB], timeout)
    except (HubNotReady, CommandError) as second:
        return f"{what}{kept}, but the hub did not come back with it either:\n{second}"
    return f"{what}{kept}, and the hub is serving with it again ({seconds:.1f}s)."
