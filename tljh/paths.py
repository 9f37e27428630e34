"""Every path the installer touches, derived from one prefix and one root, and the pinned versions.

Nothing here reads the environment at import time: `Paths.from_env()` is called where needed,
so tests build a `Paths` over a temporary directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

DEFAULT_PREFIX = Path("/opt/tljh")
PACKAGE_DIR = Path(__file__).resolve().parent
REQUIREMENTS_DIR = PACKAGE_DIR / "requirements"

TRAEFIK_VERSION = "3.7.15"
HUB_REQUIREMENTS = REQUIREMENTS_DIR / "hub.txt"
TRAEFIK_REQUIREMENTS = REQUIREMENTS_DIR / "traefik.txt"
USER_VENV_REQUIREMENTS = REQUIREMENTS_DIR / "user-venv.txt"
APT_PACKAGES = ("python3", "python3-venv", "sudo")

USERS_GROUP = "jupyterhub-users"
ADMINS_GROUP = "jupyterhub-admins"
HUB_PORT = 15001
TRAEFIK_API_PORT = 8099


@dataclass(frozen=True)
class Paths:
    """The installation's layout: `prefix` holds TLJH's own tree, `root` the system's (/etc, /usr)."""

    prefix: Path = DEFAULT_PREFIX
    root: Path = Path("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Paths:
        """The layout for this machine: TLJH_INSTALL_PREFIX overrides /opt/tljh."""
        return cls(prefix=Path(environ.get("TLJH_INSTALL_PREFIX") or DEFAULT_PREFIX))

    @property
    def hub_env(self) -> Path:
        return self.prefix / "hub"

    @property
    def user_env(self) -> Path:
        return self.prefix / "user"

    @property
    def config_dir(self) -> Path:
        return self.prefix / "config"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.yaml"

    @property
    def config_d(self) -> Path:
        return self.config_dir / "jupyterhub_config.d"

    @property
    def state_dir(self) -> Path:
        return self.prefix / "state"

    @property
    def install_state(self) -> Path:
        """What the installer remembers between runs (user env kind, ...)."""
        return self.state_dir / "install.json"

    @property
    def journal(self) -> Path:
        return self.state_dir / "journal.jsonl"

    @property
    def backups_dir(self) -> Path:
        return self.state_dir / "backups"

    @property
    def log_file(self) -> Path:
        return self.prefix / "installer.log"

    @property
    def traefik_bin(self) -> Path:
        return self.hub_env / "bin" / "traefik"

    @property
    def traefik_toml(self) -> Path:
        return self.state_dir / "traefik.toml"

    @property
    def traefik_rules_dir(self) -> Path:
        return self.state_dir / "rules"

    @property
    def traefik_tls_rules(self) -> Path:
        """traefik dynamic config TLJH renders (TLS options, certificate); the hub owns rules.toml."""
        return self.traefik_rules_dir / "tljh-tls.toml"

    @property
    def traefik_config_d(self) -> Path:
        """The admin's extra traefik static config (*.toml), merged into traefik.toml."""
        return self.config_dir / "traefik_config.d"

    @property
    def traefik_dynamic_config_d(self) -> Path:
        """The admin's extra traefik dynamic config (*.toml), copied into the rules directory."""
        return self.config_dir / "traefik_dynamic_config.d"

    @property
    def last_good_dir(self) -> Path:
        """config.yaml and the proxy's rendered files as they were when the hub last came up healthy."""
        return self.state_dir / "last-good"

    @property
    def failed_config(self) -> Path:
        """The config.yaml a reload rolled back, kept for the admin to look at."""
        return self.state_dir / "config.failed.yaml"

    @property
    def traefik_api_secret(self) -> Path:
        return self.state_dir / "traefik-api.secret"

    @property
    def acme_json(self) -> Path:
        return self.state_dir / "acme.json"

    @property
    def passwords_dbm(self) -> Path:
        return self.state_dir / "passwords.dbm"

    @property
    def units_dir(self) -> Path:
        return self.root / "etc/systemd/system"

    @property
    def sudoers_file(self) -> Path:
        return self.root / "etc/sudoers.d/jupyterhub-admins"

    @property
    def tljh_config_link(self) -> Path:
        return self.root / "usr/bin/tljh-config"
