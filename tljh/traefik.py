"""traefik's static configuration, rendered from config.yaml."""

from __future__ import annotations

from typing import Any

from tljh.config import get_item
from tljh.paths import TRAEFIK_API_PORT, Paths

API_ENTRYPOINT = "auth_api"
API_USERNAME = "api_admin"


def static_config(config: Any, paths: Paths) -> dict[str, Any]:
    """traefik.toml as a mapping: the public entrypoint, the API on localhost, the rules directory."""
    address = get_item(config, "http.address", "")
    port = get_item(config, "http.port", 80)
    return {
        "api": {"dashboard": False},
        "log": {"level": "INFO"},
        "entryPoints": {
            "http": {"address": f"{address}:{port}"},
            API_ENTRYPOINT: {"address": api_address(config)},
        },
        "providers": {
            "providersThrottleDuration": "0s",
            "file": {"directory": str(paths.traefik_rules_dir), "watch": True},
        },
    }


def api_address(config: Any) -> str:
    ip = get_item(config, "traefik_api.ip", "127.0.0.1")
    return f"{ip}:{get_item(config, 'traefik_api.port', TRAEFIK_API_PORT)}"


def render_static_config(config: Any, paths: Paths) -> str:
    import toml

    return "# Written by the TLJH installer from config.yaml; edits here are replaced.\n" + toml.dumps(
        static_config(config, paths)
    )
