"""config.yaml: reading it, and editing it by dotted key with comments and key order kept."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import io
import math
import os
import re
import time
from pathlib import Path
from typing import Any, Iterator

from tljh.actions.files import write_atomic


MAX_BYTES = 1024**2


class ConfigError(Exception):
    """config.yaml cannot be read or an edit does not fit its shape; the message says why."""


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.Representer = _representer()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


@functools.cache
def _representer() -> Any:
    """ruamel's round-trip representer, except that a float read from the file is written back as the same number.

    ruamel re-renders an untouched float from its digits and exponent, which can change it
    (9.38827948100758e+27 became 9.38827948100757e+27 when another key was edited).
    """
    from ruamel.yaml.representer import RoundTripRepresenter
    from ruamel.yaml.scalarfloat import ScalarFloat

    class Representer(RoundTripRepresenter):
        def represent_same_float(self, data: Any) -> Any:
            node = self.represent_scalar_float(data)
            try:
                same = float(node.value) == float(data)
            except ValueError:  # .inf, .nan: ruamel's own spellings
                same = True
            return node if same else self.represent_scalar("tag:yaml.org,2002:float", repr(float(data)))

    Representer.add_representer(ScalarFloat, Representer.represent_same_float)
    return Representer


def load(path: Path) -> Any:
    """The config as a round-trip mapping ({} when the file does not exist or is empty)."""
    if not path.exists() and not path.is_symlink():
        return loads("", path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ConfigError(f"{path} is larger than {MAX_BYTES // 1024} KiB; a configuration is never this large")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; fix it by hand") from None
    except OSError as e:
        raise ConfigError(f"{path} cannot be read: {e.strerror}") from None
    return loads(text, path)


def loads(text: str, source: Path | str = "config.yaml") -> Any:
    """YAML text as a round-trip mapping ({} when empty); ConfigError saying where it is broken."""
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.comments import CommentedMap

    try:
        data = _yaml().load(text)
    except YAMLError as e:
        raise ConfigError(f"{source} is not valid YAML{_where(e)}; fix it by hand (tljh-config cannot edit it)") from None
    if data is None:
        return CommentedMap()
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must hold a mapping of settings, not a {type(data).__name__}")
    return data


def _where(error: Exception) -> str:
    """' (line L, column C: problem)' from a ruamel error, or '' when it has no position."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or getattr(error, "context", None) or ""
    if mark is None:
        return f" ({problem})" if problem else ""
    return f" (line {mark.line + 1}, column {mark.column + 1}: {problem})"


def dump(data: Any) -> str:
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


def save(path: Path, data: Any) -> None:
    """Replace config.yaml atomically, keeping its mode and owner (root, 0600 for a new file)."""
    replace(path, dump(data).encode("utf-8"))


def replace(path: Path, content: bytes) -> None:
    """Put content at path in one rename, with the mode and owner of the file it replaces."""
    if path.exists():
        st = path.stat()
        write_atomic(path, content, st.st_mode & 0o7777, st.st_uid, st.st_gid)
    else:
        write_atomic(path, content, 0o600)


LOCK_WAIT_SECONDS = 5.0


@contextlib.contextmanager
def locked(path: Path, what: str, wait: float | None = None) -> Iterator[None]:
    """Hold the lock that serialises writers of the config file at path (tljh-config, the installer).

    `what` names this holder (e.g. "tljh-config reload hub"); waits up to `wait` seconds for
    another holder, then raises ConfigError naming it.
    """
    wait = LOCK_WAIT_SECONDS if wait is None else wait
    lock_path = path.parent / f".{path.name}.lock"
    if not path.parent.is_dir():
        raise ConfigError(f"{path.parent} does not exist (is TLJH installed here? --config-path chooses the file)")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _acquire(fd, lock_path, wait)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}: {what}\n".encode(), 0)
        except OSError:
            pass  # who holds it is only a courtesy; a full disk must not stop the command
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # no stale holder named once it is released
    finally:
        os.close(fd)


def _acquire(fd: int, lock_path: Path, wait: float) -> None:
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
                holder = f"pid {holder}" if holder else "another process"
                raise ConfigError(
                    f"the configuration is locked by another run ({holder}, lock {lock_path}); "
                    f"waited {wait:.0f}s for it. Try again when it has finished."
                ) from None
            time.sleep(0.1)


def check_key(key: str) -> None:
    """A dotted key: non-empty parts separated by single dots."""
    if not key or any(not part.strip() or part != part.strip() for part in key.split(".")):
        raise ConfigError(f"{key!r} is not a valid KEY: use dotted names such as users.admin or limits.memory")


def _parent(data: Any, key: str, create: bool) -> tuple[Any, str]:
    """The mapping that holds the last part of a dotted key, and that part."""
    from ruamel.yaml.comments import CommentedMap

    check_key(key)
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
    check_key(key)
    missing = object()
    if get_item(data, key, missing) is missing:
        raise ConfigError(f"{key} is not set")
    parent, last = _parent(data, key, create=False)
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
    check_key(key)
    items = get_item(data, key)
    if items is None:
        raise ConfigError(f"{key} is not set, so it has no items to remove")
    if not isinstance(items, list):
        raise ConfigError(f"{key} is not a list, so items cannot be removed from it (use unset)")
    if value not in items:
        raise ConfigError(f"{value!r} is not in {key} (it holds: {', '.join(map(str, items)) or 'nothing'})")
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


# Upstream TLJH's module-level paths, which published plugins import (`from tljh.config import
# CONFIG_FILE`). Computed when asked for, from TLJH_INSTALL_PREFIX as the installer does.
_UPSTREAM_PATHS = {
    "INSTALL_PREFIX": "prefix",
    "HUB_ENV_PREFIX": "hub_env",
    "USER_ENV_PREFIX": "user_env",
    "STATE_DIR": "state_dir",
    "CONFIG_DIR": "config_dir",
    "CONFIG_FILE": "config_file",
}


def __getattr__(name: str) -> str:
    if name in _UPSTREAM_PATHS:
        from tljh.paths import Paths

        return str(getattr(Paths.from_env(), _UPSTREAM_PATHS[name]))
    raise AttributeError(f"module 'tljh.config' has no attribute {name!r}")
