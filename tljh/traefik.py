"""traefik's configuration, rendered from config.yaml: one renderer for the installer and `reload proxy`.

- static (traefik.toml): entrypoints http / https / auth_api, ACME, the file provider on the rules
  directory, then every <config>/traefik_config.d/*.toml merged in, in name order;
- dynamic, TLJH's part (rules/tljh-tls.toml): TLS 1.2 minimum and the admin's certificate
  (the hub itself owns rules/rules.toml: its API router and the users' routes);
- dynamic, the admin's part: each <config>/traefik_dynamic_config.d/NAME.toml copied to
  rules/extra-NAME.toml, where traefik's file provider merges it with the rest.
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path
from typing import Any

from tljh.config import ConfigError, get_item
from tljh.paths import TRAEFIK_API_PORT, Paths

API_ENTRYPOINT = "auth_api"
API_USERNAME = "api_admin"
ACME_RESOLVER = "letsencrypt"
ACME_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
ACME_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"
EXTRA_PREFIX = "extra-"
HEADER = "# Written by TLJH from config.yaml ({}); edits here are replaced.\n"


def https_enabled(config: Any) -> bool:
    return bool(get_item(config, "https.enabled", False))


def entrypoint(config: Any) -> str:
    """The entrypoint the hub's routes go on: https when it is on (http then only redirects)."""
    return "https" if https_enabled(config) else "http"


def listen_address(ip: str, port: int) -> str:
    """host:port for traefik; IPv6 addresses in brackets; an empty ip means every address."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def api_address(config: Any) -> str:
    ip = get_item(config, "traefik_api.ip", "127.0.0.1")
    return listen_address(ip, get_item(config, "traefik_api.port", TRAEFIK_API_PORT))


def static_config(config: Any, paths: Paths) -> dict[str, Any]:
    """traefik.toml as a mapping, before the admin's traefik_config.d snippets are merged in."""
    http: dict[str, Any] = {"address": listen_address(get_item(config, "http.address", ""),
                                                       get_item(config, "http.port", 80))}
    entrypoints: dict[str, Any] = {"http": http, API_ENTRYPOINT: {"address": api_address(config)}}
    static: dict[str, Any] = {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "api": {"dashboard": False},
        "log": {"level": "INFO", "noColor": True},
        "entryPoints": entrypoints,
        "providers": {
            "providersThrottleDuration": "0s",
            "file": {"directory": str(paths.traefik_rules_dir), "watch": True},
        },
    }
    if https_enabled(config):
        http["http"] = {"redirections": {"entryPoint": {"to": "https", "scheme": "https"}}}
        entrypoints["https"] = _https_entrypoint(config)
        if get_item(config, "https.letsencrypt.domains"):
            static["certificatesResolvers"] = {ACME_RESOLVER: {"acme": _acme(config, paths)}}
    return static


def _https_entrypoint(config: Any) -> dict[str, Any]:
    tls: dict[str, Any] = {}
    domains = list(get_item(config, "https.letsencrypt.domains") or [])
    if domains:
        tls["certResolver"] = ACME_RESOLVER
        tls["domains"] = [{"main": domains[0], "sans": domains[1:]}]
    address = listen_address(get_item(config, "https.address", ""), get_item(config, "https.port", 443))
    return {"address": address, "http": {"tls": tls}}


def _acme(config: Any, paths: Paths) -> dict[str, Any]:
    staging = bool(get_item(config, "https.letsencrypt.staging", False))
    return {
        "email": str(get_item(config, "https.letsencrypt.email")),
        "storage": str(paths.acme_json),
        "caServer": ACME_STAGING if staging else ACME_PRODUCTION,
        "tlsChallenge": {},
    }


def tls_config(config: Any) -> dict[str, Any]:
    """TLJH's dynamic config: TLS 1.2 at least, and the admin's certificate as the default one."""
    dynamic: dict[str, Any] = {"tls": {"options": {"default": {"minVersion": "VersionTLS12"}}}}
    cert, key = get_item(config, "https.tls.cert"), get_item(config, "https.tls.key")
    if https_enabled(config) and cert and key:
        pair = {"certFile": str(cert), "keyFile": str(key)}
        dynamic["tls"]["certificates"] = [pair]
        dynamic["tls"]["stores"] = {"default": {"defaultCertificate": pair}}
    return dynamic


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """base with extra merged in: mappings merge key by key, anything else in extra wins."""
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def toml_loads(text: str) -> dict[str, Any]:
    """TOML text as a mapping, read by the standard library's tomllib (tomli on Python 3.10)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    return tomllib.loads(text)


def toml_dumps(mapping: dict[str, Any]) -> str:
    """A mapping as TOML text, written by tomli-w (it escapes control characters in strings)."""
    import tomli_w

    return tomli_w.dumps(mapping)


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a mapping; ConfigError naming the file and the problem when it is not TOML."""
    try:
        return toml_loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as e:  # tomllib.TOMLDecodeError is a ValueError
        raise ConfigError(f"{path} is not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{path} cannot be read: {e.strerror}") from None


def snippets(directory: Path) -> list[Path]:
    """The *.toml files of a directory, in name order ([] when it does not exist)."""
    return sorted(p for p in directory.glob("*.toml") if p.is_file()) if directory.is_dir() else []


