"""The install as a value: `install_steps` returns the ordered list of steps, and install, plan,
status and uninstall are each a loop over it.

A step is a titled group of actions. Steps after "plugins" are built from the plugins' answers
(their hooks), so their actions are made when the step is reached (`Step.resolve`): by then the
plugins step has installed what this run asked for. The titles (and so the progress lines and the
progress page) are known before anything runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from tljh import config as config_file
from tljh.actions import Action, Change
from tljh.actions.files import Directory, File, KeptFile, Symlink
from tljh.actions.privacy import PrivateFiles, PrivateHomes, hub_homes
from tljh.actions.python import PipPackages, PipRequirements, PluginPackages, TraefikBinary, Venv
from tljh.actions.system import AptPackages, Group, visudo_check
from tljh.install.adopt import MovedAside, upstream_dynamic_config
from tljh.install.hubsetup import AdminUsers, Passwords, PluginConfigDefaults, secret
from tljh.install.userenv import ExtraPackages, UserEnvironment, UserRequirements
from tljh.journal import Entry, Journal
from tljh.paths import (
    ADMINS_GROUP,
    APT_PACKAGES,
    HUB_LOCK,
    TRAEFIK_REQUIREMENTS,
    TRAEFIK_VERSION,
    USERS_GROUP,
    Paths,
)
from tljh.plugins import HookResults, call_hook, hook_results, merge_specs
from tljh.services import services
from tljh.traefik import render_static_config, render_tls_config

if TYPE_CHECKING:
    from tljh.install.progress import Progress

log = logging.getLogger("tljh")

HUB_UP = "hub is up"
PLUGIN_PACKAGES = "plugin apt packages"
POST_INSTALL = "post-install hooks"
ENVIRONMENT_STEPS = ("hub environment", "user environment")
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


SUDOERS = sudoers(Paths())  # the file of an install at the default prefix
COMMANDS = ("tljh-config", "tljh")  # the hub venv's console scripts linked into /usr/bin


@dataclass
class Step:
    """A named group of actions, applied in order.

    `actions` may be a function that makes them when the step is reached (`resolve`). Steps
    marked `concurrent` run at the same time as the concurrent steps next to them. `report` is
    the word the progress line shows instead of a count of changes; `before` runs first (with the
    progress), `after` once the step's actions are applied.
    """

    title: str
    actions: list[Action] | Callable[[], list[Action]]
    concurrent: bool = False
    report: str | None = None
    before: Callable[[Progress], None] | None = None
    after: Callable[[], None] | None = None
    changes: list[Change] = field(default_factory=list)

    def resolve(self) -> list[Action]:
        """The step's actions (made now if they are made from the plugins' answers)."""
        if callable(self.actions):
            self.actions = self.actions()
        return self.actions


class Answers:
    """The plugins' answers, read the first time a step needs them (after the plugins step)."""

    def __init__(self, load: Callable[[], Any]) -> None:
        self.load = load
        self._pm: Any = None
        self._results: HookResults | None = None

    @property
    def pm(self) -> Any:
        if self._pm is None:
            self._pm = self.load()
        return self._pm

    @property
    def results(self) -> HookResults:
        if self._results is None:
            self._results = hook_results(self.pm)
        return self._results


@dataclass(frozen=True)
class Inputs:
    """Everything the list of steps is made from (besides the machine itself)."""

    paths: Paths
    admins: tuple[tuple[str, str | None], ...]  # (name, password or None)
    state: dict[str, Any]
    user_env: UserEnvironment
    requirements: UserRequirements | None
    plugins: tuple[str, ...]
    answers: Answers
    say: Callable[[str], None] = print
    save_state: Callable[[dict[str, Any]], None] | None = None


def install_steps(inputs: Inputs) -> list[Step]:
    """The install, in order: every step of an install or upgrade of this machine."""
    paths, answers = inputs.paths, inputs.answers
    plugins, plugin_action = plugin_step(paths, inputs.state, inputs.plugins)
    if inputs.save_state is not None:
        save = inputs.save_state
        plugins.after = lambda: save({**inputs.state, "user_env": inputs.user_env.kind,
                                      "plugins": plugin_action.specs, "plugin_projects": plugin_action.projects})
    return [
        *system_steps(paths),
        plugins,
        Step(PLUGIN_PACKAGES, lambda: [AptPackages(list(answers.results.apt))] if answers.results.apt else []),
        Step(ENVIRONMENT_STEPS[0], lambda: hub_env_actions(paths, answers.results.hub_pip), concurrent=True),
        Step(ENVIRONMENT_STEPS[1], lambda: inputs.user_env.actions(
            user_extra(answers.results, inputs.user_env, inputs.requirements, inputs.say)), concurrent=True),
        *access_steps(paths),
        *config_steps(paths, inputs.admins, answers),
        *service_steps(paths),
        Step(HUB_UP, [HubAnswers(paths)], report="answers"),
        Step(POST_INSTALL, lambda: [PostInstallHooks(answers.pm)]),
    ]


