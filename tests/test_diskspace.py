"""A full disk: the messages, the journal's append, the pre-flight estimate, the installer's one line."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import pytest

from tljh import diskspace
from tljh.diskspace import MiB, DiskFull, installing_into, says_disk_full, size_text
from tljh.actions.python import marker_environment, read_pins
from tljh.install import space
from tljh.journal import Entry, Journal
from tljh.paths import HUB_LOCK, TRAEFIK_REQUIREMENTS, USER_LOCK, Paths

PIP_FULL = ("Installing collected packages: jupyterlab\n"
            "ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device\n")


def no_space(*args: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


# ---------------------------------------------------------------- the messages


def test_a_file_that_could_not_be_written_is_named_with_the_space_needed_and_free(tmp_path, monkeypatch):
    monkeypatch.setattr(diskspace, "free_bytes", lambda path: 512)
    (tmp_path / "install.json").write_text("{}")
    assert str(DiskFull(tmp_path / "install.json", 613)) == (
        f"no space left on the file system of {tmp_path} to write install.json (613 bytes needed, 512 bytes free); "
        f"{tmp_path}/install.json was left as it was. Free some space and run the command again")
    assert f"{tmp_path}/new.toml was not written." in str(DiskFull(tmp_path / "new.toml", 10))


def test_an_environment_pip_could_not_finish_is_named_with_what_an_environment_takes(tmp_path, monkeypatch):
    monkeypatch.setattr(diskspace, "free_bytes", lambda path: 12 * MiB)
    user = tmp_path / "user"
    assert str(installing_into(user)) == (
        f"no space left on the file system of {user} while installing packages into it (500 MiB needed, 12 MiB free); "
        f"packages left unfinished in {user} count as missing and are installed again by the next run. "
        "Free some space and run the installer again")
    (user / "conda-meta").mkdir(parents=True)
    assert "(1000 MiB needed" in str(installing_into(user))
    assert "(480 MiB needed" in str(installing_into(tmp_path / "hub"))
    (user / "lib" / "python3.12" / "site-packages" / "jupyterhub-5.4.0.dist-info").mkdir(parents=True)
    assert "(200 MiB needed" in str(installing_into(user))  # there already: an upgrade


def test_pip_conda_and_venv_output_saying_the_disk_is_full_is_recognised():
    assert says_disk_full(PIP_FULL)
    assert says_disk_full("tar: ./pkgs/python-3.12: Cannot write: Disk quota exceeded")
    assert not says_disk_full("ERROR: No matching distribution found for tabulate==0.9.0")


def test_sizes_read_as_bytes_for_files_and_mib_for_environments():
    assert [size_text(n) for n in (0, 613, 10 * MiB - 1, 10 * MiB, 1000 * MiB)] == [
        "0 bytes", "613 bytes", f"{10 * MiB - 1} bytes", "10 MiB", "1000 MiB"]


def test_free_space_is_that_of_the_nearest_existing_directory(tmp_path):
    assert diskspace.free_bytes(tmp_path / "not" / "yet") == diskspace.free_bytes(tmp_path) > 0


def test_tree_size_counts_the_blocks_of_every_file(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "big").write_bytes(b"x" * 100_000)
    (tmp_path / "small").write_bytes(b"x")
    (tmp_path / "link").symlink_to("/nonexistent")
    assert 100_001 <= diskspace.tree_size(tmp_path) < 200_000


def test_a_write_nothing_explained_still_gives_one_line_naming_the_file(tmp_path):
    error = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.marker"))
    assert diskspace.disk_full_message(error, tmp_path, "run the installer again").startswith(
        f"no space left on the file system of {tmp_path}/x.marker (")
    assert diskspace.disk_full_message(OSError(errno.ENOSPC, "No space left on device"), tmp_path).endswith(
        "free): No space left on device. Free some space and run the command again")


# ---------------------------------------------------------------- commands that install into an environment


def test_pip_running_out_of_space_is_reported_as_the_environment_it_filled(tmp_path, monkeypatch):
    from tljh.actions import python
    from tljh.run import CommandError

    def pip_fails(output: str):
        def run(argv, **kwargs):
            raise CommandError(argv, 1, output)
        return run

    monkeypatch.setattr(python, "run", pip_fails(PIP_FULL))
    with pytest.raises(DiskFull, match=f"file system of {tmp_path / 'user'} while installing"):
        python.run_installing(["pip", "install", "x"], tmp_path / "user")
    monkeypatch.setattr(python, "run", pip_fails("ERROR: No matching distribution found for x"))
    with pytest.raises(CommandError):
        python.run_installing(["pip", "install", "x"], tmp_path / "user")


def test_pip_install_out_of_space_names_the_environment_not_a_download(tmp_path, monkeypatch):
    import subprocess

    from tljh.actions import python
    from tljh.run import CommandError

    def run(argv, **kwargs):
        if "config" in argv:
            return subprocess.CompletedProcess(argv, 0, "", None)
        raise CommandError(argv, 1, "Collecting jupyterlab==4.6.6\n  Downloading jupyterlab-4.6.6.whl (12.3 MB)\n"
                           + PIP_FULL)

    monkeypatch.setattr(python, "run", run)
    with pytest.raises(DiskFull, match=f"file system of {tmp_path / 'hub'} while installing"):
        python.pip_install(tmp_path / "hub", ["-r", "hub.lock"])


def test_a_hub_env_copy_that_does_not_fit_is_removed_and_says_how_much_it_needs(tmp_path, monkeypatch):
    from tljh.install import hubenv
    from tljh.run import CommandError

    env, copy = tmp_path / "hub", tmp_path / "hub.previous.partial"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python3").write_bytes(b"x" * 50_000)

    def cp_fails(argv, **kwargs):
        copy.mkdir()
        raise CommandError(argv, 1, f"cp: error writing '{copy}/bin/python3': No space left on device")

    monkeypatch.setattr(hubenv, "run", cp_fails)
    with pytest.raises(DiskFull) as raised:
        hubenv.copy_or_say_disk_full(env, copy)
    assert str(raised.value).startswith(f"no space left on the file system of {tmp_path} to keep a copy of the hub "
                                        f"environment {env} while this run changes it ({diskspace.tree_size(env)} bytes")
    assert f"{env} was not changed" in str(raised.value)
    assert not copy.exists()


# ---------------------------------------------------------------- the journal


def test_a_journal_append_that_finds_the_disk_full_leaves_no_part_of_its_line(tmp_path, monkeypatch):
    from tljh import journal as journal_module

    journal = Journal(tmp_path / "journal.jsonl")
    journal.record(Entry("file", "/a", "create"))
    before = journal.path.read_bytes()
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:
        monkeypatch.setattr(journal_module.os, "write", lambda fd, data: no_space())
        return real_write(fd, data[: len(data) // 2])

    monkeypatch.setattr(journal_module.os, "write", half_then_full)
    with pytest.raises(DiskFull) as raised:
        journal.record(Entry("file", "/b", "create"))
    assert str(raised.value).startswith(f"no space left on the file system of {tmp_path} to write journal.jsonl (")
    assert "ends with its last whole entry and the change it was to record was not made" in str(raised.value)
    assert journal.path.read_bytes() == before
    monkeypatch.setattr(journal_module.os, "write", real_write)
    journal.record(Entry("file", "/c", "create"))
    assert [e.target for e in journal.entries()] == ["/a", "/c"]


def test_a_journal_line_that_cannot_be_flushed_to_disk_is_taken_back(tmp_path, monkeypatch):
    from tljh import journal as journal_module

    journal = Journal(tmp_path / "journal.jsonl")
    journal.record(Entry("file", "/a", "create"))
    monkeypatch.setattr(journal_module.os, "fsync", no_space)
    with pytest.raises(DiskFull):
        journal.record(Entry("file", "/b", "create"))
    assert [e.target for e in journal.entries()] == ["/a"]
    assert journal.path.read_text().count("\n") == 1


# ---------------------------------------------------------------- the pre-flight check


def fake_env(env: Path, lock: Path) -> None:
    """A venv holding exactly what lock pins, as installed_versions reads it."""
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").touch()
    (env / "pyvenv.cfg").write_text("version = 3.11.2\n")
    site = env / "lib" / "python3.11" / "site-packages"
    for name, version in read_pins(lock.read_text(), marker_environment(env)).items():
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "RECORD").touch()


@pytest.fixture
def installed(paths: Paths) -> Paths:
    """Both environments present and current (as after an install)."""
    fake_env(paths.user_env, USER_LOCK)
    fake_env(paths.hub_env, HUB_LOCK)
    site = paths.hub_env / "lib" / "python3.11" / "site-packages"
    for name, version in read_pins(TRAEFIK_REQUIREMENTS.read_text()).items():
        (site / f"{name.replace('-', '_')}-{version}.dist-info").mkdir()
        (site / f"{name.replace('-', '_')}-{version}.dist-info" / "RECORD").touch()
    (paths.hub_env / "bin" / "traefik").touch()
    return paths


def test_a_fresh_install_needs_room_for_its_user_environment(paths, installed):
    import shutil

    shutil.rmtree(paths.user_env)
    assert space.space_needed(paths, "venv", {}, ()) == [
        space.Need(f"a new venv user environment in {paths.user_env}", diskspace.USER_VENV_BYTES)]
    assert space.space_needed(paths, "conda", {}, ())[0].size == diskspace.USER_CONDA_BYTES


def test_a_no_op_rerun_needs_nothing_and_passes_on_a_full_disk(paths, installed):
    needs = space.space_needed(paths, "venv", {}, ())
    assert needs == []
    space.ensure_space_for(needs, paths.prefix, free=0)


def test_a_hub_env_upgrade_needs_room_for_its_copy_and_new_packages(paths, installed):
    jupyterhub = next((paths.hub_env / "lib" / "python3.11" / "site-packages").glob("jupyterhub-*.dist-info"))
    (jupyterhub / "RECORD").unlink()  # as an interrupted or outdated install: pip installs it again
    (paths.hub_env / "bin" / "python").write_bytes(b"x" * 100_000)
    needs = space.space_needed(paths, "venv", {}, ())
    assert needs == [space.Need(f"a copy of {paths.hub_env} kept while it changes", diskspace.tree_size(paths.hub_env)),
                     space.Need(f"new packages in {paths.hub_env}", diskspace.UPGRADE_BYTES)]


def test_an_outdated_user_environment_needs_room_for_an_upgrade(paths, installed):
    (next((paths.user_env / "lib" / "python3.11" / "site-packages").glob("jupyterlab-*.dist-info")) / "RECORD").unlink()
    assert space.user_env_needs(paths, "venv") == [
        space.Need(f"upgrading the packages of {paths.user_env}", diskspace.UPGRADE_BYTES)]


def test_a_run_that_does_not_fit_is_refused_with_the_numbers(tmp_path):
    needs = [space.Need("a new venv user environment in /opt/tljh/user", 500 * MiB)]
    space.ensure_space_for(needs, tmp_path, free=500 * MiB)
    with pytest.raises(space.NotEnoughSpace) as raised:
        space.ensure_space_for(needs, tmp_path, free=120 * MiB)
    assert str(raised.value) == (
        f"not enough free space on the file system of {tmp_path} for this run: about 500 MiB needed "
        "(a new venv user environment in /opt/tljh/user: 500 MiB), 120 MiB free; nothing was changed. "
        f"Free some space (or give {tmp_path} a larger file system) and run the installer again")


# ---------------------------------------------------------------- the installer


def test_a_no_op_rerun_does_not_rewrite_install_json(paths, monkeypatch):
    from tljh.actions import files
    from tljh.install.installer import _save_state

    paths.state_dir.mkdir(parents=True)
    _save_state(paths, {"user_env": "venv"})
    monkeypatch.setattr(files, "write_atomic", no_space)
    _save_state(paths, {"user_env": "venv"})  # unchanged: not written, so a full disk does not matter
    with pytest.raises(OSError):
        _save_state(paths, {"user_env": "conda"})


@pytest.fixture
def installer_main(tmp_path, monkeypatch):
    """installer.main with the prefix in tmp_path; its log handler removed and the commands' parent-death
    signal it turns on turned off again afterwards."""
    from tljh import run
    from tljh.install import installer

    monkeypatch.setenv("TLJH_INSTALL_PREFIX", str(tmp_path / "prefix"))
    monkeypatch.setattr(run, "_children_die_with_us", False)  # (restored by monkeypatch after main sets it)
    handlers = list(installer.log.handlers)
    yield installer
    for handler in set(installer.log.handlers) - set(handlers):
        installer.log.removeHandler(handler)


@pytest.mark.parametrize("error", [
    OSError(errno.ENOSPC, "No space left on device", "/opt/tljh/state/user-env.unfinished"),
    space.NotEnoughSpace("not enough free space on the file system of /opt/tljh for this run: ..."),
])
def test_the_installer_says_a_full_disk_in_one_line(installer_main, monkeypatch, capsys, error):
    def install(paths, options):
        raise error

    monkeypatch.setattr(installer_main, "install", install)
    assert installer_main.main(["--admin", "alice"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no space left on the file system of /opt/tljh/state/user-env.unfinished ("
                          if isinstance(error, OSError) else "error: not enough free space on the file system of ")
    assert "Traceback" not in err and len(err.splitlines()) == 2  # the message, then where the log is


def test_a_log_line_that_finds_the_disk_full_is_dropped_quietly(installer_main, capsys):
    class FullStream:
        def write(self, text: str) -> None:
            no_space()

        def flush(self) -> None:
            pass

    handler = installer_main.LogFileHandler(FullStream())  # type: ignore[arg-type]
    handler.handle(logging.LogRecord("tljh", logging.INFO, __file__, 1, "a line", None, None))
    assert capsys.readouterr().err == ""
