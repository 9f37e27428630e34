"""tljh.actions.conda's edges: which download failures are retried, a full disk, file and https URLs,
the verified installer's directory, Miniforge with a tiny local installer (no venv made), journal
entries and undo of the conda actions (a stand-in conda in a tmp env logs what it is asked)."""

from __future__ import annotations

import hashlib
import http.server
import re
import shutil
import socket
import stat
import threading
from pathlib import Path

import pytest

from tljh.actions import Change
from tljh.actions.conda import (
    CondaFloors,
    CondaPackages,
    InstallerSource,
    Miniforge,
    UserEnvError,
    VerifiedInstaller,
    below,
    download,
)
from tljh.journal import Entry, Journal
from tljh.run import CommandError

BODY = b"#!/bin/sh\necho installer\n"


@pytest.fixture
def answering():
    """A local HTTP server answering each GET with the next status of `codes`, then 200 and BODY."""
    servers = []

    def start(*codes: int) -> tuple[str, list[int]]:
        left, seen = list(codes), []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code = left.pop(0) if left else 200
                seen.append(code)
                self.send_response(code)
                body = BODY if code == 200 else b"no"
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}/Miniforge3.sh", seen

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ------------------------------------------------------------------ download


def test_server_errors_and_too_many_requests_are_retried(answering, tmp_path):
    url, seen = answering(500, 503, 429)
    waits: list[float] = []
    assert download(url, tmp_path / "m.sh", sleep=waits.append) == hashlib.sha256(BODY).hexdigest()
    assert seen == [500, 503, 429, 200] and waits == [1.0, 2.0, 4.0]
    assert (tmp_path / "m.sh").read_bytes() == BODY


@pytest.mark.parametrize("code", [403, 404, 428, 499])
def test_a_refusal_is_not_retried(answering, tmp_path, code):
    url, seen = answering(code)
    waits: list[float] = []
    with pytest.raises(UserEnvError, match=rf"from {url}: HTTP Error {code}"):
        download(url, tmp_path / "m.sh", sleep=waits.append)
    assert seen == [code] and waits == []


