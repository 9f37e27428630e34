"""The two services TLJH runs, defined once for the installer and for `tljh-config reload`.

Each is a tljh.actions.systemd.Service whose fingerprint covers what the service reads at start,
so whichever of the two (re)starts it, the other sees its inputs as current.
"""

from __future__ import annotations

import json
from pathlib import Path
from string import Template

from tljh.actions.systemd import Service, files_content
from tljh.paths import HUB_LOCK, PACKAGE_DIR, Paths

HUB = "jupyterhub.service"
PROXY = "traefik.service"


def render_unit(name: str, paths: Paths) -> str:
    """The unit file `name` (tljh/install/units/) with this installation's paths filled in."""
    template = Template((PACKAGE_DIR / "install" / "units" / name).read_text())
    return template.substitute(
        prefix=paths.prefix,
        hub_env=paths.hub_env,
        state_dir=paths.state_dir,
        traefik_bin=paths.traefik_bin,
        traefik_toml=paths.traefik_toml,
        jupyterhub_config=PACKAGE_DIR / "hub" / "jupyterhub_config.py",
    )


def _package_files() -> list[Path]:
    return sorted(p for p in PACKAGE_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def hub_settings(paths: Paths) -> bytes:
    """What the hub takes from config.yaml (its traitlets), as stable bytes.

    A config.yaml edit that only the proxy reads (an ACME e-mail, a TLS option) leaves these
    bytes unchanged, so it does not count as a change of the hub's inputs. An unreadable
    config.yaml counts by its raw bytes.
    """
    from tljh import config as config_file
    from tljh.config import ConfigError
    from tljh.hub.traits import hub_config

    password = paths.traefik_api_secret.read_text().strip() if paths.traefik_api_secret.is_file() else ""
    try:
        settings = hub_config(config_file.load(paths.config_file), paths, password)
    except ConfigError:
        return files_content([paths.config_file])[0]
    return json.dumps(settings, sort_keys=True, default=lambda v: sorted(v) if isinstance(v, (set, frozenset)) else str(v)).encode()


def proxy_service(paths: Paths) -> Service:
    """traefik: restarted when traefik.toml or its binary change (its rules directory is watched)."""

    def inputs() -> list[bytes]:
        return files_content([paths.traefik_toml, paths.traefik_bin])

    return Service(PROXY, render_unit(PROXY, paths), paths.units_dir, paths.state_dir / f"{PROXY}.inputs", inputs)


def hub_service(paths: Paths) -> Service:
    """JupyterHub: restarted when its settings, snippets, the tljh package or the hub env change."""

    def inputs() -> list[bytes]:
        snippets = sorted(paths.config_d.glob("*.py"))
        hub_dists = sorted(paths.hub_env.glob("lib/python3*/site-packages/*.dist-info/RECORD"))
        files = files_content([HUB_LOCK, paths.traefik_api_secret, *snippets, *_package_files(), *hub_dists])
        return [hub_settings(paths), *files]

    return Service(HUB, render_unit(HUB, paths), paths.units_dir, paths.state_dir / f"{HUB}.inputs", inputs)


def services(paths: Paths) -> list[Service]:
    """Both services, proxy first (the hub talks to traefik's API when it starts)."""
    return [proxy_service(paths), hub_service(paths)]
