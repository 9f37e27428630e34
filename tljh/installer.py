"""The installer: `python -m tljh.installer`, run by the bootstrap inside the hub venv.

It builds the ordered list of steps (each a list of actions, see tljh.actions), applies them,
and waits until the hub answers through the proxy. Re-running it is the upgrade path: every
action compares the machine with what it wants and changes only the difference.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any, Sequence

from tljh import __version__
from tljh import config as config_file
from tljh.actions import Action, Change
from tljh.actions.files import Directory, File, ForeignFileError, Symlink
from tljh.actions.python import PipRequirements, TraefikBinary
from tljh.actions.system import AptPackages, Group, visudo_check
from tljh.actions.systemd import Service, files_content
from tljh.health import HubNotReady, wait_for_hub
from tljh.hubsetup import AdminUsers, Passwords, Secret
from tljh.journal import Journal
from tljh.paths import (
    ADMINS_GROUP,
    APT_PACKAGES,
    HUB_REQUIREMENTS,
    PACKAGE_DIR,
    TRAEFIK_REQUIREMENTS,
    TRAEFIK_VERSION,
    USERS_GROUP,
    Paths,
)
from tljh.reload import remember_current
from tljh.run import CommandError
from tljh.traefik import render_static_config, render_tls_config
from tljh.userenv import KINDS as USER_ENV_KINDS
from tljh.userenv import ExtraPackages, UserEnvironment, user_environment

log = logging.getLogger("tljh")
ADMIN_NAME = re.compile(r"[a-z0-9][a-z0-9._@-]*")
SUDOERS = f"""# Written by the TLJH installer. Members of {ADMINS_GROUP} may run anything as root
# without a password, and keep their PATH (sudo -E pip install reaches the user environment).
Defaults:%{ADMINS_GROUP} !env_reset
Defaults:%{ADMINS_GROUP} !secure_path
%{ADMINS_GROUP} ALL=(ALL) NOPASSWD:ALL
"""


class UserError(Exception):
    """Bad input from the person running the installer; the message says what and what is allowed."""


@dataclass(frozen=True)
class Admin:
    name: str
    password: str | None = None


@dataclass(frozen=True)
class Options:
    admins: tuple[Admin, ...] = ()
    user_env: str | None = None


@dataclass
class Step:
    """A named group of actions, applied in order."""

    title: str
    actions: list[Action]
    changes: list[Change] = field(default_factory=list)


def parse_admin(value: str) -> Admin:
    """NAME or NAME:PASSWORD (the password may itself contain ':'); names are lowercased."""
    name, sep, password = value.partition(":")
    name = name.strip().lower()
    if not ADMIN_NAME.fullmatch(name):
        raise argparse.ArgumentTypeError(
            f"{value.partition(':')[0]!r} is not a valid admin name: use letters, digits, '.', '_', '-' or '@'"
        )
    if sep and not password:
        raise argparse.ArgumentTypeError(f"the password after '{name}:' is empty")
    return Admin(name, password if sep else None)


def parse_args(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(prog="tljh.installer", description="Install or upgrade TLJH on this machine.")
    parser.add_argument("--admin", action="append", default=[], type=parse_admin, metavar="NAME[:PASSWORD]",
                        help="make NAME a hub admin; with a password, NAME logs in with it (repeatable)")
    parser.add_argument("--user-env", choices=["venv", "conda"], default=None,
                        help="kind of user environment at <prefix>/user (remembered for re-runs)")
    parser.add_argument("--version", action="version", version=f"tljh {__version__}")
    args = parser.parse_args(argv)
    return Options(admins=tuple(args.admin), user_env=args.user_env)


def read_state(paths: Paths) -> dict[str, Any]:
    try:
        return dict(json.loads(paths.install_state.read_text()))
    except FileNotFoundError:
        return {}


def choose_user_env(requested: str | None, remembered: str | None) -> str:
    """The user environment kind: as asked, else as remembered, else venv; never a switch."""
    kind = requested or remembered or "venv"
    if remembered and kind != remembered:
        raise UserError(
            f"this machine's user environment is of kind {remembered!r}; switching to {kind!r} is not supported"
        )
    if kind not in USER_ENV_KINDS:
        raise UserError(f"--user-env {kind} is not available yet; allowed: {', '.join(USER_ENV_KINDS)}")
    return kind


def render_unit(name: str, paths: Paths) -> str:
    template = Template((PACKAGE_DIR / "units" / name).read_text())
    return template.substitute(
        prefix=paths.prefix,
        hub_env=paths.hub_env,
        state_dir=paths.state_dir,
        traefik_bin=paths.traefik_bin,
        traefik_toml=paths.traefik_toml,
        jupyterhub_config=PACKAGE_DIR / "jupyterhub_config.py",
    )


def _package_files() -> list[Path]:
    return sorted(p for p in PACKAGE_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def environment_steps(paths: Paths, user_env: UserEnvironment, extra: ExtraPackages) -> list[Step]:
    """The hub venv (with traefik) and the user environment: independent of each other."""
    return [
        Step("hub environment", [PipRequirements(paths.hub_env, HUB_REQUIREMENTS),
                                 TraefikBinary(paths.hub_env, TRAEFIK_REQUIREMENTS, TRAEFIK_VERSION)]),
        Step("user environment", user_env.actions(extra)),
    ]


def system_steps(paths: Paths) -> list[Step]:
    return [
        Step("system packages", [AptPackages(list(APT_PACKAGES))]),
        Step("directories", [
            Directory(paths.prefix, 0o755),
            Directory(paths.config_dir, 0o700),
            Directory(paths.config_d, 0o755),
            Directory(paths.state_dir, 0o700),
            Directory(paths.traefik_rules_dir, 0o700),
        ]),
    ]


def access_steps(paths: Paths) -> list[Step]:
    hub_bin = paths.hub_env / "bin"
    return [
        Step("groups and sudo", [
            Group(USERS_GROUP),
            Group(ADMINS_GROUP),
            File(paths.sudoers_file, SUDOERS, 0o440, paths.backups_dir, validate=visudo_check),
        ]),
        Step("tljh-config command", [
            Symlink(paths.tljh_config_link, hub_bin / "tljh-config", ours=lambda t: t.parent == hub_bin),
        ]),
    ]


def config_steps(paths: Paths, options: Options) -> list[Step]:
    passwords = {a.name: a.password for a in options.admins if a.password is not None}
    return [
        Step("configuration", [
            AdminUsers(paths.config_file, [a.name for a in options.admins]),
            Passwords(paths.passwords_dbm, passwords),
            Secret(paths.traefik_api_secret),
            File(paths.traefik_toml, lambda: render_static_config(config_file.load(paths.config_file), paths), 0o600),
            File(paths.traefik_tls_rules, lambda: render_tls_config(config_file.load(paths.config_file)), 0o600),
        ]),
    ]


def service_steps(paths: Paths) -> list[Step]:
    def traefik_inputs() -> list[bytes]:
        return files_content([paths.traefik_toml, paths.traefik_bin])

    def hub_inputs() -> list[bytes]:
        snippets = sorted(paths.config_d.glob("*.py"))
        reqs = [HUB_REQUIREMENTS, paths.config_file, paths.traefik_api_secret, *snippets, *_package_files()]
        return files_content(reqs)

    return [
        Step("services", [
            Service("traefik.service", render_unit("traefik.service", paths), paths.units_dir,
                    paths.state_dir / "traefik.service.inputs", traefik_inputs),
            Service("jupyterhub.service", render_unit("jupyterhub.service", paths), paths.units_dir,
                    paths.state_dir / "jupyterhub.service.inputs", hub_inputs),
        ]),
    ]


class Progress:
    """One terminal line per finished step, with its elapsed time."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.start = total, 0, time.monotonic()

    def finished(self, step: Step, seconds: float) -> None:
        self.done += 1
        what = f"{len(step.changes)} change(s)" if step.changes else "nothing to do"
        print(f"[{self.done}/{self.total}] {step.title:<22} {what:<16} {seconds:6.1f}s", flush=True)
        for change in step.changes:
            log.info("  %s: %s", step.title, change)


