"""Accounts and privileges, tried as the users themselves (runuser/nsenter inside the machine).

A dozen hub users with awkward names (1, 24, 25, 64 characters, upper case, unicode, '@', '-',
each other's digested forms, the names of issue 10) are created through the hub's API and their
servers started at once, with the published plugin tljh-new-user set to copy a 0755 template
into new homes. Then, as those users: no shared account, private homes, private /tmp, no sudo, no
write access under /opt/tljh, no reading of its state, config or log, no traefik API without the
secret. An admin's `sudo -E pip install` reaches the user environment, with the environment
otherwise reset. An admin removed from users.admin is told about by reload and cannot sudo after
their next spawn.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hubclient import HubClient, HubClientError
from machine import Machine

STATE = "/opt/tljh/state"
PREFIX = "/opt/tljh"
DEMOTED = "demoted-admin"


def digest_form(name: str) -> str:
    """The hub name that is the digested form of name (what it would get without the record)."""
    return f"alice-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


NAMES = [
    "alice.smith",
    "alice-smith-634258",  # the old mapping's form of alice.smith: once the same account
    "cdb4ee",  # the old mapping's form of '.'
    "a",
    "b" * 24,
    "c" * 25,
    "d" * 64,
    "Alice",  # upper case (the API does not lowercase)
    digest_form("Alice"),  # Alice's digested account name, as a hub name of its own
    "josé",
    "alice@example.org",
    "-",
]


def api(client: HubClient, method: str, path: str) -> tuple[int, dict]:
    headers = {"X-XSRFToken": client.xsrf_cookie("/hub/")}
    response = client.request(method, f"/hub/api{path}", headers=headers)
    try:
        body = response.json()
    except ValueError:
        body = {}
    return response.status_code, body


def user_path(name: str) -> str:
    return f"/users/{quote(name, safe='')}"


def wait_ready(client: HubClient, names: list[str], timeout: float = 150) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(names)
    while waiting and time.monotonic() < deadline:
        for name in list(waiting):
            _, model = api(client, "GET", user_path(name))
            if (model.get("servers") or {}).get("", {}).get("ready"):
                waiting.remove(name)
            elif not model.get("pending") and not model.get("servers"):
                raise HubClientError(f"the server of {name!r} is neither pending nor running: {model}")
        time.sleep(1)
    if waiting:
        raise HubClientError(f"servers not ready within {timeout} s: {waiting}")


def wait_stopped(client: HubClient, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, model = api(client, "GET", user_path(name))
        if status != 200 or not model.get("servers"):
            return
        time.sleep(1)
    raise HubClientError(f"the server of {name!r} did not stop within {timeout} s")


def as_user(machine: Machine, account: str, *argv: str, env: tuple[str, ...] = ()) -> tuple[int, str, str]:
    """Run argv as account (its own groups, a login-like environment): exit code, stdout, both outputs."""
    result = machine.run(["runuser", "-u", account, "--", "env", "-i", "PATH=/usr/bin:/bin", f"USER={account}",
                          f"HOME=/home/{account}", *env, *argv], check=False, timeout=120)
    return result.returncode, result.stdout, result.stdout + result.stderr


def accounts(machine: Machine) -> dict[str, str]:
    return json.loads(machine.run(["cat", f"{STATE}/unix-accounts.json"]).stdout)["accounts"]


def main_pid(machine: Machine, account: str) -> str:
    pid = machine.run(["systemctl", "show", "-p", "MainPID", "--value", account]).stdout.strip()
    assert pid not in ("", "0"), f"no server process for {account}"
    return pid


@pytest.fixture(scope="module")
def people(machine: Machine, admin_server: HubClient) -> Iterator[dict[str, str]]:
    """NAMES created and started at once, with tljh-new-user's template (0755) in place:
    {hub name: unix account}."""
    machine.run(["mkdir", "-p", "-m", "755", f"{STATE}/new_user_data"])
    machine.run(["sh", "-c", f"echo hello > {STATE}/new_user_data/hello.txt"])
    machine.run(["chmod", "755", f"{STATE}/new_user_data"])
    try:
        for name in NAMES:
            status, body = api(admin_server, "POST", user_path(name))
            assert status == 201, f"creating {name!r}: {status} {body}"
        for name in NAMES:
            status, body = api(admin_server, "POST", user_path(name) + "/server")
            assert status in (201, 202), f"starting {name!r}: {status} {body}"
        wait_ready(admin_server, NAMES)
        record = accounts(machine)
        yield {name: record[name] for name in NAMES}
    finally:
        for name in NAMES:
            api(admin_server, "DELETE", user_path(name) + "/server")
        for name in NAMES:
            wait_stopped(admin_server, name)
            api(admin_server, "DELETE", user_path(name))
        machine.run(["rm", "-rf", f"{STATE}/new_user_data"])


def test_awkward_names_get_distinct_valid_accounts(machine: Machine, people: dict[str, str]) -> None:
    assert len(set(people.values())) == len(people), people
    for name, account in people.items():
        assert len(account) <= 32, (name, account)
        uid = int(machine.run(["id", "-u", account]).stdout)
        assert uid >= 1000, f"{name!r} got {account}, a system account (uid {uid})"
        assert "jupyterhub-users" in machine.run(["id", "-nG", account]).stdout.split()
        owner = machine.run(["stat", "-c", "%U", f"/proc/{main_pid(machine, account)}"]).stdout.strip()
        assert owner == account, f"the server of {name!r} runs as {owner}, not {account}"
    assert people["alice.smith"] == "jupyter-alice.smith"  # upstream TLJH's name for it
    assert people["a"] == "jupyter-a"
    assert machine.stat(f"{STATE}/unix-accounts.json") == ("root", "root", 0o600)


def test_homes_are_private_after_the_new_user_hook(machine: Machine, people: dict[str, str]) -> None:
    """tljh-new-user copied its 0755 template onto each new home; the spawner closed them again."""
    for account in people.values():
        assert machine.run(["cat", f"/home/{account}/hello.txt"]).stdout.strip() == "hello"  # the hook ran
        assert machine.stat(f"/home/{account}") == (account, account, 0o700)
    alice, bob = people["alice.smith"], people["alice-smith-634258"]
    for argv in (["ls", f"/home/{bob}"], ["cat", f"/home/{bob}/hello.txt"], ["touch", f"/home/{bob}/x"]):
        code, _, output = as_user(machine, alice, *argv)
        assert code != 0, f"{alice} could run {argv}: {output}"


def test_tmp_is_private_to_each_server(machine: Machine, people: dict[str, str]) -> None:
    alice, bob = people["alice.smith"], people["alice-smith-634258"]
    enter_alice = ["nsenter", "-t", main_pid(machine, alice), "-m", "--"]
    enter_bob = ["nsenter", "-t", main_pid(machine, bob), "-m", "--"]
    machine.run([*enter_alice, "runuser", "-u", alice, "--", "touch", "/tmp/alice-was-here"])
    assert machine.succeeds([*enter_alice, "test", "-e", "/tmp/alice-was-here"])
    seen = machine.run([*enter_bob, "runuser", "-u", bob, "--", "ls", "-a", "/tmp"]).stdout
    assert "alice-was-here" not in seen
    assert not machine.succeeds(["test", "-e", "/tmp/alice-was-here"])


def test_a_normal_user_cannot_sudo(machine: Machine, people: dict[str, str]) -> None:
    code, _, output = as_user(machine, people["a"], "sudo", "-n", "true")
    assert code != 0, output


def test_a_normal_user_cannot_write_under_or_read_the_private_parts_of_opt_tljh(
    machine: Machine, people: dict[str, str]
) -> None:
    user = people["alice.smith"]
    code, writable, _ = as_user(machine, user, "sh", "-c", f"find {PREFIX} -writable 2>/dev/null")
    assert writable.strip() == "", f"writable by {user}:\n{writable[:2000]}"
    for argv in (["ls", f"{PREFIX}/state"], ["ls", f"{PREFIX}/config"], ["cat", f"{PREFIX}/installer.log"],
                 ["cat", f"{PREFIX}/config/config.yaml"], ["cat", f"{STATE}/traefik-api.secret"]):
        code, _, output = as_user(machine, user, *argv)
        assert code != 0, f"{user} could run {argv}: {output[:300]}"


def test_state_files_are_root_only(machine: Machine, people: dict[str, str]) -> None:
    """The hub's database was 0644; nothing in the state directory is open to group or others."""
    assert machine.stat(f"{STATE}/jupyterhub.sqlite")[2] == 0o600
    plugin_template = f"{STATE}/new_user_data"  # tljh-new-user's input, the admin's to shape
    opened = machine.run(["find", STATE, "-path", plugin_template, "-prune", "-o", "-type", "f", "-perm", "/077",
                          "-printf", "%m %p\n"]).stdout
    assert opened == "", opened


