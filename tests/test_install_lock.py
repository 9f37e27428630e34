"""The install lock: a second run stops naming the first; the bootstrap's descriptor is taken over."""

import os
import subprocess
import sys

import pytest

from tljh.install.lock import LOCK_FD_ENV, InstallRunning, lock_path, take_install_lock

HOLD = """
import sys, time
sys.path.insert(0, {repo!r})
from pathlib import Path
from tljh.install.lock import take_install_lock
take_install_lock(Path({prefix!r}), "bootstrap", {{}})
print("held", flush=True)
time.sleep(30)
"""


@pytest.fixture
def other_run(tmp_path):
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = HOLD.format(repo=repo, prefix=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_install_stops_naming_the_first(tmp_path, other_run):
    with pytest.raises(InstallRunning, match=rf"another install is running on this machine \(pid {other_run.pid}, the bootstrap, started"):
        take_install_lock(tmp_path, "installer", {})


def test_the_lock_is_free_once_the_holder_is_killed(tmp_path, other_run):
    other_run.kill()
    other_run.wait()
    fd = take_install_lock(tmp_path, "installer", {})
    os.close(fd)


def test_the_installer_takes_over_the_bootstraps_descriptor(tmp_path):
    fd = take_install_lock(tmp_path, "bootstrap", {})
    try:
        assert take_install_lock(tmp_path, "installer", {LOCK_FD_ENV: str(fd)}) == fd
        assert b"the installer" in lock_path(tmp_path).read_bytes()
        with pytest.raises(InstallRunning):  # a fresh open is another run
            take_install_lock(tmp_path, "installer", {})
    finally:
        os.close(fd)


def test_a_descriptor_of_another_file_is_not_trusted(tmp_path):
    other = os.open(tmp_path / "unrelated", os.O_RDWR | os.O_CREAT)
    lock_path(tmp_path).touch()
    try:
        fd = take_install_lock(tmp_path, "installer", {LOCK_FD_ENV: str(other)})
        assert fd != other
        os.close(fd)
    finally:
        os.close(other)
