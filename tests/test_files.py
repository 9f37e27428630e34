import os
import stat
from pathlib import Path

import pytest

from tljh.actions import Change
from tljh.actions.files import Directory, File, ForeignFileError, Symlink, write_atomic
from tljh.journal import Journal


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def journal(tmp_path):
    return Journal(tmp_path / "journal.jsonl")


def revert_all(action, journal):
    for entry in journal.reversed():
        action.revert(entry)


# write_atomic

def test_write_atomic_writes_data_and_mode(tmp_path):
    target = tmp_path / "f"
    write_atomic(target, b"data", 0o640)
    assert target.read_bytes() == b"data"
    assert mode(target) == 0o640


def test_write_atomic_leaves_no_temp_file_when_it_fails(tmp_path):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "inside").write_text("x")  # a non-empty directory cannot be replaced by a file
    with pytest.raises(OSError):
        write_atomic(target, b"data", 0o644)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]


# Directory

def test_directory_created_then_nothing_planned(tmp_path, journal):
    d = Directory(tmp_path / "a" / "b", 0o700)
    assert d.plan() == [Change("create", str(d.path))]
    assert d.apply(journal) == [Change("create", str(d.path))]
    assert d.path.is_dir() and mode(d.path) == 0o700
    assert d.plan() == []
    assert d.apply(journal) == []


def test_directory_mode_change_is_planned_and_applied(tmp_path, journal):
    d = Directory(tmp_path / "d", 0o700)
    d.path.mkdir(mode=0o755)
    os.chmod(d.path, 0o755)
    assert d.plan() == [Change("chmod 700", str(d.path))]
    d.apply(journal)
    assert mode(d.path) == 0o700


def test_directory_revert_removes_what_it_created(tmp_path, journal):
    d = Directory(tmp_path / "d")
    d.apply(journal)
    (d.path / "content").write_text("x")
    revert_all(d, journal)
    assert not d.path.exists()


def test_directory_revert_keeps_a_directory_it_only_chmodded(tmp_path, journal):
    d = Directory(tmp_path / "d", 0o700)
    d.path.mkdir()
    os.chmod(d.path, 0o755)
    d.apply(journal)
    revert_all(d, journal)
    assert d.path.is_dir()


# File

def test_file_created_with_mode_then_nothing_planned(tmp_path, journal):
    f = File(tmp_path / "sub" / "f.txt", "hello\n", 0o600)
    assert f.plan() == [Change("create", str(f.path))]
    f.apply(journal)
    assert f.path.read_text() == "hello\n"
    assert mode(f.path) == 0o600
    assert f.plan() == []


def test_file_content_may_be_computed(tmp_path, journal):
    value = {"text": "one"}
    f = File(tmp_path / "f", lambda: value["text"])
    f.apply(journal)
    value["text"] = "two"
    assert f.plan() == [Change("update", str(f.path))]
    f.apply(journal)
    assert f.path.read_text() == "two"


def test_file_mode_change_is_planned(tmp_path, journal):
    f = File(tmp_path / "f", b"x", 0o644)
    f.apply(journal)
    os.chmod(f.path, 0o666)
    assert f.plan() == [Change("chmod 644", str(f.path))]
    f.apply(journal)
    assert mode(f.path) == 0o644


def test_file_update_backs_up_and_revert_restores(tmp_path, journal):
    backups = tmp_path / "backups"
    path = tmp_path / "f"
    path.write_text("original by admin\n")
    f = File(path, "ours\n", 0o644, backups)
    assert f.plan() == [Change("update", str(path))]
    f.apply(journal)
    assert path.read_text() == "ours\n"
    [entry] = journal.entries()
    assert entry.backup is not None and Path(entry.backup).is_relative_to(backups)
    assert Path(entry.backup).read_text() == "original by admin\n"
    revert_all(f, journal)
    assert path.read_text() == "original by admin\n"


def test_file_revert_of_create_removes_it(tmp_path, journal):
    f = File(tmp_path / "f", "x")
    f.apply(journal)
    revert_all(f, journal)
    assert not f.path.exists()