def apply_step(step: Step, journal: Journal) -> tuple[Step, float]:
    start = time.monotonic()
    log.info("step %s", step.title)
    try:
        for action in step.actions:
            step.changes += action.apply(journal)
    except Exception:
        print(f"step {step.title!r} failed after {time.monotonic() - start:.1f}s", file=sys.stderr, flush=True)
        raise
    return step, time.monotonic() - start


def check_config(paths: Paths) -> None:
    """config.yaml (if any) is valid before anything is changed; UserError listing its problems if not."""
    from tljh.config import ConfigError
    from tljh.schema import problems

    try:
        found = problems(config_file.load(paths.config_file))
    except ConfigError as e:
        raise UserError(str(e)) from None
    if found:
        raise UserError(f"{paths.config_file} is not valid; fix it (sudo tljh-config ...) and run again:\n  "
                        + "\n  ".join(found))


def install(paths: Paths, options: Options) -> None:
    check_config(paths)
    state = read_state(paths)
    kind = choose_user_env(options.user_env, state.get("user_env"))
    journal = Journal(paths.journal)
    before = system_steps(paths)
    envs = environment_steps(paths, user_environment(kind, paths), ExtraPackages())
    after = access_steps(paths) + config_steps(paths, options) + service_steps(paths)
    progress = Progress(len(before) + len(envs) + len(after) + 1)
    for step in before:
        progress.finished(*apply_step(step, journal))
    _save_state(paths, {**state, "user_env": kind, "version": __version__})
    with ThreadPoolExecutor(max_workers=len(envs)) as pool:
        for step, seconds in pool.map(lambda s: apply_step(s, journal), envs):
            progress.finished(step, seconds)
    for step in after:
        progress.finished(*apply_step(step, journal))
    start = time.monotonic()
    wait_for_hub(config_file.load(paths.config_file))
    remember_current(paths)  # the configuration a failed `tljh-config reload` goes back to
    progress.finished(Step("hub is up", []), time.monotonic() - start)


