"""Plugins: every hook of the example plugin has its effect, a published plugin works unchanged,
and the admin's requirements file (--user-requirements-txt-url) is installed or refused clearly.

The session install (conftest.SESSION_EXTRA_ARGS) passed `--plugin` for the example plugin in
integration-tests/plugins/ and for tljh-new-user from the package index.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from ruamel.yaml import YAML

from hubclient import HubClient, HubClientError
from machine import Machine

if TYPE_CHECKING:
    from conftest import Installation

HUB_PYTHON = "/opt/tljh/hub/bin/python"
USER_PYTHON = "/opt/tljh/user/bin/python"
STATE = "/opt/tljh/state"
NEW_USER = "pluginuser"  # its unix name, jupyter-pluginuser, is no substring of another passwd line
NEW_ACCOUNT = f"jupyter-{NEW_USER}"
SERVICES = ("jupyterhub", "traefik")


def importable(machine: Machine, python: str, module: str) -> bool:
    return machine.succeeds([python, "-c", f"import {module}"])


def active_since(machine: Machine) -> dict[str, str]:
    """When each service last became active (changes on every restart)."""
    show = ["systemctl", "show", "-p", "ActiveEnterTimestampMonotonic", "--value"]
    return {unit: machine.run([*show, unit]).stdout.strip() for unit in SERVICES}


def run_installer(machine: Machine, *args: str) -> tuple[int, str]:
    """Run the installer directly (as a re-run would after the bootstrap); (exit code, all output)."""
    result = machine.run([HUB_PYTHON, "-m", "tljh.installer", *args], check=False, timeout=900)
    return result.returncode, result.stdout + result.stderr


# ---------------------------------------------------------------- the example plugin's hooks


def test_plugins_are_installed_in_the_hub_env_and_remembered(machine: Machine, installed: Installation) -> None:
    assert importable(machine, HUB_PYTHON, "tljh_example_plugin")
    assert importable(machine, HUB_PYTHON, "tljh_new_user")
    state = json.loads(machine.run(["cat", f"{STATE}/install.json"]).stdout)
    assert state["plugins"] == [
        "/srv/tljh/integration-tests/plugins/tljh-example-plugin",
        "tljh-new-user==0.1.3",
    ]


def test_apt_package_from_hook(machine: Machine, installed: Installation) -> None:
    status = machine.run(["dpkg-query", "-W", "-f", "${db:Status-Status}", "tree"], check=False).stdout
    assert status == "installed"
    assert machine.succeeds(["tree", "/opt/tljh/config"])


def test_hub_pip_package_from_hook_is_in_the_hub_env_only(machine: Machine, installed: Installation) -> None:
    assert importable(machine, HUB_PYTHON, "termcolor")
    assert not importable(machine, USER_PYTHON, "termcolor")


def test_user_pip_package_from_hook_is_in_the_user_env_only(machine: Machine, installed: Installation) -> None:
    version = machine.run([USER_PYTHON, "-c", "import tabulate; print(tabulate.__version__)"]).stdout.strip()
    assert version == "0.10.0"
    assert not importable(machine, HUB_PYTHON, "tabulate")


def test_conda_packages_are_skipped_with_a_warning_on_a_venv(installed: Installation) -> None:
    assert (
        "warning: plugin(s) example asked for conda packages tabulate, which a user environment of kind "
        "'venv' cannot install: they are skipped" in installed.result.stdout
    )


def test_config_post_install_added_its_default(machine: Machine, installed: Installation) -> None:
    config = YAML(typ="safe").load(machine.run(["cat", "/opt/tljh/config/config.yaml"]).stdout)
    assert config["services"]["cull"]["timeout"] == 7200
    assert config["users"]["admin"] == ["admin"]  # what the admin set is untouched
    commands = machine.run(["sh", "-c", "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done"]).stdout
    culler = [line for line in commands.splitlines() if "jupyterhub_idle_culler" in line]
    assert culler and "--timeout=7200" in culler[0], culler  # and the hub started with it


def test_custom_jupyterhub_config_reaches_user_servers(admin_server: HubClient) -> None:
    value = admin_server.evaluate("__import__('os').environ.get('TLJH_EXAMPLE_PLUGIN')")
    assert value == "'set-by-tljh-example-plugin'"


def test_post_install_ran_last(machine: Machine, installed: Installation) -> None:
    """It ran once, with the hub already up (the installer waits for the hub before calling it)."""
    lines = machine.run(["cat", "/var/lib/tljh-example-plugin/post_install.jsonl"]).stdout.splitlines()
    assert [json.loads(line) for line in lines] == [{"hub": "active"}]


# ---------------------------------------------------------------- tljh_new_user_create, and tljh-new-user


@pytest.fixture(scope="module")
def new_user(machine: Machine, admin_server: HubClient) -> Iterator[str]:
    """A hub user created by the admin, whose first server start creates its unix account.

    Before that, tljh-new-user's inputs are put in the hub's working directory (as its README
    says): new_user_data/ (copied into the new home) and new_user_script (run with the home).
    Afterwards the server is stopped, the hub user deleted and those inputs removed.
    """
    assert not machine.succeeds(["id", NEW_ACCOUNT]), f"{NEW_ACCOUNT} exists before the test"
    machine.run(["mkdir", "-p", f"{STATE}/new_user_data"])
    machine.run(["sh", "-c", f"echo welcome > {STATE}/new_user_data/welcome.txt"])
    machine.run(["sh", "-c", f"printf '#!/bin/sh\\ntouch \"$1/script-ran\"\\n' > {STATE}/new_user_script"])
    machine.run(["chmod", "755", f"{STATE}/new_user_script"])
    headers = {"X-XSRFToken": admin_server.xsrf_cookie("/hub/")}
    try:
        created = admin_server.post(f"/hub/api/users/{NEW_USER}", headers=headers)
        assert created.status_code == 201, created.text[:300]
        started = admin_server.post(f"/hub/api/users/{NEW_USER}/server", headers=headers)
        assert started.status_code in (201, 202), started.text[:300]
        wait_until_ready(admin_server, NEW_USER, headers)
        yield NEW_ACCOUNT
    finally:
        admin_server.request("DELETE", f"/hub/api/users/{NEW_USER}/server", headers=headers)
        wait_until_stopped(admin_server, NEW_USER, headers)
        admin_server.request("DELETE", f"/hub/api/users/{NEW_USER}", headers=headers)
        machine.run(["rm", "-rf", f"{STATE}/new_user_data", f"{STATE}/new_user_script"])


def wait_until_ready(client: HubClient, name: str, headers: dict[str, str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    model: dict = {}
    while time.monotonic() < deadline:
        model = client.get(f"/hub/api/users/{name}", headers=headers).json()
        if (model.get("servers") or {}).get("", {}).get("ready"):
            return
        if not model.get("pending") and not model.get("servers"):
            raise HubClientError(f"the server of {name} is neither pending nor running: {model}")
        time.sleep(1)
    raise HubClientError(f"the server of {name} was not ready within {timeout} s: {model}")


def wait_until_stopped(client: HubClient, name: str, headers: dict[str, str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/hub/api/users/{name}", headers=headers)
        if response.status_code != 200 or not response.json().get("servers"):
            return
        time.sleep(1)


def test_new_user_hook_gets_the_unix_name_in_the_state_directory(machine: Machine, new_user: str) -> None:
    lines = machine.run(["cat", f"{STATE}/example-plugin-new-users.jsonl"]).stdout.splitlines()
    records = [json.loads(line) for line in lines]
    assert {"username": new_user, "cwd": STATE, "home": True} in records
    assert [r["username"] for r in records].count(new_user) == 1


def test_published_plugin_tljh_new_user_works_unchanged(machine: Machine, new_user: str) -> None:
    """tljh-new-user (from the package index) copied new_user_data and ran new_user_script."""
    log = machine.run(["cat", f"{STATE}/tljh-new-user.log"]).stdout
    assert f"NEW USER: {new_user} HOME: /home/{new_user}" in log
    assert machine.run(["cat", f"/home/{new_user}/welcome.txt"]).stdout.strip() == "welcome"
    assert machine.stat(f"/home/{new_user}/welcome.txt")[0] == new_user
    assert machine.succeeds(["test", "-f", f"/home/{new_user}/script-ran"])


# ---------------------------------------------------------------- --user-requirements-txt-url


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A host HTTP server on 127.0.0.1 (the machine shares the host's network): (directory, base URL)."""
    www = tmp_path_factory.mktemp("www")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(www), **kwargs)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield str(www), f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_user_requirements_file_from_the_session_install(machine: Machine, installed: Installation) -> None:
    version = machine.run([USER_PYTHON, "-c", "import toolz; print(toolz.__version__)"]).stdout.strip()
    assert version == "1.2.0"
    assert not importable(machine, HUB_PYTHON, "toolz")


