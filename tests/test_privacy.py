"""tljh.actions.privacy: homes 0700 and private state files, re-checked at every run."""

from __future__ import annotations

import stat

from tljh.actions.privacy import PrivateFiles, PrivateHomes
from tljh.install.installer import access_steps, render_unit
from tljh.journal import Journal


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_homes_opened_by_a_plugin_are_made_private_again(tmp_path):
    homes = [tmp_path / "jupyter-a", tmp_path / "jupyter-b", tmp_path / "gone"]
    homes[0].mkdir(mode=0o755)
    homes[1].mkdir(mode=0o700)
    homes[0].chmod(0o755)
    action = PrivateHomes(lambda: homes)
    assert [str(c) for c in action.plan()] == [f"chmod 700 {homes[0]}"]
    action.apply(Journal(tmp_path / "journal.jsonl"))
    assert mode(homes[0]) == mode(homes[1]) == 0o700
    assert action.plan() == []  # a second run changes nothing


def test_state_files_lose_group_and_other_access(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "jupyterhub.sqlite").write_text("db")
    (state / "jupyterhub.sqlite").chmod(0o644)
    (state / "new_user_script").write_text("#!/bin/sh\n")
    (state / "new_user_script").chmod(0o755)
    (state / "secret").write_text("s")
    (state / "secret").chmod(0o600)
    (state / "data").mkdir(mode=0o755)
    action = PrivateFiles([state, tmp_path / "missing"])
    assert len(action.plan()) == 2
    action.apply(Journal(tmp_path / "journal.jsonl"))
    assert mode(state / "jupyterhub.sqlite") == 0o600
    assert mode(state / "new_user_script") == 0o700  # still executable by root (tljh-new-user runs it)
    assert mode(state / "secret") == 0o600
    assert action.plan() == []


def test_the_installer_makes_homes_and_state_private_at_every_run(paths):
    actions = [a for step in access_steps(paths) for a in step.actions]
    assert any(isinstance(a, PrivateHomes) for a in actions)
    [files] = [a for a in actions if isinstance(a, PrivateFiles)]
    assert paths.state_dir in files.directories and paths.traefik_rules_dir in files.directories


def test_the_hub_creates_its_files_private(paths):
    """jupyterhub.sqlite was 0644: the hub's unit sets a umask so that what it creates is root's alone."""
    assert "UMask=0077" in render_unit("jupyterhub.service", paths).splitlines()
