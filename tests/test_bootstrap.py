import ast
import os
import sys
import subprocess
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


# tljh_source

def test_source_from_environment_wins_and_takes_a_checkouts_lock(bootstrap, monkeypatch):
    monkeypatch.setenv("TLJH_BOOTSTRAP_PIP_SPEC", str(REPO_ROOT))
    source = bootstrap.tljh_source(str(BOOTSTRAP_FILE))
    assert source.spec == str(REPO_ROOT)
    assert source.lock == (REPO_ROOT / "tljh/install/requirements/installer.lock").read_text()


def test_source_from_environment_without_a_lock(bootstrap, monkeypatch):
    monkeypatch.setenv("TLJH_BOOTSTRAP_PIP_SPEC", "https://example.invalid/tljh.tar.gz")
    assert bootstrap.tljh_source("-").lock is None


def test_source_from_source_checkout(bootstrap, monkeypatch):
    monkeypatch.delenv("TLJH_BOOTSTRAP_PIP_SPEC", raising=False)
    source = bootstrap.tljh_source(str(BOOTSTRAP_FILE))
    assert source.spec == str(REPO_ROOT) and source.wheel is None
    assert source.lock and "--hash=sha256:" in source.lock


@pytest.mark.parametrize("argv0", ["-", ""])
def test_piped_without_a_carried_wheel_refuses_and_names_no_index_package(bootstrap, monkeypatch, argv0):
    monkeypatch.setenv("TLJH_BOOTSTRAP_PIP_SPEC", "")
    with pytest.raises(bootstrap.BootstrapError, match="carries no tljh package"):
        bootstrap.tljh_source(argv0)
    assert "the-littlest-jupyterhub" not in BOOTSTRAP_FILE.read_text()


def test_a_lone_copy_refuses(bootstrap, monkeypatch, tmp_path):
    monkeypatch.delenv("TLJH_BOOTSTRAP_PIP_SPEC", raising=False)
    (tmp_path / "bootstrap").mkdir()
    copy = tmp_path / "bootstrap" / "bootstrap.py"
    copy.write_text(BOOTSTRAP_FILE.read_text())
    with pytest.raises(bootstrap.BootstrapError, match="carries no tljh package"):
        bootstrap.tljh_source(str(copy))


# a release bootstrap file (tools/build_release.py) with a small stand-in wheel

def fake_wheel(tmp_path):
    import zipfile

    wheel = tmp_path / f"the_littlest_jupyterhub-{tljh.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("tljh/install/requirements/installer.lock", "pinned==1.0 --hash=sha256:aa\n")
        archive.writestr("tljh/__init__.py", "")
    return wheel


def load_release(tmp_path, text):
    import importlib.util

    path = tmp_path / "tljh-bootstrap.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("tljh_release_bootstrap", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return path, module


def release_tools():
    sys.path.insert(0, str(REPO_ROOT / "tools"))
    import build_release

    return build_release


def test_release_file_installs_the_wheel_it_carries_with_its_lock(tmp_path, monkeypatch):
    monkeypatch.delenv("TLJH_BOOTSTRAP_PIP_SPEC", raising=False)
    wheel = fake_wheel(tmp_path)
    _, release = load_release(tmp_path, release_tools().bootstrap_with(wheel))
    source = release.tljh_source("-")
    assert source.wheel == wheel.read_bytes() and source.spec == wheel.name
    assert source.lock == "pinned==1.0 --hash=sha256:aa\n"
    assert wheel.name in release.what_this_installs()


def test_release_file_refuses_a_wheel_that_does_not_match_its_sha256(tmp_path, monkeypatch):
    import re

    monkeypatch.delenv("TLJH_BOOTSTRAP_PIP_SPEC", raising=False)
    text = release_tools().bootstrap_with(fake_wheel(tmp_path))
    text = re.sub(r'RELEASE_WHEEL_SHA256 = "[0-9a-f]{64}"', 'RELEASE_WHEEL_SHA256 = "' + "0" * 64 + '"', text)
    _, release = load_release(tmp_path, text)
    with pytest.raises(release.BootstrapError, match="damaged or was altered"):
        release.tljh_source("-")


