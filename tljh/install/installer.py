"""The installer driver (`python -m tljh.installer`, run by the bootstrap inside the hub venv).

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
from typing import Any, Callable, Mapping, Sequence

from tljh import __version__
from tljh import config as config_file
from tljh.config import get_item
from tljh.actions import Action, Change
from tljh.actions.conda import UserEnvError
from tljh.actions.privacy import PrivateFiles, PrivateHomes, hub_homes
from tljh.actions.files import Directory, File, ForeignFileError, KeptFile, Symlink
from tljh.actions.python import PipPackages, PipRequirements, PluginPackages, RequirementsError, TraefikBinary
from tljh.actions.system import AptPackages, Group, visudo_check
from tljh.health import HubNotReady, wait_for_hub
from tljh.install.lock import InstallRunning, take_install_lock
from tljh.install.hubsetup import AdminUsers, Passwords, PluginConfigDefaults, secret
from tljh.journal import Journal
from tljh.install.progress import PageStatus, Progress, hub_url, server_address, stop_page
from tljh.paths import (
    ADMINS_GROUP,
    APT_PACKAGES,
    HUB_REQUIREMENTS,
    TRAEFIK_REQUIREMENTS,
    TRAEFIK_VERSION,
    USERS_GROUP,
    Paths,
)
from tljh.plugins import HookResults, PluginError, call_hook, hook_results, load_plugins, merge_specs
from tljh.cli.reload import remember_current
from tljh.run import CommandError
from tljh.services import render_unit, services  # noqa: F401  (render_unit: imported from here by tests and tools)
from tljh.traefik import render_static_config, render_tls_config
from tljh.install.userenv import DEFAULT_KIND as DEFAULT_USER_ENV
from tljh.install.userenv import KINDS as USER_ENV_KINDS
from tljh.install.userenv import ExtraPackages, UserEnvironment, UserRequirements, user_environment

log = logging.getLogger("tljh")
HUB_UP = "hub is up"
PLUGIN_PACKAGES = "plugin apt packages"
POST_INSTALL = "post-install hooks"
ENVIRONMENT_STEPS = ("hub environment", "user environment")
ADMIN_NAME = re.compile(r"[a-z0-9][a-z0-9._@-]*")
SYSTEM_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


def sudoers(paths: Paths) -> str:
    """Admins run anything as root without a password. The environment is reset as for everyone
    (`sudo -E` keeps it, as the admin asks); PATH is always a secure_path that starts with the user
    environment, so `sudo -E pip install ...` / `sudo -E conda install ...` install into it."""
    secure_path = ":".join([str(paths.user_env / "bin"), *SYSTEM_PATH])
    return f"""# Written by the TLJH installer. Members of {ADMINS_GROUP} may run anything as root
# without a password; sudo finds the user environment's pip and conda first.
Defaults:%{ADMINS_GROUP} secure_path="{secure_path}"
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
    plugins: tuple[str, ...] = ()
    user_requirements: str | None = None


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
    parser.add_argument("--user-env", choices=["conda", "venv"], default=None,
                        help="kind of user environment at <prefix>/user: conda (Miniforge, the default) or venv "
                             "(remembered for re-runs; cannot be switched)")
    parser.add_argument("--plugin", action="append", default=[], metavar="SPEC",
                        help="pip spec of a plugin to install into the hub env (remembered for re-runs; repeatable)")
    parser.add_argument("--user-requirements-txt-url", metavar="URL", default=None,
                        help="a requirements file (URL or path) to pip install into the user environment")
    parser.add_argument("--version", action="version", version=f"tljh {__version__}")
    args = parser.parse_args(argv)
    plugins = tuple(spec.strip() for spec in args.plugin)
    if any(not spec for spec in plugins):
        parser.error("--plugin needs a pip spec (a name, name==version, path or URL), not an empty string")
    return Options(admins=tuple(args.admin), user_env=args.user_env, plugins=plugins,
                   user_requirements=args.user_requirements_txt_url)


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


