"""Unix accounts for hub users: which account a hub name gets, its creation at first spawn, its groups.

The mapping hub name → unix account is kept in a record (`<state>/unix-accounts.json`, 0600,
replaced atomically), so it is injective (an account is never given to a second hub name) and
stable (a name keeps its account for ever, whatever the naming rule becomes). A name not yet in
the record gets, in this order:

1. the account upstream TLJH made for it (`jupyter-NAME`, see `upstream_account`), when that
   account exists, is a regular account in jupyterhub-users and no other name holds it; a
   truncated upstream name (which ends in a 5-hex digest, so it could be forged) only through
   `adopt_existing`, at hub start, for the hub users already in the database;
2. otherwise the first of `candidates(NAME)` that is neither an existing account or group nor
   recorded for another name. For names of lowercase letters, digits, '.', '_' and '-' (starting
   with a letter or digit) the first candidate is upstream's own name; any other name gets a
   readable stem plus a digest of the whole name.
"""

from __future__ import annotations

import fcntl
import grp
import hashlib
import json
import os
import pwd
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from tljh.actions.system import group_exists
from tljh.paths import ADMINS_GROUP, USERS_GROUP
from tljh.run import run

UNIX_PREFIX = "jupyter-"
UNIX_NAME_MAX = 32
UPSTREAM_KEPT = 25  # upstream keeps jupyter-NAME whole up to this length, else truncates + digests
UID_MIN = 1000  # accounts below this are system accounts: never handed to a hub user
ACCOUNT_NAME = re.compile(r"[a-z_][a-z0-9_.-]*")
_VERBATIM = re.compile(r"[a-z0-9][a-z0-9._-]*")
MAX_CANDIDATES = 1000
_lock = threading.Lock()


class NoAccountName(Exception):
    """No free account name could be found for a hub name (practically impossible)."""


# ------------------------------------------------------------------ naming rules (pure)


def upstream_account(hub_name: str) -> str:
    """The account upstream TLJH gives hub_name: jupyter-NAME, or when that is 26 characters or
    more, its first 26 characters, '-' and 5 hex digits of its sha256."""
    full = UNIX_PREFIX + hub_name
    if len(full) <= UPSTREAM_KEPT:
        return full
    return f"{full[:26]}-{hashlib.sha256(full.encode('utf-8')).hexdigest()[:5]}"


def is_valid_account(name: str) -> bool:
    """A portable unix account name of at most 32 characters."""
    return len(name) <= UNIX_NAME_MAX and ACCOUNT_NAME.fullmatch(name) is not None


def _stem(hub_name: str, room: int) -> str:
    return re.sub(r"[^a-z0-9]+", "-", hub_name.lower()).strip("-")[:room].strip("-")


def candidates(hub_name: str) -> Iterator[str]:
    """The account names hub_name may get, best first; each valid, at most 32 characters."""
    if _VERBATIM.fullmatch(hub_name):
        yield upstream_account(hub_name)
    digest_len = 8
    room = UNIX_NAME_MAX - len(UNIX_PREFIX) - digest_len - 1
    stem = _stem(hub_name, room)
    for n in range(MAX_CANDIDATES):
        salted = hub_name if n == 0 else f"{n}:{hub_name}"
        digest = hashlib.sha256(salted.encode("utf-8", "surrogatepass")).hexdigest()[:digest_len]
        yield f"{UNIX_PREFIX}{stem}-{digest}" if stem else f"{UNIX_PREFIX}{digest}"


# ------------------------------------------------------------------ the machine's accounts


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def group_members(group: str) -> set[str]:
    try:
        return set(grp.getgrnam(group).gr_mem)
    except KeyError:
        return set()


def is_hub_account(name: str) -> bool:
    """An existing regular (non-system) account in jupyterhub-users: one TLJH made for a hub user."""
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return False
    return uid >= UID_MIN and name in group_members(USERS_GROUP)


def is_taken(name: str) -> bool:
    """An account or group of that name exists on this machine."""
    return user_exists(name) or group_exists(name)


# ------------------------------------------------------------------ the record


