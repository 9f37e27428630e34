"""`tljh-config reload`: apply config.yaml to the running hub and proxy, transactionally.

The last configuration that came up healthy is kept in <state>/last-good/ (config.yaml and
the proxy files rendered from it). A reload validates config.yaml, renders traefik's files,
restarts what needs it and waits until /hub/api answers 200 through the proxy. Files and
restarts go through the installer's own actions (File, Service), so the installer's record of
what each service started with stays current and a re-run after a reload restarts nothing.

Any other way out (the hub unhealthy, a failing systemctl, any exception, Ctrl-C, SIGHUP when
the SSH session closes, SIGTERM) puts the last good configuration back (config.yaml too, so a
reboot cannot bring the broken one up), restarts the services with it (signals are ignored
meanwhile), and ReloadFailed (ReloadInterrupted for a signal) says what failed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from tljh import config as config_file
from tljh.config import ConfigError
from tljh.hub.traits import hub_config
from tljh.health import HubNotReady, unit_state, wait_for_hub
from tljh.paths import Paths
from tljh.actions.files import DiskFull, File
from tljh.journal import Entry, Journal
from tljh.run import CommandError
from tljh.schema import problems
from tljh.services import HUB, PROXY, services
from tljh.traefik import EXTRA_PREFIX, ensure_acme_storage, entrypoint, prepare_hub_rules, proxy_files, set_aside_unreadable

log = logging.getLogger("tljh")
DEFAULT_TIMEOUT = 60.0


class ReloadFailed(Exception):
    """The new configuration did not come up healthy; the message says what failed and what was done."""


class ReloadInterrupted(ReloadFailed):
    """A signal stopped the reload; the last good configuration was restored (the message says how it went)."""


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


class Interrupted(BaseException):
    """A signal (SIGINT, SIGHUP, SIGTERM) arrived while a reload was changing things."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


INTERRUPTING = (signal.SIGINT, signal.SIGHUP, signal.SIGTERM)


@contextlib.contextmanager
def signals(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """Route SIGINT, SIGHUP and SIGTERM to handler meanwhile (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in INTERRUPTING}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@dataclass
class Guard:
    """The signal handler of a reload: interrupts the change, but not the rollback or the bookkeeping."""

    shielded: bool = False

    def __call__(self, signum: int, frame: Any) -> None:
        if not self.shielded:
            raise Interrupted(signum)
        log.warning("%s ignored: the reload is finishing what it started", signal.Signals(signum).name)


def restart(units: list[str], paths: Paths, journal: Journal) -> dict[str, int]:
    """Restart units in order (their fingerprints kept current); their NRestarts right after, to notice a crash loop."""
    by_name = {service.name: service for service in services(paths)}
    watch = {}
    for unit in units:
        by_name[unit].restart(journal)
        watch[unit] = int(unit_state(unit).get("NRestarts", "0") or 0)
    return watch


def write_files(snapshot_files: dict[Path, str | None], paths: Paths, journal: Journal) -> None:
    """Ensure traefik's files hold the snapshot's content (File actions), and stale copies are gone."""
    for copy in paths.traefik_rules_dir.glob(f"{EXTRA_PREFIX}*.toml"):
        if snapshot_files.get(copy) is None:
            journal.record(Entry(kind="file", target=str(copy), change="remove"))
            copy.unlink()  # an admin's dynamic rule file that is not part of this configuration
    for path, content in snapshot_files.items():
        if content is not None:
            File(path, content, 0o600).apply(journal)


def apply(snapshot_files: dict[Path, str | None], config: Any, paths: Paths, units: list[str], timeout: float) -> float:
    """Write the proxy files, restart units and wait until the hub answers; seconds it took."""
    journal = Journal(paths.journal)
    write_files(snapshot_files, paths, journal)
    ensure_acme_storage(config, paths)
    prepare_hub_rules(paths.traefik_rules_dir / "rules.toml", entrypoint(config), HUB in units)
    start = time.monotonic()
    watch = restart(units, paths, journal)
    wait_for_hub(config, timeout=timeout, watch=watch)
    time.sleep(1.0)  # a hub that answers once and then dies is not healthy
    wait_for_hub(config, timeout=timeout, watch=watch)
    return time.monotonic() - start


def reload(component: str, paths: Paths, config_path: Path, timeout: float = DEFAULT_TIMEOUT) -> Outcome:
    """Apply config.yaml; on any failure or interruption restore the last good configuration and raise ReloadFailed.

    Until the services are touched nothing is changed (a refusal leaves everything as it was),
    except that a hub rules file traefik cannot read is set aside so the restarted hub rewrites it.
    """
    config = validated(config_path)
    preflight(config)
    files = proxy_files(config, paths)
    raw = config_path.read_bytes() if config_path.exists() else b""
    good = load_good(paths, config)
    units = units_to_restart(component, config, good.config(), files, paths)
    if set_aside_unreadable(paths.traefik_rules_dir / "rules.toml") is not None:
        units = [u for u in (PROXY, HUB) if u in units or u == HUB]
    lost = lost_admins(config, good.config(), paths) if HUB in units else []
    guard = Guard()
    with signals(guard):
        try:
            seconds = apply(files, config, paths, units, timeout)
        except BaseException as failure:  # noqa: BLE001  every way out but success is rolled back
            guard.shielded = True
            message = rollback(paths, config_path, raw, good, failure, timeout)
            if isinstance(failure, (KeyboardInterrupt, Interrupted)):
                raise ReloadInterrupted(message) from None
            raise ReloadFailed(message) from None
        guard.shielded = True
        save_good(paths, Snapshot(raw, files))
    return Outcome(units, seconds, lost)


def describe(failure: BaseException) -> str:
    """What went wrong, for the admin: the command's output tail, the signal, or the exception."""
    if isinstance(failure, CommandError):
        return f"{failure}\n{failure.tail()}"
    if isinstance(failure, KeyboardInterrupt):
        return "interrupted by SIGINT (Ctrl-C)"
    if isinstance(failure, (HubNotReady, Interrupted, DiskFull)):
        return str(failure)
    log.debug("unexpected error during reload", exc_info=failure)
    return f"unexpected error: {type(failure).__name__}: {failure}"


def rollback(paths: Paths, config_path: Path, raw: bytes, good: Snapshot, failure: BaseException, timeout: float) -> str:
    """Put the last good configuration back and restart both services; the message for the admin."""
    from tljh.actions.files import write_atomic

    what = f"The new configuration did not come up healthy:\n{describe(failure)}\n"
    try:
        write_atomic(paths.failed_config, raw, 0o600)
        config_file.replace(config_path, good.config_bytes)
    except Exception as second:  # noqa: BLE001  reported to the admin, never a traceback
        return f"{what}Putting the last good {config_path} back failed as well: {describe(second)}"
    kept = f"Your configuration was saved to {paths.failed_config}; {config_path} is back to the last good one"
    try:
        set_aside_unreadable(paths.traefik_rules_dir / "rules.toml")
        seconds = apply(good.files, good.config(), paths, [PROXY, HUB], timeout)
    except Exception as second:  # noqa: BLE001  reported to the admin, never a traceback
        return f"{what}{kept}, but the hub did not come back with it either:\n{describe(second)}"
    return f"{what}{kept}, and the hub is serving with it again ({seconds:.1f}s)."
