"""What a failed pip run could not fetch, from where, read from real pip outputs (tests/data/pip/README.md)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tljh.actions.pipnet import FetchFailure, config_keys, fetch_failure, network_env
from tljh.actions.python import PackageFetchError, pip_install
from tljh.paths import PIP_RETRIES, PIP_TIMEOUT_SECONDS
from tljh.run import CommandError

DATA = Path(__file__).parent / "data" / "pip"


def failure(name: str) -> FetchFailure | None:
    return fetch_failure((DATA / f"{name}.txt").read_text())


@pytest.mark.parametrize("pip", ["23", "25"])
def test_a_closed_port_names_the_package_the_index_url_and_the_attempts(pip: str) -> None:
    found = failure(f"closed-{pip}")
    attempts = {"23": 6, "25": 3}[pip]  # pip's default --retries 5; --retries 2
    assert found == FetchFailure("requests", ("http://127.0.0.1:9/simple",), "http://127.0.0.1:9/simple/requests/",
                                 "connection refused", attempts)
    assert found.message("/opt/tljh/hub").startswith(
        "could not fetch requests for /opt/tljh/hub from the package index http://127.0.0.1:9/simple "
        f"(http://127.0.0.1:9/simple/requests/: connection refused, {attempts} attempts). Check this machine's network, "
        "its proxy variables")


@pytest.mark.parametrize("pip, attempts", [("23", 3), ("25", 2)])
def test_a_silent_index_says_it_did_not_answer_within_the_timeout(pip: str, attempts: int) -> None:
    found = failure(f"silent-{pip}")
    assert found is not None
    assert (found.what, found.url, found.reason, found.attempts) == (
        "requests==2.32.3", "http://127.0.0.1:18081/simple/requests/", "no answer within 2 s", attempts)


@pytest.mark.parametrize("pip", ["23", "25"])
def test_tls_and_proxy_errors_say_which(pip: str) -> None:
    tls, proxy = failure(f"tls-{pip}"), failure(f"proxy-{pip}")
    assert tls is not None and proxy is not None
    assert tls.reason == "TLS error (WRONG_VERSION_NUMBER)" and tls.url is not None and tls.url.endswith("/simple/requests/")
    assert (proxy.reason, proxy.url) == ("could not connect through the proxy", "http://127.0.0.1:18082/simple/requests/")


@pytest.mark.parametrize("pip", ["23", "25"])
def test_a_lock_names_the_pinned_requirement_pip_failed_on(pip: str) -> None:
    found = failure(f"lock-{pip}")
    assert found is not None and (found.what, found.attempts) == ("tabulate==0.9.0", 2)


@pytest.mark.parametrize("pip", ["23", "25"])
def test_a_file_host_the_index_links_to_is_named_with_the_index(pip: str) -> None:
    found = failure(f"files-{pip}")
    assert found is not None
    assert found.message("/opt/tljh/user").startswith(
        "could not fetch requests-2.32.3-py3-none-any.whl for /opt/tljh/user from "
        "http://127.0.0.1:9/files/requests-2.32.3-py3-none-any.whl (connection refused, 2 attempts; "
        "the package index http://127.0.0.1:18083/simple links to it).")


@pytest.mark.parametrize("name", ["status503-23", "status503-25", "notfound-23"])
def test_an_index_that_lists_nothing_is_named_without_claiming_why(name: str) -> None:
    """pip prints the same lines for a 503 and for a project the index does not have."""
    found = failure(name)
    assert found is not None and found.reason is None
    assert found.message("/opt/tljh/hub").startswith(
        f"pip found no version of {found.what} it can install for /opt/tljh/hub at {found.indexes[0]} (from versions: "
        "none): the index has none for this Python and machine, or did not answer with its page")


@pytest.mark.parametrize("pip", ["23", "25"])
def test_build_dependencies_pip_could_not_fetch_are_named(pip: str) -> None:
    """A local project or plugin: pip's own pip for its build dependencies failed (its lines are indented)."""
    assert failure(f"builddeps-{pip}") == FetchFailure(
        "setuptools>=40.8.0", ("http://127.0.0.1:9/simple",), "http://127.0.0.1:9/simple/setuptools/",
        "connection refused", 6)


