"""Actions for the hub's own configuration and secrets: config.yaml admins, passwords, API secret."""

from __future__ import annotations

import copy
import dbm
import logging
import os
import secrets
from pathlib import Path
from typing import Any, Callable

from tljh import config as config_file
from tljh.actions import Action, Change
from tljh.actions.files import KeptFile
from tljh.journal import Entry, Journal

log = logging.getLogger("tljh")
CONFIG_LOCK_WAIT_SECONDS = 300.0  # a tljh-config reload that rolls back can take two hub starts


class ConfigWriter(Action):
    """An action that edits config.yaml: planned and applied holding tljh-config's lock, so no edit is lost."""

    config_path: Path

    def apply(self, journal: Journal) -> list[Change]:
        with config_file.locked(self.config_path, f"the installer (pid {os.getpid()})", wait=CONFIG_LOCK_WAIT_SECONDS):
            return super().apply(journal)


def secret(path: Path) -> KeptFile:
    """A random secret in a root-only file, made once and then kept."""
    return KeptFile(path, lambda: secrets.token_hex(32).encode(), 0o600)


class AdminUsers(ConfigWriter):
    """Each name is listed in config.yaml's users.admin (other settings and comments untouched)."""

    kind = "config-admins"

    def __init__(self, config_path: Path, names: list[str]) -> None:
        self.config_path, self.names = config_path, names

    @property
    def title(self) -> str:
        return "admins in " + str(self.config_path)

    def plan(self) -> list[Change]:
        admins = config_file.get_item(config_file.load(self.config_path), "users.admin") or []
        changes = [Change("add admin", n) for n in self.names if n not in admins]
        if not self.config_path.exists():
            changes.insert(0, Change("create", str(self.config_path)))
        return changes

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        data = config_file.load(self.config_path)
        for change in changes:
            self._record(journal, change, data={"config": str(self.config_path)})
            if change.what == "add admin":
                config_file.add_item(data, "users.admin", change.target)
        config_file.save(self.config_path, data)

    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        """The config file is removed if the install made it; else the admin it added is taken out."""
        if entry.change == "create":
            Path(entry.target).unlink(missing_ok=True)
        elif entry.change == "add admin":
            path = Path(str(entry.data.get("config", "")))
            if path.is_file():
                data = config_file.load(path)
                admins = config_file.get_item(data, "users.admin") or []
                if entry.target in admins:
                    config_file.remove_item(data, "users.admin", entry.target)
                    config_file.save(path, data)
        return None


class Passwords(Action):
    """FirstUseAuthenticator's password store holds these users' passwords (bcrypt hashes)."""

    kind = "passwords"

    def __init__(self, dbm_path: Path, passwords: dict[str, str]) -> None:
        self.dbm_path, self.passwords = dbm_path, passwords

    @property
    def title(self) -> str:
        return "admin passwords"

    def plan(self) -> list[Change]:
        stored: dict[str, bytes | None] = dict.fromkeys(self.passwords)
        if dbm.whichdb(str(self.dbm_path)):
            with dbm.open(str(self.dbm_path), "r") as db:
                stored = {name: db.get(name.encode("utf-8")) for name in self.passwords}
        return [
            Change("set password", name)
            for name, password in self.passwords.items()
            if not _matches(password, stored[name])
        ]

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        import bcrypt

        with dbm.open(str(self.dbm_path), "c", 0o600) as db:
            for change in changes:
                old = db.get(change.target.encode("utf-8"))
                self._record(journal, change, data={"store": str(self.dbm_path),
                                                    "previous": old.decode("utf-8") if old is not None else None})
                password = self.passwords[change.target].encode("utf-8")
                db[change.target.encode("utf-8")] = bcrypt.hashpw(password, bcrypt.gensalt())


    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        """The password hash it replaced is put back; a password it added is removed."""
        store = str(entry.data.get("store", ""))
        if not store or not dbm.whichdb(store):
            return None
        with dbm.open(store, "w") as db:
            key = entry.target.encode("utf-8")
            previous = entry.data.get("previous")
            if previous is not None:
                db[key] = str(previous).encode("utf-8")
            elif key in db:
                del db[key]
        return None


def _matches(password: str, stored: bytes | None) -> bool:
    import bcrypt

    return stored is not None and bcrypt.checkpw(password.encode("utf-8"), stored)


def add_missing(target: Any, proposed: Any, prefix: str = "") -> tuple[list[str], list[str]]:
    """Copy into `target` what `proposed` has and `target` lacks; never change a value already set.

    Sections are merged key by key and lists get the proposed items they lack. Returns
    (dotted keys added to, dotted keys whose differing proposed value was not taken).
    """
    added: list[str] = []
    kept: list[str] = []
    for key, value in proposed.items():
        path = f"{prefix}{key}"
        if key not in target:
            target[key] = copy.deepcopy(value)
            added.append(path)
        elif isinstance(target[key], dict) and isinstance(value, dict):
            more_added, more_kept = add_missing(target[key], value, path + ".")
            added, kept = added + more_added, kept + more_kept
        elif isinstance(target[key], list) and isinstance(value, list):
            new = [item for item in value if item not in target[key]]
            target[key].extend(copy.deepcopy(new))
            added += [path] if new else []
        elif target[key] != value:
            kept.append(path)
    return added, kept


class PluginConfigDefaults(ConfigWriter):
    """What plugins add to config.yaml in tljh_config_post_install, without changing what is set.

    The hook edits a copy of the configuration; keys it added (and list items) are written,
    values it changed are left as the admin has them (and logged).
    """

    kind = "config-plugins"

    def __init__(self, config_path: Path, propose: Callable[[Any], None]) -> None:
        self.config_path, self.propose = config_path, propose
        self._proposal: Any = None
        self._warned: set[str] = set()

    @property
    def title(self) -> str:
        return "plugin settings in " + str(self.config_path)

    def _merged(self) -> tuple[Any, list[str], list[str]]:
        current = config_file.load(self.config_path)
        if self._proposal is None:
            self._proposal = copy.deepcopy(current)
            self.propose(self._proposal)
        return (current, *add_missing(current, self._proposal))

    def plan(self) -> list[Change]:
        _, added, kept = self._merged()
        for key in kept:
            if key not in self._warned:
                self._warned.add(key)
                log.warning("a plugin's tljh_config_post_install changed %s; the value already set is kept", key)
        return [Change("set", key) for key in added]

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        data, added, _ = self._merged()
        for key in added:
            self._record(journal, Change("set", key), data={"config": str(self.config_path)})
        config_file.save(self.config_path, data)

    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        """A plugin's default is left in config.yaml (the admin may rely on it by now)."""
        return f"{entry.target} in {entry.data.get('config', 'config.yaml')} (set by a plugin) is kept"
