#!/usr/bin/env python3
"""Bootstrap The Littlest JupyterHub on a fresh Debian or Ubuntu server.

    curl -L URL-OF-THIS-FILE | sudo python3 - --admin NAME[:PASSWORD]

Standard library only; runs on the system python3 (3.9 and newer). It checks the machine,
installs python3 and python3-venv with apt, makes the hub venv at <prefix>/hub (prefix
/opt/tljh, or TLJH_INSTALL_PREFIX), installs the tljh package into it and hands over to
`python -m tljh.installer` with the remaining arguments.

The tljh package comes from TLJH_BOOTSTRAP_PIP_SPEC when set; else from the source checkout
this file sits in, when run as a file from one; else from the wheel a release bootstrap file
carries inside itself (built by tools/build_release.py; its sha256 is checked before anything
changes). A file with none of these stops: it never falls back to a name on a package index.
What the installer itself needs comes from the installer lock that goes with that package
(tljh/install/requirements/installer.lock, inside the wheel or the checkout: the part of the hub
lock the installer imports), installed with `pip install --require-hashes`; then tljh itself
with --no-deps. The installer installs the rest of the hub lock beside the user environment.

`--version` alone prints what this file installs; `--version X` (or `--version=X`; X: `latest`,
or a version or its prefix such as `1` or `1.0`) goes on only when this file installs a matching
version, and otherwise stops before changing anything, saying how to get that version.

With --show-progress-page, a small read-only web server (a forked child of this process, in its
own session) serves the install's progress on port 80 before apt runs: /var/run/index.html,
/var/run/favicon.ico (both written from this file), /status.json (the status file that this
bootstrap and then the installer write, see tljh/progress.py for its format) and /logs (the
last LOGS_TAIL_BYTES of the installer log, redacted). Once port 80 is bound it runs as nobody,
with at most MAX_CONNECTIONS connections at a time, each with a timeout. The installer stops it
(pid file + SIGTERM) before traefik takes port 80. After a failure it stays up and shows the error.

Secrets: passwords (--admin NAME:PASSWORD) and URL credentials (https://TOKEN@host/...) are
hidden from this process's command line as soon as it starts (what /proc/PID/cmdline shows every
local user), so from the page server's too, and from every line this file logs or shows; the
installer gets its real arguments through the environment (TLJH_INSTALLER_ARGS, which only root
can read in /proc) and a command line with them hidden.
"""

from __future__ import annotations

import base64
import errno
import fcntl
import hashlib
import importlib
import io
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import tempfile
import time
import zipfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

VERSION = "0.1.0"
# A release bootstrap file (tools/build_release.py) carries the tljh wheel of its version here:
# its file name, its sha256 and its bytes in base64. Empty in a checkout.
RELEASE_WHEEL_NAME = ""
RELEASE_WHEEL_SHA256 = ""
RELEASE_WHEEL = ""
INSTALLER_LOCK = "tljh/install/requirements/installer.lock"  # inside the wheel and the checkout
NO_SOURCE = ("this bootstrap file carries no tljh package and does not sit in a checkout, so there is "
             "nothing it may install (it never installs a package by name from an index). Use the "
             "release bootstrap file (see the README's install command), run bootstrap/bootstrap.py from "
             "a checkout, or set TLJH_BOOTSTRAP_PIP_SPEC to a checkout's path or a tljh wheel")
MIN_PYTHON = (3, 10)
SUPPORTED = {"debian": 11, "ubuntu": 22.04}
APT_PACKAGES = ["python3", "python3-venv"]
DPKG_LOCK = "/var/lib/dpkg/lock-frontend"
LOCK_WAIT_SECONDS = 1200
STILL_RUNNING_EVERY = 10.0  # seconds between "still running" lines during a long command
STEPS = ("bootstrap: python3 (apt)", "bootstrap: hub venv", "bootstrap: tljh package")


# What this bootstrap made on the machine, handed to the installer (TLJH_BOOTSTRAP_MADE, JSON)
# so it is journalled like the installer's own changes and uninstall can undo it.
MADE: list[dict[str, str]] = []


PENDING_RECORD = "tljh-bootstrap-made.json"  # in the hub venv until the installer has journalled it


def made(kind: str, target: str, change: str) -> None:
    MADE.append({"kind": kind, "target": target, "change": change})


def keep_pending_record(hub: Path) -> str:
    """What this and earlier bootstraps made and no installer journalled yet (an installer that stopped
    before its journal, e.g. on a failed download), kept in the hub venv; returned as JSON."""
    pending = hub / PENDING_RECORD
    try:
        earlier = json.loads(pending.read_text())
    except (OSError, ValueError):
        earlier = []
    records = [r for r in earlier if isinstance(r, dict)] if isinstance(earlier, list) else []
    records += [r for r in MADE if r not in records]
    text = json.dumps(records)
    pending.write_text(text)
    os.chmod(pending, 0o600)
    return text


class BootstrapError(Exception):
    """A reason not to go on, said in one line."""


# ---------------------------------------------------------------- secrets (tljh/run.py has the same rules)

HIDDEN = "***"
URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
ADMIN_PASSWORD = re.compile(r"(--admin(?:=|\s+)['\"]?[^:\s'\"]+:)[^\s'\"]+")


SECRETS: set[str] = set()  # the passwords given on this command line (remember_secrets)


