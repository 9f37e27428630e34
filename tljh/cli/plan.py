"""`tljh plan`: what an install or upgrade would do on this machine, action by action, changing nothing.

It is the installer's own list of steps (tljh.install.steps) with each action asked for its plan
instead of applied. Nothing is downloaded and no plugin code runs beyond reading the installed
plugins' answers; where an action depends on something an earlier step has yet to make, it says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from tljh import __version__
from tljh.actions import Action, Change
from tljh.install.steps import Answers, Inputs, Step, install_steps
from tljh.paths import Paths


@dataclass
class PlannedAction:
    """One action's plan: its changes, what it does on every run, or why it cannot say."""

    title: str
    changes: list[Change] = field(default_factory=list)
    every_run: str | None = None
    note: str | None = None
    problem: str | None = None


@dataclass
class PlannedStep:
    title: str
    actions: list[PlannedAction]

    @property
    def changes(self) -> int:
        return sum(len(a.changes) for a in self.actions)


def plan_inputs(paths: Paths, options: Any, state: dict[str, Any], kind: str,
                say: Callable[[str], None] = lambda text: None) -> Inputs:
    """The installer's inputs, without reading the admin's requirements file (it may be a download)."""
    from tljh.install.installer import _fresh_plugin_manager
    from tljh.install.userenv import user_environment

    return Inputs(paths=paths, admins=tuple((a.name, a.password) for a in options.admins),
                  state={**state, "version": __version__}, user_env=user_environment(kind, paths),
                  requirements=None, plugins=options.plugins, answers=Answers(_fresh_plugin_manager),
                  say=say)


def plan_action(action: Action) -> PlannedAction:
    """Ask one action for its plan; a refusal or a failure to look is reported, not raised."""
    planned = PlannedAction(action.title, every_run=action.every_run)
    try:
        planned.changes = action.plan()
    except Exception as e:  # a refusal (a foreign file) or something not there yet to look at  # noqa: BLE001  (reported, not raised: one bad item must not hide the rest)
        planned.problem = str(e) or type(e).__name__
    env = action.env_path
    if env is not None and not env.exists() and planned.changes and action.kind not in ("venv", "miniforge"):
        planned.note = f"into {env}, which an earlier step makes"
    return planned


def plan_steps(steps: list[Step], pending_plugins: bool = False) -> list[PlannedStep]:
    """Every step's planned actions, in install order."""
    planned = []
    for step in steps:
        try:
            actions = [plan_action(a) for a in step.resolve()]
        except Exception as e:  # the plugins' answers could not be read  # noqa: BLE001  (reported, not raised: one bad item must not hide the rest)
            actions = [PlannedAction(step.title, problem=f"cannot list this step's actions: {type(e).__name__}: {e}")]
        planned.append(PlannedStep(step.title, actions))
    return planned


def render(planned: list[PlannedStep], plugins_pending: list[str] | None = None) -> list[str]:
    """The plan as lines of text, as the installer would number its steps."""
    lines, total = [], len(planned)
    for n, step in enumerate(planned, 1):
        lines.append(f"[{n}/{total}] {step.title}" + ("" if step.changes or _has_notes(step) else ": nothing to do"))
        for action in step.actions:
            lines += _action_lines(action)
        if plugins_pending and n > 3 and step.title in ("plugin apt packages", "hub environment", "user environment",
                                                          "configuration", "post-install hooks"):
            lines.append(f"    (the plugins still to be installed ({', '.join(plugins_pending)}) may add to this step)")
    count = sum(s.changes for s in planned)
    problems = sum(1 for s in planned for a in s.actions if a.problem)
    if count:
        lines.append(f"{count} change(s) to make" + (f"; {problems} problem(s) to fix first" if problems else ""))
    else:
        lines.append("Nothing to do: the machine is as the installer leaves it"
                     + (f" ({problems} problem(s) to fix first)" if problems else ""))
    return lines


def _has_notes(step: PlannedStep) -> bool:
    return any(a.every_run or a.problem for a in step.actions)


def _action_lines(action: PlannedAction) -> list[str]:
    """One line per kind of change of the action (`create directory /x`, `hub.txt in /env: install a, b`)."""
    lines = []
    if action.problem:
        lines.append(f"  ! {action.title}: {action.problem}")
    note = f" ({action.note})" if action.note else ""
    for what, targets in _grouped(action.changes):
        if targets == [action.title.split(" ", 1)[-1]] or targets == [action.title]:
            lines.append(f"  {what} {action.title}{note}")
        else:
            lines.append(f"  {action.title}: {what} {', '.join(targets)}{note}")
    if action.every_run:
        lines.append(f"  every run: {action.every_run}")
    return lines


def _grouped(changes: list[Change]) -> list[tuple[str, list[str]]]:
    """(what, [targets]) in order of first appearance."""
    groups: dict[str, list[str]] = {}
    for change in changes:
        groups.setdefault(change.what, []).append(change.target)
    return list(groups.items())


def plan(paths: Paths, options: Any) -> tuple[list[str], int]:
    """The plan for an install with these options here: (lines, number of changes)."""
    from tljh.install.installer import choose_user_env, read_state

    state = read_state(paths)
    kind = choose_user_env(options.user_env, state.get("user_env"))
    warnings: list[str] = []
    steps = install_steps(plan_inputs(paths, options, state, kind, say=warnings.append))
    plugins = steps[[s.title for s in steps].index("plugins")]
    pending = [str(c.target) for a in plugins.resolve() for c in a.plan()]
    planned = plan_steps(steps)
    lines = [f"What installing TLJH {__version__} would do on this machine (prefix {paths.prefix}), step by step:"]
    lines += warnings
    if options.user_requirements:
        lines.append(f"(the requirements file {options.user_requirements} is read when the install runs; "
                     "its packages are not listed here)")
    lines += render(planned, pending)
    return lines, sum(s.changes for s in planned)
