"""Run the installer's user-environment step, and only it, for a layout under another prefix.

Used by test_user_env_conda.py inside the session machine (whose own user environment is a venv):
the conda kind is built at PREFIX/user by the same code the installer runs (the kind's check(),
which fetches and verifies Miniforge, then the "user environment" step's actions, journalled under
PREFIX/state, then discard_downloads()), without touching the
machine's hub, units or /opt/tljh. Every command the step runs is printed as a `$ ` line.

    /opt/tljh/hub/bin/python userenv_driver.py PREFIX [--kind conda] [--conda PKG]... [--channel C]... [--pip SPEC]...

Exit 0 with a last line `changes: [...]` (JSON), or 1 with a line `error: ...`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from tljh.actions.conda import UserEnvError
from tljh.install.installer import Step, apply_step
from tljh.journal import Journal
from tljh.paths import Paths
from tljh.install.progress import Progress
from tljh.run import CommandError
from tljh.install.userenv import ExtraPackages, user_environment


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("prefix", type=Path)
    parser.add_argument("--kind", default="conda")
    parser.add_argument("--conda", action="append", default=[])
    parser.add_argument("--channel", action="append", default=[])
    parser.add_argument("--pip", action="append", default=[])
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("tljh")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    paths = Paths(prefix=args.prefix)
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    extra = ExtraPackages(conda=tuple(args.conda), conda_channels=tuple(args.channel), pip=tuple(args.pip))
    env = user_environment(args.kind, paths)
    progress = Progress(["user environment"])
    try:
        env.check()
        step, _ = apply_step(Step("user environment", env.actions(extra)), Journal(paths.journal), progress)
    except UserEnvError as e:
        print(f"error: {e}")
        return 1
    except CommandError as e:
        print(f"error: {e}\n{e.tail()}")
        return 1
    finally:
        progress.close()
        env.discard_downloads()
    print("changes: " + json.dumps([str(c) for c in step.changes]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