def test_unreadable_user_requirements_url_stops_before_any_change(
    machine: Machine, admin_server: HubClient, served: tuple[str, str]
) -> None:
    _, url = served
    before = active_since(machine)
    journal_before = machine.run(["wc", "-l", f"{STATE}/journal.jsonl"]).stdout
    code, output = run_installer(machine, "--user-requirements-txt-url", f"{url}/missing.txt")
    assert code != 0
    assert f"error: --user-requirements-txt-url {url}/missing.txt: cannot be read" in output, output
    assert "Traceback" not in output
    assert active_since(machine) == before
    assert machine.run(["wc", "-l", f"{STATE}/journal.jsonl"]).stdout == journal_before


def test_failing_user_requirements_stop_the_install_with_a_clear_message(
    machine: Machine, admin_server: HubClient, served: tuple[str, str]
) -> None:
    www, url = served
    with open(f"{www}/broken.txt", "w") as f:
        f.write("tljh-no-such-project-anywhere==0.0.1\n")
    before = active_since(machine)
    code, output = run_installer(machine, "--user-requirements-txt-url", f"{url}/broken.txt")
    assert code != 0
    assert f"error: installing the requirements from {url}/broken.txt into /opt/tljh/user failed" in output, output
    assert "tljh-no-such-project-anywhere" in output
    assert "Traceback" not in output
    assert active_since(machine) == before  # stopped before the services step


def test_user_requirements_from_a_url(machine: Machine, admin_server: HubClient, served: tuple[str, str]) -> None:
    """A requirements file by URL is pip installed into the user env; the hub is not restarted for it."""
    www, url = served
    with open(f"{www}/reqs.txt", "w") as f:
        f.write("toolz==1.2.0\ntomli-w==1.2.0\n")
    assert not importable(machine, USER_PYTHON, "tomli_w")
    before = active_since(machine)
    code, output = run_installer(machine, "--user-requirements-txt-url", f"{url}/reqs.txt")
    assert code == 0, output
    assert importable(machine, USER_PYTHON, "tomli_w")
    assert active_since(machine) == before
