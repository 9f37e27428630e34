"""The installer driver (`python -m tljh.installer`, run by the bootstrap inside the hub venv).

It builds the ordered list of steps (each a list of actions, see tljh.actions), applies them,
and waits until the hub answers through the proxy. Re-running it is the upgrade path: every
action compares the machine with what it wants and changes only the difference.
"""

from __future__ import annotations

import argparse
import json
import importlib
import logging
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from tljh import __version__
from tljh import config as config_file
from tljh.actions.conda import UserEnvError
from tljh.actions.files import DiskFull, ForeignFileError
from tljh.actions.python import PackageFetchError, RequirementsError
from tljh.actions.system import AptFetchError
from tljh.config import get_item
from tljh.diskspace import disk_full_message, is_disk_full
from tljh.health import HubNotReady
from tljh.install.hubenv import HubEnvBackup
from tljh.install.adopt import adoption_report
from tljh.install.lock import InstallRunning, take_install_lock
from tljh.install.space import NotEnoughSpace, ensure_space_for, space_needed
from tljh.install.progress import PageStatus, Progress, hub_url, server_address, stop_page
from tljh.install.steps import (  # noqa: F401  (SUDOERS ... user_extra: imported from here too)
    ENVIRONMENT_STEPS,
    SUDOERS,
    sudoers,
    Answers,
    access_steps,
    config_steps,
    service_steps,
    system_steps,
    Inputs,
    Step,
    install_steps,
    plugin_step,
    user_extra,
)
from tljh.install.userenv import DEFAULT_KIND as DEFAULT_USER_ENV
from tljh.install.userenv import KINDS as USER_ENV_KINDS
from tljh.install.userenv import UserEnvironment, UserRequirements, user_environment
from tljh.journal import Entry, Journal
from tljh.paths import Paths
from tljh.plugins import PluginError, load_plugins
from tljh.run import CommandError, RedactingFormatter, children_die_with_this_process, register_secret
from tljh.services import render_unit  # noqa: F401  (imported from here by tests and tools)

log = logging.getLogger("tljh")
HUB_ENV_STEPS = ("plugins", ENVIRONMENT_STEPS[0])  # the steps that change the hub env
ADMIN_NAME = re.compile(r"[a-z0-9][a-z0-9._@-]*")


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
    plugins: tuple[str, ...] = ()
    user_requirements: str | None = None
    plan: bool = False


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
    parser.add_argument("--admin", action="extend", nargs="+", default=[], type=parse_admin, metavar="NAME[:PASSWORD]",
                        help="make NAME a hub admin; with a password, NAME logs in with it (several after one "
                             "flag, and repeatable: --admin alice bob:pw --admin carol); admins are added, never removed")
    parser.add_argument("--user-env", choices=["conda", "venv"], default=None,
                        help="kind of user environment at <prefix>/user: conda (Miniforge, the default) or venv "
                             "(remembered for re-runs; cannot be switched)")
    parser.add_argument("--plugin", action="extend", nargs="+", default=[], metavar="SPEC",
                        help="pip spec(s) of plugins to install into the hub env (several after one flag, and "
                             "repeatable; remembered for re-runs)")
    parser.add_argument("--user-requirements-txt-url", metavar="URL", default=None,
                        help="a requirements file (URL or path) to pip install into the user environment")
    parser.add_argument("--plan", action="store_true",
                        help="print what the install would do here, action by action, and change nothing")
    parser.add_argument("--version", action="version", version=f"tljh {__version__}")
    args = parser.parse_args(argv)
    plugins = tuple(spec.strip() for spec in args.plugin)
    if any(not spec for spec in plugins):
        parser.error("--plugin needs a pip spec (a name, name==version, path or URL), not an empty string")
    return Options(admins=tuple(args.admin), user_env=args.user_env, plugins=plugins,
                   user_requirements=args.user_requirements_txt_url, plan=args.plan)


def read_state(paths: Paths) -> dict[str, Any]:
    try:
        return dict(json.loads(paths.install_state.read_text()))
    except FileNotFoundError:
        return {}


def choose_user_env(requested: str | None, remembered: str | None) -> str:
    """The user environment kind: as asked, else as remembered, else conda; never a switch."""
    kind = requested or remembered or DEFAULT_USER_ENV
    if remembered and kind != remembered:
        raise UserError(
            f"this machine's user environment is of kind {remembered!r}; switching to {kind!r} is not supported"
        )
    if kind not in USER_ENV_KINDS:
        raise UserError(f"--user-env {kind} is not available yet; allowed: {', '.join(USER_ENV_KINDS)}")
    return kind


def read_user_requirements(source: str | None) -> UserRequirements | None:
    """The admin's requirements file, read before anything changes; UserError if it cannot be read."""
    if source is None:
        return None
    import urllib.request
    from urllib.parse import urlsplit

    try:
        if urlsplit(source).scheme in ("http", "https", "file"):
            with urllib.request.urlopen(source, timeout=60) as response:
                text = response.read().decode("utf-8")
        else:
            source = str(Path(source).resolve())
            text = Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UserError(f"--user-requirements-txt-url {source}: cannot be read ({e}); "
                        "give an http(s) URL or a path to a pip requirements file") from None
    return UserRequirements(source, text)