def test_file_replaces_a_symlink_and_keeps_it_as_backup(tmp_path, journal):
    other = tmp_path / "other"
    other.write_text("other file\n")
    path = tmp_path / "f"
    path.symlink_to(other)
    f = File(path, "ours\n", 0o644, tmp_path / "backups")
    assert f.plan() == [Change("replace", str(path))]
    f.apply(journal)
    assert not path.is_symlink() and path.read_text() == "ours\n"
    assert other.read_text() == "other file\n"
    revert_all(f, journal)
    assert path.is_symlink() and os.readlink(path) == str(other)


def test_file_failing_validation_leaves_existing_file_alone(tmp_path, journal):
    path = tmp_path / "sudoers"
    path.write_text("good\n")

    def validate(candidate: Path) -> None:
        assert candidate != path
        if b"bad" in candidate.read_bytes():
            raise ValueError("invalid")

    with pytest.raises(ValueError):
        File(path, "bad\n", 0o440, validate=validate).apply(journal)
    assert path.read_text() == "good\n"
    File(path, "fine\n", 0o440, validate=validate).apply(journal)
    assert path.read_text() == "fine\n" and mode(path) == 0o440


# Symlink

def ours_in(directory: Path):
    return lambda target: target.parent == directory


def test_symlink_created_then_nothing_planned(tmp_path, journal):
    bin_dir = tmp_path / "hub" / "bin"
    link = Symlink(tmp_path / "tljh-config", bin_dir / "tljh-config", ours_in(bin_dir))
    assert link.plan() == [Change("create", str(link.path))]
    link.apply(journal)
    assert os.readlink(link.path) == str(bin_dir / "tljh-config")
    assert link.plan() == []
    revert_all(link, journal)
    assert not link.path.is_symlink()


def test_symlink_refuses_a_foreign_regular_file(tmp_path):
    path = tmp_path / "tljh-config"
    path.write_text("#!/bin/sh\n")
    with pytest.raises(ForeignFileError):
        Symlink(path, tmp_path / "bin" / "tljh-config", ours_in(tmp_path / "bin")).plan()
    assert path.read_text() == "#!/bin/sh\n"


def test_symlink_refuses_a_link_pointing_elsewhere(tmp_path):
    path = tmp_path / "tljh-config"
    path.symlink_to("/usr/local/bin/something-else")
    with pytest.raises(ForeignFileError):
        Symlink(path, tmp_path / "bin" / "tljh-config", ours_in(tmp_path / "bin")).plan()
    assert os.readlink(path) == "/usr/local/bin/something-else"


def test_symlink_updates_our_own_old_link_and_revert_restores_it(tmp_path, journal):
    bin_dir = tmp_path / "bin"
    path = tmp_path / "tljh-config"
    path.symlink_to(bin_dir / "old-tljh-config")
    link = Symlink(path, bin_dir / "tljh-config", ours_in(bin_dir))
    assert link.plan() == [Change("update", str(path))]
    link.apply(journal)
    assert os.readlink(path) == str(bin_dir / "tljh-config")
    revert_all(link, journal)
    assert os.readlink(path) == str(bin_dir / "old-tljh-config")


def test_a_full_disk_leaves_the_file_as_it_was_and_says_where_and_how_much(tmp_path, monkeypatch):
    import errno

    from tljh.actions import files

    target = tmp_path / "config.yaml"
    target.write_bytes(b"users: {}\n")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(files.DiskFull) as raised:
        files.write_atomic(target, b"x" * 1000, 0o600)
    assert f"no space left on the file system of {tmp_path} to write config.yaml (1000 bytes needed" in str(raised.value)
    assert f"{target} was left as it was" in str(raised.value)
    assert target.read_bytes() == b"users: {}\n"
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]  # no temporary file left


def test_tljh_config_says_disk_full_in_one_line(tmp_path, monkeypatch, capsys):
    import errno

    from tljh.actions import files
    from tljh.cli import tljh_config

    config = tmp_path / "config.yaml"
    config.write_text("limits:\n  cpu: 1\n")
    monkeypatch.setattr(tljh_config.os, "geteuid", lambda: 0)
    monkeypatch.setattr(files.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    assert tljh_config.main(["--config-path", str(config), "set", "limits.cpu", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tljh-config: no space left on the file system of") and "Traceback" not in err
    assert config.read_text() == "limits:\n  cpu: 1\n"