def test_traefik_api_needs_the_secret_and_listens_on_localhost_only(machine: Machine, people: dict[str, str]) -> None:
    code, status, output = as_user(machine, people["a"], "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                   "http://127.0.0.1:8099/api/rawdata")
    assert status.strip() == "401", output
    listening = machine.run(["ss", "-ltnH", "sport = :8099"]).stdout.split()
    assert listening and all(not word.endswith(":8099") or word.startswith("127.0.0.1:") for word in listening), listening


def test_an_admin_sudo_pip_installs_into_the_user_env_with_the_environment_reset(
    machine: Machine, admin_server: HubClient, admin_account: str
) -> None:
    code, seen, output = as_user(machine, admin_account, "sudo", "-n", "sh", "-c", 'echo "$HOME $FOO"',
                                 env=("FOO=leak",))
    assert code == 0, output
    assert seen.split() == ["/root"], f"plain sudo kept the caller's environment: {output!r}"
    try:
        code, _, output = as_user(machine, admin_account, "sudo", "-n", "-E", "pip", "install", "--no-deps",
                               "tomli-w==1.2.0")
        assert code == 0, output
        shown = machine.run([f"{PREFIX}/user/bin/pip", "show", "-f", "tomli-w"]).stdout
        assert f"Location: {PREFIX}/user/lib/" in shown, shown
    finally:
        machine.run([f"{PREFIX}/user/bin/pip", "uninstall", "-y", "tomli-w"], check=False)


def test_a_removed_admin_loses_admin_and_sudo_by_their_next_spawn(machine: Machine, admin_server: HubClient) -> None:
    def tljh_config(*args: str) -> str:
        result = machine.run(["tljh-config", *args], check=False, timeout=240)
        assert result.returncode == 0, f"tljh-config {' '.join(args)}: {result.stdout}{result.stderr}"
        return result.stdout

    def spawn() -> str:
        status, body = api(admin_server, "POST", user_path(DEMOTED) + "/server")
        assert status in (201, 202), f"{status} {body}"
        wait_ready(admin_server, [DEMOTED])
        return accounts(machine)[DEMOTED]

    def stop() -> None:
        api(admin_server, "DELETE", user_path(DEMOTED) + "/server")
        wait_stopped(admin_server, DEMOTED)

    tljh_config("add-item", "users.admin", DEMOTED)
    demoted = False
    try:
        tljh_config("reload")
        account = spawn()
        assert api(admin_server, "GET", user_path(DEMOTED))[1]["admin"] is True
        code, _, output = as_user(machine, account, "sudo", "-n", "true")
        assert code == 0, f"an admin could not sudo (so this test could not fail): {output}"
        tljh_config("remove-item", "users.admin", DEMOTED)
        said = tljh_config("reload")
        demoted = True
        assert f"no longer admin: {DEMOTED}" in said, said
        assert api(admin_server, "GET", user_path(DEMOTED))[1]["admin"] is False
        stop()
        spawn()
        assert "jupyterhub-admins" not in machine.run(["id", "-nG", account]).stdout.split()
        admins_gid = machine.run(["getent", "group", "jupyterhub-admins"]).stdout.split(":")[2]
        status = machine.run(["cat", f"/proc/{main_pid(machine, account)}/status"]).stdout
        groups = next(line for line in status.splitlines() if line.startswith("Groups:")).split()[1:]
        assert admins_gid not in groups, f"the new server still has jupyterhub-admins: {groups}"
        code, _, output = as_user(machine, account, "sudo", "-n", "true")
        assert code != 0, f"{account} can still sudo after losing admin: {output}"
    finally:
        stop()
        if not demoted:  # the test failed half way: put users.admin back as it was
            machine.run(["tljh-config", "remove-item", "users.admin", DEMOTED], check=False)
            machine.run(["tljh-config", "reload"], check=False, timeout=240)
        api(admin_server, "DELETE", user_path(DEMOTED))
