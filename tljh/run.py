"""The one way this package runs a command: argv only, output logged in full, failures explained."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections import deque
from typing import Mapping, Sequence

log = logging.getLogger("tljh")

OUTPUT_TAIL_LINES = 25


class CommandError(Exception):
    """A command exited non-zero; carries the command and the end of its output."""

    def __init__(self, argv: Sequence[str], returncode: int, output: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output
        super().__init__(f"`{shlex.join(self.argv)}` failed with exit code {returncode}")

    def tail(self, lines: int = OUTPUT_TAIL_LINES) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def command_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for commands: this process's own (proxies, PIP_*, CA bundles pass through)."""
    env = dict(os.environ)
    env.setdefault("LANG", "C.UTF-8")
    env["DEBIAN_FRONTEND"] = "noninteractive"
    env.update(extra or {})
    return env


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    check: bool = True,
    cwd: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run argv; every output line goes to the log as it comes. Raises CommandError if check fails."""
    log.debug("$ %s", shlex.join(argv))
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=command_env(env),
        cwd=cwd,
    )
    output = _collect(proc, input)
    returncode = proc.wait()
    log.debug("exit code %d", returncode)
    if check and returncode != 0:
        raise CommandError(argv, returncode, output)
    return subprocess.CompletedProcess(list(argv), returncode, output, None)


def _collect(proc: subprocess.Popen[str], input: str | None) -> str:
    """Feed input, then log and keep each output line until the command closes its output."""
    assert proc.stdout is not None
    if input is not None:
        assert proc.stdin is not None
        proc.stdin.write(input)
        proc.stdin.close()
    lines: deque[str] = deque(maxlen=2000)
    for line in proc.stdout:
        line = line.rstrip("\n")
        log.debug("  %s", line)
        lines.append(line)
    return "\n".join(lines)
