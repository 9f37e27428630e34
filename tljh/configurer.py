"""Compatibility with upstream TLJH's `tljh.configurer`, which published plugins import."""

from __future__ import annotations

from typing import Any


def load_config(config_file: str | None = None) -> dict[str, Any]:
    """config.yaml as plain dicts and lists ({} if it does not exist).

    Unlike upstream's, the defaults are not filled in: a key not set is absent (the defaults are
    in the README's table of keys).
    """
    import json
    from pathlib import Path

    from tljh import config
    from tljh.paths import Paths

    path = Paths.from_env().config_file if config_file is None else Path(config_file)
    return dict(json.loads(json.dumps(config.load(path) or {})))
