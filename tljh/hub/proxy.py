"""The hub's proxy class: jupyterhub-traefik-proxy's file provider, keeping rules.toml on disk.

The hub holds every route in memory and writes rules.toml, which traefik watches. If the file
is deleted or broken while the hub runs (a full disk, a hand edit, a restore of an old backup),
traefik drops every route and the hub would not notice until its next restart. This class
checks the file every few seconds and rewrites it from memory when it no longer says what
the hub knows.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from jupyterhub_traefik_proxy.fileprovider import TraefikFileProviderProxy  # type: ignore[import-not-found]
from traitlets import Float

from tljh.traefik import rules_differ


class RulesKeepingProxy(TraefikFileProviderProxy):  # type: ignore[misc]
    """TraefikFileProviderProxy whose rules file is rewritten when it is lost or broken."""

    rules_check_interval = Float(5.0, config=True, help="seconds between checks of the rules file (0: never)")

    _keeper: Any = None

    async def _start_external(self) -> None:
        await super()._start_external()
        if self.rules_check_interval > 0:
            self._keeper = asyncio.ensure_future(self._keep_rules())

    async def _keep_rules(self) -> None:
        while True:
            await asyncio.sleep(self.rules_check_interval)
            try:
                await self._restore_rules_if_lost()
            except Exception:  # a check must never stop the hub
                self.log.exception("checking %s failed", self.dynamic_config_file)

    async def _restore_rules_if_lost(self) -> None:
        path = Path(self.dynamic_config_file)
        async with self.mutex:  # not while the hub itself is writing it
            if not rules_differ(path, self.dynamic_config.get("jupyterhub", {})):
                return
            self._persist_dynamic_config()
        self.log.warning("%s was missing or did not hold the hub's routes; rewritten from memory", path)
