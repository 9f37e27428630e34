"""`tljh-config`: show and edit /opt/tljh/config/config.yaml, and reload the hub or the proxy."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from tljh import config as config_file
from tljh.actions.files import write_atomic
from tljh.health import HubNotReady, wait_for_hub
from tljh.paths import Paths
from tljh.run import CommandError, run
from tljh.traefik import render_static_config


def build_parser(default_path: Path) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tljh-config", description="Show or edit TLJH's configuration.")
    parser.add_argument("--config-path", type=Path, default=default_path, help=f"default: {default_path}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("show", help="print config.yaml")
    for name, helptext in (("set", "set KEY to VALUE"), ("add-item", "append VALUE to the list KEY"),
                           ("remove-item", "remove VALUE from the list KEY")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("key", metavar="KEY")
        p.add_argument("value", metavar="VALUE")
    sub.add_parser("unset", help="remove KEY").add_argument("key", metavar="KEY")
    reload = sub.add_parser("reload", help="apply the configuration: restart the hub (default) or the proxy")
    reload.add_argument("component", nargs="?", choices=["hub", "proxy"], default="hub")
    return parser


def edit(path: Path, command: str, key: str, value: str | None) -> None:
    """Apply one edit to config.yaml and write it back atomically."""
    data = config_file.load(path)
    parsed: Any = config_file.parse_value(value) if value is not None else None
    if command == "set":
        config_file.set_item(data, key, parsed)
    elif command == "unset":
        config_file.unset_item(data, key)
    elif command == "add-item":
        config_file.add_item(data, key, parsed)
    elif command == "remove-item":
        config_file.remove_item(data, key, parsed)
    config_file.save(path, data)


def reload(component: str, paths: Paths, config_path: Path) -> None:
    config = config_file.load(config_path)
    if component == "proxy":
        write_atomic(paths.traefik_toml, render_static_config(config, paths).encode(), 0o600)
        run(["systemctl", "restart", "traefik.service"])
    else:
        run(["systemctl", "restart", "jupyterhub.service"])
    start = time.monotonic()
    waited = wait_for_hub(config, timeout=60)
    print(f"{component} reloaded; the hub answered after {waited or time.monotonic() - start:.1f}s")


def main(argv: Sequence[str] | None = None) -> int:
    paths = Paths.from_env()
    args = build_parser(paths.config_file).parse_args(argv)
    if os.geteuid() != 0:
        print("tljh-config must be run as root (use sudo tljh-config ...)", file=sys.stderr)
        return 1
    try:
        if args.command == "show":
            print(config_file.dump(config_file.load(args.config_path)), end="")
        elif args.command == "reload":
            reload(args.component, paths, args.config_path)
        else:
            edit(args.config_path, args.command, args.key, getattr(args, "value", None))
    except (config_file.ConfigError, HubNotReady) as e:
        print(f"tljh-config: {e}", file=sys.stderr)
        return 1
    except CommandError as e:
        print(f"tljh-config: {e}\n{e.tail()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