def merged_static_config(config: Any, paths: Paths) -> dict[str, Any]:
    static = static_config(config, paths)
    for snippet in snippets(paths.traefik_config_d):
        static = deep_merge(static, read_toml(snippet))
    return static


def _toml(mapping: dict[str, Any], source: str) -> str:
    return HEADER.format(source) + toml_dumps(mapping)


def render_static_config(config: Any, paths: Paths) -> str:
    return _toml(merged_static_config(config, paths), "config.yaml and traefik_config.d/*.toml")


def render_tls_config(config: Any) -> str:
    return _toml(tls_config(config), "config.yaml https.*")


def proxy_files(config: Any, paths: Paths) -> dict[Path, str | None]:
    """Every file TLJH renders for traefik, with its content; None marks a stale copy to remove."""
    files: dict[Path, str | None] = {
        paths.traefik_toml: render_static_config(config, paths),
        paths.traefik_tls_rules: render_tls_config(config),
    }
    for stale in paths.traefik_rules_dir.glob(f"{EXTRA_PREFIX}*.toml") if paths.traefik_rules_dir.is_dir() else []:
        files[stale] = None
    for snippet in snippets(paths.traefik_dynamic_config_d):
        read_toml(snippet)  # refuse a broken file before traefik sees it
        files[paths.traefik_rules_dir / f"{EXTRA_PREFIX}{snippet.name}"] = snippet.read_text(encoding="utf-8")
    return files


def write_proxy_files(files: dict[Path, str | None]) -> None:
    """Ensure each rendered file holds its content (0600) and stale copies are gone."""
    from tljh.actions.files import write_atomic

    for path, content in files.items():
        if content is None:
            path.unlink(missing_ok=True)
        elif not path.is_file() or path.read_text(encoding="utf-8") != content:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, content.encode("utf-8"), 0o600)


def ensure_acme_storage(config: Any, paths: Paths) -> None:
    """With Let's Encrypt on, acme.json exists and is 0600 (traefik refuses a more open one)."""
    if not get_item(config, "https.letsencrypt.domains") or not paths.acme_json.parent.is_dir():
        return
    fd = os.open(paths.acme_json, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


HUB_API_ROUTER = "route_api"  # the router and middleware jupyterhub-traefik-proxy writes for traefik's API
HUB_API_MIDDLEWARE = "auth_api"


def unreadable(rules_file: Path) -> bool:
    """Whether rules_file exists but is not a TOML mapping traefik (and the hub) can read."""
    try:
        toml_loads(rules_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except (UnicodeDecodeError, ValueError, TypeError, OSError):  # tomllib.TOMLDecodeError is a ValueError
        return True
    return False


def rules_differ(rules_file: Path, routes: dict[str, Any]) -> bool:
    """Whether rules_file lacks the hub's routes as the hub holds them (missing, unreadable, other routes).

    jupyterhub-traefik-proxy keeps its routes' record under the file's `jupyterhub` table.
    """
    if unreadable(rules_file) or not rules_file.is_file():
        return True
    return bool(toml_loads(rules_file.read_text(encoding="utf-8")).get("jupyterhub", {}) != routes)


def set_aside_unreadable(rules_file: Path) -> Path | None:
    """Ensure rules_file is readable TOML or absent: an unreadable one is moved to NAME.unreadable.

    The hub keeps its routes in rules.toml and adds every missing one when it starts, so a
    restarted hub rewrites it whole; a broken one (a full disk, a hand edit) would instead stop
    traefik from routing anything and the hub from starting cleanly. Returns where it went.
    """
    if not unreadable(rules_file):
        return None
    aside = rules_file.with_name(rules_file.name + ".unreadable")
    os.replace(rules_file, aside)
    return aside


def prepare_hub_rules(rules_file: Path, target: str, hub_restarts: bool) -> bool:
    """Make the hub's rules.toml fit the configuration about to start; True if it changed.

    - Routes on the http or https entrypoint move to target: the hub re-adds a route at start
      only when it is missing, so routes written while https was off would stay on the http
      entrypoint (which then only redirects) after turning it on, and the other way round.
    - When the hub restarts, its API router and credentials are dropped: the hub writes them at
      start but keeps values already in the file, so a new traefik_api.ip, username or password
      would otherwise never reach traefik.
    """
    from tljh.actions.files import write_atomic

    if not rules_file.is_file():
        return False
    rules = toml_loads(rules_file.read_text(encoding="utf-8"))
    http = rules.get("http") or {}
    changed = False
    for router in http.get("routers", {}).values():
        if router.get("entryPoints") in (["http"], ["https"]) and router["entryPoints"] != [target]:
            router["entryPoints"] = [target]
            changed = True
    if hub_restarts:
        for section, name in (("routers", HUB_API_ROUTER), ("middlewares", HUB_API_MIDDLEWARE)):
            changed = http.get(section, {}).pop(name, None) is not None or changed
            if section in http and not http[section]:
                del http[section]  # traefik rejects empty tables
    if changed:
        write_atomic(rules_file, toml_dumps(rules).encode("utf-8"), rules_file.stat().st_mode & 0o777)
    return changed
