"""The install as a value: the ordered steps, built once; journal entries undone without the action."""

import inspect
import json
import os
import stat

import pytest

from tljh.actions import Action, load_all_kinds, undo_entry
from tljh.actions.files import Directory, File, KeptFile, Symlink
from tljh.paths import Paths
from tljh.install.installer import record_bootstrap, runs_of_steps
from tljh.install.steps import Answers, Inputs, Step, install_steps
from tljh.install.userenv import VenvUserEnvironment
from tljh.journal import Entry, Journal

TITLES = [
    "system packages", "directories", "plugins", "plugin apt packages", "hub environment", "user environment",
    "groups and sudo", "tljh-config command", "configuration", "services", "hub is up", "post-install hooks",
]


def inputs(paths, loads=None):
    def load():
        if loads is not None:
            loads.append(1)
        raise AssertionError("the plugins' answers are not read to list the steps")

    return Inputs(paths=paths, admins=(("alice", "pw"),), state={}, user_env=VenvUserEnvironment(paths),
                  requirements=None, plugins=(), answers=Answers(load))


def test_the_steps_in_order_without_reading_the_plugins(paths):
    loads = []
    steps = install_steps(inputs(paths, loads))
    assert [s.title for s in steps] == TITLES
    assert loads == []
    assert [s.title for s in steps if s.concurrent] == ["hub environment", "user environment"]
    assert [s.report for s in steps if s.report] == ["answers"]


def test_concurrent_neighbours_run_together():
    a, b, c, d = (Step(t, [], concurrent=t in "bc") for t in "abcd")
    assert runs_of_steps([a, b, c, d]) == [[a], [b, c], [d]]
    assert runs_of_steps([b, a, c]) == [[b], [a], [c]]


def test_steps_made_from_the_answers_are_made_once(paths):
    made = []
    step = Step("x", lambda: made.append(1) or [])
    assert step.resolve() == [] and step.resolve() == []
    assert made == [1]


def test_the_hub_venv_and_both_commands_are_in_the_list(paths):
    steps = {s.title: s for s in install_steps(inputs(paths))}
    links = steps["tljh-config command"].resolve()
    assert [str(a.path) for a in links] == [str(paths.root / "usr/bin/tljh-config"), str(paths.root / "usr/bin/tljh")]
    assert all(str(a.target).startswith(str(paths.hub_env / "bin")) for a in links)


def test_every_action_kind_can_undo_and_kinds_are_distinct():
    load_all_kinds()
    kinds = Action.kinds
    assert {"pip-requirements", "pip-packages", "pip-requirements-file", "traefik", "plugin", "conda-floors",
            "conda-packages", "miniforge", "venv", "file", "kept-file", "directory", "symlink", "group", "apt",
            "service", "config-admins", "config-plugins", "passwords", "hub-up", "post-install"} <= set(kinds)
    for kind, cls in kinds.items():
        assert cls.kind == kind
        assert not inspect.isabstract(cls), f"{cls.__name__} has no undo"


def test_the_bootstrap_s_changes_are_journalled(tmp_path):
    journal = Journal(tmp_path / "journal.jsonl", run="r")
    made = [{"kind": "directory", "target": "/opt/tljh", "change": "create"},
            {"kind": "venv", "target": "/opt/tljh/hub", "change": "create"}]
    paths = Paths(prefix=tmp_path / "prefix")
    pending = paths.hub_env / "tljh-bootstrap-made.json"
    pending.parent.mkdir(parents=True)
    pending.write_text(json.dumps(made))
    record_bootstrap(journal, {"TLJH_BOOTSTRAP_MADE": json.dumps(made)}, paths)
    assert not pending.exists()  # journalled: no longer pending for the next bootstrap
    record_bootstrap(journal, {"TLJH_BOOTSTRAP_MADE": "not json"}, paths)
    record_bootstrap(journal, {}, paths)
    assert [(e.kind, e.target, e.change, e.run) for e in journal.entries()] == [
        ("directory", "/opt/tljh", "create", "r"), ("venv", "/opt/tljh/hub", "create", "r")]


# undo from the journal alone (no live action)

def undo_all(journal):
    for entry in journal.reversed():
        undo_entry(entry)


def test_files_directories_and_links_are_undone_from_the_journal(tmp_path):
    journal = Journal(tmp_path / "journal.jsonl")
    existing = tmp_path / "etc.conf"
    existing.write_text("theirs\n")
    existing.chmod(0o640)
    actions = [
        Directory(tmp_path / "d", 0o700),
        File(tmp_path / "d" / "new.txt", "ours\n", 0o600),
        File(existing, "ours\n", 0o644, backups=tmp_path / "backups"),
        KeptFile(tmp_path / "secret", lambda: b"s", 0o600),
        Symlink(tmp_path / "link", tmp_path / "d" / "new.txt", ours=lambda t: True),
    ]
    for action in actions:
        assert action.apply(journal)
    assert existing.read_text() == "ours\n"
    del actions  # nothing but the journal from here
    undo_all(journal)
    assert existing.read_text() == "theirs\n" and stat.S_IMODE(existing.stat().st_mode) == 0o640
    assert not (tmp_path / "d").exists() and not (tmp_path / "secret").exists()
    assert not os.path.lexists(tmp_path / "link")


def test_a_mode_change_is_undone_to_the_old_mode(tmp_path):
    journal = Journal(tmp_path / "journal.jsonl")
    (tmp_path / "d").mkdir(mode=0o755)
    (tmp_path / "d").chmod(0o755)
    Directory(tmp_path / "d", 0o700).apply(journal)
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o700
    undo_all(journal)
    assert (tmp_path / "d").is_dir() and stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


def test_a_replaced_link_is_put_back(tmp_path):
    journal = Journal(tmp_path / "journal.jsonl")
    (tmp_path / "link").symlink_to("/old/target")
    Symlink(tmp_path / "link", tmp_path / "new", ours=lambda t: True).apply(journal)
    undo_all(journal)
    assert os.readlink(tmp_path / "link") == "/old/target"


def test_admins_and_passwords_are_undone(paths):
    from tljh import config as config_file
    from tljh.install.hubsetup import AdminUsers, Passwords

    journal = Journal(paths.journal)
    paths.config_dir.mkdir(parents=True)
    config_file.save(paths.config_file, {"users": {"admin": ["bob"]}})
    AdminUsers(paths.config_file, ["alice"]).apply(journal)
    Passwords(paths.passwords_dbm, {"alice": "pw"}).apply(journal)
    assert config_file.get_item(config_file.load(paths.config_file), "users.admin") == ["bob", "alice"]
    undo_all(journal)
    assert config_file.get_item(config_file.load(paths.config_file), "users.admin") == ["bob"]
    assert Passwords(paths.passwords_dbm, {"alice": "pw"}).plan()  # alice's password is gone again


def test_unknown_kinds_are_refused():
    with pytest.raises(ValueError, match="unknown kind 'teleporter'"):
        undo_entry(Entry("teleporter", "x", "beam"))


def test_apt_packages_are_kept_with_a_note():
    note = undo_entry(Entry("apt", "python3-venv", "install"))
    assert note and "kept" in note and "apt-get remove python3-venv" in note
