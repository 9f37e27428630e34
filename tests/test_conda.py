"""The conda user environment against the stand-in Miniforge installer (tests/standin/), served by a
local HTTP server through TLJH_MINIFORGE_URL: download, checksum refusal, batch install, upgrade in
place, refusals, and the exact conda/mamba commands. The pip actions are the venv kind's (tested
in test_python_actions.py); here they are left out so that nothing reaches the package index."""

import hashlib
import http.server
import json
import os
import re
import shutil
import stat
import threading
from pathlib import Path

import pytest

from tljh.actions.conda import CondaFloors, CondaPackages, UserEnvError, conda_versions
from tljh.actions.python import PipPackages, PipRequirements, RequirementsFile
from tljh.journal import NullJournal
from tljh.paths import CONDA_FLOORS, MINIFORGE_SHA256, MINIFORGE_URL, MINIFORGE_VERSION
from tljh.run import CommandError
from tljh.install.userenv import CondaUserEnvironment, ExtraPackages, UserRequirements, VenvUserEnvironment

STANDIN = Path(__file__).resolve().parent / "standin" / "Miniforge3-standin.sh"
STANDIN_SHA256 = hashlib.sha256(STANDIN.read_bytes()).hexdigest()


@pytest.fixture
def server(tmp_path):
    """A local HTTP server serving the stand-in installer; records the paths requested."""
    www = tmp_path / "www"
    www.mkdir()
    shutil.copy(STANDIN, www / f"Miniforge3-{MINIFORGE_VERSION}-Linux-x86_64.sh")
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(www), **kwargs)

        def log_message(self, *args):
            requests.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", requests
    httpd.shutdown()


@pytest.fixture
def standin_env(monkeypatch):
    """Deterministic versions for the stand-in's records (pip below its floor, conda and mamba far below)."""
    monkeypatch.setenv("STANDIN_PIP_VERSION", "23.0.1")
    monkeypatch.setenv("STANDIN_WITHOUT_PIP", "1")  # these tests never run the env's pip
    monkeypatch.delenv("STANDIN_FAIL", raising=False)


def conda_env(paths, url, sha256=STANDIN_SHA256, machine="x86_64"):
    environ = {"TLJH_MINIFORGE_URL": url}
    if sha256:
        environ["TLJH_MINIFORGE_SHA256"] = sha256
    env = CondaUserEnvironment(paths, environ)
    env.machine = machine
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    return env


def apply_conda_actions(env, extra=ExtraPackages()):
    """Apply the environment's actions except the pip ones; [(action type, changes)]."""
    done = []
    for action in env.actions(extra):
        if not isinstance(action, (PipRequirements, PipPackages, RequirementsFile)):
            done.append((type(action).__name__, [str(c) for c in action.apply(NullJournal())]))
    return done