def apply_step(step: Step, journal: Journal, progress: Progress) -> tuple[Step, float]:
    """Apply the step's actions in order (after its `before`), saying so; the step and its seconds."""
    if step.before is not None:
        step.before(progress)
    start = time.monotonic()
    log.info("step %s", step.title)
    progress.started(step.title)
    try:
        for action in step.resolve():
            step.changes += action.apply(journal)
        if step.after is not None:
            step.after()
    except Exception:
        progress.failed(step.title, time.monotonic() - start)
        raise
    for change in step.changes:
        log.info("  %s: %s", step.title, change)
    progress.finished(step.title, time.monotonic() - start, step.report or len(step.changes))
    return step, time.monotonic() - start


def check_config(paths: Paths) -> None:
    """config.yaml (if any) is valid before anything is changed; UserError listing its problems if not."""
    from tljh.config import ConfigError
    from tljh.schema import problems

    from tljh.cli.reload import preflight

    try:
        config = config_file.load(paths.config_file)
        found = problems(config)
        if not found:
            preflight(config)  # what reload refuses, the installer refuses: certificate files that are missing
    except ConfigError as e:
        raise UserError(str(e)) from None
    if found:
        raise UserError(f"{paths.config_file} is not valid; fix it (sudo tljh-config ...) and run again:\n  "
                        + "\n  ".join(found))


def install(paths: Paths, options: Options) -> None:
    check_config(paths)
    for line in adoption_report(paths):
        print(line, flush=True)
        log.info("%s", line)
    state = read_state(paths)
    kind = choose_user_env(options.user_env, state.get("user_env"))
    requirements = read_user_requirements(options.user_requirements)
    ensure_space_for(space_needed(paths, kind, state, options.plugins), paths.prefix)
    user_env = user_environment(kind, paths)
    try:
        user_env.check()
        _install(paths, options, state, kind, requirements, user_env)
    finally:
        user_env.discard_downloads()


def _install(paths: Paths, options: Options, state: dict[str, Any], kind: str,
             requirements: UserRequirements | None, user_env: UserEnvironment) -> None:
    journal = Journal(paths.journal)
    record_bootstrap(journal, os.environ, paths)
    steps = install_steps(Inputs(
        paths=paths, admins=tuple((a.name, a.password) for a in options.admins),
        state={**state, "version": __version__}, user_env=user_env, requirements=requirements,
        plugins=options.plugins, answers=Answers(_fresh_plugin_manager),
        save_state=lambda remembered: _save_state(paths, remembered)))
    titles = [s.title for s in steps]
    progress = Progress(titles, page=PageStatus.open(paths, titles))
    backup = HubEnvBackup(paths)
    try:
        for group in runs_of_steps(steps):
            if any(step.title in HUB_ENV_STEPS and _changes_ahead(step) for step in group):
                backup.before_change()
            if len(group) == 1:
                apply_step(group[0], journal, progress)
            else:
                for step in group:  # made here (not in the threads): building them may read the plugins' answers
                    step.resolve()
                with ThreadPoolExecutor(max_workers=len(group)) as pool:
                    list(pool.map(lambda s: apply_step(s, journal, progress), group))
            if any(step.title == ENVIRONMENT_STEPS[0] for step in group):
                backup.done()  # every change to the hub env is made
                importlib.invalidate_caches()  # the hub lock's packages, new in this process's own venv
    except BaseException:
        if backup.restore():
            progress.say(f"the hub environment {paths.hub_env} was put back as it was before this run")
        raise
    finally:
        progress.close()


def _changes_ahead(step: Step) -> bool:
    """Whether any action of step has something to change."""
    return any(action.plan() for action in step.resolve())


def runs_of_steps(steps: list[Step]) -> list[list[Step]]:
    """The steps in order, neighbouring concurrent steps grouped together (to run at the same time)."""
    groups: list[list[Step]] = []
    for step in steps:
        if step.concurrent and groups and groups[-1][-1].concurrent:
            groups[-1].append(step)
        else:
            groups.append([step])
    return groups


def record_bootstrap(journal: Journal, environ: Mapping[str, str], paths: Paths) -> None:
    """Journal what the bootstrap made before this package existed (it says so in TLJH_BOOTSTRAP_MADE,
    and keeps it pending in the hub venv until this is done)."""
    try:
        made = json.loads(environ.get("TLJH_BOOTSTRAP_MADE") or "[]")
    except ValueError:
        made = []
    for item in made if isinstance(made, list) else []:
        if isinstance(item, dict) and {"kind", "target", "change"} <= item.keys():
            journal.record(Entry(kind=str(item["kind"]), target=str(item["target"]), change=str(item["change"]),
                                 data={"by": "bootstrap"}))
    (paths.hub_env / "tljh-bootstrap-made.json").unlink(missing_ok=True)  # journalled: no longer pending


def _fresh_plugin_manager() -> Any:
    """The installed plugins, loaded now (after --plugin installed new ones); the hub-side cache too."""
    from tljh import hooks

    hooks.plugin_manager.cache_clear()
    return load_plugins()


