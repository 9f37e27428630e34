"""Actions for the hub's own configuration and secrets: config.yaml admins, passwords, API secret."""

from __future__ import annotations

import dbm
import secrets
from pathlib import Path

from tljh import config as config_file
from tljh.actions import Action, Change
from tljh.actions.files import KeptFile
from tljh.journal import Journal


def secret(path: Path) -> KeptFile:
    """A random secret in a root-only file, made once and then kept."""
    return KeptFile(path, lambda: secrets.token_hex(32).encode(), 0o600)


class AdminUsers(Action):
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
            self._record(journal, change)
            if change.what == "add admin":
                config_file.add_item(data, "users.admin", change.target)
        config_file.save(self.config_path, data)


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
                self._record(journal, change)
                password = self.passwords[change.target].encode("utf-8")
                db[change.target.encode("utf-8")] = bcrypt.hashpw(password, bcrypt.gensalt())


def _matches(password: str, stored: bytes | None) -> bool:
    import bcrypt

    return stored is not None and bcrypt.checkpw(password.encode("utf-8"), stored)