def test_the_message_counts_the_attempts_and_says_how_to_point_elsewhere(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/Miniforge3.sh"
    with pytest.raises(UserEnvError) as failed:
        download(url, tmp_path / "m.sh", attempts=2, sleep=lambda s: None)
    message = str(failed.value)
    assert message.startswith(f"could not download the Miniforge installer from {url} (2 attempts): ")
    assert message.endswith("; set TLJH_MINIFORGE_URL to a mirror URL or a local copy of it")


def test_an_https_url_is_fetched_over_the_network_and_retried(tmp_path):
    url = f"https://127.0.0.1:{closed_port()}/Miniforge3.sh"
    waits: list[float] = []
    with pytest.raises(UserEnvError, match=r"\(2 attempts\): .*[Rr]efused"):
        download(url, tmp_path / "m.sh", attempts=2, sleep=waits.append)
    assert waits == [1.0]


def test_a_file_url_is_read(tmp_path):
    source = tmp_path / "Miniforge3.sh"
    source.write_bytes(BODY)
    assert download(source.as_uri(), tmp_path / "copy.sh") == hashlib.sha256(BODY).hexdigest()
    assert (tmp_path / "copy.sh").read_bytes() == BODY


def test_a_full_disk_says_how_much_is_free_and_is_not_retried(tmp_path):
    source = tmp_path / "Miniforge3.sh"
    source.write_bytes(BODY)
    dest = tmp_path / "dl" / "m.sh"
    dest.parent.mkdir()
    dest.symlink_to("/dev/full")  # every write fails with ENOSPC
    waits: list[float] = []
    with pytest.raises(UserEnvError) as failed:
        download(str(source), dest, sleep=waits.append)
    found = re.search(rf"no space left in {dest.parent} \((\d+) MiB free; the installer needs about 100 MiB\)",
                      str(failed.value))
    assert found, str(failed.value)
    free = shutil.disk_usage(dest.parent).free // (1 << 20)
    assert abs(int(found.group(1)) - free) <= max(2, free // 100)
    assert waits == [] and not dest.is_symlink()


def test_an_unreadable_version_counts_as_below_its_floor():
    assert below("not-a-version", "1.0") is True
    assert below("1.0", "1.0") is False


# ------------------------------------------------------------------ the verified installer


def _source(path: Path, sha256: str | None = None) -> InstallerSource:
    return InstallerSource(str(path), sha256 or hashlib.sha256(path.read_bytes()).hexdigest(), "test")


def test_the_installer_is_fetched_into_a_new_workdir_and_again_after_a_discard(tmp_path):
    source = tmp_path / "Miniforge3.sh"
    source.write_bytes(BODY)
    fetched = []

    def where() -> InstallerSource:
        fetched.append(1)
        return _source(source)

    installer = VerifiedInstaller(where, tmp_path / "not" / "yet" / "there")
    first = installer.path()
    assert first.read_bytes() == BODY and installer.path() == first and len(fetched) == 1
    installer.discard()
    assert not first.parent.exists()
    second = installer.path()
    assert second.read_bytes() == BODY and len(fetched) == 2


def test_discarding_tolerates_a_download_directory_already_gone(tmp_path):
    source = tmp_path / "Miniforge3.sh"
    source.write_bytes(BODY)
    installer = VerifiedInstaller(lambda: _source(source), tmp_path / "work")
    shutil.rmtree(installer.path().parent)
    installer.discard()
    installer.discard()


# ------------------------------------------------------------------ Miniforge, with a tiny installer

TINY_INSTALLER = """#!/bin/bash
[ "$1 $2" = "-b -p" ] || exit 2
[ -n "$FAIL_AT_ONCE" ] && exit 4
mkdir -p "$3/conda-meta" "$3/bin"
echo "# cmd: tiny" > "$3/conda-meta/history"
chmod 0777 "$3/bin"
touch "$3/bin/tool" && chmod 0666 "$3/bin/tool"
"""


@pytest.fixture
def tiny(tmp_path):
    script = tmp_path / "tiny-miniforge.sh"
    script.write_text(TINY_INSTALLER)
    prefix = tmp_path / "prefix" / "user"
    prefix.parent.mkdir()
    installer = VerifiedInstaller(lambda: _source(script), prefix.parent)
    return Miniforge(prefix, installer, prefix.parent / "user-env-unfinished")


def test_miniforge_installs_into_the_prefix_journals_it_and_leaves_nothing_writable_by_others(tiny, tmp_path):
    journal = Journal(tmp_path / "state" / "journal.jsonl")
    assert tiny.title == f"Miniforge in {tiny.prefix}"
    assert tiny.apply(journal) == [Change("install", str(tiny.prefix))]
    assert [(e.kind, e.change, e.target, e.env) for e in journal.entries() if e.kind == "miniforge"] == [
        ("miniforge", "install", str(tiny.prefix), str(tiny.prefix))]
    for path in (tiny.prefix / "bin", tiny.prefix / "bin" / "tool"):
        assert not path.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH), path
    assert not tiny.unfinished.exists() and tiny.plan() == []


def test_an_installer_failing_before_it_made_anything_is_reported_as_itself(tiny, monkeypatch):
    monkeypatch.setenv("FAIL_AT_ONCE", "1")
    with pytest.raises(CommandError):
        tiny.apply(Journal(tiny.prefix.parent / "journal.jsonl"))
    assert not tiny.prefix.exists() and not tiny.unfinished.exists()


def test_undoing_miniforge_removes_an_installed_env_only(tmp_path):
    prefix = tmp_path / "user"
    (prefix / "conda-meta").mkdir(parents=True)
    assert Miniforge.undo(Entry(kind="miniforge", target=str(prefix), change="remove unfinished")) is None
    assert prefix.exists()
    assert Miniforge.undo(Entry(kind="miniforge", target=str(prefix), change="install")) is None
    assert not prefix.exists()
    Miniforge.undo(Entry(kind="miniforge", target=str(prefix), change="install"))  # gone already: fine


# ------------------------------------------------------------------ conda packages, with a stand-in conda

FAKE_CONDA = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
exit {status}
"""


def conda_env(root: Path, *records: str, mamba: bool = False, status: int = 0) -> Path:
    """A conda env: conda-meta/history, the records given, bin/conda (and bin/mamba) logging to root/conda.log."""
    (root / "conda-meta").mkdir(parents=True)
    (root / "conda-meta" / "history").write_text("")
    for record in records:
        (root / "conda-meta" / f"{record}.json").write_text("{}")
    (root / "bin").mkdir()
    for name in ("conda", "mamba") if mamba else ("conda",):
        (root / "bin" / name).write_text(FAKE_CONDA.format(log=root / "conda.log", status=status))
        (root / "bin" / name).chmod(0o755)
    return root


def conda_log(root: Path) -> list[str]:
    log = root / "conda.log"
    return log.read_text().splitlines() if log.exists() else []


def test_conda_packages_installs_the_missing_specs_and_journals_them_with_the_env(tmp_path):
    env = conda_env(tmp_path / "env", "numpy-1.26.4-py311_0")
    journal = Journal(tmp_path / "journal.jsonl")
    action = CondaPackages(env, ("numpy", "scipy>=1.10"), ("conda-forge",))
    assert action.apply(journal) == [Change("install", "scipy>=1.10")]
    assert conda_log(env) == [f"conda install --yes --prefix {env} --channel conda-forge scipy>=1.10"]
    assert [(e.kind, e.change, e.target, e.env) for e in journal.entries()] == [
        ("conda-packages", "install", "scipy>=1.10", str(env))]


def test_conda_floors_journal_the_upgrade_with_the_env_and_an_unreadable_version_is_upgraded(tmp_path):
    env = conda_env(tmp_path / "env", "pip-latest!!-py_0", "conda-24.9.0-py311_0")
    journal = Journal(tmp_path / "journal.jsonl")
    assert CondaFloors(env, {"pip": "23.1", "conda": "24.7"}, "conda-forge").apply(journal) == [
        Change("upgrade", "pip>=23.1")]
    assert [(e.change, e.target, e.env) for e in journal.entries()] == [("upgrade", "pip>=23.1", str(env))]


def test_undoing_a_conda_package_removes_it_with_mamba_when_there_and_ignores_a_failure(tmp_path):
    with_conda = conda_env(tmp_path / "a", status=1)
    entry = Entry(kind="conda-packages", target="scipy>=1.10", change="install", env=str(with_conda))
    assert CondaPackages.undo(entry) is None  # conda failing is not an error here
    assert conda_log(with_conda) == [f"conda remove --yes --prefix {with_conda} scipy"]
    with_mamba = conda_env(tmp_path / "b", mamba=True)
    CondaPackages.undo(Entry(kind="conda-packages", target="Numpy", change="install", env=str(with_mamba)))
    assert conda_log(with_mamba) == [f"mamba remove --yes --prefix {with_mamba} numpy"]


def test_undoing_a_conda_package_of_an_env_gone_or_unknown_runs_nothing(tmp_path, monkeypatch):
    gone = tmp_path / "gone"
    assert CondaPackages.undo(Entry(kind="conda-packages", target="x", change="install", env=str(gone))) is None
    here = conda_env(tmp_path / "here")
    monkeypatch.chdir(here)  # an entry without env must not mean "the current directory"
    assert CondaPackages.undo(Entry(kind="conda-packages", target="x", change="install")) is None
    assert conda_log(here) == []