def hand_over_page(paths: Paths, progress: Progress) -> None:
    """Ensure the progress page server has let go of port 80 (traefik needs it) and its files are gone."""
    if progress.page is not None:
        progress.page.hand_over(str(get_item(config_file.load(paths.config_file), "base_url", "/")))
        progress.page = None
    if stop_page(paths):
        progress.say("progress page stopped: the hub takes over port 80")


def _save_state(paths: Paths, state: dict[str, Any]) -> None:
    """Ensure install.json holds state; written only when it differs (a no-op re-run writes nothing)."""
    from tljh.actions.files import write_atomic

    content = (json.dumps(state, indent=2, sort_keys=True) + "\n").encode()
    if not paths.install_state.is_file() or paths.install_state.read_bytes() != content:
        write_atomic(paths.install_state, content, 0o600)


class LogFileHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The log file; a line that finds the disk full is dropped without a traceback on the terminal
    (the installer's own message says the disk is full)."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        if not is_disk_full(sys.exc_info()[1] or Exception()):
            super().handleError(record)


def setup_logging(paths: Paths) -> None:
    """Everything to <prefix>/installer.log (root only); the terminal gets the progress lines."""
    paths.prefix.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)
    handler = LogFileHandler(os.fdopen(fd, "a", encoding="utf-8"))
    handler.setFormatter(RedactingFormatter("%(asctime)s %(threadName)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)


def installer_argv(argv: Sequence[str], environ: dict[str, str] | Any) -> list[str]:
    """The installer's arguments: from TLJH_INSTALLER_ARGS (a JSON list) when the bootstrap handed
    them over there (so passwords and tokens are not in /proc/PID/cmdline), else argv.

    The variable is removed from the environment, so no command inherits it.
    """
    handed = environ.pop("TLJH_INSTALLER_ARGS", None)
    if handed is None:
        return list(argv)
    args = json.loads(handed)
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise SystemExit("error: TLJH_INSTALLER_ARGS must be a JSON list of strings")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(installer_argv(sys.argv[1:], os.environ) if argv is None else argv)
    for admin in options.admins:
        register_secret(admin.password)  # never in the log, the page or an error message
    paths = Paths.from_env()
    if options.plan:
        return print_plan(paths, options)
    os.umask(0o022)
    setup_logging(paths)
    log.info("tljh %s installer starting with prefix %s", __version__, paths.prefix)
    start = started_at(os.environ)
    try:
        take_install_lock(paths.prefix, "installer")
    except InstallRunning as e:  # not _fail: the page and the log belong to the run that holds the lock
        print(f"error: {e}", file=sys.stderr)
        return 1
    children_die_with_this_process()  # killed, this run leaves nothing running without the lock
    try:
        install(paths, options)
    except (UserError, ForeignFileError, PluginError, RequirementsError, UserEnvError, DiskFull, NotEnoughSpace,
            PackageFetchError, AptFetchError) as e:
        return _fail(str(e), paths)
    except CommandError as e:
        return _fail(f"{e}\n{e.tail()}", paths)
    except HubNotReady as e:
        return _fail(str(e), paths)
    except Exception as e:  # an unexpected failure: short message here, traceback in the log
        if isinstance(e, OSError) and is_disk_full(e):  # a write no action explained: still one line
            return _fail(disk_full_message(e, paths.prefix, "run the installer again"), paths)
        log.exception("unexpected error")
        return _fail(f"unexpected error: {type(e).__name__}: {e}", paths)
    print(f"Done in {time.time() - start:.0f}s.")
    print(f"JupyterHub is running: open {public_url(paths)} in a browser")
    admins = get_item(config_file.load(paths.config_file), "users.admin", None) or []
    print("Admins: " + (", ".join(admins) or "none yet (add one with --admin NAME)"))
    return 0


def print_plan(paths: Paths, options: Options) -> int:
    """`--plan`: the plan on stdout; nothing is changed, not even the log."""
    from tljh.cli.plan import plan

    log.addHandler(logging.NullHandler())  # the plan's own lines say what matters; no log file is written
    try:
        lines, _ = plan(paths, options)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def started_at(environ: Mapping[str, str]) -> float:
    """When the install started: when the bootstrap did (it says so in TLJH_BOOTSTRAP_STARTED), else now."""
    try:
        return float(environ.get("TLJH_BOOTSTRAP_STARTED", ""))
    except ValueError:
        return time.time()


def public_url(paths: Paths) -> str:
    """Where people reach the hub, with a hint about addresses seen from elsewhere."""
    config = config_file.load(paths.config_file)
    address = server_address()
    url = hub_url(address, int(get_item(config, "http.port", 80)), str(get_item(config, "base_url", "/")))
    return url + (" (from outside a private network, use this server's public address)" if address else "")


def _fail(message: str, paths: Paths) -> int:
    log.error("%s", message)
    page = PageStatus.open(paths)
    if page is not None:
        page.fail(message)
        print("The progress page shows this error and stays up until the installer runs again.", file=sys.stderr)
    print(f"error: {message}\nThe full log is in {paths.log_file}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
