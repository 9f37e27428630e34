"""`tljh-config`: show and edit /opt/tljh/config/config.yaml, and reload the hub or the proxy.

Every edit is checked against tljh.schema before it is written; a refused edit leaves the
file byte for byte as it was. Runs are serialised by a lock next to config.yaml.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from tljh import config as config_file
from tljh.config import ConfigError
from tljh.paths import Paths
from tljh.run import CommandError
from tljh.schema import edit_problems, expected_type, known_key, problems, text_problems

log = logging.getLogger("tljh")
EDITS = {
    "set": "set KEY to VALUE",
    "unset": "remove KEY (and sections it leaves empty)",
    "add-item": "append VALUE to the list KEY (created if missing)",
    "remove-item": "remove VALUE from the list KEY",
}
VALUE_HELP = ("read as YAML would: integers (negative too), floats, true/false (True/False), null, else a string; "
              "keys that hold names or paths always take the text as it is; "
              "set KEY None (or null) removes a setting, as upstream's guides do")
NONE_WORDS = ("None", "none", "null", "Null", "NULL", "~")


def _common(default_path: Path) -> argparse.ArgumentParser:
    """--config-path, accepted before or after the subcommand (a fresh action each time)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config-path", type=Path, default=argparse.SUPPRESS,
                        help=f"the config file (default: {default_path})")
    return common


def build_parser(default_path: Path) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tljh-config", parents=[_common(default_path)],
        description="Show or edit TLJH's configuration, and apply it. Run as root (sudo tljh-config ...).",
        epilog="KEY is a dotted path such as users.admin or limits.memory. Every key is listed in README.md.",
    )
    parser.set_defaults(config_path=default_path)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("show", parents=[_common(default_path)], help="print config.yaml", description="Print config.yaml.")
    for name, helptext in EDITS.items():
        p = sub.add_parser(name, parents=[_common(default_path)], help=helptext, description=helptext[0].upper() + helptext[1:] + ".")
        p.add_argument("key", metavar="KEY", help="dotted key, e.g. users.admin")
        if name != "unset":
            p.add_argument("value", metavar="VALUE", help=VALUE_HELP)
    reload = sub.add_parser(
        "reload", parents=[_common(default_path)], help="apply config.yaml: restart the hub (default) or the proxy",
        description="Apply config.yaml: restart the hub (default) or the proxy, and wait until the hub answers. "
        "If it does not come up healthy, the last good configuration is restored and the exit code is 1.",
    )
    reload.add_argument("component", nargs="?", choices=["hub", "proxy"], default="hub")
    reload.add_argument("--timeout", type=_seconds, default=60.0, metavar="SECONDS",
                        help="how long to wait for the hub to answer (default: 60)")
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds between 1 and 3600")
    return value


def value_for(key: str, text: str) -> Any:
    """VALUE as a person means it; text stays text where the schema wants a string (names, paths)."""
    return text if expected_type(key) == "string" else config_file.parse_value(text)


def edited(data: Any, command: str, key: str, value: Any) -> bool:
    """Apply one edit to data; False when it changes nothing (add-item of an item already there)."""
    if command == "set":
        config_file.set_item(data, key, value)
    elif command == "unset":
        config_file.unset_item(data, key)
    elif command == "add-item":
        return config_file.add_item(data, key, value)
    elif command == "remove-item":
        config_file.remove_item(data, key, value)
    return True


def edit(path: Path, command: str, key: str, text: str | None) -> str:
    """Apply one edit to config.yaml if the result is valid, and write it atomically; what was done.

    `set KEY None` on a key the schema knows removes it (upstream's documented way to drop a limit).
    The rules that need several keys (https) are checked where they take effect; a note says so.
    """
    config_file.check_key(key)
    bad = [p for t in (key, text or "") for p in text_problems(t, key, "KEY" if t is key else "VALUE")]
    if bad:
        raise ConfigError(f"refused ({path} is unchanged): {bad[0]}")
    if command == "set" and text in NONE_WORDS and known_key(key):
        return _set_none(path, key)
    if command in ("unset", "remove-item") and not path.exists():
        raise ConfigError(f"{path} does not exist, so {key} is not set")
    data = config_file.load(path)
    value = value_for(key, text) if text is not None else None
    if not edited(data, command, key, value):
        return f"{value!r} is already in {key}; nothing changed"
    refuse_problems(edit_problems(data), path)
    config_file.save(path, data)
    done = f"{command} {key}" + (f" {value!r}" if text is not None else "") + ". Apply it with: sudo tljh-config reload"
    return done + "".join(f"\nnote: reload refuses this until it is complete: {p}" for p in problems(data))


def refuse_problems(found: list[str], path: Path) -> None:
    """ConfigError (one line for one problem) when an edit would leave problems."""
    if len(found) == 1:
        raise ConfigError(f"refused ({path} is unchanged): {found[0]}")
    if found:
        raise ConfigError(f"refused ({path} is unchanged):\n  " + "\n  ".join(found))


def _set_none(path: Path, key: str) -> str:
    """`set KEY None`: KEY goes back to its default (removed when set, else nothing to do)."""
    missing = object()
    if config_file.get_item(config_file.load(path), key, missing) is missing:
        return f"{key} is not set (it has its default); nothing changed"
    return edit(path, "unset", key, None)


def show(path: Path) -> str:
    if not path.exists():
        raise ConfigError(f"{path} does not exist (every setting has its default; tljh-config set creates it)")
    return config_file.dump(config_file.load(path))


def reload(component: str, paths: Paths, config_path: Path, timeout: float) -> str:
    from tljh.cli.reload import reload as apply_config

    print(f"reloading the {component}: validating {config_path} ...", flush=True)
    outcome = apply_config(component, paths, config_path, timeout)
    restarted = ", ".join(u.removesuffix(".service") for u in outcome.restarted)
    message = f"{component} reloaded (restarted {restarted}); the hub answered after {outcome.seconds:.1f}s"
    if outcome.lost_admin:
        message += (f"\nno longer admin: {', '.join(outcome.lost_admin)} (hub admin revoked, removed from "
                    "jupyterhub-admins; a server still running keeps sudo until it restarts)")
    return message


def run_command(args: argparse.Namespace, paths: Paths) -> str:
    path: Path = args.config_path
    what = " ".join(str(a) for a in (args.command, getattr(args, "key", ""), getattr(args, "component", "")) if a)
    with config_file.locked(path, f"tljh-config {what}"):
        if args.command == "show":
            return show(path).rstrip("\n")
        if args.command == "reload":
            return reload(args.component, paths, path, args.timeout)
        return edit(path, args.command, args.key, getattr(args, "value", None))


def main(argv: Sequence[str] | None = None) -> int:
    from tljh.health import HubNotReady
    from tljh.actions.files import DiskFull
    from tljh.cli.reload import ReloadFailed, ReloadInterrupted

    paths = Paths.from_env()
    args = build_parser(paths.config_file).parse_args(argv)
    if os.geteuid() != 0:
        print("tljh-config must be run as root: sudo tljh-config ...", file=sys.stderr)
        return 1
    try:
        print(run_command(args, paths))
    except ReloadInterrupted as e:
        print(f"tljh-config: {e}", file=sys.stderr)
        return 130
    except (ConfigError, HubNotReady, ReloadFailed, DiskFull) as e:
        print(f"tljh-config: {e}", file=sys.stderr)
        return 1
    except CommandError as e:
        print(f"tljh-config: {e}\n{e.tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tljh-config: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # an unexpected failure: one line, not a traceback
        log.debug("unexpected error", exc_info=True)
        print(f"tljh-config: unexpected error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
