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

    @property
    def progress_index(self) -> Path:
        """The progress page (written and served by the bootstrap; the seed document lists it)."""
        return self.root / "var/run/index.html"

    @property
    def progress_favicon(self) -> Path:
        return self.root / "var/run/favicon.ico"

    @property
    def progress_status(self) -> Path:
        """The steps' states that the page polls (format: tljh/progress.py)."""
        return self.root / "run/tljh-progress.json"

    @property
    def progress_pid(self) -> Path:
        """The page server's "PID STARTTIME", while it runs."""
        return self.root / "run/tljh-progress-page.pid"