def _save_state(paths: Paths, state: dict[str, Any]) -> None:
    from tljh.actions.files import write_atomic

    write_atomic(paths.install_state, (json.dumps(state, indent=2, sort_keys=True) + "\n").encode(), 0o600)


def setup_logging(paths: Paths) -> None:
    """Everything to <prefix>/installer.log (root only); the terminal gets the progress lines."""
    paths.prefix.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)
    handler = logging.StreamHandler(os.fdopen(fd, "a", encoding="utf-8"))
    handler.setFormatter(logging.Formatter("%(asctime)s %(threadName)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(sys.argv[1:] if argv is None else argv)
    os.umask(0o022)
    paths = Paths.from_env()
    setup_logging(paths)
    log.info("tljh %s installer starting with prefix %s", __version__, paths.prefix)
    start = time.monotonic()
    try:
        install(paths, options)
    except (UserError, ForeignFileError) as e:
        return _fail(str(e), paths)
    except CommandError as e:
        return _fail(f"{e}\n{e.tail()}", paths)
    except HubNotReady as e:
        return _fail(str(e), paths)
    except Exception as e:  # an unexpected failure: short message here, traceback in the log
        log.exception("unexpected error")
        return _fail(f"unexpected error: {type(e).__name__}: {e}", paths)
    print(f"Done in {time.monotonic() - start:.0f}s. JupyterHub is running at http://<this server's address>/")
    if options.admins:
        print("Admins: " + ", ".join(a.name for a in options.admins))
    return 0


def _fail(message: str, paths: Paths) -> int:
    log.error("%s", message)
    print(f"error: {message}\nThe full log is in {paths.log_file}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
