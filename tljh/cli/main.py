"""`tljh`: the admin's commands for the whole installation (`tljh-config` edits its configuration).

    tljh plan [INSTALLER OPTIONS]   what an install/upgrade would do here, changing nothing
    tljh status [--json]            is everything as installed, is the hub up
    tljh uninstall [--remove-users] [--no-archive] [--yes]
    tljh backup [--with-homes] [FILE]
    tljh restore FILE
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Callable, Sequence

from tljh import __version__
from tljh.paths import Paths

log = logging.getLogger("tljh")


class Refused(Exception):
    """The command cannot go on; the message says why and what to do (one line, exit 1)."""


def cmd_plan(paths: Paths, args: argparse.Namespace) -> int:
    from tljh.cli.plan import plan
    from tljh.install.installer import UserError, parse_args

    options = parse_args(args.installer_args)
    try:
        lines, _ = plan(paths, options)
    except UserError as e:
        raise Refused(str(e)) from None
    print("\n".join(lines))
    return 0


def cmd_status(paths: Paths, args: argparse.Namespace) -> int:
    from tljh.cli.status import main as status_main

    return status_main(paths, as_json=args.json)


def cmd_uninstall(paths: Paths, args: argparse.Namespace) -> int:
    from tljh.cli.uninstall import main as uninstall_main

    return uninstall_main(paths, remove_users=args.remove_users, archive_homes=not args.no_archive, yes=args.yes)


def cmd_backup(paths: Paths, args: argparse.Namespace) -> int:
    from tljh.cli.backup import backup_main

    return backup_main(paths, args.file, with_homes=args.with_homes)


def cmd_restore(paths: Paths, args: argparse.Namespace) -> int:
    from tljh.cli.backup import restore_main

    return restore_main(paths, args.file, yes=args.yes)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="tljh", description="Plan, check, back up, restore or remove this TLJH install.")
    top.add_argument("--version", action="version", version=f"tljh {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("plan", help="what an install or upgrade would do here, action by action (changes nothing)",
                       description="Takes the installer's options (--admin, --plugin, --user-env, ...).")
    p.add_argument("installer_args", nargs=argparse.REMAINDER, help="the installer's options")
    p.set_defaults(run=cmd_plan)
    p = sub.add_parser("status", help="check every installed item, the hub, TLS and disk space")
    p.add_argument("--json", action="store_true", help="one JSON document (for monitoring)")
    p.set_defaults(run=cmd_status)
    p = sub.add_parser("uninstall", help="undo every change the installer made, archiving the hub's state first")
    p.add_argument("--remove-users", action="store_true", help="also remove the hub users' accounts (homes archived)")
    p.add_argument("--no-archive", action="store_true", help="with --remove-users: do not archive their homes")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(run=cmd_uninstall)
    p = sub.add_parser("backup", help="one tarball of the hub's configuration and state (and homes)")
    p.add_argument("--with-homes", action="store_true", help="include the hub users' home directories")
    p.add_argument("file", nargs="?", default=None, help="the tarball to write (default: under the state dir)")
    p.set_defaults(run=cmd_backup)
    p = sub.add_parser("restore", help="restore a backup onto this install")
    p.add_argument("file", help="a tarball made by `tljh backup`")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(run=cmd_restore)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    log.addHandler(logging.NullHandler())  # warnings the commands care about are in their output, not on stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["plan"]:  # everything after `plan` is the installer's (argparse would take --options itself)
        args = argparse.Namespace(run=cmd_plan, installer_args=argv[1:])
    else:
        args = parser().parse_args(argv)
    run: Callable[[Paths, argparse.Namespace], int] = args.run
    if run is not cmd_plan and os.geteuid() != 0:
        print("error: tljh must be run as root: sudo tljh ...", file=sys.stderr)
        return 1
    try:
        return run(Paths.from_env(), args)
    except PermissionError as e:
        print(f"error: {e.filename}: permission denied; run it as root: sudo tljh ...", file=sys.stderr)
        return 1
    except Refused as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # an unexpected failure: one line, not a traceback (TLJH_DEBUG=1 shows it)
        if os.environ.get("TLJH_DEBUG"):
            raise
        print(f"error: unexpected {type(e).__name__}: {e} (TLJH_DEBUG=1 shows where)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