def test_release_file_version_flag_says_which_wheel(tmp_path):
    import subprocess

    path, _ = load_release(tmp_path, release_tools().bootstrap_with(fake_wheel(tmp_path)))
    out = subprocess.run([sys.executable, str(path), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == (f"tljh bootstrap {tljh.__version__}: installs tljh {tljh.__version__} "
                           f"(the_littlest_jupyterhub-{tljh.__version__}-py3-none-any.whl, carried in this file)")


# own_flags and --version

def test_own_flags_pass_installer_arguments(bootstrap):
    argv = ["--admin", "alice:pw", "--show-progress-page", "--user-env", "venv"]
    assert bootstrap.own_flags(argv) == (["--admin", "alice:pw", "--user-env", "venv"], None)


def test_bare_version_flag_prints_and_exits(bootstrap, capsys):
    with pytest.raises(SystemExit) as info:
        bootstrap.own_flags(["--admin", "alice", "--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(f"tljh bootstrap {tljh.__version__}: installs tljh {tljh.__version__}")


@pytest.mark.parametrize("argv", [["--version=latest", "--admin", "a"], ["--version", "latest", "--admin", "a"],
                                  ["--admin", "a", "--version", "latest"]])
def test_version_with_a_value_is_taken_not_printed(bootstrap, argv):
    assert bootstrap.own_flags(argv) == (["--admin", "a"], "latest")


@pytest.mark.parametrize("asked", ["latest", tljh.__version__, tljh.__version__.split(".")[0],
                                   ".".join(tljh.__version__.split(".")[:2]), "v" + tljh.__version__])
def test_a_version_this_file_installs_goes_on(bootstrap, asked, capsys):
    bootstrap.check_requested_version(asked)
    assert "this bootstrap installs tljh" in capsys.readouterr().out


@pytest.mark.parametrize("asked", ["99", "0.0.9", "main", "1a2b3c4", ""])
def test_another_version_stops_saying_how_to_get_it(bootstrap, asked):
    with pytest.raises(bootstrap.BootstrapError) as info:
        bootstrap.check_requested_version(asked)
    message = str(info.value)
    assert f"installs tljh {tljh.__version__}" in message and "nothing was changed" in message
    assert f"tljh-bootstrap-{asked}.py" in message


def test_another_version_stops_before_anything_changes(bootstrap, monkeypatch, capsys):
    def must_not_run(*args, **kwargs):
        raise AssertionError("the bootstrap went on")

    monkeypatch.setattr(bootstrap, "preflight", must_not_run)
    assert bootstrap.main(["--version=99.0", "--admin", "alice"]) == 1
    assert "--version 99.0: this bootstrap installs" in capsys.readouterr().err


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


def test_pip_installs_the_lock_with_hashes_then_tljh_without_deps(bootstrap, monkeypatch, tmp_path):
    commands = []

    def fake_run(argv, log, env=None):
        commands.append(argv)
        if "-r" in argv:
            assert Path(argv[-1]).read_text() == "pinned==1.0 --hash=sha256:aa\n"
        else:
            assert Path(argv[-1]).read_bytes() == b"wheel bytes"

    monkeypatch.setattr(bootstrap, "run", fake_run)
    monkeypatch.setattr(bootstrap, "RELEASE_WHEEL_NAME", "the_littlest_jupyterhub-9-py3-none-any.whl")
    source = bootstrap.Source("carried", "the_littlest_jupyterhub-9-py3-none-any.whl",
                              "pinned==1.0 --hash=sha256:aa\n", b"wheel bytes")
    bootstrap.pip_install_tljh(tmp_path, tmp_path / "log", source)
    pip = [str(tmp_path / "hub/bin/python3"), "-m", "pip", "install", "--no-warn-script-location"]
    assert commands[0][:-1] == [*pip, "--require-hashes", "-r"]
    assert commands[1][:-1] == [*pip, "--upgrade", "--force-reinstall", "--no-deps"]
    assert commands[1][-1] == str(tmp_path / ".bootstrap-wheel/the_littlest_jupyterhub-9-py3-none-any.whl")
    assert not list(tmp_path.glob(".bootstrap*"))  # the temporary copies are gone


FAKE_HUB_PIP = """#!/bin/sh
if [ "$3 $4" = "config list" ]; then exit 0; fi
echo "PIP_RETRIES=$PIP_RETRIES PIP_TIMEOUT=$PIP_TIMEOUT"
cat "$FAKE_PIP_OUTPUT"; exit 1
"""


def test_the_bootstraps_pip_is_bounded_and_says_what_it_could_not_fetch_from_where(bootstrap, monkeypatch, tmp_path):
    """With the tljh it installs at hand (a checkout or the carried wheel), the installer's bounds and message."""
    from tljh.paths import PIP_RETRIES, PIP_TIMEOUT_SECONDS

    python = tmp_path / "hub/bin/python3"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_HUB_PIP)
    python.chmod(0o755)
    monkeypatch.setenv("FAKE_PIP_OUTPUT", str(Path(__file__).parent / "data/pip/lock-23.txt"))
    for name in ("PIP_RETRIES", "PIP_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    pipnet = bootstrap.installers_pipnet(str(Path(__file__).parent.parent))
    log = tmp_path / "installer.log"
    log.write_text("earlier lines: No matching distribution found for something-else\n")
    with pytest.raises(bootstrap.BootstrapError) as info:
        bootstrap.run_pip([str(python), "-m", "pip", "install", "-r", "hub.lock"], log, pipnet)
    assert str(info.value).startswith(
        f"could not fetch tabulate==0.9.0 for {tmp_path / 'hub'} from the package index http://127.0.0.1:9/simple "
        "(http://127.0.0.1:9/simple/tabulate/: connection refused, 2 attempts). Check this machine's network")
    assert str(info.value).endswith(f"\nThe full log is in {log}")
    assert f"PIP_RETRIES={PIP_RETRIES} PIP_TIMEOUT={PIP_TIMEOUT_SECONDS}" in log.read_text()


def test_without_the_tljh_it_installs_at_hand_the_bootstraps_pip_runs_as_before(bootstrap, tmp_path):
    assert bootstrap.installers_pipnet("the-littlest-jupyterhub==1.0") is None
    assert bootstrap.installers_pipnet(str(tmp_path)) is None


def test_the_parser_the_bootstrap_loads_needs_only_the_standard_library():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); before = set(sys.modules); import tljh.actions.pipnet; "
            "print(sorted({m.split('.')[0] for m in set(sys.modules) - before} - set(sys.stdlib_module_names) - {'tljh'}))")
    out = subprocess.run([sys.executable, "-I", "-c", code, str(Path(__file__).parent.parent)],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_bootstraps_apt_unable_to_reach_its_mirror_says_which_urls(bootstrap, monkeypatch, tmp_path):
    """Real apt outputs (tests/data/apt/README.md): apt-get update exits 0; install fails."""
    data = Path(__file__).parent / "data/apt"

    def fake_run(argv, log, env=None):
        with open(log, "a") as out:
            out.write((data / ("update-nolists.txt" if "update" in argv else "install-nolists.txt")).read_text())
        if "install" in argv:
            raise bootstrap.BootstrapError("`apt-get install` failed with exit code 100")

    monkeypatch.setattr(bootstrap, "run", fake_run)
    monkeypatch.setattr(bootstrap, "missing_apt_packages", lambda: ["python3-venv"])
    monkeypatch.setattr(bootstrap, "wait_for_dpkg_lock", lambda: None)
    monkeypatch.setattr(bootstrap, "dpkg_interrupted", lambda: False)
    monkeypatch.setattr(bootstrap, "MADE", [])
    log = tmp_path / "installer.log"
    log.write_text("W: Failed to fetch http://earlier.example/ from an earlier run\n")
    with pytest.raises(bootstrap.BootstrapError) as info:
        bootstrap.ensure_apt_packages(log)
    assert str(info.value).splitlines() == [
        "apt-get could not install python3-venv; apt said:",
        ("W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Could not connect to 127.0.0.1:9 "
        "(127.0.0.1). - connect (111: Connection refused)"),
        ("W: Failed to fetch http://deb.debian.org/debian/dists/bookworm-updates/InRelease  Unable to connect to "
        "127.0.0.1:9:"),
        ("W: Failed to fetch http://deb.debian.org/debian-security/dists/bookworm-security/InRelease  Unable to "
        "connect to 127.0.0.1:9:"),
        "W: Some index files failed to download. They have been ignored, or old ones used instead.",
        "E: Unable to locate package sl",
        ("Check this machine's network, apt's proxy (Acquire::http::Proxy, http_proxy) and its apt sources "
        "(/etc/apt/sources.list, /etc/apt/sources.list.d/)."),
        f"The full log is in {log}",
    ]


def test_plan_lists_the_bootstrap_s_steps_and_changes_nothing(bootstrap, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(bootstrap, "missing_apt_packages", lambda: ["python3-venv"])
    prefix = tmp_path / "opt-tljh"
    assert bootstrap.plan_only(prefix, ["--admin", "alice"]) == 0
    out = capsys.readouterr().out
    assert "[bootstrap] plan: apt packages python3 python3-venv: install python3-venv" in out
    assert f"plan: directory {prefix}: create {prefix}" in out
    assert f"plan: venv {prefix / 'hub'}: create {prefix / 'hub'}" in out
    assert "not on this machine yet" in out
    assert not prefix.exists()


def test_what_the_bootstrap_made_is_handed_to_the_installer(bootstrap, tmp_path, monkeypatch):
    monkeypatch.setattr(bootstrap, "MADE", [])
    monkeypatch.setattr(bootstrap, "run", lambda argv, log: None)
    bootstrap.ensure_hub_venv(tmp_path, tmp_path / "log")
    assert [{"kind": "venv", "target": str(tmp_path / "hub"), "change": "create"}] == bootstrap.MADE


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


def test_the_bootstraps_commands_die_with_it(bootstrap, monkeypatch):
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: "/usr/bin/setpriv" if name == "setpriv" else None)
    assert bootstrap.dies_with_us(["pip", "install", "x"]) == ["/usr/bin/setpriv", "--pdeathsig", "TERM", "--",
                                                                "pip", "install", "x"]
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: None)
    assert bootstrap.dies_with_us(["pip"]) == ["pip"]


def _installed_hub(prefix: Path) -> Path:
    """A stand-in for an installed hub env (bin/python3 and a package file) and its state dir."""
    hub = prefix / "hub"
    (hub / "bin").mkdir(parents=True)
    (hub / "bin/python3").write_text("old python")
    (hub / "pkg.py").write_text("old")
    (prefix / "state").mkdir()
    return hub


def test_a_failed_upgrade_puts_the_hub_env_back(bootstrap, tmp_path, monkeypatch):
    monkeypatch.setattr(bootstrap, "RELEASE_WHEEL_NAME", "x-1-py3-none-any.whl")
    hub = _installed_hub(tmp_path)
    real_run = bootstrap.run

    def half_upgrade(argv, log, env=None):
        if argv[0] == "cp":
            return real_run(argv, log)
        (hub / "pkg.py").write_text("half new")
        raise bootstrap.BootstrapError("the index went away")

    monkeypatch.setattr(bootstrap, "run", half_upgrade)
    source = bootstrap.Source("carried", "x.whl", "pinned==1.0\n", b"wheel")
    with pytest.raises(bootstrap.BootstrapError):
        bootstrap.ensure_tljh(tmp_path, tmp_path / "log", source)
    assert (hub / "pkg.py").read_text() == "old"
    assert not (tmp_path / "hub.previous").exists() and not (tmp_path / "state/hub-env.upgrading").exists()
    assert not (hub / bootstrap.SOURCE_STAMP).exists()


def test_an_upgrade_keeps_a_marked_copy_for_the_installer_and_the_units(bootstrap, tmp_path, monkeypatch):
    monkeypatch.setattr(bootstrap, "RELEASE_WHEEL_NAME", "x-1-py3-none-any.whl")
    hub = _installed_hub(tmp_path)
    real_run = bootstrap.run
    monkeypatch.setattr(bootstrap, "run", lambda argv, log, env=None: real_run(argv, log) if argv[0] == "cp" else
                        (hub / "pkg.py").write_text("new"))
    source = bootstrap.Source("carried", "x.whl", "pinned==1.0\n", b"wheel")
    bootstrap.ensure_tljh(tmp_path, tmp_path / "log", source)
    assert (hub / "pkg.py").read_text() == "new"
    assert (tmp_path / "hub.previous/pkg.py").read_text() == "old"
    assert (tmp_path / "state/hub-env.upgrading").read_text() == f"{tmp_path / 'hub.previous'}\n"
    # the same release file again: nothing to install, nothing copied
    monkeypatch.setattr(bootstrap, "run", lambda argv, log: pytest.fail(f"ran {argv}"))
    bootstrap.ensure_tljh(tmp_path, tmp_path / "log", source)


def test_a_fresh_install_and_a_checkout_keep_no_copy_and_no_stamp(bootstrap, tmp_path, monkeypatch):
    commands = []
    real_run = bootstrap.run
    monkeypatch.setattr(bootstrap, "run", lambda argv, log, env=None: commands.append(argv[0]) or (
        real_run(argv, log) if argv[0] == "cp" else None))
    bootstrap.ensure_tljh(tmp_path, tmp_path / "log", bootstrap.Source("checkout", "/src", None))
    assert "cp" not in commands and not (tmp_path / "hub.previous").exists()
    _installed_hub(tmp_path)
    bootstrap.ensure_tljh(tmp_path, tmp_path / "log", bootstrap.Source("checkout", "/src", None))
    assert commands.count("cp") == 1 and not (tmp_path / "hub" / bootstrap.SOURCE_STAMP).exists()
    bootstrap.ensure_tljh(tmp_path, tmp_path / "log", bootstrap.Source("checkout", "/src", None))
    assert commands.count("cp") == 1  # the marked copy is kept, not made again