def environment_steps(
    paths: Paths, user_env: UserEnvironment, extra: ExtraPackages, hub_pip: tuple[str, ...] = ()
) -> list[Step]:
    """The hub venv (with traefik, then the hooks' hub packages) and the user environment:
    independent of each other."""
    hub: list[Action] = [PipRequirements(paths.hub_env, HUB_REQUIREMENTS),
                         TraefikBinary(paths.hub_env, TRAEFIK_REQUIREMENTS, TRAEFIK_VERSION)]
    if hub_pip:
        hub.append(PipPackages(paths.hub_env, hub_pip))
    return [
        Step(ENVIRONMENT_STEPS[0], hub),
        Step(ENVIRONMENT_STEPS[1], user_env.actions(extra)),
    ]


def plugin_step(paths: Paths, state: dict[str, Any], requested: tuple[str, ...]) -> tuple[Step, PluginPackages]:
    """The plugins (remembered ones and this run's --plugin specs) installed in the hub env."""
    specs = merge_specs(list(state.get("plugins", [])), list(requested))
    action = PluginPackages(paths.hub_env, specs, set(requested), dict(state.get("plugin_projects", {})))
    return Step("plugins", [action] if specs else []), action


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


def user_extra(results: HookResults, user_env: UserEnvironment, requirements: UserRequirements | None,
               say: Callable[[str], None] = print) -> ExtraPackages:
    """What goes into the user environment on top of its base; conda packages only where conda is."""
    conda, channels = results.user_conda, results.user_conda_channels
    if conda and not user_env.installs_conda_packages:
        warning = (f"warning: plugin(s) {', '.join(results.conda_askers)} asked for conda packages "
                   f"{' '.join(conda)}, which a user environment of kind {user_env.kind!r} cannot install: "
                   "they are skipped (a conda user environment installs them)")
        say(warning)
        log.warning("%s", warning)
        conda, channels = (), ()
    return ExtraPackages(conda=conda, conda_channels=channels, pip=results.user_pip, requirements=requirements)


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
            File(paths.sudoers_file, sudoers(paths), 0o440, paths.backups_dir, validate=visudo_check),
        ]),
        Step("private homes and state", [
            PrivateHomes(lambda: hub_homes(USERS_GROUP)),
            PrivateFiles([paths.state_dir, paths.traefik_rules_dir, paths.last_good_dir, paths.backups_dir]),
        ]),
        Step("tljh-config command", [
            Symlink(paths.tljh_config_link, hub_bin / "tljh-config", ours=lambda t: t.parent == hub_bin),
        ]),
    ]


def config_steps(paths: Paths, options: Options, pm: Any = None) -> list[Step]:
    passwords = {a.name: a.password for a in options.admins if a.password is not None}
    plugin_config: list[Action] = []
    if pm is not None:
        def propose(config: Any) -> None:
            call_hook(pm, "tljh_config_post_install", config=config)

        plugin_config.append(PluginConfigDefaults(paths.config_file, propose))
    return [
        Step("configuration", [
            AdminUsers(paths.config_file, [a.name for a in options.admins]),
            *plugin_config,
            Passwords(paths.passwords_dbm, passwords),
            secret(paths.traefik_api_secret),
            KeptFile(paths.acme_json, lambda: b"", 0o600),
            File(paths.traefik_toml, lambda: render_static_config(config_file.load(paths.config_file), paths), 0o600),
            File(paths.traefik_tls_rules, lambda: render_tls_config(config_file.load(paths.config_file)), 0o600),
        ]),
    ]


def service_steps(paths: Paths) -> list[Step]:
    return [Step("services", list(services(paths)))]


def apply_step(step: Step, journal: Journal, progress: Progress) -> tuple[Step, float]:
    start = time.monotonic()
    log.info("step %s", step.title)
    progress.started(step.title)
    try:
        for action in step.actions:
            step.changes += action.apply(journal)
    except Exception:
        progress.failed(step.title, time.monotonic() - start)
        raise
    for change in step.changes:
        log.info("  %s: %s", step.title, change)
    progress.finished(step.title, time.monotonic() - start, len(step.changes))
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
    requirements = read_user_requirements(options.user_requirements)
    user_env = user_environment(kind, paths)
    try:
        user_env.check()
        _install(paths, options, state, kind, requirements, user_env)
    finally:
        user_env.discard_downloads()


