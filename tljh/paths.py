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
REQUIREMENTS_DIR = PACKAGE_DIR / "install" / "requirements"

TRAEFIK_VERSION = "3.7.15"
HUB_REQUIREMENTS = REQUIREMENTS_DIR / "hub.txt"
TRAEFIK_REQUIREMENTS = REQUIREMENTS_DIR / "traefik.txt"
USER_VENV_REQUIREMENTS = REQUIREMENTS_DIR / "user-venv.txt"
# The user packages of either kind of user environment (installed with the env's pip).
USER_REQUIREMENTS = USER_VENV_REQUIREMENTS

# The conda user environment: Miniforge at a pinned release, checked against the sha256 values the
# release publishes (Miniforge3-<version>-Linux-<arch>.sh.sha256) before it is run.
# TLJH_MINIFORGE_URL (a mirror URL or a local file; "{version}" and "{arch}" are filled in) and
# TLJH_MINIFORGE_SHA256 override the download location and the expected digest.
MINIFORGE_VERSION = "26.3.2-3"
MINIFORGE_URL = (
    "https://github.com/conda-forge/miniforge/releases/download/{version}/Miniforge3-{version}-Linux-{arch}.sh"
)
MINIFORGE_SHA256 = {
    "x86_64": "848194851a98903134187fbb4ab50efe87b003e0c0f808f97644b7524a62bf2c",
    "aarch64": "2c113a69297e612b01ca0f320c22a3107a11f2ab9b573d79ac868a175945ce29",
}
# An existing conda user environment is upgraded in place to at least these versions.
CONDA_FLOORS = {"python": "3.10", "conda": "24.7", "mamba": "1.5", "pip": "23.1"}
CONDA_CHANNEL = "conda-forge"
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
    def user_env_unfinished(self) -> Path:
        """Present while Miniforge is being installed into user_env; a leftover means a crash there."""
        return self.state_dir / "user-env.unfinished"

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
    def hub_db(self) -> Path:
        """The hub's sqlite database (the hub runs in the state directory)."""
        return self.state_dir / "jupyterhub.sqlite"

    @property
    def unix_accounts(self) -> Path:
        """The record of which unix account each hub user has (see tljh.hub.users)."""
        return self.state_dir / "unix-accounts.json"

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
