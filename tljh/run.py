"""The one way this package runs a command: argv only, output logged in full, failures explained.

Credentials never reach the log or an error message: command lines and output lines are
redacted (URL userinfo such as https://TOKEN@host/ or user:password@, --admin NAME:PASSWORD,
and every secret registered with `register_secret`, such as the admins' passwords).
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import subprocess
from collections import deque
from typing import Mapping, Sequence

log = logging.getLogger("tljh")

OUTPUT_TAIL_LINES = 25
HIDDEN = "***"
# scheme://USERINFO@ (a token, or user:password) in a URL; pip's git+https:// and the like too.
URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
# --admin NAME:PASSWORD and --admin=NAME:PASSWORD in a command line written out as text.
ADMIN_PASSWORD = re.compile(r"(--admin(?:=|\s+)['\"]?[^:\s'\"]+:)[^\s'\"]+")
_secrets: set[str] = set()


def register_secret(secret: str | None) -> None:
    """From now on, redact() hides this exact text wherever it appears (short texts are ignored)."""
    if secret and len(secret) >= 4:
        _secrets.add(secret)


def redact(text: str) -> str:
    """text without credentials: URL userinfo, --admin passwords and registered secrets become ***."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    text = URL_USERINFO.sub(rf"\1{HIDDEN}@", text)
    return ADMIN_PASSWORD.sub(rf"\1{HIDDEN}", text)


def redact_argv(argv: Sequence[str]) -> list[str]:
    """argv without credentials: also NAME:PASSWORD values of --admin given as separate arguments."""
    out, in_admin = [], False
    for arg in argv:
        if in_admin and not arg.startswith("-") and ":" in arg:
            arg = arg.split(":", 1)[0] + ":" + HIDDEN
        elif arg.startswith("--admin="):
            name, sep, _ = arg[len("--admin="):].partition(":")
            arg = f"--admin={name}{sep}{HIDDEN if sep else ''}"
        in_admin = arg == "--admin" or (in_admin and not arg.startswith("-"))
        out.append(redact(arg))
    return out


class RedactingFormatter(logging.Formatter):
    """A log formatter whose every line (tracebacks too) is redact()ed."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class CommandError(Exception):
    """A command exited non-zero; carries the command and the end of its output."""

    def __init__(self, argv: Sequence[str], returncode: int, output: str) -> None:
        self.argv = redact_argv(argv)
        self.returncode = returncode
        self.output = redact(output)
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


_children_die_with_us = False


def children_die_with_this_process() -> None:
    """From now on, every command run gets SIGTERM when this process dies, by SIGKILL too (Linux's
    parent-death signal, set by util-linux's `setpriv --pdeathsig`, which every Debian has): a killed
    installer leaves no pip or apt-get running on after its install lock is gone."""
    global _children_die_with_us
    _children_die_with_us = True


def _launched(argv: Sequence[str]) -> list[str]:
    """argv as it is started: behind `setpriv --pdeathsig TERM` when children die with this process."""
    setpriv = shutil.which("setpriv") if _children_die_with_us else None
    return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv else list(argv)


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    check: bool = True,
    cwd: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run argv; every output line goes to the log as it comes. Raises CommandError if check fails."""
    log.debug("$ %s", shlex.join(redact_argv(argv)))
    proc = subprocess.Popen(
        _launched(argv),
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
