import ast
import os
import sys
from pathlib import Path

import pytest

import tljh

REPO_ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP_FILE = REPO_ROOT / "bootstrap" / "bootstrap.py"


def test_bootstrap_module_version_matches_package(bootstrap):
    assert tljh.__version__ == bootstrap.VERSION


def test_bootstrap_parses_as_python_3_9():
    ast.parse(BOOTSTRAP_FILE.read_text(), filename=str(BOOTSTRAP_FILE), feature_version=(3, 9))


# check_distribution

@pytest.mark.parametrize(
    "distro, version",
    [("debian", "11"), ("debian", "12"), ("debian", "13"), ("ubuntu", "22.04"), ("ubuntu", "22.10"), ("ubuntu", "24.04")],
)
def test_supported_distributions_pass(bootstrap, distro, version):
    bootstrap.check_distribution({"ID": distro, "VERSION_ID": version})


@pytest.mark.parametrize(
    "release, message",
    [
        ({"ID": "debian", "VERSION_ID": "10"}, "debian 10 is too old; debian 11 or newer"),
        ({"ID": "ubuntu", "VERSION_ID": "20.04"}, "ubuntu 20.04 is too old; ubuntu 22.04 or newer"),
        ({"ID": "ubuntu", "VERSION_ID": ""}, "(unknown version)"),
        ({"ID": "fedora", "VERSION_ID": "40", "PRETTY_NAME": "Fedora Linux 40"}, "this is Fedora Linux 40"),
        ({}, "an unknown system"),
    ],
)
def test_unsupported_distributions_are_refused(bootstrap, release, message):
    with pytest.raises(bootstrap.BootstrapError) as info:
        bootstrap.check_distribution(release)
    assert message in str(info.value)


# os_release

def test_os_release_parsing(bootstrap, tmp_path):
    path = tmp_path / "os-release"
    path.write_text(
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
        "ID=debian\n"
        'VERSION_ID="12"\n'
        "# a comment\n"
        "\n"
        "VARIANT=\n"
        "NAME='Single quoted'\n"
    )
    values = bootstrap.os_release(str(path))
    assert values["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"
    assert values["ID"] == "debian"
    assert values["VERSION_ID"] == "12"
    assert values["VARIANT"] == ""
    assert values["NAME"] == "Single quoted"
    bootstrap.check_distribution(values)


# tljh_spec

def test_spec_from_environment_wins(bootstrap, monkeypatch):
    monkeypatch.setenv("TLJH_BOOTSTRAP_PIP_SPEC", "/src/tljh")
    monkeypatch.setattr(sys, "argv", [str(BOOTSTRAP_FILE)])
    assert bootstrap.tljh_spec() == "/src/tljh"


def test_spec_from_source_checkout(bootstrap, monkeypatch):
    monkeypatch.delenv("TLJH_BOOTSTRAP_PIP_SPEC", raising=False)
    monkeypatch.setattr(sys, "argv", [str(BOOTSTRAP_FILE)])
    assert bootstrap.tljh_spec() == str(REPO_ROOT)


@pytest.mark.parametrize("argv0", ["-", ""])
def test_spec_when_piped_is_the_release(bootstrap, monkeypatch, argv0):
    monkeypatch.setenv("TLJH_BOOTSTRAP_PIP_SPEC", "")
    monkeypatch.setattr(sys, "argv", [argv0])
    assert bootstrap.tljh_spec() == bootstrap.RELEASED_SPEC


def test_spec_for_a_lone_copy_is_the_release(bootstrap, monkeypatch, tmp_path):
    monkeypatch.delenv("TLJH_BOOTSTRAP_PIP_SPEC", raising=False)
    (tmp_path / "bootstrap").mkdir()
    copy = tmp_path / "bootstrap" / "bootstrap.py"
    copy.write_text(BOOTSTRAP_FILE.read_text())
    monkeypatch.setattr(sys, "argv", [str(copy)])
    assert bootstrap.tljh_spec() == bootstrap.RELEASED_SPEC


# own_flags

def test_own_flags_pass_installer_arguments(bootstrap):
    argv = ["--admin", "alice:pw", "--show-progress-page", "--user-env", "venv"]
    assert bootstrap.own_flags(argv) == ["--admin", "alice:pw", "--user-env", "venv"]


def test_version_flag_prints_and_exits(bootstrap, capsys):
    with pytest.raises(SystemExit) as info:
        bootstrap.own_flags(["--admin", "alice", "--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"tljh bootstrap {tljh.__version__}"


def hold_lock(path, seconds):
    """Another process holding an fcntl lock on path (as apt does) for `seconds`; returns once it holds it."""
    import subprocess

    path.touch()
    code = "import fcntl,sys,time; f=open(sys.argv[1],'w'); fcntl.lockf(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(float(sys.argv[2]))"
    holder = subprocess.Popen([sys.executable, "-c", code, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_waits_with_a_message_while_another_process_holds_the_dpkg_lock(bootstrap, tmp_path, capsys):
    """A held lock makes the bootstrap wait, say so, then go on."""
    import time

    holder = hold_lock(tmp_path / "lock-frontend", 1.5)
    start = time.monotonic()
    bootstrap.wait_for_dpkg_lock(str(tmp_path / "lock-frontend"), timeout=30)
    assert time.monotonic() - start >= 0.5
    assert "waiting for another apt/dpkg" in capsys.readouterr().out
    holder.wait()


def test_gives_up_on_a_lock_held_too_long(bootstrap, tmp_path):
    holder = hold_lock(tmp_path / "lock-frontend", 5)
    try:
        with pytest.raises(bootstrap.BootstrapError, match="held .*lock-frontend"):
            bootstrap.wait_for_dpkg_lock(str(tmp_path / "lock-frontend"), timeout=0.5)
    finally:
        holder.kill()
        holder.wait()
# run: a live indication during long commands, plain lines

def test_run_says_still_running_during_a_long_command(bootstrap, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(bootstrap, "STILL_RUNNING_EVERY", 0.05)
    log = tmp_path / "log"
    bootstrap.run([sys.executable, "-c", "import time; print('working'); time.sleep(0.3)"], log)
    out = capsys.readouterr().out
    assert "[bootstrap]   still running (0s)" in out
    assert "\r" not in out
    assert "working" in log.read_text()


def test_run_failure_shows_the_output_tail(bootstrap, tmp_path):
    with pytest.raises(bootstrap.BootstrapError) as info:
        bootstrap.run([sys.executable, "-c", "print('it broke'); raise SystemExit(3)"], tmp_path / "log")
    assert "failed with exit code 3" in str(info.value) and "it broke" in str(info.value)


def test_bootstrap_install_lock_stops_a_second_run_naming_the_first(bootstrap, tmp_path, monkeypatch):
    monkeypatch.setattr(bootstrap, "_lock_fd", None)
    bootstrap.take_install_lock(tmp_path)
    first = bootstrap._lock_fd
    try:
        with pytest.raises(bootstrap.BootstrapError, match=rf"another install is running on this machine \(pid {os.getpid()}, the bootstrap"):
            bootstrap.take_install_lock(tmp_path)
        from tljh.install.lock import InstallRunning, take_install_lock

        with pytest.raises(InstallRunning):  # the installer's lock is the same lock
            take_install_lock(tmp_path, "installer", {})
        assert take_install_lock(tmp_path, "installer", {"TLJH_INSTALL_LOCK_FD": str(first)}) == first
    finally:
        os.close(first)