def redact(text: str) -> str:
    """text without credentials: the passwords given, URL userinfo and --admin NAME:PASSWORD passwords become ***."""
    for secret in sorted(SECRETS, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return ADMIN_PASSWORD.sub(rf"\1{HIDDEN}", URL_USERINFO.sub(rf"\1{HIDDEN}@", text))


def remember_secrets(argv: list[str]) -> None:
    """Every password in argv (the part after ':' of --admin values) is redacted wherever it appears."""
    public = redact_argv(argv)
    for arg, shown in zip(argv, public, strict=True):
        if arg != shown and ":" in arg and "://" not in arg:
            secret = arg.split(":", 1)[1]
            if len(secret) >= 4:
                SECRETS.add(secret)


def redact_argv(argv: list[str]) -> list[str]:
    """argv without credentials, also NAME:PASSWORD values given after --admin as separate arguments."""
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


def hide_command_line(public: list[str]) -> bool:
    """Overwrite what /proc/self/cmdline shows (to every local user) with public; False if not possible.

    The kernel reads the command line from this process's memory between arg_start and arg_end
    (fields 48 and 49 of /proc/self/stat); ctypes writes the public text over it, NUL-padded.
    """
    try:
        import ctypes

        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])
        text = "\0".join(public).encode()[: max(0, end - start - 1)]
        ctypes.memmove(start, text + b"\0" * (end - start - len(text)), end - start)
        return "\0".join(public).encode()[:end - start - 1] == Path("/proc/self/cmdline").read_bytes().rstrip(b"\0")
    except (ImportError, OSError, ValueError, IndexError):
        return False


def say(message: str) -> None:
    print(f"[bootstrap] {message}", flush=True)


def os_release(path: str = "/etc/os-release") -> dict[str, str]:
    values = {}
    for line in Path(path).read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = shlex.split(value)[0] if value.strip() else ""
    return values


def check_distribution(release: dict[str, str]) -> None:
    """Debian 11+ or Ubuntu 22.04+ (by /etc/os-release ID and VERSION_ID)."""
    distro, version = release.get("ID", ""), release.get("VERSION_ID", "")
    if distro not in SUPPORTED:
        raise BootstrapError(f"this is {release.get('PRETTY_NAME', distro or 'an unknown system')}; "
                             "supported: Debian 11 or newer, Ubuntu 22.04 or newer")
    try:
        number = float(version)
    except ValueError:
        number = 0.0
    if number < SUPPORTED[distro]:
        raise BootstrapError(f"{distro} {version or '(unknown version)'} is too old; "
                             f"{distro} {SUPPORTED[distro]:g} or newer is required")


def preflight() -> None:
    """Refuse, changing nothing, on machines the installer does not support."""
    if platform.system() != "Linux":
        raise BootstrapError(f"this is {platform.system()}; TLJH installs on Linux (Debian or Ubuntu) only")
    if os.geteuid() != 0:
        raise BootstrapError("must be run as root: curl -L URL | sudo python3 - --admin NAME")
    check_distribution(os_release())
    if not Path("/run/systemd/system").is_dir() or Path("/proc/1/comm").read_text().strip() != "systemd":
        raise BootstrapError("systemd is not PID 1 here (a container without systemd?); TLJH needs systemd")
    if sys.version_info < MIN_PYTHON:
        raise BootstrapError(f"python3 is {platform.python_version()}; Python "
                             f"{'.'.join(map(str, MIN_PYTHON))} or newer is required")


def dies_with_us(argv: list[str]) -> list[str]:
    """argv behind `setpriv --pdeathsig TERM` (util-linux, on every Debian): a bootstrap killed, even
    by SIGKILL, leaves no apt-get or pip running on without the install lock."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv else argv


def run(argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
    """Run argv (with env added to the environment) with its output appended to the log, saying every
    few seconds that it still runs; on failure show the output's end and stop."""
    shown = shlex.join(redact_argv(argv))
    say("$ " + shown)
    start = time.monotonic()
    with open(log, "a") as out:
        out.write(f"$ {shown}\n")
        out.flush()
        proc = subprocess.Popen(dies_with_us(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})})
        while True:
            try:
                returncode = proc.wait(timeout=STILL_RUNNING_EVERY)
                break
            except subprocess.TimeoutExpired:
                say(f"  still running ({time.monotonic() - start:.0f}s)")
    if returncode != 0:
        raise BootstrapError(f"`{shown}` failed with exit code {returncode}:\n{log_tail(log, 20)}")


def wait_for_dpkg_lock(path: str = DPKG_LOCK, timeout: float = LOCK_WAIT_SECONDS) -> None:
    """Wait, saying so, while another apt or dpkg holds the package lock."""
    if not Path(path).exists():
        return
    start, told = time.monotonic(), False
    with open(path, "w") as lock:
        while True:
            try:
                fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.lockf(lock, fcntl.LOCK_UN)
                return
            except OSError:
                if time.monotonic() - start > timeout:
                    raise BootstrapError(f"another apt/dpkg held {path} for {timeout:.0f}s; try again later") from None
                if not told:
                    say("waiting for another apt/dpkg process to finish...")
                    told = True
                time.sleep(2)


