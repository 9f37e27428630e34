"""`tljh uninstall`: stop the hub, archive its state, and undo every journalled change newest first.

Only what the journal says the install made is undone, each change restoring what it replaced;
what was there before (a package, a group, a file it backed up) stays. apt packages the install
added are kept and listed (python3 and sudo serve the rest of the system). Hub users' accounts and
homes stay unless --remove-users; their homes are then archived first unless --no-archive.
"""

from __future__ import annotations

import os
import pwd
import signal
import sys
import time
from pathlib import Path

from tljh.actions import load_all_kinds, undo_entry
from tljh.cli.backup import confirm, default_archive, hub_accounts, write_archive
from tljh.hub.users import AccountRecord
from tljh.journal import Entry, Journal
from tljh.paths import Paths
from tljh.run import run

UNITS = ("jupyterhub.service", "traefik.service")
TREES = {("directory", "create"), ("venv", "create"), ("miniforge", "install")}


def removed_trees(entries: list[Entry]) -> list[Path]:
    """The directory trees the install created, which undoing removes whole."""
    return [Path(e.target) for e in entries if (e.kind, e.change) in TREES]


def covered(entry: Entry, trees: list[Path]) -> bool:
    """Whether entry's change lies inside a tree that is removed whole anyway (no need to undo it)."""
    if (entry.kind, entry.change) in TREES and Path(entry.target) in trees:
        return any(tree in Path(entry.target).parents for tree in trees)
    places = [Path(p) for p in (entry.env, entry.target) if p and p.startswith("/")]
    for key in ("config", "store"):
        if isinstance(entry.data.get(key), str):
            places.append(Path(entry.data[key]))
    return bool(places) and all(any(tree == p or tree in p.parents for tree in trees) for p in places)


def undo_order(entries: list[Entry]) -> list[Entry]:
    """The entries to undo, newest first, without those inside a tree removed whole."""
    trees = removed_trees(entries)
    return [e for e in reversed(entries) if not covered(e, trees)]


def stop_units() -> None:
    """Stop the hub's units, then the users' servers (jupyter-*, SystemdSpawner's transient units);
    the unit files themselves are undone from the journal."""
    run(["systemctl", "stop", *UNITS], check=False)
    run(["systemctl", "stop", "jupyter-*.service"], check=False)
    run(["systemctl", "disable", *UNITS], check=False)


def processes_of(uid: int, proc: Path = Path("/proc")) -> list[int]:
    """The pids of the processes running as uid (read from /proc: pgrep may not be installed)."""
    pids = []
    for entry in proc.iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                pids.append(int(entry.name))
        except OSError:
            pass  # the process ended meanwhile
    return pids


def kill_processes_of(uid: int, wait: float = 10.0) -> None:
    """Ensure no process runs as uid (SIGKILL, then a bounded wait until they are gone)."""
    deadline = time.monotonic() + wait
    while (pids := processes_of(uid)) and time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.2)


def remove_accounts(accounts: list[str]) -> list[str]:
    """Remove the accounts and their homes (their processes killed first); the ones that could not be."""
    failed = []
    for account in accounts:
        try:
            kill_processes_of(pwd.getpwnam(account).pw_uid)
        except KeyError:
            continue
        if run(["userdel", "--remove", account], check=False).returncode not in (0, 12):  # 12: home not removed
            failed.append(account)
    return failed


def remove_hub_made_groups(groups: list[str]) -> list[str]:
    """Remove the groups the hub created for `users.extra_user_groups`; the ones that could not be."""
    from tljh.actions.system import group_exists

    return [group for group in groups
            if group_exists(group) and run(["groupdel", group], check=False).returncode != 0]


def undo_all(entries: list[Entry]) -> tuple[list[str], list[str]]:
    """Undo the entries in order; (notes about what was kept on purpose, failures)."""
    notes: list[str] = []
    failures: list[str] = []
    for entry in entries:
        try:
            note = undo_entry(entry)
        except Exception as e:  # noqa: BLE001  (reported, not raised: one bad item must not hide the rest)
            failures.append(f"{entry.kind} {entry.change} {entry.target}: {e}")
            continue
        if note:
            notes.append(note)
    return notes, failures


def main(paths: Paths, remove_users: bool = False, archive_homes: bool = True, yes: bool = False) -> int:
    journal = Journal(paths.journal)
    entries = journal.entries()
    if not entries:
        print(f"error: no journal at {paths.journal}: nothing recorded, so nothing to undo", file=sys.stderr)
        return 1
    load_all_kinds()  # before the hub venv (this program's own packages) is removed
    todo = undo_order(entries)
    accounts = hub_accounts()
    hub_groups = AccountRecord(paths.unix_accounts).created_groups()
    archive = default_archive("uninstall")
    print(f"This stops JupyterHub and undoes {len(todo)} recorded change(s) (of {len(entries)}), newest first.")
    print(f"The hub's state and configuration are archived to {archive} first.")
    if remove_users:
        print(f"The hub's accounts are removed with their homes ({', '.join(accounts) or 'none'})"
              + (" (archived first)." if archive_homes else " (NOT archived: --no-archive)."))
    else:
        print(f"The hub's accounts and homes are kept ({', '.join(accounts) or 'none'}).")
    if not yes and not confirm("Uninstall TLJH?"):
        print("nothing was changed")
        return 1
    stop_units()
    write_archive(paths, archive, accounts if remove_users and archive_homes else [])
    print(f"archive: {archive}")
    failures = [f"account {a}: userdel failed" for a in remove_accounts(accounts)] if remove_users else []
    failures += [f"group {g} (made by the hub): groupdel failed" for g in remove_hub_made_groups(hub_groups)]
    notes, undo_failures = undo_all(todo)
    failures += undo_failures
    run(["systemctl", "daemon-reload"], check=False)
    run(["systemctl", "reset-failed"], check=False)
    for note in notes:
        print(f"kept: {note}")
    for failure in failures:
        print(f"could not undo: {failure}", file=sys.stderr)
    print("TLJH is uninstalled." if not failures else f"TLJH is uninstalled except {len(failures)} change(s) above.")
    print(f"archive: {archive}")
    return 0 if not failures else 1