def commands(prefix: Path) -> list[list[str]]:
    lines = (prefix / ".standin-commands.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def installer_url(url):
    return f"{url}/Miniforge3-{{version}}-Linux-{{arch}}.sh"


# the pinned release and the overrides

def test_pinned_release_and_digests():
    assert re.fullmatch(r"\d+\.\d+\.\d+-\d+", MINIFORGE_VERSION)
    assert MINIFORGE_URL.startswith("https://github.com/conda-forge/miniforge/releases/download/{version}/")
    assert set(MINIFORGE_SHA256) == {"x86_64", "aarch64"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", d) for d in MINIFORGE_SHA256.values())
    assert len(set(MINIFORGE_SHA256.values())) == 2


@pytest.mark.parametrize("machine, arch", [("x86_64", "x86_64"), ("AMD64", "x86_64"), ("aarch64", "aarch64"),
                                           ("arm64", "aarch64")])
def test_installer_source_is_pinned_per_architecture(paths, machine, arch):
    env = CondaUserEnvironment(paths, {})
    env.machine = machine
    source = env.installer_source()
    assert source.url == (f"https://github.com/conda-forge/miniforge/releases/download/{MINIFORGE_VERSION}/"
                          f"Miniforge3-{MINIFORGE_VERSION}-Linux-{arch}.sh")
    assert source.sha256 == MINIFORGE_SHA256[arch]


def test_installer_source_overrides(paths):
    env = CondaUserEnvironment(paths, {"TLJH_MINIFORGE_URL": "https://mirror.example/mf/{version}/{arch}.sh"})
    env.machine = "aarch64"
    assert env.installer_source().url == f"https://mirror.example/mf/{MINIFORGE_VERSION}/aarch64.sh"
    assert env.installer_source().sha256 == MINIFORGE_SHA256["aarch64"]  # a mirror of the same file
    env = CondaUserEnvironment(paths, {"TLJH_MINIFORGE_URL": "/srv/mf.sh", "TLJH_MINIFORGE_SHA256": "AB" * 32})
    env.machine = "x86_64"
    assert (env.installer_source().url, env.installer_source().sha256) == ("/srv/mf.sh", "ab" * 32)


def test_bad_checksum_override_is_refused(paths):
    env = CondaUserEnvironment(paths, {"TLJH_MINIFORGE_SHA256": "abc"})
    with pytest.raises(UserEnvError, match="TLJH_MINIFORGE_SHA256='abc' is not a sha256 digest"):
        env.check()


def test_unsupported_architecture_is_refused(paths):
    env = CondaUserEnvironment(paths, {})
    env.machine = "ppc64le"
    with pytest.raises(UserEnvError, match="x86_64 and aarch64 .* this one is ppc64le. Use --user-env venv"):
        env.check()


# a fresh install

def test_fresh_install_runs_the_verified_installer_then_mamba(paths, server, standin_env):
    url, requests = server
    env = conda_env(paths, installer_url(url))
    env.check()
    extra = ExtraPackages(conda=("numpy", "scipy>=1.10"), conda_channels=("bioconda", "conda-forge"))
    done = apply_conda_actions(env, extra)
    prefix = str(paths.user_env)
    assert requests == [f"/Miniforge3-{MINIFORGE_VERSION}-Linux-x86_64.sh"]
    assert commands(paths.user_env) == [
        ["standin-installer", "-b", "-p", prefix],
        [f"{prefix}/bin/mamba", "install", "--yes", "--prefix", prefix, "--channel", "conda-forge",
         "conda>=24.7", "mamba>=1.5", "pip>=23.1"],
        [f"{prefix}/bin/mamba", "install", "--yes", "--prefix", prefix, "--channel", "bioconda",
         "--channel", "conda-forge", "numpy", "scipy>=1.10"],
    ]
    assert [name for name, _ in done] == ["Miniforge", "CondaFloors", "CondaPackages"]
    assert not paths.user_env_unfinished.exists()
    assert not list(paths.user_env.parent.glob(".miniforge-*"))  # the download is gone
    # a second run has nothing to do and runs nothing
    assert all(changes == [] for _, changes in apply_conda_actions(env, extra))
    assert len(commands(paths.user_env)) == 3
    assert len(requests) == 1


def test_installed_env_is_not_writable_by_group_or_others(paths, server, standin_env):
    url, _ = server
    apply_conda_actions(conda_env(paths, installer_url(url)))
    for path in [paths.user_env, *paths.user_env.rglob("*")]:
        if not path.is_symlink():
            assert not path.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH), path


def test_installer_from_a_local_file(paths, standin_env):
    env = conda_env(paths, str(STANDIN))
    apply_conda_actions(env)
    assert commands(paths.user_env)[0] == ["standin-installer", "-b", "-p", str(paths.user_env)]


def test_actions_in_order_for_both_kinds(paths):
    extra = ExtraPackages(conda=("numpy",), conda_channels=("conda-forge",), pip=("tabulate",),
                          requirements=UserRequirements("r.txt", "toolz\n"))
    conda = [type(a).__name__ for a in CondaUserEnvironment(paths, {}).actions(extra)]
    assert conda == ["Miniforge", "CondaFloors", "PipRequirements", "CondaPackages", "PipPackages",
                     "RequirementsFile"]
    venv = [type(a).__name__ for a in VenvUserEnvironment(paths, {}).actions(extra)]
    assert venv == ["Venv", "PipRequirements", "PipPackages", "RequirementsFile"]


def test_floors_cover_the_core_packages():
    assert set(CONDA_FLOORS) == {"python", "conda", "mamba", "pip"}


# refusals and failures leave nothing half-installed

def test_checksum_mismatch_is_refused_before_running(paths, server, standin_env):
    url, requests = server
    env = conda_env(paths, installer_url(url), sha256=None)  # the pinned digest, not the stand-in's
    with pytest.raises(UserEnvError) as info:
        apply_conda_actions(env)
    message = str(info.value)
    assert f"has sha256 {STANDIN_SHA256}, but {MINIFORGE_SHA256['x86_64']}" in message
    assert f"(pinned for Miniforge {MINIFORGE_VERSION} x86_64)" in message and "was not run" in message
    assert len(requests) == 1
    assert not paths.user_env.exists()
    assert not paths.user_env_unfinished.exists()
    assert not list(paths.user_env.parent.glob(".miniforge-*"))


def test_failed_download_is_refused(paths, server, standin_env):
    url, _ = server
    env = conda_env(paths, f"{url}/no-such-installer.sh")
    with pytest.raises(UserEnvError, match=f"could not download the Miniforge installer from {url}/no-such"):
        apply_conda_actions(env)
    assert not paths.user_env.exists()
    with pytest.raises(UserEnvError, match="set TLJH_MINIFORGE_URL to a mirror"):
        apply_conda_actions(conda_env(paths, str(paths.prefix / "missing.sh")))


def test_failing_installer_leaves_nothing(paths, server, standin_env, monkeypatch):
    url, _ = server
    monkeypatch.setenv("STANDIN_FAIL", "1")
    with pytest.raises(CommandError):
        apply_conda_actions(conda_env(paths, installer_url(url)))
    assert not paths.user_env.exists()
    assert not paths.user_env_unfinished.exists()


def test_unfinished_install_left_by_a_crash_is_replaced(paths, server, standin_env):
    url, _ = server
    env = conda_env(paths, installer_url(url))
    (paths.user_env / "conda-meta").mkdir(parents=True)
    (paths.user_env / "conda-meta" / "history").write_text("half\n")
    (paths.user_env / "half-written").write_text("")
    paths.user_env_unfinished.write_text(f"{paths.user_env}\n")
    env.check()
    miniforge = env.actions(ExtraPackages())[0]
    assert [str(c) for c in miniforge.plan()] == [f"remove unfinished {paths.user_env}", f"install {paths.user_env}"]
    apply_conda_actions(env)
    assert not (paths.user_env / "half-written").exists()
    assert commands(paths.user_env)[0][0] == "standin-installer"
    assert not paths.user_env_unfinished.exists()


def test_non_conda_directory_is_refused_and_kept(paths, server):
    url, requests = server
    env = conda_env(paths, installer_url(url))
    paths.user_env.mkdir(parents=True)
    (paths.user_env / "precious").write_text("data")
    with pytest.raises(UserEnvError, match="is not empty and is not a conda environment; it was left as it is"):
        env.check()
    with pytest.raises(UserEnvError):
        env.actions(ExtraPackages())[0].plan()
    assert (paths.user_env / "precious").read_text() == "data"
    assert requests == []


def test_venv_at_the_prefix_is_refused_with_a_hint(paths, server):
    url, _ = server
    paths.user_env.mkdir(parents=True)
    (paths.user_env / "pyvenv.cfg").write_text("home = /usr/bin\n")
    with pytest.raises(UserEnvError, match="is a Python venv .*use --user-env venv"):
        conda_env(paths, installer_url(url)).check()


def test_venv_kind_refuses_a_conda_env(paths):
    (paths.user_env / "conda-meta").mkdir(parents=True)
    (paths.user_env / "conda-meta" / "history").write_text("")
    with pytest.raises(UserEnvError, match="is a conda environment.*--user-env conda"):
        VenvUserEnvironment(paths, {}).check()


def test_empty_prefix_directory_is_installed_into(paths, server, standin_env):
    url, _ = server
    paths.user_env.mkdir(parents=True)
    env = conda_env(paths, installer_url(url))
    env.check()
    apply_conda_actions(env)
    assert (paths.user_env / "conda-meta" / "history").exists()


# an existing env is upgraded in place

def test_existing_env_is_upgraded_in_place_never_reinstalled(paths, server, standin_env):
    url, requests = server
    env = conda_env(paths, installer_url(url))
    apply_conda_actions(env)
    (paths.user_env / "installed-by-an-admin").write_text("keep me")
    # the env of an older install: conda and python below their floors
    meta = paths.user_env / "conda-meta"
    for record in meta.glob("conda-*.json"):
        record.rename(meta / "conda-4.10.3-0.json")
    for record in meta.glob("python-*.json"):
        record.rename(meta / "python-3.9.18-0.json")
    before = len(commands(paths.user_env))
    env.check()
    done = dict(apply_conda_actions(env))
    assert done["Miniforge"] == []
    assert done["CondaFloors"] == ["upgrade python>=3.10", "upgrade conda>=24.7"]
    prefix = str(paths.user_env)
    assert commands(paths.user_env)[before:] == [
        [f"{prefix}/bin/mamba", "install", "--yes", "--prefix", prefix, "--channel", "conda-forge",
         "python>=3.10", "conda>=24.7"],
    ]
    assert len(requests) == 1  # no second download
    assert (paths.user_env / "installed-by-an-admin").read_text() == "keep me"
    assert conda_versions(paths.user_env)["conda"] == "24.7"


def test_conda_is_used_when_the_env_has_no_mamba(paths, server, standin_env):
    url, _ = server
    env = conda_env(paths, installer_url(url))
    apply_conda_actions(env)
    os.unlink(paths.user_env / "bin" / "mamba")
    CondaPackages(paths.user_env, ("numpy",), ("conda-forge",)).apply(NullJournal())
    prefix = str(paths.user_env)
    assert commands(paths.user_env)[-1] == [
        f"{prefix}/bin/conda", "install", "--yes", "--prefix", prefix, "--channel", "conda-forge", "numpy"]


def test_conda_versions_reads_conda_meta(tmp_path):
    meta = tmp_path / "conda-meta"
    meta.mkdir()
    for name in ("python-3.12.4-h194c7f8_0_cpython.json", "ca-certificates-2024.7.4-hbcca054_0.json",
                 "libgcc-ng-14.1.0-h77fa898_0.json", "history"):
        (meta / name).write_text("{}")
    assert conda_versions(tmp_path) == {"python": "3.12.4", "ca-certificates": "2024.7.4", "libgcc-ng": "14.1.0"}


def test_floors_plan_compares_versions(tmp_path):
    meta = tmp_path / "conda-meta"
    meta.mkdir()
    for name in ("python-3.12.4-0.json", "conda-24.11.3-0.json", "mamba-1.5.12-0.json", "pip-9.0-0.json"):
        (meta / name).write_text("{}")
    assert [str(c) for c in CondaFloors(tmp_path, CONDA_FLOORS, "conda-forge").plan()] == ["upgrade pip>=23.1"]


def test_check_fetches_and_verifies_before_any_change(paths, server, standin_env):
    url, requests = server
    wrong = conda_env(paths, installer_url(url), sha256="0" * 64)
    with pytest.raises(UserEnvError, match="was not run and nothing was installed"):
        wrong.check()
    assert not paths.user_env.exists() and not list(paths.prefix.glob(".miniforge-*"))
    env = conda_env(paths, installer_url(url))
    env.check()
    assert len(list(paths.prefix.glob(".miniforge-*/Miniforge3.sh"))) == 1
    apply_conda_actions(env)
    assert len(requests) == 2  # one refused, one used: check()'s download is the one installed
    assert not list(paths.prefix.glob(".miniforge-*"))


def test_unused_download_is_discarded(paths, server, standin_env):
    url, _ = server
    env = conda_env(paths, installer_url(url))
    env.check()
    env.discard_downloads()
    assert not list(paths.prefix.glob(".miniforge-*"))
    assert not paths.user_env.exists()


def test_an_unreachable_mirror_is_retried_with_backoff_then_named(tmp_path):
    import socket

    from tljh.actions.conda import download

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    waits: list[float] = []
    url = f"http://127.0.0.1:{port}/Miniforge3.sh"
    with pytest.raises(UserEnvError, match=rf"from {url} \(4 attempts\): .*refused.*TLJH_MINIFORGE_URL"):
        download(url, tmp_path / "Miniforge3.sh", sleep=waits.append)
    assert waits == [1.0, 2.0, 4.0]
    assert not (tmp_path / "Miniforge3.sh").exists()


def test_a_missing_file_is_not_retried(paths, server, tmp_path):
    from tljh.actions.conda import download

    url, _ = server
    waits: list[float] = []
    with pytest.raises(UserEnvError, match=rf"from {url}/nothing-here.sh: HTTP Error 404"):
        download(f"{url}/nothing-here.sh", tmp_path / "x.sh", sleep=waits.append)
    assert waits == []
