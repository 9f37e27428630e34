"""Uninstall, install again, back up and restore, on the session machine.

This breaks the session install, so it runs after the ordinary files, and it ends with a working
install of the same hub (same database, cookie secret and passwords, restored from the backup
taken first), so the files after it still work. The stages run in order, each one a test:

1. the admin writes a file in their home; `tljh backup --with-homes`;
2. `tljh uninstall --yes`: the machine is as before the install (the `installed` fixture's
   snapshot) except the kept accounts and homes, and apt packages (kept on purpose, see README);
3. `plan` before installing again lists every change that install then records;
4. `tljh uninstall --remove-users --yes`: the machine is as before the install, except apt packages;
5. install again, the admin without a password; `tljh restore` the backup: the admin logs in with
   the password from the backup and finds the file.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from conftest import ADMIN, ADMIN_ACCOUNT, CHECKOUT, PASSWORD, SESSION_EXTRA_ARGS, pre_install_snapshot
from hubclient import HubClient
from machine import BOOTSTRAP_TIMEOUT, REPO_ROOT, Machine, tail

if TYPE_CHECKING:
    from conftest import Installation

pytestmark = pytest.mark.one_distro

BACKUP = "/root/lifecycle-backup.tar.gz"
NOTE = f"/home/{ADMIN_ACCOUNT}/lifecycle-note.txt"
PLAN_VENV = "/root/lifecycle-plan-venv"
# Files that change on their own or as a side effect of apt, not of TLJH: shadow-utils rewrites its
# "-" backup copies on every account change; systemd keeps a random seed and timer stamps.
NOISE_SUFFIXES = ("/etc/passwd-", "/etc/group-", "/etc/shadow-", "/etc/gshadow-", "/etc/subuid-", "/etc/subgid-",
                  "/var/lib/systemd/random-seed", "/etc/.pwd.lock")


def snapshot(machine: Machine) -> dict[str, object]:
    out = machine.run(["python3", f"{CHECKOUT}/integration-tests/snapshot.py"], timeout=300).stdout
    return dict(json.loads(out))


def differences(before: dict, after: dict) -> dict[str, list[str]]:
    """Per category, the items that are only before (-), only after (+) or changed (~)."""
    found: dict[str, list[str]] = {}
    for key in ("users", "groups", "apt", "enabled_units"):
        b, a = set(before[key]), set(after[key])
        found[key] = [f"- {x}" for x in sorted(b - a)] + [f"+ {x}" for x in sorted(a - b)]
    fb, fa = before["files"], after["files"]
    found["files"] = ([f"- {p}" for p in sorted(fb.keys() - fa.keys())] + [f"+ {p}" for p in sorted(fa.keys() - fb.keys())]
                      + [f"~ {p}: {fb[p]} -> {fa[p]}" for p in sorted(fb.keys() & fa.keys()) if fb[p] != fa[p]])
    return {k: v for k, v in found.items() if v}


def apt_owned(machine: Machine, packages: list[str]) -> set[str]:
    """The files that apt packages put on the machine (they stay with the packages)."""
    if not packages:
        return set()
    out = machine.run(["dpkg", "-L", *packages], check=False).stdout
    return {line.strip() for line in out.splitlines() if line.startswith("/")}


# Made by other test files of the session, not by the product: the https tests' certificates.
TEST_MADE_PATHS = ("/etc/mycerts", "/etc/ssl/tljh-test")


def unexplained(machine: Machine, before: dict, after: dict, kept_accounts: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """The differences not explained by apt packages the install added, noise, or kept accounts."""
    diff = differences(before, after)
    added_apt = [line[2:] for line in diff.get("apt", []) if line.startswith("+ ")]
    owned = apt_owned(machine, added_apt)
    diff.pop("apt", None)

    def explained(line: str) -> bool:
        path = line[2:].split(":", 1)[0] if line.startswith("~") else line[2:]
        if path in owned or path.endswith(NOISE_SUFFIXES) or path in ("/etc/ld.so.cache",):
            return True
        if any(path == made or path.startswith(f"{made}/") for made in TEST_MADE_PATHS):
            return True
        if path.startswith("/var/lib/systemd/deb-systemd-helper") and added_apt:
            return True
        if any(path == f"/home/{a}" or path.startswith(f"/home/{a}/") for a in kept_accounts):
            return True
        # the account files gain exactly the kept accounts' lines (checked through users/groups below)
        return bool(kept_accounts) and path in ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow",
                                                "/etc/subuid", "/etc/subgid")

    diff["files"] = [line for line in diff.get("files", []) if not explained(line)]
    for key in ("users", "groups"):
        diff[key] = [line for line in diff.get(key, [])
                     if not any(line[2:].startswith(f"{a}:") for a in kept_accounts)]
    return {k: v for k, v in diff.items() if v}


def tljh(machine: Machine, *args: str, timeout: float = 600) -> str:
    result = machine.run(["tljh", *args], check=False, timeout=timeout)
    assert result.returncode == 0, f"tljh {' '.join(args)} exited {result.returncode}\n{tail(result.stdout + result.stderr, 60)}"
    return result.stdout


def archive_of(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("archive: ")]
    assert lines, output
    return lines[-1].split(": ", 1)[1]


def install(machine: Machine, admin: str, *extra: str) -> None:
    script = (REPO_ROOT / "bootstrap" / "bootstrap.py").read_text()
    result = machine.run(["python3", "-", "--admin", admin, "--user-env", "venv", *extra], input=script,
                         env={"TLJH_BOOTSTRAP_PIP_SPEC": CHECKOUT}, check=False, timeout=BOOTSTRAP_TIMEOUT)
    assert result.returncode == 0, f"install exited {result.returncode}\n{tail(result.stdout + result.stderr, 60)}"


@pytest.fixture(scope="module")
def before(machine: Machine, installed: Installation) -> dict:
    path = pre_install_snapshot(machine)
    if not path.exists():
        pytest.fail(f"no snapshot from before the session install at {path}", pytrace=False)
    return dict(json.loads(path.read_text()))


@pytest.fixture(scope="module", autouse=True)
def leave_a_working_install(machine: Machine, installed: Installation):
    """Whatever happens in between, the module ends with the session's hub installed and answering."""
    yield
    client = HubClient("http://127.0.0.1")
    try:
        client.login(ADMIN, PASSWORD)
    except Exception:  # noqa: BLE001  (uninstalled, half uninstalled or not answering: install it again)
        install(machine, f"{ADMIN}:{PASSWORD}", *SESSION_EXTRA_ARGS)
        client = HubClient("http://127.0.0.1")
        client.login(ADMIN, PASSWORD)
    client.start_server()  # as the session's admin_server fixture had it


