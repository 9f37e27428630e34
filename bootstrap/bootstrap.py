#!/usr/bin/env python3
"""Bootstrap The Littlest JupyterHub on a fresh Debian or Ubuntu server.

    curl -L https://tljh.jupyter.org/bootstrap.py | sudo python3 - --admin NAME[:PASSWORD]

Standard library only; runs on the system python3 (3.9 and newer). It checks the machine,
installs python3 and python3-venv with apt, makes the hub venv at <prefix>/hub (prefix
/opt/tljh, or TLJH_INSTALL_PREFIX), installs the tljh package into it and hands over to
`python -m tljh.installer` with the remaining arguments.

The tljh package comes from TLJH_BOOTSTRAP_PIP_SPEC when set; else from the source checkout
this file sits in, when run as a file from one; else the released package.
"""

from __future__ import annotations

import fcntl
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

VERSION = "0.1.0"
RELEASED_SPEC = "the-littlest-jupyterhub"
MIN_PYTHON = (3, 10)
SUPPORTED = {"debian": 11, "ubuntu": 22.04}
APT_PACKAGES = ["python3", "python3-venv"]
DPKG_LOCK = "/var/lib/dpkg/lock-frontend"
LOCK_WAIT_SECONDS = 1200


class BootstrapError(Exception):
    """A reason not to go on, said in one line."""


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


def run(argv: list[str], log: Path) -> None:
    """Run argv with its output appended to the log; on failure show the output's end and stop."""
    say("$ " + shlex.join(argv))
    with open(log, "a") as out:
        out.write(f"$ {shlex.join(argv)}\n")
        out.flush()
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise BootstrapError(f"`{shlex.join(argv)}` failed with exit code {result.returncode}:\n{tail}")


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
                    raise BootstrapError(f"another apt/dpkg held {path} for {timeout:.0f}s; try again later")
                if not told:
                    say("waiting for another apt/dpkg process to finish...")
                    told = True
                time.sleep(2)


def missing_apt_packages() -> list[str]:
    query = ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *APT_PACKAGES]
    out = subprocess.run(query, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    installed = {line.split()[0] for line in out.splitlines() if line.endswith(" installed")}
    return [p for p in APT_PACKAGES if p not in installed]


def ensure_apt_packages(log: Path) -> None:
    missing = missing_apt_packages()
    if not missing:
        return
    wait_for_dpkg_lock()
    os.environ["DEBIAN_FRONTEND"] = "noninteractive"
    apt = ["apt-get", "-o", f"DPkg::Lock::Timeout={LOCK_WAIT_SECONDS}"]
    run([*apt, "update"], log)
    run([*apt, "install", "--yes", "--no-install-recommends", *missing], log)


def tljh_spec() -> str:
    """Where to install the tljh package from (see the module docstring)."""
    if os.environ.get("TLJH_BOOTSTRAP_PIP_SPEC"):
        return os.environ["TLJH_BOOTSTRAP_PIP_SPEC"]
    here = Path(sys.argv[0]).resolve().parent if sys.argv[0] not in ("", "-") else None
    if here is not None and (here.parent / "setup.py").is_file() and (here.parent / "tljh").is_dir():
        return str(here.parent)
    return RELEASED_SPEC


def ensure_hub_venv(prefix: Path, log: Path) -> Path:
    hub = prefix / "hub"
    if not (hub / "bin" / "python3").exists():
        run([sys.executable, "-m", "venv", str(hub)], log)
    return hub


def own_flags(argv: list[str]) -> list[str]:
    """Handle the bootstrap's own flags; return the arguments for the installer."""
    if "--version" in argv:
        print(f"tljh bootstrap {VERSION}")
        sys.exit(0)
    # --show-progress-page is the bootstrap's; the page itself comes with its own change.
    return [a for a in argv if a != "--show-progress-page"]


def main(argv: list[str]) -> int:
    installer_args = own_flags(argv)
    try:
        preflight()
        prefix = Path(os.environ.get("TLJH_INSTALL_PREFIX") or "/opt/tljh")
        prefix.mkdir(parents=True, exist_ok=True)
        log = prefix / "installer.log"
        log.touch(mode=0o600)
        os.chmod(log, 0o600)
        ensure_apt_packages(log)
        hub = ensure_hub_venv(prefix, log)
        spec = tljh_spec()
        say(f"installing tljh from {spec}")
        run([str(hub / "bin" / "python3"), "-m", "pip", "install", "--upgrade", "--no-warn-script-location", spec], log)
    except BootstrapError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    say("handing over to the installer")
    python = str(hub / "bin" / "python3")
    os.execv(python, [python, "-m", "tljh.installer", *installer_args])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
