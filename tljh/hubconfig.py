"""Applying the installation's configuration to the hub's traitlets config object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tljh import config as config_file
from tljh.configurer import hub_config
from tljh.paths import Paths


def configure(c: Any, paths: Paths | None = None) -> None:
    """Set c from config.yaml, then let plugins and jupyterhub_config.d snippets edit it."""
    paths = paths or Paths.from_env()
    api_password = paths.traefik_api_secret.read_text().strip()
    for cls, traits in hub_config(config_file.load(paths.config_file), paths, api_password).items():
        for name, value in traits.items():
            setattr(c[cls], name, value)
    from tljh.hooks import plugin_manager
    from tljh.plugins import call_hook

    call_hook(plugin_manager(), "tljh_custom_jupyterhub_config", c=c)
    for snippet in sorted(paths.config_d.glob("*.py")):
        _load_snippet(c, snippet)


def _load_snippet(c: Any, path: Path) -> None:
    """Run one jupyterhub_config.d file with the same `c` (and get_config) a config file sees."""
    code = compile(path.read_text(encoding="utf-8"), str(path), "exec")
    exec(code, {"c": c, "get_config": lambda: c, "__file__": str(path)})