def hub_env_actions(paths: Paths, hub_pip: Sequence[str] = ()) -> list[Action]:
    """The hub venv (made by the bootstrap), its pinned packages, traefik, then the hooks' hub packages."""
    hub: list[Action] = [Venv(paths.hub_env),
                         PipRequirements(paths.hub_env, HUB_LOCK, ("--require-hashes",)),
                         TraefikBinary(paths.hub_env, TRAEFIK_REQUIREMENTS, TRAEFIK_VERSION)]
    if hub_pip:
        hub.append(PipPackages(paths.hub_env, tuple(hub_pip)))
    return hub


def plugin_step(paths: Paths, state: dict[str, Any], requested: tuple[str, ...]) -> tuple[Step, PluginPackages]:
    """The plugins (remembered ones and this run's --plugin specs) installed in the hub env."""
    specs = merge_specs(list(state.get("plugins", [])), list(requested))
    action = PluginPackages(paths.hub_env, specs, set(requested), dict(state.get("plugin_projects", {})))
    return Step("plugins", [action] if specs else []), action


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


def command_link(paths: Paths, name: str) -> Symlink:
    """/usr/bin/NAME -> the hub venv's console script NAME (refusing a link that is not ours)."""
    hub_bin = paths.hub_env / "bin"
    return Symlink(paths.root / "usr/bin" / name, hub_bin / name, ours=lambda t: t.parent == hub_bin)


def access_steps(paths: Paths) -> list[Step]:
    return [
        Step("groups and sudo", [
            Group(USERS_GROUP),
            Group(ADMINS_GROUP),
            File(paths.sudoers_file, sudoers(paths), 0o440, paths.backups_dir, validate=visudo_check),
            # homes a plugin's hook opened and state files older hubs made readable: private again
            PrivateHomes(lambda: hub_homes(USERS_GROUP)),
            PrivateFiles([paths.state_dir, paths.traefik_rules_dir, paths.last_good_dir]),  # not backups: kept as found
        ]),
        Step("tljh-config command", [command_link(paths, name) for name in COMMANDS]),
    ]


def config_steps(paths: Paths, admins: tuple[tuple[str, str | None], ...], answers: Answers | None = None) -> list[Step]:
    passwords = {name: password for name, password in admins if password is not None}

    def actions() -> list[Action]:
        plugin_config: list[Action] = []
        if answers is not None:
            pm = answers.pm

            def propose(config: Any) -> None:
                call_hook(pm, "tljh_config_post_install", config=config)

            plugin_config.append(PluginConfigDefaults(paths.config_file, propose))
        return [
            AdminUsers(paths.config_file, [name for name, _ in admins]),
            *plugin_config,
            Passwords(paths.passwords_dbm, passwords),
            secret(paths.traefik_api_secret),
            MovedAside(upstream_dynamic_config(paths), paths.backups_dir),
            KeptFile(paths.acme_json, lambda: b"", 0o600),
            File(paths.traefik_toml, lambda: render_static_config(config_file.load(paths.config_file), paths), 0o600),
            File(paths.traefik_tls_rules, lambda: render_tls_config(config_file.load(paths.config_file)), 0o600),
        ]

    return [Step("configuration", actions)]


def service_steps(paths: Paths) -> list[Step]:
    def hand_over(progress: Progress) -> None:
        from tljh.install.installer import hand_over_page

        hand_over_page(paths, progress)

    return [Step("services", list(services(paths)), before=hand_over)]


class HubAnswers(Action):
    """The hub answers through the proxy. Changes nothing; the install waits for it on every run."""

    kind = "hub-up"
    every_run = "wait until the hub answers through the proxy"

    def __init__(self, paths: Paths) -> None:
        self.paths = paths

    @property
    def title(self) -> str:
        return "the hub answers through the proxy"

    def plan(self) -> list[Change]:
        return []

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        pass

    def apply(self, journal: Journal) -> list[Change]:
        from tljh.cli.reload import remember_current
        from tljh.health import wait_for_hub

        wait_for_hub(config_file.load(self.paths.config_file))
        remember_current(self.paths)  # the configuration a failed `tljh-config reload` goes back to
        return []

    def verify(self) -> list[Change]:
        from tljh.health import HubNotReady, wait_for_hub

        try:
            wait_for_hub(config_file.load(self.paths.config_file), timeout=10)
        except HubNotReady as e:
            return [Change("not answering", str(e))]
        return []

    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        return None


class PostInstallHooks(Action):
    """Every plugin's tljh_post_install, called on every install (a change per plugin called)."""

    kind = "post-install"
    every_run = "call every plugin's tljh_post_install"

    def __init__(self, pm: Any) -> None:
        self.pm = pm

    @property
    def title(self) -> str:
        return "plugins' tljh_post_install"

    def plan(self) -> list[Change]:
        return []

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        pass

    def apply(self, journal: Journal) -> list[Change]:
        return [Change("called tljh_post_install of", name) for name, _ in call_hook(self.pm, "tljh_post_install")]

    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        return None
