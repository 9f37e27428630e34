"""The spawner: SystemdSpawner that creates each user's unix account on first spawn."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from systemdspawner import SystemdSpawner
from traitlets import Dict, Unicode

from tljh.hub.users import (
    UNIX_PREFIX,
    AccountRecord,
    candidates,
    ensure_admin_membership,
    ensure_membership,
    ensure_private_home,
    ensure_user,
    groups_of,
)
from tljh.paths import Paths


class UserCreatingSpawner(SystemdSpawner):
    """One systemd unit per user, running as the user's own unix account.

    The account (see tljh.hub.users: recorded, so no two hub users ever share one) is made at the
    first spawn; at every spawn its home is made private again (0700, whatever a plugin's hook
    did), its jupyterhub-admins membership is brought in line with the user's admin flag, and it
    is added to each group of config.yaml's users.extra_user_groups that lists the user. Only
    admins may sudo from their server.
    """

    extra_user_groups = Dict(
        config=True, help="{unix group: [hub user names]}: the accounts added to each group (created if missing)"
    )
    accounts_file = Unicode(
        str(Paths().unix_accounts), config=True, help="the record of which unix account each hub user has"
    )
    _account: str | None = None

    def unix_account(self) -> str:
        """The user's account: the one given at start, else the recorded one, else its first candidate."""
        if self._account is None:
            return AccountRecord(Path(self.accounts_file)).lookup(self.user.name) or next(candidates(self.user.name))
        return self._account

    def _expand_user_vars(self, string: str) -> str:
        return string.format(USERNAME=self.unix_account().removeprefix(UNIX_PREFIX), USERID=self.user.id)

    async def start(self) -> Any:
        self._account = await asyncio.to_thread(self._ensure_account)
        self.unit_name = self._expand_user_vars(self.unit_name_template)
        self.disable_user_sudo = not self.user.admin
        return await super().start()

    def _ensure_account(self) -> str:
        unix_name = AccountRecord(Path(self.accounts_file)).account_for(self.user.name)
        try:
            if ensure_user(unix_name):
                self.log.info("Created unix user %s for hub user %s", unix_name, self.user.name)
                self._user_created(unix_name)
        finally:
            if ensure_private_home(unix_name):
                self.log.info("The home of %s was not private: made it 0700 again", unix_name)
        ensure_admin_membership(unix_name, bool(self.user.admin))
        for group in groups_of(self.user.name, self.extra_user_groups):
            ensure_membership(unix_name, group, True)
        return unix_name

    def _user_created(self, unix_name: str) -> None:
        """Tell plugins a new account exists (hook tljh_new_user_create)."""
        from tljh.hooks import plugin_manager
        from tljh.plugins import call_hook

        call_hook(plugin_manager(), "tljh_new_user_create", username=unix_name)
