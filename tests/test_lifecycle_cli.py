"""The pure parts of `tljh plan`, `status`, `uninstall`, `backup` and `restore` (no root, no systemd)."""

import io
import os
import json
import tarfile
from collections import namedtuple
from pathlib import Path

import pytest

from tljh.actions import Change
from tljh.actions.files import Directory, File, Symlink
from tljh.cli import backup, status
from tljh.cli.main import main as tljh_main
from tljh.cli.plan import PlannedAction, PlannedStep, plan_action, render
from tljh.cli.uninstall import covered, removed_trees, undo_order
from tljh.journal import Entry

# plan rendering


def test_render_numbers_steps_and_counts_changes():
    planned = [
        PlannedStep("directories", [PlannedAction("directory /opt/tljh", [Change("create", "/opt/tljh")])]),
        PlannedStep("hub environment", [PlannedAction("hub.txt in /opt/tljh/hub", [
            Change("install", "jupyterhub"), Change("install", "pluggy")], note="into /opt/tljh/hub, which an earlier step makes")]),
        PlannedStep("plugins", []),
        PlannedStep("hub is up", [PlannedAction("the hub", every_run="wait until the hub answers through the proxy")]),
    ]
    assert render(planned) == [
        "[1/4] directories",
        "  create directory /opt/tljh",
        "[2/4] hub environment",
        "  hub.txt in /opt/tljh/hub: install jupyterhub, pluggy (into /opt/tljh/hub, which an earlier step makes)",
        "[3/4] plugins: nothing to do",
        "[4/4] hub is up",
        "  every run: wait until the hub answers through the proxy",
        "3 change(s) to make",
    ]


def test_render_says_nothing_to_do_when_every_action_is_in_place():
    planned = [PlannedStep("directories", [PlannedAction("directory /opt/tljh")])]
    assert render(planned)[-1].startswith("Nothing to do")


def test_a_refusal_is_shown_not_raised(tmp_path):
    (tmp_path / "link").write_text("a file, not our link")
    planned = plan_action(Symlink(tmp_path / "link", tmp_path / "target", ours=lambda t: True))
    assert planned.problem and "refusing to replace it" in planned.problem
    assert render([PlannedStep("links", [planned])])[1].startswith("  ! symlink ")


def test_tljh_plan_passes_the_installer_s_options(monkeypatch, capsys):
    seen = []
    monkeypatch.setattr("tljh.cli.plan.plan", lambda paths, options: (seen.append(options) or ["planned"], 0))
    assert tljh_main(["plan", "--admin", "alice:pw", "--user-env", "venv"]) == 0
    assert seen[0].admins[0].name == "alice" and seen[0].user_env == "venv"
    assert capsys.readouterr().out == "planned\n"


# status checks of files (verify over the actions)

def test_status_of_files_catches_mode_content_and_missing(tmp_path):
    state = Directory(tmp_path / "state", 0o700)
    sudoers = File(tmp_path / "sudoers", "ours\n", 0o440)
    link = Symlink(tmp_path / "tljh", tmp_path / "bin" / "tljh", ours=lambda t: True)
    from tljh.journal import NullJournal

    for action in (state, sudoers, link):
        action.apply(NullJournal())
    assert all(status.check_action("s", a).ok for a in (state, sudoers, link))
    (tmp_path / "state").chmod(0o755)
    (tmp_path / "sudoers").write_text("edited\n")
    (tmp_path / "tljh").unlink()
    checks = {a.title: status.check_action("s", a) for a in (state, sudoers, link)}
    assert [c.ok for c in checks.values()] == [False, False, False]
    assert "chmod 700" in checks[state.title].problems[0]
    assert "differs from what TLJH installed" in checks[sudoers.title].hint
    assert checks[link.title].problems == [f"create {tmp_path / 'tljh'}"]
    assert checks[state.title].line().startswith("FAIL  s: directory ")


