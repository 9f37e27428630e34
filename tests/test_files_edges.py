"""tljh.actions.files at its edges: default modes, ownership (as root), kept backups, foreign paths."""

from __future__ import annotations

import os

import pytest

from tljh.actions import Change
from tljh.actions.files import Directory, File, ForeignFileError, KeptFile, Symlink
from tljh.journal import Journal

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="ownership is only managed as root (CI runs as root)")


@pytest.fixture
def journal(tmp_path):
    return Journal(tmp_path / "journal.jsonl")


def mode(path) -> int:
    return path.stat().st_mode & 0o7777


def test_default_modes(tmp_path, journal):
    Directory(tmp_path / "d").apply(journal)
    File(tmp_path / "f", "x").apply(journal)
    KeptFile(tmp_path / "k", lambda: b"secret").apply(journal)
    assert (mode(tmp_path / "d"), mode(tmp_path / "f"), mode(tmp_path / "k")) == (0o755, 0o644, 0o600)


@as_root
def test_a_file_owned_by_someone_else_is_given_back_to_root(tmp_path, journal):
    path = tmp_path / "f"
    path.write_text("x")
    path.chmod(0o644)
    os.chown(path, 1234, 1234)
    action = File(path, "x", 0o644)
    assert action.plan() == [Change("chown 0", str(path))]
    action.apply(journal)
    assert (path.stat().st_uid, path.stat().st_gid) == (0, 0)
    assert action.plan() == []


@as_root
def test_a_directory_gets_its_owner_and_group(tmp_path, journal):
    path = tmp_path / "d"
    path.mkdir(mode=0o755)
    os.chown(path, 1234, 1234)
    action = Directory(path, 0o755)
    assert action.plan() == [Change("chown 0", str(path))]
    action.apply(journal)
    assert (path.stat().st_uid, path.stat().st_gid) == (0, 0)
    owned = Directory(tmp_path / "owned", 0o750, uid=1234, gid=5678)
    owned.apply(journal)
    st = (tmp_path / "owned").stat()
    assert (st.st_uid, st.st_gid, mode(tmp_path / "owned")) == (1234, 5678, 0o750)
    assert owned.plan() == []


def test_replaced_files_are_kept_in_a_private_backups_directory(tmp_path, journal):
    path = tmp_path / "f"
    backups = tmp_path / "state" / "backups"
    path.write_text("first")
    File(path, "second", 0o644, backups).apply(journal)
    File(path, "third", 0o644, backups).apply(journal)  # the directory exists now: still fine
    assert mode(backups) == 0o700
    kept = sorted(p.read_text() for p in backups.glob("f.*/f"))
    assert kept == ["first", "second"]
    assert [e.backup is not None for e in journal.entries()] == [True, True]


def test_paths_that_are_not_ours_are_refused_with_the_reason(tmp_path):
    path = tmp_path / "link"
    path.write_text("a regular file")
    with pytest.raises(ForeignFileError) as e:
        Symlink(path, tmp_path / "target", ours=lambda t: True).plan()
    assert str(e.value) == (f"{path} is not a symlink we made; refusing to replace it. "
                            "Move it away and run the installer again.")
    path.unlink()
    path.symlink_to("/elsewhere")
    with pytest.raises(ForeignFileError) as e:
        Symlink(path, tmp_path / "target", ours=lambda t: False).plan()
    assert str(e.value) == (f"{path} points to /elsewhere, not to TLJH; refusing to replace it. "
                            "Move it away and run the installer again.")
