"""Adopting a machine installed by upstream TLJH: what is kept as it is, what is moved aside, said once.

Upstream keeps the same layout under /opt/tljh (see the README's "Coming from upstream TLJH"), so
most of an upgrade in place is the ordinary re-run: the hub database, cookie secret, passwords,
traefik API secret and acme.json are kept where they are (the hub and traefik read them at the same
paths), the conda user environment is kept and only upgraded, and unix accounts are found by name.
Two things need an action of their own: upstream's `rules/dynamic.toml` (TLS options and
certificates), which would be merged by traefik with ours and shadow them, is moved aside; and the
person running the installer is told what was adopted.
"""

from __future__ import annotations

from pathlib import Path

from tljh.actions.files import MovedAside
from tljh.paths import Paths

__all__ = ["MovedAside", "adoption_report", "is_upstream_install", "kept", "upstream_dynamic_config"]

UPSTREAM_DYNAMIC = "dynamic.toml"


def upstream_dynamic_config(paths: Paths) -> Path:
    """Upstream's TLS rules file in the directory traefik watches."""
    return paths.traefik_rules_dir / UPSTREAM_DYNAMIC


def is_upstream_install(paths: Paths) -> bool:
    """Whether the prefix holds an install this installer did not make (it has never recorded a run)."""
    if paths.install_state.exists():
        return False
    # not the hub venv's tljh-config: this installer's own bootstrap has just made that on a fresh machine
    markers = (paths.state_dir / "jupyterhub.sqlite", paths.user_env / "conda-meta", paths.config_file,
               upstream_dynamic_config(paths))
    return any(marker.exists() for marker in markers)


def kept(paths: Paths) -> list[str]:
    """What of an existing install is kept as it is, one line each (only what is there)."""
    found = {
        "hub database (users, admins, servers)": paths.state_dir / "jupyterhub.sqlite",
        "cookie secret (logins stay valid)": paths.state_dir / "jupyterhub_cookie_secret",
        "passwords (FirstUseAuthenticator)": paths.passwords_dbm,
        "traefik API secret": paths.traefik_api_secret,
        "Let's Encrypt certificates (acme.json)": paths.acme_json,
        "config.yaml (checked against this installer's schema)": paths.config_file,
        "jupyterhub_config.d/*.py": paths.config_d,
        "user environment (upgraded in place; packages never removed or downgraded)": paths.user_env,
    }
    return [f"{what}: {path}" for what, path in found.items() if path.exists()]


def pip_installed(site_packages: Path) -> list[str]:
    """The projects pip (not conda) installed in a site-packages directory, by name."""
    names = []
    for info in sorted(site_packages.glob("*.dist-info")):
        installer = info / "INSTALLER"
        if installer.is_file() and installer.read_text().strip() == "pip":
            names.append(info.name[: -len(".dist-info")].rsplit("-", 1)[0])
    return names


def old_python_warning(user_env: Path) -> list[str]:
    """A warning when the user environment's Python is older than 3.10 (JupyterHub 6 needs 3.10):
    conda raises it, and what pip installed for the old Python must be installed again."""
    from tljh.actions.python import python_version

    version = python_version(user_env) or ""
    parts = version.split(".")
    if len(parts) < 2 or not parts[1].isdigit() or (int(parts[0]), int(parts[1])) >= (3, 10):
        return []
    site = user_env / "lib" / f"python{parts[0]}.{parts[1]}" / "site-packages"
    names = pip_installed(site)
    listed = f": {' '.join(names)}" if names else ""
    warning = (f"  warning: the user environment has Python {version}; JupyterHub 6 needs 3.10 or newer, so its "
               f"Python is upgraded by conda. Conda packages follow; the {len(names)} package(s) installed there "
               f"with pip stay in {site} and must be installed again (sudo -E pip install ...){listed}")
    return [warning]


def adoption_report(paths: Paths) -> list[str]:
    """The lines the installer prints before it adopts an upstream install ([] when it is not one)."""
    if not is_upstream_install(paths):
        return []
    lines = [f"adopting the TLJH install found in {paths.prefix} (made by upstream TLJH or an unrecorded run):"]
    lines += [f"  kept: {line}" for line in kept(paths)]
    if upstream_dynamic_config(paths).exists():
        lines.append(f"  moved aside: {upstream_dynamic_config(paths)} (upstream's TLS rules; config.yaml's "
                     f"https.* now render {paths.traefik_tls_rules.name}) -> {paths.backups_dir}/")
    lines += old_python_warning(paths.user_env)
    lines.append("  replaced: the hub environment's packages, traefik.toml, the systemd units and the sudoers "
                 "file (earlier versions of the last two in the backups directory)")
    return lines