def test_disk_check_flags_a_nearly_full_disk(tmp_path):
    usage = namedtuple("usage", "total used free")
    gib = 1 << 30
    assert status.disk_check(tmp_path, lambda p: usage(100 * gib, 50 * gib, 50 * gib)).ok
    nearly_full = status.disk_check(tmp_path, lambda p: usage(100 * gib, 99.5 * gib, gib // 2))
    assert not nearly_full.ok and "only 0.50 GiB free" in nearly_full.problems[0]
    assert not status.disk_check(tmp_path, lambda p: usage(1000 * gib, 970 * gib, 30 * gib)).ok  # 3 %


def test_status_without_an_install_is_one_problem(paths):
    checks = status.installed_checks(paths)
    assert len(checks) == 1 and not checks[0].ok and "not installed" in checks[0].problems[0]


# uninstall: what is undone, in which order

def test_changes_inside_removed_trees_are_not_undone_one_by_one():
    entries = [
        Entry("directory", "/opt/tljh", "create"),
        Entry("venv", "/opt/tljh/hub", "create"),
        Entry("directory", "/opt/tljh/state", "create"),
        Entry("apt", "sudo", "install"),
        Entry("pip-requirements", "jupyterhub", "install", env="/opt/tljh/hub"),
        Entry("file", "/etc/sudoers.d/jupyterhub-admins", "create"),
        Entry("file", "/opt/tljh/state/traefik.toml", "create"),
        Entry("passwords", "alice", "set password", data={"store": "/opt/tljh/state/passwords.dbm"}),
        Entry("group", "jupyterhub-users", "create"),
        Entry("service", "jupyterhub.service", "enable"),
    ]
    assert removed_trees(entries) == [Path("/opt/tljh"), Path("/opt/tljh/hub"), Path("/opt/tljh/state")]
    assert [(e.kind, e.target) for e in undo_order(entries)] == [
        ("service", "jupyterhub.service"),
        ("group", "jupyterhub-users"),
        ("file", "/etc/sudoers.d/jupyterhub-admins"),
        ("apt", "sudo"),
        ("directory", "/opt/tljh"),
    ]
    assert not covered(Entry("file", "/opt/tljhx/a", "create"), [Path("/opt/tljh")])


# backup / restore

def make_install(paths):
    paths.config_dir.mkdir(parents=True)
    paths.state_dir.mkdir(parents=True)
    paths.config_file.write_text("users:\n  admin: [alice]\n")
    (paths.state_dir / "jupyterhub.sqlite").write_bytes(b"db")
    (paths.state_dir / "traefik.toml").write_text("rendered, not backed up")
    paths.install_state.write_text("{}")


def test_backup_holds_config_and_state_with_a_manifest(paths, tmp_path):
    make_install(paths)
    dest = tmp_path / "out" / "b.tar.gz"
    manifest = backup.write_archive(paths, dest, [])
    assert oct(dest.stat().st_mode & 0o777) == "0o600"
    with tarfile.open(dest) as tar:
        names = set(tar.getnames())
        assert backup.read_manifest(tar) == json.loads(json.dumps(manifest))
        targets = {m.name: d for m, d in backup.restore_targets(paths, tar)}
    assert {"prefix/config/config.yaml", "prefix/state/jupyterhub.sqlite", "MANIFEST.json"} <= names
    assert "prefix/state/traefik.toml" not in names and "prefix/state/install.json" not in names
    assert targets["prefix/state/jupyterhub.sqlite"] == paths.state_dir / "jupyterhub.sqlite"


def tarball_with(path, manifest, members=()):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in [("MANIFEST.json", json.dumps(manifest).encode()), *members]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_restore_refuses_a_backup_from_a_newer_version(paths, tmp_path, capsys):
    make_install(paths)
    tarball_with(tmp_path / "new.tar.gz", {"format": 1, "tljh_version": "99.0.0"})
    assert backup.restore_main(paths, str(tmp_path / "new.tar.gz"), yes=True) == 1
    err = capsys.readouterr().err
    assert "made by tljh 99.0.0, newer than this machine's tljh" in err


def test_restore_refuses_a_foreign_tarball(paths, tmp_path, capsys):
    make_install(paths)
    with tarfile.open(tmp_path / "x.tar.gz", "w:gz"):
        pass
    assert backup.restore_main(paths, str(tmp_path / "x.tar.gz"), yes=True) == 1
    assert "no MANIFEST.json" in capsys.readouterr().err


def test_restore_lists_what_it_overwrites_and_stops_without_yes(paths, tmp_path, capsys, monkeypatch):
    make_install(paths)
    tarball_with(tmp_path / "b.tar.gz", {"format": 1, "tljh_version": "0.0.1", "homes": {}},
                 [("prefix/state/jupyterhub.sqlite", b"theirs"), ("prefix/../../etc/evil", b"x")])
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert backup.restore_main(paths, str(tmp_path / "b.tar.gz")) == 1
    out = capsys.readouterr().out
    assert f"overwrites 1 file(s):\n  {paths.state_dir / 'jupyterhub.sqlite'}" in out
    assert "nothing was changed" in out
    assert (paths.state_dir / "jupyterhub.sqlite").read_bytes() == b"db"


@pytest.mark.parametrize("older, newer", [("0.1.0", "0.2.0"), ("0.9", "0.10"), ("1.0.0rc1", "1.0.1")])
def test_version_order(older, newer):
    assert backup.version_tuple(older) < backup.version_tuple(newer)


def test_commands_other_than_plan_need_root(monkeypatch, capsys):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert tljh_main(["status"]) == 1
    assert "must be run as root" in capsys.readouterr().err


def test_an_unexpected_failure_is_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    import tljh.cli.status

    def broken(paths, as_json=False):
        raise ValueError("a surprise")

    monkeypatch.setattr("os.geteuid", lambda: 0)
    monkeypatch.setattr(tljh.cli.status, "main", broken)
    monkeypatch.delenv("TLJH_DEBUG", raising=False)
    assert tljh_main(["status"]) == 1
    assert capsys.readouterr().err == "error: unexpected ValueError: a surprise (TLJH_DEBUG=1 shows where)\n"
    monkeypatch.setenv("TLJH_DEBUG", "1")
    with pytest.raises(ValueError):
        tljh_main(["status"])


def test_processes_of_reads_proc(tmp_path):
    from tljh.cli.uninstall import processes_of

    (tmp_path / "123").mkdir()
    (tmp_path / "self").mkdir()
    assert processes_of(os.getuid(), tmp_path) == [123]
    assert processes_of(os.getuid() + 4242, tmp_path) == []