def test_backup_with_the_admin_s_file(machine: Machine, admin_server: HubClient) -> None:
    admin_server.evaluate(f"open({NOTE!r}, 'w').write('written before the backup')")
    out = tljh(machine, "backup", "--with-homes", BACKUP)
    assert f"backup written to {BACKUP}" in out and ADMIN_ACCOUNT in out
    listing = machine.run(["tar", "-tzf", BACKUP]).stdout.split()
    assert f"home/{ADMIN_ACCOUNT}/lifecycle-note.txt" in listing
    assert "prefix/state/jupyterhub.sqlite" in listing and "MANIFEST.json" in listing


def test_plain_uninstall_keeps_only_accounts_homes_and_the_archive(machine: Machine, before: dict) -> None:
    accounts = tuple(sorted(line.split(":")[0] for line in snapshot(machine)["users"]
                            if line.startswith("jupyter-")))
    assert ADMIN_ACCOUNT in accounts
    out = tljh(machine, "uninstall", "--yes")
    archive = archive_of(out)
    assert machine.run(["tar", "-tzf", archive]).stdout.split().count("prefix/state/jupyterhub.sqlite") == 1
    assert machine.stat(archive)[2] == 0o600
    after = snapshot(machine)
    assert unexplained(machine, before, after, accounts) == {}
    assert machine.run(["cat", NOTE]).stdout == "written before the backup"


def test_plan_on_the_uninstalled_machine_lists_what_the_install_records(machine: Machine) -> None:
    machine.run(["python3", "-m", "venv", PLAN_VENV])
    machine.run([f"{PLAN_VENV}/bin/pip", "install", "--quiet", CHECKOUT], timeout=600)
    plan = machine.run([f"{PLAN_VENV}/bin/python", "-m", "tljh.installer", "--plan", "--admin", ADMIN,
                        "--user-env", "venv"], timeout=300).stdout
    machine.run(["rm", "-rf", PLAN_VENV])
    assert "create directory /opt/tljh\n" in plan and "create venv /opt/tljh/hub\n" in plan
    install(machine, ADMIN)
    entries = [json.loads(line) for line in machine.run(["cat", "/opt/tljh/state/journal.jsonl"]).stdout.splitlines()]
    assert entries
    missing = [e for e in entries if e["target"] not in plan or e["change"].split(" ")[0] not in plan]
    assert not missing, f"recorded but not planned: {missing}\nplan:\n{plan}"


def test_uninstall_with_users_leaves_the_machine_as_before(machine: Machine, before: dict) -> None:
    out = tljh(machine, "uninstall", "--remove-users", "--yes")
    archive = archive_of(out)
    assert f"home/{ADMIN_ACCOUNT}/lifecycle-note.txt" in machine.run(["tar", "-tzf", archive]).stdout.split()
    after = snapshot(machine)
    assert unexplained(machine, before, after) == {}
    assert not [line for line in differences(before, after).get("apt", []) if line.startswith("- ")]


def test_restore_onto_a_fresh_install(machine: Machine) -> None:
    install(machine, ADMIN, *SESSION_EXTRA_ARGS)  # no password: only the backup has it
    stored = machine.run(["/opt/tljh/hub/bin/python3", "-c", ("import dbm, os; p = '/opt/tljh/state/passwords.dbm'; "
                          "print(bool(dbm.whichdb(p)) and b'admin' in dbm.open(p, 'r'))")])
    assert stored.stdout.strip() == "False"
    out = tljh(machine, "restore", "--yes", BACKUP)
    assert "overwrites" in out
    wrong = HubClient("http://127.0.0.1").try_login(ADMIN, "not-" + PASSWORD)
    assert not wrong.ok
    client = HubClient("http://127.0.0.1")
    client.login(ADMIN, PASSWORD)
    # an expression, not print(): the kernel answers an expression with the execute_result read here
    assert client.evaluate(f"open({NOTE!r}).read()") == repr("written before the backup")
