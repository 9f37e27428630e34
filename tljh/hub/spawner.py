"""The spawner: SystemdSpawner that creates each user's unix account on first spawn."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from systemdspawner import SystemdSpawner
from traitlets import Dict, Integer, Unicode

from tljh.hub.startqueue import default_slots, progress_event, shared_queue
from tljh.hub.startup import wait_until_answering
from tljh.hub.units import clear_stale_unit, failed_since, unit_properties, unit_report
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

    At most `concurrent_starts` servers start at once (from account creation until the server
    answers HTTP); the others wait their turn in arrival order, and progress() tells a waiting
    user how many are ahead of them. start_timeout covers the wait.
    """

    extra_user_groups = Dict(
        config=True, help="{unix group: [hub user names]}: the accounts added to each group (created if missing)"
    )

    concurrent_starts = Integer(
        0, config=True, help="servers starting at once, the others wait in line (0: two per CPU core, at least 2)"
    )
    accounts_file = Unicode(
        str(Paths().unix_accounts), config=True, help="the record of which unix account each hub user has"
    )
    _ticket: asyncio.Future[None] | None = None
    _phase = ""
    _account: str | None = None

    def unix_account(self) -> str:
        """The user's account: the one given at start, else the recorded one, else its first candidate."""
        if self._account is None:
            return AccountRecord(Path(self.accounts_file)).lookup(self.user.name) or next(candidates(self.user.name))
        return self._account

    def _expand_user_vars(self, string: str) -> str:
        return string.format(USERNAME=self.unix_account().removeprefix(UNIX_PREFIX), USERID=self.user.id)

    async def start(self) -> Any:
        queue = shared_queue(self.concurrent_starts or default_slots())
        self._phase, self._ticket = "waiting", queue.enter()
        try:
            await queue.wait(self._ticket)
            self._phase = "starting"
            self._account = await asyncio.to_thread(self._ensure_account)
            self.unit_name = self._expand_user_vars(self.unit_name_template)
            self.disable_user_sudo = not self.user.admin
            address = await self._start_unit()
            self._phase = "answering"
            if address:
                await self._wait_until_answering(*address)
            return address
        finally:
            queue.leave(self._ticket)
            self._phase, self._ticket = "", None

    async def _start_unit(self) -> Any:
        """SystemdSpawner's start, bounded by http_timeout (start_timeout is for the wait in line).

        SystemdSpawner waits for the unit to be active and does not notice a unit that failed
        as it started (or a `systemd-run` that failed): such a start ends here as soon as the
        unit's new run has failed, not after http_timeout, and either way the error says the
        unit's state and its last log lines."""
        if await clear_stale_unit(self.unit_name):
            self.log.warning("%s was left loaded from its transient unit file after a stop (a daemon-reload "
                             "at that moment); removed it so that the unit can start again", self.unit_name)
        before = await unit_properties(self.unit_name)
        start = asyncio.ensure_future(super().start())
        deadline = time.monotonic() + self.http_timeout
        while not start.done() and time.monotonic() < deadline:
            await asyncio.wait({start}, timeout=1.0)
            if not start.done() and await failed_since(self.unit_name, before):
                start.cancel()
                raise RuntimeError(f"{self.user.name}'s server stopped as it started. "
                                   + await unit_report(self.unit_name))
        if not start.done():
            start.cancel()
            raise RuntimeError(f"the unit of {self.user.name}'s server did not become active within "
                               f"{self.http_timeout} s. " + await unit_report(self.unit_name))
        return start.result()

    async def _wait_until_answering(self, ip: str, port: int) -> None:
        """Hold the start slot until the server answers its API (or stops, or http_timeout passes)."""
        prefix = self.server.base_url if self.server is not None else f"/user/{self.user.name}/"
        deadline = time.monotonic() + self.http_timeout
        if not await wait_until_answering(ip, port, f"{prefix}api", deadline, self.poll):
            self.log.warning("%s's server did not answer within %s s of its start", self.user.name, self.http_timeout)

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        """Where the start is: the place in line while waiting, then starting, then waiting for an answer."""
        queue = shared_queue(self.concurrent_starts or default_slots())
        said = None
        while self._spawn_pending:
            event = progress_event(self._phase, queue, self._ticket) if self._phase else said
            if event != said and event is not None:
                said = event
                yield event
            await asyncio.sleep(1)

    def _ensure_account(self) -> str:
        record = AccountRecord(Path(self.accounts_file))
        unix_name = record.account_for(self.user.name)
        try:
            if ensure_user(unix_name):
                self.log.info("Created unix user %s for hub user %s", unix_name, self.user.name)
                self._user_created(unix_name)
        finally:
            if ensure_private_home(unix_name):
                self.log.info("The home of %s was not private: made it 0700 again", unix_name)
        ensure_admin_membership(unix_name, bool(self.user.admin))
        for group in groups_of(self.user.name, self.extra_user_groups):
            if record.ensure_group(group):
                self.log.info("Created group %s (users.extra_user_groups)", group)
            ensure_membership(unix_name, group, True)
        return unix_name

    def _user_created(self, unix_name: str) -> None:
        """Tell plugins a new account exists (hook tljh_new_user_create)."""
        from tljh.hooks import plugin_manager
        from tljh.plugins import call_hook

        call_hook(plugin_manager(), "tljh_new_user_create", username=unix_name)