def _install(paths: Paths, options: Options, state: dict[str, Any], kind: str,
             requirements: UserRequirements | None, user_env: UserEnvironment) -> None:
    journal = Journal(paths.journal)
    plugins, plugin_action = plugin_step(paths, state, options.plugins)
    before = [*system_steps(paths), plugins]
    titles = [s.title for s in before] + [PLUGIN_PACKAGES, *ENVIRONMENT_STEPS] + [
        s.title for s in access_steps(paths) + config_steps(paths, options) + service_steps(paths)
    ] + [HUB_UP, POST_INSTALL]
    progress = Progress(titles, page=PageStatus.open(paths, titles))
    try:
        for step in before:
            apply_step(step, journal, progress)
        _save_state(paths, {**state, "user_env": kind, "version": __version__,
                            "plugins": plugin_action.specs, "plugin_projects": plugin_action.projects})
        pm = _fresh_plugin_manager()
        results = hook_results(pm)
        packages = Step(PLUGIN_PACKAGES, [AptPackages(list(results.apt))] if results.apt else [])
        extra = user_extra(results, user_env, requirements, say=progress.say)
        envs = environment_steps(paths, user_env, extra, results.hub_pip)
        after = access_steps(paths) + config_steps(paths, options, pm)
        services = service_steps(paths)
        apply_step(packages, journal, progress)
        with ThreadPoolExecutor(max_workers=len(envs)) as pool:
            list(pool.map(lambda s: apply_step(s, journal, progress), envs))
        for step in after:
            apply_step(step, journal, progress)
        hand_over_page(paths, progress)
        for step in services:
            apply_step(step, journal, progress)
        wait_for_hub_step(paths, progress)
        post_install_step(pm, progress)
    finally:
        progress.close()


def _fresh_plugin_manager() -> Any:
    """The installed plugins, loaded now (after --plugin installed new ones); the hub-side cache too."""
    from tljh import hooks

    hooks.plugin_manager.cache_clear()
    return load_plugins()


def post_install_step(pm: Any, progress: Progress) -> None:
    """The last step: every plugin's tljh_post_install."""
    start = time.monotonic()
    progress.started(POST_INSTALL)
    try:
        called = call_hook(pm, "tljh_post_install")
    except Exception:
        progress.failed(POST_INSTALL, time.monotonic() - start)
        raise
    progress.finished(POST_INSTALL, time.monotonic() - start, len(called))  # a change per plugin called


def hand_over_page(paths: Paths, progress: Progress) -> None:
    """Ensure the progress page server has let go of port 80 (traefik needs it) and its files are gone."""
    if progress.page is not None:
        progress.page.hand_over(str(get_item(config_file.load(paths.config_file), "base_url", "/")))
        progress.page = None
    if stop_page(paths):
        progress.say("progress page stopped: the hub takes over port 80")


def wait_for_hub_step(paths: Paths, progress: Progress) -> None:
    """The last step: the hub answers through the proxy."""
    start = time.monotonic()
    progress.started(HUB_UP)
    try:
        wait_for_hub(config_file.load(paths.config_file))
    except Exception:
        progress.failed(HUB_UP, time.monotonic() - start)
        raise
    remember_current(paths)  # the configuration a failed `tljh-config reload` goes back to
    progress.finished(HUB_UP, time.monotonic() - start, "answers")


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
    start = started_at(os.environ)
    try:
        take_install_lock(paths.prefix, "installer")
    except InstallRunning as e:  # not _fail: the page and the log belong to the run that holds the lock
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        install(paths, options)
    except (UserError, ForeignFileError, PluginError, RequirementsError, UserEnvError) as e:
        return _fail(str(e), paths)
    except CommandError as e:
        return _fail(f"{e}\n{e.tail()}", paths)
    except HubNotReady as e:
        return _fail(str(e), paths)
    except Exception as e:  # an unexpected failure: short message here, traceback in the log
        log.exception("unexpected error")
        return _fail(f"unexpected error: {type(e).__name__}: {e}", paths)
    print(f"Done in {time.time() - start:.0f}s.")
    print(f"JupyterHub is running: open {public_url(paths)} in a browser")
    admins = get_item(config_file.load(paths.config_file), "users.admin", None) or []
    print("Admins: " + (", ".join(admins) or "none yet (add one with --admin NAME)"))
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
