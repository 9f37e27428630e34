"""The spawner: SystemdSpawner that creates each user's unix account on first spawn."""

from __future__ import annotations

import asyncio
from typing import Any

from systemdspawner import SystemdSpawner
from traitlets import Dict

from tljh.hub.users import ensure_admin_membership, ensure_membership, ensure_user, groups_of, unix_suffix


class UserCreatingSpawner(SystemdSpawner):
    """One systemd unit jupyter-NAME per user, running as unix user jupyter-NAME.

    The account is made at the first spawn; at every spawn its jupyterhub-admins membership is
    brought in line with the user's admin flag, and the account is added to each group of
    config.yaml's users.extra_user_groups that lists the user. Only admins may sudo from their server.
    """

    extra_user_groups = Dict(
        config=True, help="{unix group: [hub user names]}: the accounts added to each group (created if missing)"
    )

    def _expand_user_vars(self, string: str) -> str:
        return string.format(USERNAME=unix_suffix(self.user.name), USERID=self.user.id)

    async def start(self) -> Any:
        unix_name = self._expand_user_vars(self.username_template)
        await asyncio.to_thread(self._ensure_account, unix_name)
        self.disable_user_sudo = not self.user.admin
        return await super().start()

    def _ensure_account(self, unix_name: str) -> None:
        if ensure_user(unix_name):
            self.log.info("Created unix user %s for hub user %s", unix_name, self.user.name)
            self._user_created(unix_name)
        ensure_admin_membership(unix_name, bool(self.user.admin))
        for group in groups_of(self.user.name, self.extra_user_groups):
            ensure_membership(unix_name, group, True)

    def _user_created(self, unix_name: str) -> None:
        """Tell plugins a new account exists (hook tljh_new_user_create)."""
        from tljh.hooks import plugin_manager
        from tljh.plugins import call_hook

        call_hook(plugin_manager(), "tljh_new_user_create", username=unix_name)
