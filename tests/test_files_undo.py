"""tljh.actions.files: what each change journals and how undo puts things back (modes, moved-aside
files, symlinks); an owner put back only as root, as in test_files_edges."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tljh.actions import Change
from tljh.actions.files import Directory, File, KeptFile, MovedAside, Symlink
from tljh.journal import Entry, Journal


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def journal(tmp_path):
    return Journal(tmp_path / "state" / "journal.jsonl")


def only(journal: Journal, kind: str) -> Entry:
    """The one entry of that kind (but the journal's own directory, recorded as it is made)."""
    [entry] = [e for e in journal.entries() if e.kind == kind and e.target != str(journal.path.parent)]
    return entry


def test_a_mode_change_journals_the_previous_mode_and_owner_and_undo_restores_the_mode(tmp_path, journal):
    path = tmp_path / "d"
    path.mkdir(mode=0o755)
    path.chmod(0o755)
    Directory(path, 0o700, uid=os.getuid(), gid=os.getgid()).apply(journal)
    entry = only(journal, "directory")
    assert (entry.change, entry.data) == ("chmod 700", {"mode": 0o755, "uid": os.getuid(), "gid": os.getgid()})
    assert Directory.undo(entry) is None
    assert mode(path) == 0o755
    assert path.stat().st_uid == os.getuid()  # a chmod's undo changes no owner


def test_undoing_a_mode_change_of_a_path_gone_does_nothing(tmp_path):
    entry = Entry(kind="directory", target=str(tmp_path / "gone"), change="chmod 700", data={"mode": 0o755})
    assert Directory.undo(entry) is None
    assert not (tmp_path / "gone").exists()


def test_undoing_a_created_directory_removes_it_but_not_a_symlink_put_there_since(tmp_path):
    made = tmp_path / "made"
    (made / "inside").mkdir(parents=True)
    assert Directory.undo(Entry(kind="directory", target=str(made), change="create")) is None
    assert not made.exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    made.symlink_to(elsewhere)
    Directory.undo(Entry(kind="directory", target=str(made), change="create"))
    assert made.is_symlink() and elsewhere.is_dir()


def test_a_files_mode_change_is_undone_and_its_content_kept(tmp_path, journal):
    path = tmp_path / "f"
    path.write_text("same\n")
    path.chmod(0o644)
    File(path, "same\n", 0o600).apply(journal)
    assert mode(path) == 0o600
    assert File.undo(only(journal, "file")) is None
    assert mode(path) == 0o644 and path.read_text() == "same\n"


def test_an_update_without_a_kept_copy_is_left_with_a_note(tmp_path, journal):
    path = tmp_path / "f"
    path.write_text("old\n")
    File(path, "new\n", 0o644).apply(journal)
    entry = only(journal, "file")
    assert (entry.change, entry.backup) == ("update", None)
    assert File.undo(entry) == f"{path}: the file it replaced was not kept; left as TLJH wrote it"
    assert path.read_text() == "new\n"


def test_a_kept_files_creation_and_mode_change_are_undone(tmp_path, journal):
    path = tmp_path / "secret"
    KeptFile(path, lambda: b"s3cret", 0o600).apply(journal)
    created = only(journal, "kept-file")
    path.chmod(0o644)
    KeptFile(path, lambda: b"other", 0o600).apply(journal)
    assert path.read_bytes() == b"s3cret" and mode(path) == 0o600  # content kept, mode put right
    chmod = [e for e in journal.entries() if e.kind == "kept-file"][1]
    assert (chmod.change, chmod.data["mode"]) == ("chmod 600", 0o644)
    KeptFile.undo(chmod)
    assert mode(path) == 0o644
    KeptFile.undo(created)
    assert not path.exists()
    KeptFile.undo(created)  # gone already: fine


# ------------------------------------------------------------------ moved aside


def test_a_file_moved_aside_goes_to_private_backups_under_a_free_name_and_comes_back(tmp_path, journal):
    backups = tmp_path / "backups"
    path = tmp_path / "rules" / "dynamic.toml"
    path.parent.mkdir()
    action = MovedAside(path, backups)
    assert action.title == f"{path} moved aside"
    assert action.plan() == []
    dests = []
    for n in range(3):
        path.write_text(f"version {n}\n")
        assert action.plan() == [Change("move aside", str(path))]
        assert action.apply(journal) == [Change("move aside", str(path))]
        assert not path.exists()
        dests.append(Path([e for e in journal.entries() if e.kind == "moved-aside"][-1].backup))
    assert [d.name for d in dests] == ["upstream-dynamic.toml", "upstream-dynamic.toml.2", "upstream-dynamic.toml.3"]
    assert all(d.parent == backups for d in dests) and mode(backups) == 0o700
    assert [d.read_text() for d in dests] == ["version 0\n", "version 1\n", "version 2\n"]
    last = [e for e in journal.entries() if e.kind == "moved-aside"][-1]
    assert MovedAside.undo(last) is None
    assert path.read_text() == "version 2\n" and not dests[2].exists()
    MovedAside.undo(last)  # its copy is gone now: nothing to put back
    assert path.read_text() == "version 2\n"


# ------------------------------------------------------------------ symlinks


def test_a_symlink_update_journals_the_old_link_and_undo_restores_it(tmp_path, journal):
    old, new = tmp_path / "v1", tmp_path / "v2"
    link = tmp_path / "current"
    link.symlink_to(old)
    Symlink(link, new, ours=lambda p: p.parent == tmp_path).apply(journal)
    entry = only(journal, "symlink")
    assert (entry.change, entry.backup, entry.data) == ("update", str(old), {"link": str(new)})
    assert os.readlink(link) == str(new)
    Symlink.undo(entry)
    assert os.readlink(link) == str(old)


def test_undoing_a_created_symlink_removes_it(tmp_path, journal):
    link = tmp_path / "current"
    Symlink(link, tmp_path / "v1", ours=lambda p: True).apply(journal)
    entry = only(journal, "symlink")
    assert (entry.change, entry.backup) == ("create", None)
    Symlink.undo(entry)
    assert not link.is_symlink()


as_root = pytest.mark.skipif(os.geteuid() != 0, reason="ownership is only managed as root (CI runs as root)")


def test_undoing_a_mode_change_never_touches_the_owner_it_recorded(tmp_path):
    path = tmp_path / "d"
    path.mkdir(mode=0o700)
    path.chmod(0o700)
    before = path.stat()
    entry = Entry(kind="directory", target=str(path), change="chmod 700", data={"mode": 0o755, "uid": 1234, "gid": 1234})
    Directory.undo(entry)
    after = path.stat()
    assert mode(path) == 0o755 and (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)


@as_root
def test_undoing_an_owner_change_gives_the_file_back_to_its_owner_and_group(tmp_path, journal):
    path = tmp_path / "f"
    path.write_text("x")
    path.chmod(0o644)
    os.chown(path, 1234, 5678)
    File(path, "x", 0o644).apply(journal)
    entry = only(journal, "file")
    assert entry.change == "chown 0" and (path.stat().st_uid, path.stat().st_gid) == (0, 0)
    File.undo(entry)
    assert (path.stat().st_uid, path.stat().st_gid, mode(path)) == (1234, 5678, 0o644)
    File.undo(Entry(kind="file", target=str(path), change="chown 0", data={"uid": 4321}))  # no group recorded
    assert (path.stat().st_uid, path.stat().st_gid) == (4321, 5678)


def test_a_replaced_path_without_a_kept_copy_is_noted_and_undoing_what_is_gone_is_fine(tmp_path):
    path = tmp_path / "f"
    assert File.undo(Entry(kind="file", target=str(path), change="replace")) == (
        f"{path}: the file it replaced was not kept; left as TLJH wrote it")
    assert File.undo(Entry(kind="file", target=str(path), change="create")) is None
    assert Symlink.undo(Entry(kind="symlink", target=str(path), change="create")) is None
    assert not path.exists() and not path.is_symlink()