def test_pypi_is_named_when_pip_names_no_index() -> None:
    """pip prints no `Looking in indexes` for PyPI alone (as in the test machine, whose pip.conf sets no index)."""
    output = (DATA / "notfound-23.txt").read_text().split("\n", 1)[1]
    found = fetch_failure(output)
    assert found is not None and found.indexes == ("https://pypi.org/simple",)
    assert " at https://pypi.org/simple (from versions: none)" in found.message("/opt/tljh/hub")


def test_versions_that_do_not_match_are_not_a_network_failure() -> None:
    assert failure("versions-23") is None
    assert fetch_failure("ERROR: ResolutionImpossible: ...\n") is None


def test_credentials_in_the_index_url_stay_hidden() -> None:
    output = (DATA / "creds-23.txt").read_text()
    assert "s3cretpw" not in output  # pip masks the password itself ...
    unmasked = output.replace("alice:****@", "alice:s3cretpw@")
    message = fetch_failure(CommandError(["pip"], 1, unmasked).output)  # ... and the installer redacts what it reads
    assert message is not None and "s3cretpw" not in message.message("/env") and "***@127.0.0.1:9" in message.message("/env")


BOTH = {"PIP_RETRIES": str(PIP_RETRIES), "PIP_TIMEOUT": str(PIP_TIMEOUT_SECONDS)}


@pytest.mark.parametrize("keys, env", [
    ([], BOTH),
    ([":env:.retries", "global.cert"], {"PIP_TIMEOUT": str(PIP_TIMEOUT_SECONDS)}),
    (["global.default-timeout"], {"PIP_RETRIES": str(PIP_RETRIES)}),
    (["install.timeout", "global.retries"], {}),
    (["download.timeout", "download.retries"], BOTH),
])
def test_the_machines_pip_settings_win_over_the_installers_bounds(keys: list[str], env: dict[str, str]) -> None:
    assert network_env(keys) == env


def test_config_keys_reads_pip_config_list() -> None:
    listed = ":env:.default-timeout='7'\n:env:.retries='2'\nglobal.cert='/etc/ssl/certs/ca-certificates.crt'\n"
    assert config_keys(listed) == [":env:.default-timeout", ":env:.retries", "global.cert"]


FAKE_PIP = """#!/bin/sh
if [ "$3 $4" = "config list" ]; then printf '%s' "$FAKE_PIP_CONFIG"; exit 0; fi
echo "$@ (PIP_RETRIES=${PIP_RETRIES-} PIP_TIMEOUT=${PIP_TIMEOUT-})" >> "$(dirname "$0")/argv.log"
cat "$FAKE_PIP_OUTPUT"; exit 1
"""


def fake_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str, config: str = "") -> Path:
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    python = env / "bin/python"
    python.write_text(FAKE_PIP)
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("FAKE_PIP_OUTPUT", str(DATA / f"{output}.txt"))
    monkeypatch.setenv("FAKE_PIP_CONFIG", config)
    for name in ("PIP_RETRIES", "PIP_TIMEOUT"):  # (the fake's config list says what the machine sets)
        monkeypatch.delenv(name, raising=False)
    return env


def test_pip_install_bounds_pip_and_names_what_it_could_not_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = fake_env(tmp_path, monkeypatch, "silent-23")
    with pytest.raises(PackageFetchError) as raised:
        pip_install(env, ["-r", "hub.lock"])
    assert str(raised.value).startswith(f"could not fetch requests==2.32.3 for {env} from the package index")
    assert (env / "bin/argv.log").read_text() == (
        f"-m pip install --no-warn-script-location -r hub.lock (PIP_RETRIES={PIP_RETRIES} PIP_TIMEOUT={PIP_TIMEOUT_SECONDS})\n")


def test_pip_install_leaves_retries_and_timeout_to_the_machines_pip_config(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    env = fake_env(tmp_path, monkeypatch, "closed-25", config=":env:.retries='2'\nglobal.timeout='60'\n")
    with pytest.raises(PackageFetchError):
        pip_install(env, ["tabulate"])
    assert (env / "bin/argv.log").read_text() == "-m pip install --no-warn-script-location tabulate (PIP_RETRIES= PIP_TIMEOUT=)\n"


def test_other_pip_failures_stay_command_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = fake_env(tmp_path, monkeypatch, "versions-23")
    with pytest.raises(CommandError):
        pip_install(env, ["requests==9.9"])