def missing_apt_packages() -> list[str]:
    query = ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *APT_PACKAGES]
    out = subprocess.run(query, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    installed = {line.split()[0] for line in out.splitlines() if line.endswith(" installed")}
    return [p for p in APT_PACKAGES if p not in installed]


def dpkg_interrupted() -> bool:
    """Whether dpkg has half-installed or half-configured packages (`dpkg --audit` lists them)."""
    audit = subprocess.run(["dpkg", "--audit"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return bool(audit.stdout.strip())


def ensure_apt_packages(log: Path) -> None:
    missing = missing_apt_packages()
    if not missing:
        return
    wait_for_dpkg_lock()
    os.environ["DEBIAN_FRONTEND"] = "noninteractive"
    if dpkg_interrupted():  # a previous run (or another apt) was killed mid-install
        run(["dpkg", "--configure", "-a"], log)
    apt = ["apt-get", "-o", f"DPkg::Lock::Timeout={LOCK_WAIT_SECONDS}"]
    start = log.stat().st_size
    run([*apt, "update"], log)  # exits 0 when a mirror fails; its W: lines say which
    for package in missing:
        made("apt", package, "install")
    try:
        run([*apt, "install", "--yes", "--no-install-recommends", *missing], log)
    except BootstrapError:
        raise BootstrapError(apt_says(missing, log, start)) from None


def apt_says(packages: list[str], log: Path, start: int) -> str:
    """apt-get's failure to install packages in one message: apt's own error and warning lines since
    `start` in the log (the mirror URLs it could not fetch among them), what to check, the log's path."""
    with open(log, "rb") as f:
        f.seek(start)
        text = redact(f.read().decode(errors="replace"))
    said = [line for line in text.splitlines() if line.startswith(("E: ", "W: "))][-8:]
    parts = [f"apt-get could not install {' '.join(packages)}; apt said:", *said]
    if "Failed to fetch" in text:
        parts.append("Check this machine's network, apt's proxy (Acquire::http::Proxy, http_proxy) and its apt "
                     "sources (/etc/apt/sources.list, /etc/apt/sources.list.d/).")
    return "\n".join([*parts, f"The full log is in {log}"])


@dataclass(frozen=True)
class Source:
    """Where the tljh package comes from, and the installer lock that goes with it (None: none found)."""

    description: str
    spec: str
    lock: str | None
    wheel: bytes | None = None  # the carried wheel's bytes, written to a file at install


def checkout_dir(argv0: str) -> Path | None:
    """The source checkout this file sits in (run as bootstrap/bootstrap.py from it), if any."""
    if argv0 in ("", "-"):
        return None
    here = Path(argv0).resolve().parent
    return here.parent if (here.parent / "setup.py").is_file() and (here.parent / "tljh").is_dir() else None


def release_wheel() -> bytes:
    """The wheel this release file carries, checked against its sha256; BootstrapError if it differs."""
    try:
        wheel = base64.b64decode(RELEASE_WHEEL, validate=True)
    except ValueError:
        wheel = b""
    found = hashlib.sha256(wheel).hexdigest()
    if found != RELEASE_WHEEL_SHA256:
        raise BootstrapError(f"the {RELEASE_WHEEL_NAME} carried in this file has sha256 {found}, not "
                             f"{RELEASE_WHEEL_SHA256}: the file is damaged or was altered; download it again")
    return wheel


def lock_in_wheel(wheel: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
            return archive.read(INSTALLER_LOCK).decode("utf-8")
    except (KeyError, zipfile.BadZipFile):
        return None


def lock_near(spec: str) -> str | None:
    """The installer lock of a local checkout or wheel given as a pip spec (None for anything else)."""
    path = Path(spec)
    if path.is_dir() and (path / INSTALLER_LOCK).is_file():
        return (path / INSTALLER_LOCK).read_text(encoding="utf-8")
    if path.is_file() and path.suffix == ".whl":
        return lock_in_wheel(path.read_bytes())
    return None


def tljh_source(argv0: str | None = None) -> Source:
    """Where to install the tljh package from (see the module docstring); BootstrapError if nowhere."""
    spec = os.environ.get("TLJH_BOOTSTRAP_PIP_SPEC")
    if spec:
        return Source(f"TLJH_BOOTSTRAP_PIP_SPEC={spec}", spec, lock_near(spec))
    checkout = checkout_dir(sys.argv[0] if argv0 is None else argv0)
    if checkout is not None:
        return Source(f"the checkout {checkout}", str(checkout), lock_near(str(checkout)))
    if RELEASE_WHEEL:
        wheel = release_wheel()
        return Source(f"{RELEASE_WHEEL_NAME}, carried in this file (sha256 {RELEASE_WHEEL_SHA256} checked)",
                      RELEASE_WHEEL_NAME, lock_in_wheel(wheel), wheel)
    raise BootstrapError(NO_SOURCE)


def what_this_installs() -> str:
    if RELEASE_WHEEL:
        return f"tljh {VERSION} ({RELEASE_WHEEL_NAME}, carried in this file)"
    return f"tljh {VERSION} from the checkout it sits in (or TLJH_BOOTSTRAP_PIP_SPEC)"


def check_requested_version(requested: str | None) -> None:
    """--version X: go on only when this file installs a version X names; else stop, saying how to get X."""
    if requested is None:
        return
    parts, have = requested.lstrip("v").split("."), VERSION.split(".")
    if requested == "latest" or (requested and have[: len(parts)] == parts):
        say(f"--version {requested}: this bootstrap installs {what_this_installs()}"
            + (" (the newest release is in the newest release bootstrap file)" if requested == "latest" else ""))
        return
    raise BootstrapError(
        f"--version {requested}: this bootstrap installs {what_this_installs()} and no other version; "
        f"nothing was changed. To install {requested}, run the release bootstrap file of that version "
        f"(tljh-bootstrap-{requested}.py, made by `python3 tools/build_release.py` in a checkout of it)"
    )


def ensure_hub_venv(prefix: Path, log: Path) -> Path:
    hub = prefix / "hub"
    if not (hub / "bin" / "python3").exists():
        made("venv", str(hub), "create")
        run([sys.executable, "-m", "venv", str(hub)], log)
    return hub


# ---------------------------------------------------------------- the progress page

FAVICON = base64.b64decode(  # a 32x32 PNG icon in an ICO container, drawn for this project
    "AAABAAEAICAAAAEAIAClAAAAFgAAAIlQTkcNChoKAAAADUlIRFIAAAAgAAAAIAgGAAAAc3p69AAAAGxJREFUeNrtl0EOABAMBPsa"
    "T/RxD+AqEYJaVtomvbjMnGpX5LdJMeTRPoFCZXbhagktWCVyGr4kgYJPSzwVQMOHErfgXQnbArfhjUT9iB4XcAF+ATO3wE8x33fs"
    "iYgmlFLEcopiQlPNKMopcgpzXfNyBa152AAAAABJRU5ErkJggg=="
)
LOG_TAIL_LINES = 40
LOG_TAIL_BYTES = 32768
LOGS_TAIL_BYTES = 262144  # what /logs serves: the end of the log (256 KiB), not all of it
MAX_CONNECTIONS = 16  # at a time; more are closed at once
REQUEST_TIMEOUT = 10.0  # seconds a connection may stay silent
PAGE_USER = "nobody"
STOP_WAIT_SECONDS = 10.0

INDEX_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Installing The Littlest JupyterHub</title>
<link rel="icon" href="/favicon.ico">
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } #summary { color: #555; }
ol { list-style: none; padding: 0; } li { padding: .2em 0; }
li .mark { display: inline-block; width: 1.5em; } li .time { color: #777; margin-left: .5em; }
li[data-state=done] .mark { color: #2a8a2a; } li[data-state=running] { font-weight: bold; }
li[data-state=running] .mark { color: #f37626; } li[data-state=pending] { color: #888; }
li[data-state=failed] { color: #b00020; font-weight: bold; }
#error { border: 2px solid #b00020; background: #fff0f0; padding: 1em; }
#handover { border: 2px solid #f37626; background: #fff7f0; padding: 1em; }
pre { background: #f4f4f4; padding: .8em; overflow-x: auto; font-size: .85em; white-space: pre-wrap; }
#log { max-height: 24em; overflow-y: auto; }
</style></head>
<body>
<h1>Installing The Littlest JupyterHub</h1>
<p id="summary">Waiting for the installer's first report&hellip;</p>
<div id="error" hidden><strong>The install failed</strong> at step <strong id="error-step"></strong>:
<pre id="error-message"></pre>
<p>The full log is in <code id="error-log"></code> on the server (its end is at <a href="/logs">/logs</a>).
This page stays up until the installer is run again.</p></div>
<div id="handover" hidden>Starting JupyterHub: this page switches to the hub's login page as soon as
it answers.</div>
<ol id="steps"></ol>
<h2>Log <small>(last lines; <a href="/logs">more</a>)</small></h2>
<pre id="log"></pre>
<script>
"use strict";
const MARKS = {done: "\\u2713", running: "\\u25B6", pending: "\\u25CB", failed: "\\u2717"};
let hubPath = "/", failures = 0;
function $(id) { return document.getElementById(id); }
function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return s >= 60 ? Math.floor(s / 60) + "m " + (s % 60) + "s" : s + "s";
}
function elapsed(step, now) {
  if (!step.started) return "";
  return duration((step.finished || now) - step.started);
}
function render(status) {
  const steps = status.steps || [], now = status.now;
  const list = $("steps");
  list.textContent = "";
  for (const step of steps) {
    const item = document.createElement("li");
    item.dataset.state = step.state;
    const mark = document.createElement("span");
    mark.className = "mark"; mark.textContent = MARKS[step.state] || "?";
    const time = document.createElement("span");
    time.className = "time"; time.textContent = elapsed(step, now);
    item.append(mark, step.title, time);
    list.append(item);
  }
  const done = steps.filter(s => s.state === "done").length;
  const first = steps.find(s => s.started);
  const ends = steps.map(s => s.finished || 0), failed = status.state === "failed";
  const end = failed ? Math.max(...ends) : now;
  const total = first ? " \\u00B7 " + duration(end - first.started) + (failed ? "" : " so far") : "";
  $("summary").textContent = status.title + ": " + done + " of " + steps.length + " steps done" + total;
  document.title = "TLJH install: " + done + "/" + steps.length + " steps done";
  const log = $("log"), atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 5;
  log.textContent = status.log_tail || "";
  if (atEnd) { log.scrollTop = log.scrollHeight; }
  if (status.state === "failed" && status.error) {
    $("error").hidden = false;
    $("error-step").textContent = status.error.step || "(before the first step)";
    $("error-message").textContent = status.error.message;
    $("error-log").textContent = status.log;
    document.title = "TLJH install FAILED";
  }
}
function waitForHub() {
  $("handover").hidden = false;
  fetch(hubPath + "hub/api", {cache: "no-store"})
    .then(r => { if (r.ok) { location.assign(hubPath); } else { setTimeout(waitForHub, 1000); } })
    .catch(() => setTimeout(waitForHub, 1000));
}
function poll() {
  fetch("/status.json", {cache: "no-store"})
    .then(r => { if (!r.ok) { throw new Error("status " + r.status); } return r.json(); })
    .then(status => {
      failures = 0;
      render(status);
      if (status.state === "handed-over") { hubPath = status.hub_path || "/"; waitForHub(); }
      else { setTimeout(poll, status.state === "failed" ? 5000 : 1000); }
    })
    .catch(() => { if (++failures >= 3) { waitForHub(); } else { setTimeout(poll, 1000); } });
}
poll();
</script>
</body></html>
"""


@dataclass(frozen=True)
class PageFiles:
    """Where the page server finds and keeps its files (parameters, so tests need no root)."""

    log: Path
    index: Path = Path("/var/run/index.html")
    favicon: Path = Path("/var/run/favicon.ico")
    status: Path = Path("/run/tljh-progress.json")
    pid: Path = Path("/run/tljh-progress-page.pid")


def read_status(files: PageFiles, log: Path | int | None = None) -> dict[str, Any]:
    """The status file as the page polls it: the writers' document plus `now` and the log's tail.

    log: where to read the log (default files.log; the page server passes an fd it opened as root).
    """
    try:
        status = dict(json.loads(files.status.read_text()))
    except (OSError, ValueError):
        status = {"title": "The Littlest JupyterHub", "state": "starting", "steps": []}
    status["now"] = time.time()
    status["log"] = str(files.log)
    status["log_tail"] = log_tail(files.log if log is None else log)
    return status


def read_tail(source: Path | int, size: int) -> bytes:
    """At most the last `size` bytes of a file (a path, or an open fd); b'' if it cannot be read."""
    try:
        fd = source if isinstance(source, int) else os.open(source, os.O_RDONLY)
    except OSError:
        return b""
    try:
        end = os.fstat(fd).st_size
        return os.pread(fd, size, max(0, end - size))
    except OSError:
        return b""
    finally:
        if not isinstance(source, int):
            os.close(fd)


def log_tail(log: Path | int, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of the log, redacted ('' if it cannot be read)."""
    text = read_tail(log, LOG_TAIL_BYTES).decode(errors="replace")
    return redact("\n".join(text.splitlines()[-lines:]))


class PageHandler(BaseHTTPRequestHandler):
    """Answers GET/HEAD for a fixed set of routes only; the request path is never mapped to a file."""

    server: PageServer
    server_version = "tljh-progress"
    sys_version = ""
    timeout = REQUEST_TIMEOUT

    def route(self) -> tuple[str, bytes] | None:
        """(content type, body) for the request's path (query string ignored), None if not a route."""
        files, path = self.server.files, self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            return "text/html; charset=utf-8", files.index.read_bytes()
        if path == "/favicon.ico":
            return "image/x-icon", files.favicon.read_bytes()
        if path == "/status.json":
            return "application/json", json.dumps(read_status(files, self.server.log_source)).encode()
        if path == "/logs":
            tail = read_tail(self.server.log_source, LOGS_TAIL_BYTES).decode(errors="replace")
            return "text/plain; charset=utf-8", redact(tail).encode()
        return None

    def do_GET(self) -> None:
        self.answer(send_body=True)

    def do_HEAD(self) -> None:
        self.answer(send_body=False)

    def answer(self, send_body: bool) -> None:
        try:
            found = self.route()
        except OSError:
            found = None
        status, (ctype, body) = (200, found) if found else (404, ("text/plain; charset=utf-8", b"not found\n"))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """No request log: the server's output goes nowhere."""


class PageServer(ThreadingHTTPServer):
    """A thread per connection, at most MAX_CONNECTIONS at a time (more are closed at once)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], files: PageFiles) -> None:
        self.files = files
        self.log_source: Path | int = files.log
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, PageHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def drop_root(server: PageServer, user: str = PAGE_USER) -> None:
    """Run as `user` from now on, reading the root-only log through an fd opened before."""
    import pwd

    try:
        server.log_source = os.open(server.files.log, os.O_RDONLY)
    except OSError:
        pass  # no log yet: the page shows none
    try:
        entry = pwd.getpwnam(user)
        uid, gid = entry.pw_uid, entry.pw_gid
    except KeyError:
        uid = gid = 65534
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def bind_page(files: PageFiles, address: tuple[str, int] = ("", 80)) -> PageServer | None:
    """A page server bound to address with its page files written; None (said) if the port is taken."""
    try:
        server = PageServer(address, files)
    except OSError as e:
        if e.errno != errno.EADDRINUSE:
            raise
        say(f"port {address[1]} is already in use (a hub already running?); carrying on without the progress page")
        return None
    files.index.write_text(INDEX_HTML)
    files.favicon.write_bytes(FAVICON)
    for public in (files.index, files.favicon):
        os.chmod(public, 0o644)  # the server reads them as nobody, whatever the umask
    return server


def start_page(server: PageServer, user: str | None = PAGE_USER) -> int:
    """Serve the page from a forked child in its own session until SIGTERM; return the child's pid.

    The child outlives this process (and the installer it becomes) so a failure stays on show;
    it runs as `user` (when started as root); on SIGTERM it removes what files it may (the
    installer removes them too).
    """
    files = server.files
    pid = os.fork()
    if pid:
        server.server_close()
        files.pid.write_text(f"{pid} {process_start_time(pid)}\n")
        return pid
    try:
        if _lock_fd is not None:
            os.close(_lock_fd)  # the page outlives the install; the lock must not
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        signal.signal(signal.SIGTERM, _exit_on_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        sys.argv[:] = sys.argv[:1]  # nothing of the bootstrap's arguments stays in this process
        if user is not None and os.geteuid() == 0:
            drop_root(server, user)
        server.serve_forever()
    finally:
        for path in (files.index, files.favicon, files.status, files.pid):
            try:
                path.unlink()
            except OSError:
                pass
        os._exit(0)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)


def process_start_time(pid: int) -> int | None:
    """When pid started (clock ticks since boot), None if it is gone or a zombie: tells a reused pid apart."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def stop_page(files: PageFiles, timeout: float = STOP_WAIT_SECONDS) -> None:
    """Ensure no page server from an earlier run holds port 80 (a failed run leaves its page up)."""
    try:
        pid, started = (int(x) for x in files.pid.read_text().split())
    except (OSError, ValueError):
        return
    if process_start_time(pid) == started:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while process_start_time(pid) == started and time.monotonic() < deadline:
            time.sleep(0.1)
        if process_start_time(pid) == started:
            os.kill(pid, signal.SIGKILL)
    for path in (files.index, files.favicon, files.status, files.pid):
        path.unlink(missing_ok=True)


class Status:
    """The bootstrap's steps in the status file the page polls (format: tljh/progress.py).

    Without a path (no page) it writes nothing.
    """

    def __init__(self, path: Path | None, log: Path) -> None:
        self.path = path
        self.doc: dict[str, Any] = {"format": 1, "title": f"The Littlest JupyterHub {VERSION}", "state": "running",
                          "log": str(log), "error": None,
                          "steps": [{"title": t, "state": "pending", "started": None, "finished": None} for t in STEPS]}
        self.write()

    def step(self, title: str, state: str) -> None:
        """Mark the step running (with its start time), done or failed (with its end time)."""
        entry = next(s for s in self.doc["steps"] if s["title"] == title)
        entry["state"] = state
        entry["started" if state == "running" else "finished"] = time.time()
        self.write()

    def fail(self, title: str | None, message: str) -> None:
        if title is not None:
            self.step(title, "failed")
        self.doc.update(state="failed", error={"step": title, "message": redact(message)})
        self.write()

    def write(self) -> None:
        """Replace the status file in one rename, so the server never reads half of it."""
        if self.path is None:
            return
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self.doc))
        os.chmod(tmp, 0o644)  # the page server reads it as nobody, whatever the umask
        os.replace(tmp, self.path)


def own_flags(argv: list[str]) -> tuple[list[str], str | None]:
    """Handle the bootstrap's own flags; return the arguments for the installer and the --version asked for.

    `--version` alone prints what this file installs and exits; `--version X` / `--version=X` is returned.
    """
    rest: list[str] = []
    requested, bare, i = None, False, 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--version="):
            requested = arg.partition("=")[2]
        elif arg == "--version" and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            requested, i = argv[i + 1], i + 1
        elif arg == "--version":
            bare = True
        elif arg != "--show-progress-page":
            rest.append(arg)
        i += 1
    if bare and requested is None:
        print(f"tljh bootstrap {VERSION}: installs {what_this_installs()}")
        sys.exit(0)
    return rest, requested


def open_page(show: bool, files: PageFiles) -> Status:
    """Stop a page left up by an earlier run; with `show`, serve a new one. The status to report to."""
    stop_page(files)
    server = bind_page(files) if show else None
    if server is None:
        return Status(None, files.log)
    status = Status(files.status, files.log)
    start_page(server)
    say("progress page: http://<this server's address>/ (stops when the hub takes over port 80)")
    return status


# The copy of the hub env kept while a run changes it, and the mark that it is kept: the same
# names as tljh/install/hubenv.py (which takes over the copy) and jupyterhub.service's ExecStartPre
# (which puts it back before the hub starts, if a run was killed).
HUB_PREVIOUS = "hub.previous"
HUB_UPGRADING = "state/hub-env.upgrading"
SOURCE_STAMP = ".tljh-source.sha256"  # in the hub venv: what the bootstrap last installed there


def source_digest(source: Source) -> str | None:
    """A digest of exactly what the bootstrap would install (the carried wheel and its lock); None
    for a checkout or a package spec, which are installed on every run."""
    if source.wheel is None or source.lock is None:
        return None
    return hashlib.sha256(source.wheel + b"\0" + source.lock.encode()).hexdigest()


def already_installed(prefix: Path, source: Source) -> bool:
    """Whether the hub env holds exactly this source already (a re-run of the same release file)."""
    digest, stamp = source_digest(source), prefix / "hub" / SOURCE_STAMP
    try:
        return digest is not None and stamp.read_text().strip() == digest
    except OSError:
        return False


def keep_hub_env_copy(prefix: Path, log: Path) -> None:
    """Before an upgrade changes an installed hub env: a whole copy of it at hub.previous, marked,
    so a failed upgrade is put back here and a killed one before the hub's next start."""
    hub, previous, marker = prefix / "hub", prefix / HUB_PREVIOUS, prefix / HUB_UPGRADING
    if not (hub / "bin" / "python3").exists() or not marker.parent.is_dir():
        return  # no install finished here yet: nothing that serves to keep
    if marker.exists() and previous.is_dir():
        return  # a killed run's copy: the env itself may be half-upgraded, the copy is not
    partial = prefix / (HUB_PREVIOUS + ".partial")
    for stale in (partial, previous):
        shutil.rmtree(stale, ignore_errors=True)
    run(["cp", "-a", "--reflink=auto", str(hub), str(partial)], log)
    partial.rename(previous)
    marker.write_text(f"{previous}\n")


def put_back_hub_env(prefix: Path) -> bool:
    """After a failed upgrade: the kept copy back in place of the hub env; whether there was one."""
    hub, previous, marker = prefix / "hub", prefix / HUB_PREVIOUS, prefix / HUB_UPGRADING
    if not marker.exists() or not previous.is_dir():
        return False
    failed = prefix / "hub.failed"
    shutil.rmtree(failed, ignore_errors=True)
    if hub.exists():
        hub.rename(failed)
    previous.rename(hub)
    marker.unlink()
    shutil.rmtree(failed, ignore_errors=True)
    return True


def ensure_tljh(prefix: Path, log: Path, source: Source) -> None:
    """The hub env holds tljh from source; an upgrade that fails leaves the env as it was."""
    if already_installed(prefix, source):
        say(f"the hub env already holds {source.description}")
        return
    keep_hub_env_copy(prefix, log)
    try:
        pip_install_tljh(prefix, log, source)
    except BaseException:
        if put_back_hub_env(prefix):
            say(f"the hub env {prefix / 'hub'} was put back as it was before this run")
        raise
    digest = source_digest(source)
    if digest is not None:
        (prefix / "hub" / SOURCE_STAMP).write_text(digest + "\n")


def installers_pipnet(location: str) -> Any:
    """tljh.actions.pipnet (standard library only) from the tljh package being installed, a checkout or a
    wheel; None when it is not at hand (a spec pip fetches) or does not load."""
    if not (Path(location) / "tljh/actions/pipnet.py").is_file() and not location.endswith(".whl"):
        return None
    sys.path.insert(0, location)
    try:
        return importlib.import_module("tljh.actions.pipnet")
    except (ImportError, SyntaxError):  # an older tljh without it, a broken wheel: pip's own output is shown
        return None
    finally:
        sys.path.remove(location)


def pip_config_list(python: str) -> str:
    """What `pip config list` says the machine's pip configuration sets ('' if pip cannot say)."""
    try:
        listed = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True,
                                stdin=subprocess.DEVNULL)
    except OSError:
        return ""
    return listed.stdout if listed.returncode == 0 else ""


def run_pip(argv: list[str], log: Path, pipnet: Any) -> None:
    """run() for pip, within the installer's bounds on an unreachable index (where the machine's pip config
    sets none); when pip could not fetch a package, the installer's one message naming what and from where."""
    if pipnet is None:
        run(argv, log)
        return
    start = log.stat().st_size if log.exists() else 0
    try:
        run(argv, log, pipnet.network_env(pipnet.config_keys(pip_config_list(argv[0]))))
    except BootstrapError:
        with open(log, "rb") as f:
            f.seek(start)
            failure = pipnet.fetch_failure(redact(f.read().decode(errors="replace")))
        if failure is None:
            raise
        raise BootstrapError(f"{failure.message(str(Path(argv[0]).parent.parent))}\nThe full log is in {log}") from None


def pip_install_tljh(prefix: Path, log: Path, source: Source) -> None:
    """The installer lock (hash-checked), then tljh itself without dependencies; pip as the machine configures it.

    The carried wheel is written to the same path on every run (pip records where a package came
    from, and the hub restarts when its packages' records change).
    """
    pip = [str(prefix / "hub/bin/python3"), "-m", "pip", "install", "--no-warn-script-location"]
    (prefix / "hub" / SOURCE_STAMP).unlink(missing_ok=True)
    wheel_dir = prefix / ".bootstrap-wheel"
    shutil.rmtree(wheel_dir, ignore_errors=True)
    try:
        with tempfile.TemporaryDirectory(dir=prefix, prefix=".bootstrap-") as tmp:
            target = source.spec
            if source.wheel is not None:
                wheel_dir.mkdir(mode=0o700)
                target = str(wheel_dir / RELEASE_WHEEL_NAME)
                Path(target).write_bytes(source.wheel)
            pipnet = installers_pipnet(target)
            if source.lock is None:
                say(f"no installer lock goes with {source.spec}: its dependencies are installed as pip resolves them")
                run_pip([*pip, "--upgrade", target], log, pipnet)
                return
            lock = Path(tmp) / "installer.lock"
            lock.write_text(source.lock, encoding="utf-8")
            run_pip([*pip, "--require-hashes", "-r", str(lock)], log, pipnet)
            run_pip([*pip, "--upgrade", "--force-reinstall", "--no-deps", target], log, pipnet)
    finally:
        shutil.rmtree(wheel_dir, ignore_errors=True)


def install_tljh(prefix: Path, log: Path, status: Status, source: Source) -> Path:
    """Run the bootstrap's steps (apt, hub venv, tljh package), saying each; return the hub venv."""
    steps: list[tuple[str, Callable[[], object]]] = [
        (STEPS[0], lambda: ensure_apt_packages(log)),
        (STEPS[1], lambda: ensure_hub_venv(prefix, log)),
        (STEPS[2], lambda: ensure_tljh(prefix, log, source)),
    ]
    for title, do in steps:
        start = time.monotonic()
        say(f"{title} ...")
        status.step(title, "running")
        try:
            do()
        except BootstrapError as e:
            status.fail(title, str(e))
            raise
        status.step(title, "done")
        say(f"{title}: done in {time.monotonic() - start:.1f}s")
    return prefix / "hub"


def hand_over(hub: Path, installer_args: list[str]) -> None:
    """exec the installer; its real arguments in TLJH_INSTALLER_ARGS when its command line hides some."""
    python = str(hub / "bin" / "python3")
    public = redact_argv(installer_args)
    if public != installer_args:
        os.environ["TLJH_INSTALLER_ARGS"] = json.dumps(installer_args)
    os.execv(python, [python, "-m", "tljh.installer", *public])


def plan_only(prefix: Path, installer_args: list[str]) -> int:
    """--plan: say what the bootstrap would do, then hand over to the installer's plan when it is here."""
    missing = missing_apt_packages()
    hub_python = prefix / "hub" / "bin" / "python3"
    say("plan: apt packages " + " ".join(APT_PACKAGES) + ": " + (f"install {' '.join(missing)}" if missing else "nothing to do"))
    say(f"plan: directory {prefix}: " + ("nothing to do" if prefix.is_dir() else f"create {prefix}"))
    say(f"plan: venv {prefix / 'hub'}: " + ("nothing to do" if hub_python.exists() else f"create {prefix / 'hub'}"))
    try:
        where = tljh_source().description
    except BootstrapError as e:
        where = f"nowhere: {e}"
    say(f"plan: the tljh package in {prefix / 'hub'}: the installer lock (pip --require-hashes), then tljh from {where}")
    has_tljh = hub_python.exists() and subprocess.run(
        [str(hub_python), "-c", "import tljh.cli.plan"], stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    if not has_tljh:
        say("plan: the installer's own steps (directories, groups, sudo, environments, units) are listed by the "
            "tljh package, which is not on this machine yet: see README, 'tljh plan'")
        return 0
    sys.stdout.flush()
    public = redact_argv(installer_args)
    if public != installer_args:
        os.environ["TLJH_INSTALLER_ARGS"] = json.dumps(["--plan", *installer_args])
    os.execv(str(hub_python), [str(hub_python), "-m", "tljh.installer", "--plan", *public])
    return 0  # not reached


INSTALL_LOCK = ".install.lock"  # tljh/install/lock.py takes the same lock and reads the same env var


def take_install_lock(prefix: Path) -> None:
    """Hold <prefix>/.install.lock until the installer this process becomes ends; BootstrapError naming the holder if another run has it."""
    fd = os.open(prefix / INSTALL_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 300, 0).decode(errors="replace").strip() or "a process that has not said who it is"
        raise BootstrapError(f"another install is running on this machine ({holder}; lock {prefix / INSTALL_LOCK}). "
                             "Wait for it to finish, or stop it, then run this again.") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}, the bootstrap, started {time.strftime('%Y-%m-%d %H:%M:%S %Z')}".encode(), 0)
    global _lock_fd
    _lock_fd = fd


_lock_fd: int | None = None  # the install lock's descriptor: closed in the page's child, handed to the installer


def main(argv: list[str]) -> int:
    original = list(getattr(sys, "orig_argv", sys.argv))  # the whole command line, interpreter included
    hidden = redact_argv(original) == original or hide_command_line(redact_argv(original))
    remember_secrets(argv)
    installer_args, requested = own_flags(argv)
    if "--plan" in installer_args:
        prefix = Path(os.environ.get("TLJH_INSTALL_PREFIX") or "/opt/tljh")
        return plan_only(prefix, [a for a in installer_args if a != "--plan"])
    os.environ["TLJH_BOOTSTRAP_STARTED"] = str(time.time())  # the installer's total time counts from here
    status = Status(None, Path("/opt/tljh/installer.log"))
    try:
        check_requested_version(requested)
        source = tljh_source()
        preflight()
        prefix = Path(os.environ.get("TLJH_INSTALL_PREFIX") or "/opt/tljh")
        if not prefix.is_dir():
            made("directory", str(prefix), "create")
        prefix.mkdir(parents=True, exist_ok=True)
        take_install_lock(prefix)
        log = prefix / "installer.log"
        log.touch(mode=0o600)
        os.chmod(log, 0o600)
        status = open_page("--show-progress-page" in argv, PageFiles(log=log))
        say(f"tljh will be installed from {source.description}")
        hub = install_tljh(prefix, log, status, source)
        if not hidden and not hide_command_line(redact_argv(original)):  # ctypes may come with apt's python3
            say("note: this command line (with its password) stays visible to local users until the installer starts")
    except BootstrapError as e:
        print(f"error: {e}", file=sys.stderr)
        if status.path is not None:
            print("The progress page shows this error and stays up until the bootstrap runs again.", file=sys.stderr)
        return 1
    say("handing over to the installer")
    os.environ["TLJH_BOOTSTRAP_MADE"] = keep_pending_record(hub)
    if _lock_fd is not None:
        os.set_inheritable(_lock_fd, True)
        os.environ["TLJH_INSTALL_LOCK_FD"] = str(_lock_fd)
    hand_over(hub, installer_args)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
