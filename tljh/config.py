"""config.yaml: reading it, and editing it by dotted key with comments and key order kept."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path
from typing import Any

from tljh.actions.files import write_atomic


class ConfigError(Exception):
    """config.yaml cannot be read or an edit does not fit its shape; the message says why."""


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def load(path: Path) -> Any:
    """The config as a round-trip mapping ({} when the file does not exist or is empty)."""
    from ruamel.yaml import YAMLError
    from ruamel.yaml.comments import CommentedMap

    if not path.exists():
        return CommentedMap()
    try:
        data = _yaml().load(path.read_text(encoding="utf-8"))
    except YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from None
    if data is None:
        return CommentedMap()
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of settings, not a {type(data).__name__}")
    return data


def dump(data: Any) -> str:
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


def save(path: Path, data: Any) -> None:
    """Replace config.yaml atomically, keeping its mode (0600 for a new file)."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    write_atomic(path, dump(data).encode("utf-8"), mode)


def _parent(data: Any, key: str, create: bool) -> tuple[Any, str]:
    """The mapping that holds the last part of a dotted key, and that part."""
    from ruamel.yaml.comments import CommentedMap

    *parents, last = key.split(".")
    node = data
    for i, part in enumerate(parents):
        if part not in node and create:
            node[part] = CommentedMap()
        node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            raise ConfigError(f"{'.'.join(parents[: i + 1])} is not a section, so {key} cannot be set")
    return node, last


def get_item(data: Any, key: str, default: Any = None) -> Any:
    node = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def set_item(data: Any, key: str, value: Any) -> None:
    parent, last = _parent(data, key, create=True)
    parent[last] = value


def unset_item(data: Any, key: str) -> None:
    """Remove key, and any sections it leaves empty."""
    parent, last = _parent(data, key, create=False)
    if last not in parent:
        raise ConfigError(f"{key} is not set")
    del parent[last]
    if not parent and "." in key:
        unset_item(data, key.rsplit(".", 1)[0])


def add_item(data: Any, key: str, value: Any) -> bool:
    """Append value to the list at key (created if missing); False when it was there already."""
    parent, last = _parent(data, key, create=True)
    items = parent.setdefault(last, [])
    if not isinstance(items, list):
        raise ConfigError(f"{key} is not a list, so items cannot be added to it")
    if value in items:
        return False
    items.append(value)
    return True


def remove_item(data: Any, key: str, value: Any) -> None:
    items = get_item(data, key)
    if not isinstance(items, list) or value not in items:
        raise ConfigError(f"{value!r} is not in {key}")
    items.remove(value)


def parse_value(text: str) -> Any:
    """A command-line value read as a person means it: ints, floats, true/false, null, else a string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none", "~"):
        return None
    if re.fullmatch(r"[-+]?\d+", text.strip()):
        return int(text)
    if re.fullmatch(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?", text.strip()):
        number = float(text)
        return number if math.isfinite(number) else text
    return text