class AccountRecord:
    """The persistent hub name → unix account mapping (one file, 0600, replaced atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return data if isinstance(data, dict) else {}

    def load(self) -> dict[str, str]:
        accounts = self._read().get("accounts", {})
        return {str(k): str(v) for k, v in accounts.items()} if isinstance(accounts, dict) else {}

    def created_groups(self) -> list[str]:
        """The groups the hub created (for `users.extra_user_groups`), which uninstall removes."""
        groups = self._read().get("created_groups", [])
        return sorted(str(g) for g in groups) if isinstance(groups, list) else []

    def _save(self, accounts: dict[str, str], created_groups: list[str] | None = None) -> None:
        from tljh.actions.files import write_atomic

        groups = self.created_groups() if created_groups is None else sorted(set(created_groups))
        text = json.dumps({"version": 1, "accounts": accounts, "created_groups": groups},
                          indent=1, sort_keys=True, ensure_ascii=False)
        write_atomic(self.path, (text + "\n").encode("utf-8"), 0o600)

    def ensure_group(self, group: str) -> bool:
        """The group exists; when the hub has to create it, it is recorded first (so uninstall,
        which removes what the hub made, knows it even if the creation is interrupted). Whether it
        was created."""
        if group_exists(group):
            return False
        with _lock, self._locked():
            self._save(self.load(), [*self.created_groups(), group])
            if not group_exists(group):
                run(["groupadd", "--system", group])
                return True
        return False

    def _locked(self) -> _FileLock:
        return _FileLock(self.path.with_name(self.path.name + ".lock"))

    def lookup(self, hub_name: str) -> str | None:
        """The account recorded for hub_name, if any (changes nothing)."""
        return self.load().get(hub_name)

    def account_for(self, hub_name: str) -> str:
        """hub_name's account: the recorded one, else an adopted upstream one, else a new free
        name; recorded before it is returned, so no other hub name can get it."""
        with _lock, self._locked():
            accounts = self.load()
            if hub_name in accounts:
                return accounts[hub_name]
            held = set(accounts.values())
            account = _adoptable(hub_name, held, truncated_too=False) or _free_name(hub_name, held)
            accounts[hub_name] = account
            self._save(accounts)
            return account

    def adopt_existing(self, hub_names: Iterable[str]) -> list[str]:
        """Record, for each hub name not yet recorded, the account upstream TLJH made for it (if it
        exists and is free); the names adopted."""
        with _lock, self._locked():
            accounts = self.load()
            held = set(accounts.values())
            adopted = []
            for name in hub_names:
                account = None if name in accounts else _adoptable(name, held, truncated_too=True)
                if account:
                    accounts[name] = account
                    held.add(account)
                    adopted.append(name)
            if adopted:
                self._save(accounts)
            return adopted


def _adoptable(hub_name: str, held: set[str], truncated_too: bool) -> str | None:
    account = upstream_account(hub_name)
    if account in held or not is_hub_account(account):  # it exists, so the machine accepted its name
        return None
    if len(account) > UPSTREAM_KEPT and not truncated_too:
        return None
    return account


def _free_name(hub_name: str, held: set[str]) -> str:
    for candidate in candidates(hub_name):
        if candidate not in held and not is_taken(candidate):
            return candidate
    raise NoAccountName(f"no free unix account name for hub user {hub_name!r}")


class _FileLock:
    """An exclusive flock on path while in the with block (between processes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> _FileLock:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def hub_user_names(db_file: Path, admins_only: bool = False) -> list[str]:
    """The users (or only the admins) in the hub's sqlite database ([] if there is none yet or it
    cannot be read)."""
    if not db_file.is_file():
        return []
    query = "SELECT name FROM users" + (" WHERE admin = 1" if admins_only else "")
    try:
        db = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
        try:
            return [str(row[0]) for row in db.execute(query)]
        finally:
            db.close()
    except sqlite3.Error:
        return []


# ------------------------------------------------------------------ accounts and groups


def ensure_user(name: str) -> bool:
    """A unix account with a private home (0700) in jupyterhub-users; True if it was just created."""
    if user_exists(name):
        return False
    run(["useradd", "--create-home", "--shell", "/bin/bash", "-K", "HOME_MODE=0700", "--groups", USERS_GROUP, name])
    ensure_private_home(name)
    return True


def ensure_private_home(name: str) -> bool:
    """The account's home directory is 0700 (whatever a plugin did to it); True if it was changed."""
    try:
        home = Path(pwd.getpwnam(name).pw_dir)
        mode = home.stat().st_mode & 0o7777
    except (KeyError, FileNotFoundError):
        return False
    if mode == 0o700:
        return False
    os.chmod(home, 0o700)
    return True


def ensure_membership(name: str, group: str, member: bool) -> None:
    """name is in group exactly when member is True (groups are created if missing)."""
    if member and not group_exists(group):
        run(["groupadd", "--system", group])
    if member and name not in group_members(group):
        run(["gpasswd", "--add", name, group])
    elif not member and name in group_members(group):
        run(["gpasswd", "--delete", name, group])


def ensure_admin_membership(name: str, admin: bool) -> None:
    ensure_membership(name, USERS_GROUP, True)
    ensure_membership(name, ADMINS_GROUP, admin)


def revoke_stale_admins(admin_accounts: set[str]) -> list[str]:
    """Every hub account in jupyterhub-admins that is not one of admin_accounts leaves it; their names."""
    stale = sorted(m for m in group_members(ADMINS_GROUP) - admin_accounts if is_hub_account(m))
    for member in stale:
        ensure_membership(member, ADMINS_GROUP, False)
    return stale


def groups_of(hub_name: str, extra_user_groups: dict[str, list[str]]) -> list[str]:
    """The extra groups, in name order, whose member list holds hub_name."""
    return sorted(group for group, names in extra_user_groups.items() if hub_name in (names or []))


def prepare_at_hub_start(record_file: Path, db_file: Path, admin_names: Iterable[str]) -> list[str]:
    """Before the hub serves: the accounts upstream TLJH made for the hub's known users are
    recorded as theirs, and every hub account in jupyterhub-admins that is not an admin's leaves
    it (admins removed from users.admin lose sudo). The accounts removed from the group."""
    admins = {str(name) for name in admin_names}
    record = AccountRecord(record_file)
    record.adopt_existing([*hub_user_names(db_file), *sorted(admins)])
    accounts = record.load()
    return revoke_stale_admins({accounts[name] for name in admins if name in accounts})
