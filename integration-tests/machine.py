"""Throwaway Debian machines with systemd as PID 1, for integration tests.

A machine is a systemd-nspawn container booted from a cached mmdebstrap
tarball.  With `private_network=True` (what the tests use) it gets a network
namespace of its own, linked to the host's network through a NATed veth pair,
and the test process enters that namespace while the machine lives: tests reach
the machine at 127.0.0.1 as if it were the host, the machine reaches the package
index through the host, and up to TLJH_TEST_MACHINES (default 2) machines run
at once on one host.  Without it (the README's "try it" command) the machine
shares the host's network, so ports it binds (80, 443, 8099) are the host's and
one such machine runs at a time.

    with Machine("bookworm") as m:
        m.copy_in(REPO_ROOT, "/srv/tljh")
        print(m.run(["systemctl", "is-system-running"], check=False).stdout)

Command line (the README's "try it" command; needs root):

    python3 integration-tests/machine.py try [--distro bookworm]

Standard library only.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import TextIO

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = Path("/var/cache/tljh-tests")
LOG_DIR = Path("/var/log/tljh-tests")
MACHINES_DIR = Path("/var/lib/machines")
NAME_PREFIX = "tljh-test-"

# A real Debian cloud image ships python3; the bootstrap is run with it.
ROOTFS_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "ca-certificates",
    "curl",
    "iproute2",
    "sudo",
    "python3",
)
HOST_TOOLS = {
    "systemd-nspawn": "systemd-container",
    "mmdebstrap": "mmdebstrap",
    "nsenter": "util-linux",
    "setpriv": "util-linux",
    "ip": "iproute2",
    "nft": "nftables",
}
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PIP_CONF = "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n"
SHARED_PORTS = (80, 443, 8099)  # the hub's ports, bound on the host's network
# Prefix for host commands: SIGTERM them when the process that started them dies,
# so a killed test run leaves no machine (or nsenter) behind.
DIE_WITH_PARENT = ("setpriv", "--pdeathsig", "TERM")
BASE_ENV = ("PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8")
COPY_EXCLUDES = (".git", "__pycache__", "*.egg-info", "build", ".pytest_cache", ".venv", ".mypy_cache", ".ruff_cache")

HOST_LOCK = Path("/run/tljh-test-machine.lock")  # one shared-network machine at a time per host
SLOT_LOCKS = "/run/tljh-test-slot-{slot}.lock"  # one private-network machine per slot
NETNS_NAME = "tljh-test-net-{slot}"
NETNS_SUBNET = "10.231.{slot}"  # .1 the host's end of the veth pair, .2 the machine's; /30
NAT_TABLE = "tljh_tests"
CLONE_NEWNET = 0x40000000
BOOT_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
BOOTSTRAP_TIMEOUT = 1800.0


class MachineError(RuntimeError):
    """A machine could not be built, booted, used or destroyed."""


class CommandError(MachineError):
    """A command inside a machine failed or timed out."""

    def __init__(self, argv: list[str], returncode: int | None, stdout: str, stderr: str, note: str = "") -> None:
        self.argv, self.returncode, self.stdout, self.stderr = argv, returncode, stdout, stderr
        status = note or f"exit code {returncode}"
        super().__init__(
            f"command {argv!r} failed ({status})\n"
            f"--- stdout (tail) ---\n{tail(stdout)}\n--- stderr (tail) ---\n{tail(stderr)}"
        )


def tail(text: str, lines: int = 40) -> str:
    """Return the last `lines` lines of `text`."""
    return "\n".join(text.splitlines()[-lines:])


# ---------------------------------------------------------------- host setup


def ensure_host_tools() -> None:
    """Ensure systemd-nspawn, mmdebstrap and nsenter are on the host (apt-get installs them if not)."""
    missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if shutil.which(tool) is None})
    if not missing:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True, env=env)


def _rootfs_spec(distro: str) -> str:
    """The build parameters of a rootfs tarball; a cache built with others is rebuilt."""
    return f"variant=minbase distro={distro} include={','.join(ROOTFS_PACKAGES)}\n"


def _remove_dead_partials(distro: str) -> None:
    """Remove partial tarballs left by killed builds (their builder's pid is gone)."""
    for partial in CACHE_DIR.glob(f".{distro}.partial-*.tar"):
        pid = partial.name.rsplit("-", 1)[-1].removesuffix(".tar")
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            partial.unlink(missing_ok=True)


def ensure_rootfs(distro: str) -> Path:
    """Ensure a complete minbase tarball of `distro` is cached, and return its path.

    The tarball is built under a temporary name and renamed into place, so a
    killed build never leaves a broken cache.  A sidecar `.spec` file records the
    build parameters; a cache built with other parameters is rebuilt.
    """
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tarball, spec_file = CACHE_DIR / f"{distro}.tar", CACHE_DIR / f"{distro}.tar.spec"
    spec = _rootfs_spec(distro)
    if tarball.is_file() and spec_file.is_file() and spec_file.read_text() == spec:
        return tarball
    ensure_host_tools()
    _remove_dead_partials(distro)
    partial = CACHE_DIR / f".{distro}.partial-{os.getpid()}.tar"
    try:
        subprocess.run(
            [
                "mmdebstrap",
                "--variant=minbase",
                "--format=tar",
                f"--include={','.join(ROOTFS_PACKAGES)}",
                distro,
                str(partial),
            ],
            check=True,
            stdin=subprocess.DEVNULL,
        )
        spec_file.unlink(missing_ok=True)
        os.replace(partial, tarball)
        spec_file.write_text(spec)
    finally:
        partial.unlink(missing_ok=True)
    return tarball


def ports_in_use(ports: tuple[int, ...] = SHARED_PORTS) -> list[int]:
    """The ports among `ports` on which something already accepts connections on 127.0.0.1."""
    busy = []
    for port in ports:
        with socket.socket() as probe:
            probe.settimeout(1)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                busy.append(port)
    return busy


def wait_for_http(url: str, timeout: float = 30.0) -> bool:
    """Whether `url` answers 200 within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1)
    return False


# ---------------------------------------------------------------- processes


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name ([] if it is gone): state, ppid, pgrp, ..."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _parent_pid(pid: int) -> int | None:
    """The parent pid of `pid`, or None if it is gone."""
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def _group_members(pgid: int) -> list[int]:
    """The pids in process group `pgid`."""
    pids = (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit())
    return [pid for pid in pids if (fields := _stat_fields(pid)) and int(fields[2]) == pgid]


def _children(pid: int) -> list[int]:
    """The pids whose parent is `pid`."""
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _parent_pid(int(p.name)) == pid]


def _comm(pid: int) -> str:
    """The command name of `pid`, or '' if it is gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _cmdline_args() -> set[str]:
    """Every argument of every running process's command line."""
    args: set[str] = set()
    for proc in Path("/proc").iterdir():
        try:
            args.update((proc / "cmdline").read_bytes().decode(errors="replace").split("\0"))
        except OSError:
            continue
    return args


def remove_stale_machines() -> list[str]:
    """Remove machine directories left by killed runs; return their names.

    A directory is stale when the pid in its name (the process that booted it)
    is gone and no running process names it on its command line.  (nspawn gets
    SIGTERM when the process that started it dies, so it does not outlive it.)
    """
    in_use = _cmdline_args()
    removed = []
    for root in MACHINES_DIR.glob(f"{NAME_PREFIX}*-*-*"):
        owner = root.name.rsplit("-", 2)[-2]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists() and str(root) not in in_use:
            shutil.rmtree(root, ignore_errors=True)
            (MACHINES_DIR / f".#{root.name}.lck").unlink(missing_ok=True)
            removed.append(root.name)
    return removed


def _kill_group(pgid: int, sig: int) -> None:
    """Send `sig` to a process group that may already be gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _kill_command(proc: subprocess.Popen[str]) -> None:
    """SIGKILL an nsenter command: its children first, so that nsenter reaps them and exits.

    (Killing nsenter first would orphan its child inside the container as a
    zombie that no one reaps, and the container's shutdown would wait for it.)
    """
    for pid in _group_members(proc.pid):
        if pid != proc.pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    _kill_group(proc.pid, signal.SIGKILL)


def _execute(
    cmd: list[str], *, input: str | None, timeout: float, echo: TextIO | None, running: set[subprocess.Popen[str]]
) -> tuple[int | None, str, str]:
    """Run `cmd` in its own process group; return (exit code or None on timeout, stdout, stderr).

    With `echo`, stderr is merged into stdout and each line is also written to
    `echo` as it arrives.  On timeout the whole process group is killed.  While
    it runs, the process is in `running` (so that it can be killed from elsewhere).
    """
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if echo else subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    running.add(proc)
    try:
        return _collect(proc, input=input, timeout=timeout, echo=echo)
    finally:
        running.discard(proc)


def _collect(
    proc: subprocess.Popen[str], *, input: str | None, timeout: float, echo: TextIO | None
) -> tuple[int | None, str, str]:
    """Wait for `proc` as `_execute` describes."""
    if echo is None:
        try:
            out, err = proc.communicate(input, timeout=timeout)
            return proc.returncode, out, err
        except subprocess.TimeoutExpired:
            _kill_command(proc)
            out, err = proc.communicate()
            return None, out, err
    return _execute_echoing(proc, input, timeout, echo)


def _execute_echoing(
    proc: subprocess.Popen[str], input: str | None, timeout: float, echo: TextIO
) -> tuple[int | None, str, str]:
    """Feed `input`, copy output lines to `echo` and collect them, bounded by `timeout`."""
    lines: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            echo.write(line)
            echo.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    if input is not None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(input)
            proc.stdin.close()
        except BrokenPipeError:
            pass
    try:
        code: int | None = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_command(proc)
        proc.wait()
        code = None
    reader.join(timeout=10)
    return code, "".join(lines), ""


# ---------------------------------------------------------------- private networks


def machine_slots() -> int:
    """How many private-network machines may run at once on this host (TLJH_TEST_MACHINES, default 2)."""
    raw = os.environ.get("TLJH_TEST_MACHINES", "2")
    if not raw.isdigit() or not 1 <= int(raw) <= 50:
        raise MachineError(f"TLJH_TEST_MACHINES={raw!r}: give a whole number from 1 to 50")
    return int(raw)


def _ip(*args: str) -> None:
    """Run `ip ARGS` on the host's network, raising MachineError with its message on failure."""
    result = subprocess.run(["ip", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise MachineError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def _setns(fd: int) -> None:
    """Move the calling thread (and so the threads and processes it starts) into network namespace `fd`."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise MachineError(f"setns: {os.strerror(ctypes.get_errno())}")


def _ensure_nat() -> None:
    """Ensure the host forwards and masquerades the machines' traffic (10.231.0.0/16) to its own network."""
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
    rules = (
        f"table ip {NAT_TABLE} {{\n"
        "  chain postrouting { type nat hook postrouting priority 100; ip saddr 10.231.0.0/16 masquerade; }\n"
        "}\n"
    )
    subprocess.run(["nft", "delete", "table", "ip", NAT_TABLE], capture_output=True, stdin=subprocess.DEVNULL)
    result = subprocess.run(["nft", "-f", "-"], input=rules, capture_output=True, text=True)
    if result.returncode != 0:
        raise MachineError(f"nft: could not set up NAT for the test machines: {result.stderr.strip()}")


class PrivateNetwork:
    """A network namespace for one machine, NATed to the host's network, entered by this process.

    While it is open, this thread (the test process's main thread) lives in the namespace, so
    127.0.0.1 is the machine's loopback and everything the tests start (threads, Chromium,
    HTTP servers) is there too.  Closing it moves the thread back and deletes the namespace.
    """

    def __init__(self) -> None:
        self.slot: int | None = None
        self._slot_lock: TextIO | None = None
        self._home: int | None = None  # fd of the namespace this thread came from

    @property
    def name(self) -> str:
        assert self.slot is not None
        return NETNS_NAME.format(slot=self.slot)

    @property
    def path(self) -> str:
        return f"/run/netns/{self.name}"

    def open(self) -> None:
        """Take a free slot (waiting for one), build its namespace and veth pair, and enter it."""
        self._take_slot()
        self._remove_namespace()  # left by a killed run of this slot
        net, host_end = NETNS_SUBNET.format(slot=self.slot), f"tljh-veth{self.slot}"
        _ip("netns", "add", self.name)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", self.name)
        _ip("addr", "add", f"{net}.1/30", "dev", host_end)
        _ip("link", "set", host_end, "up")
        for args in (("addr", "add", f"{net}.2/30", "dev", "eth0"), ("link", "set", "eth0", "up"),
                     ("link", "set", "lo", "up"), ("route", "add", "default", "via", f"{net}.1")):
            _ip("-n", self.name, *args)
        _ensure_nat()
        self._home = os.open("/proc/self/ns/net", os.O_RDONLY)
        target = os.open(self.path, os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)

    def close(self) -> None:
        """Return to the host's namespace, delete this one, and free the slot; safe to call twice."""
        if self._home is not None:
            _setns(self._home)
            os.close(self._home)
            self._home = None
        if self.slot is not None:
            self._remove_namespace()
        if self._slot_lock is not None:
            self._slot_lock.close()
            self._slot_lock = None
        self.slot = None

    def _remove_namespace(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, stdin=subprocess.DEVNULL)
        subprocess.run(["ip", "link", "del", f"tljh-veth{self.slot}"], capture_output=True, stdin=subprocess.DEVNULL)

    def _take_slot(self) -> None:
        """Hold the lock of the first free slot, waiting (and saying so once) while all are taken."""
        slots, said = machine_slots(), False
        while True:
            for slot in range(1, slots + 1):
                lock = open(SLOT_LOCKS.format(slot=slot), "w")  # noqa: SIM115 -- held until close()
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    lock.close()
                    continue
                self.slot, self._slot_lock = slot, lock
                return
            if not said:
                print(f"waiting for a free test machine slot (TLJH_TEST_MACHINES={slots})", file=sys.stderr, flush=True)
                said = True
            time.sleep(2)


# ---------------------------------------------------------------- machines


class Machine:
    """A booted Debian machine (systemd-nspawn container) that is destroyed on exit."""

    def __init__(self, distro: str = "bookworm", name: str | None = None, private_network: bool = False) -> None:
        self.distro = distro
        self.network = PrivateNetwork() if private_network else None
        self.name = name or f"{NAME_PREFIX}{distro}-{os.getpid()}-{secrets.token_hex(2)}"
        self.root = MACHINES_DIR / self.name
        self.console_log = LOG_DIR / f"{self.name}.console.log"
        self.leader: int | None = None
        self.boot_seconds: float | None = None
        self._nspawn: subprocess.Popen[bytes] | None = None
        self._commands: set[subprocess.Popen[str]] = set()  # `run` commands still running
        self._lock: TextIO | None = None  # HOST_LOCK, held from boot to destroy

    def __enter__(self) -> Machine:
        try:
            self.boot()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.destroy()

    # -- boot

    def boot(self, timeout: float = BOOT_TIMEOUT) -> None:
        """Ensure the machine is up: systemd inside reports `running` or `degraded`.

        `timeout` bounds the wait after systemd-nspawn starts (building the
        rootfs cache, if needed, and unpacking it come before).
        """
        start = time.monotonic()
        if self.network is None:
            self._take_host_lock()
            busy = ports_in_use()
            if busy:
                self._release_host_lock()
                raise MachineError(f"ports {busy} are in use on this host (a hub outside the tests?); they must be free")
        remove_stale_machines()
        tarball = ensure_rootfs(self.distro)
        if self.network is not None:
            self.network.open()
        self._unpack(tarball)
        self._configure()
        self._start_nspawn()
        deadline = time.monotonic() + timeout
        self.leader = self._wait_for_leader(deadline)
        self._wait_until_running(deadline)
        self.boot_seconds = time.monotonic() - start

    def _unpack(self, tarball: Path) -> None:
        """Ensure the machine's root directory holds a fresh copy of the rootfs."""
        if self.root.exists():
            raise MachineError(f"{self.root} already exists; is another machine called {self.name} running?")
        self.root.mkdir(parents=True)
        subprocess.run(["tar", "--numeric-owner", "-xpf", str(tarball), "-C", str(self.root)], check=True)

    def _configure(self) -> None:
        """Trust the host's CA bundle, configure pip to use it, and set a hostname.

        The bundle also goes to /usr/local/share/ca-certificates (as on a
        corporate machine), so the proxy's CA survives update-ca-certificates.
        """
        shutil.copyfile(HOST_CA_BUNDLE, self.root / "etc/ssl/certs/ca-certificates.crt")
        shutil.copyfile(HOST_CA_BUNDLE, self.root / "usr/local/share/ca-certificates/tljh-test-host-bundle.crt")
        (self.root / "etc/pip.conf").write_text(PIP_CONF)
        (self.root / "etc/hostname").write_text(f"{self.name}\n")
        hosts = self.root / "etc/hosts"
        existing = hosts.read_text() if hosts.exists() else "127.0.0.1\tlocalhost\n"
        hosts.write_text(existing + f"127.0.1.1\t{self.name}\n")

    def _start_nspawn(self) -> None:
        """Start systemd-nspawn in its own session, console output to `console_log`."""
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        cmd = [*DIE_WITH_PARENT, "systemd-nspawn", "-D", str(self.root), "--boot", f"--machine={self.name}"]
        cmd += ["--register=no", "--keep-unit"]  # no machined/D-Bus on the host
        if self.network is not None:
            cmd.append(f"--network-namespace-path={self.network.path}")
        with open(self.console_log, "wb") as log:
            self._nspawn = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _check_nspawn_alive(self) -> None:
        """Raise, with the console log's tail, if systemd-nspawn has exited."""
        assert self._nspawn is not None
        if self._nspawn.poll() is not None:
            raise MachineError(
                f"systemd-nspawn exited with {self._nspawn.returncode} while booting {self.name}; "
                f"console log {self.console_log}:\n{tail(self.read_console())}"
            )

    def _wait_for_leader(self, deadline: float) -> int:
        """Return the pid (host view) of the container's systemd, the child of nspawn."""
        assert self._nspawn is not None
        while time.monotonic() < deadline:
            self._check_nspawn_alive()
            for child in _children(self._nspawn.pid):
                if _comm(child) == "systemd":
                    return child
            time.sleep(0.1)
        raise MachineError(
            f"no systemd appeared in {self.name}; console log {self.console_log}:\n{tail(self.read_console())}"
        )

    def _wait_until_running(self, deadline: float) -> None:
        """Wait until `systemctl is-system-running` says running or degraded."""
        state = ""
        while time.monotonic() < deadline:
            self._check_nspawn_alive()
            state = self.run(["systemctl", "is-system-running"], check=False, timeout=10).stdout.strip()
            if state in ("running", "degraded"):
                return
            time.sleep(0.5)
        raise MachineError(
            f"{self.name} did not finish booting (last state {state!r}); "
            f"console log {self.console_log}:\n{tail(self.read_console())}"
        )

    # -- use

    def run(
        self,
        argv: list[str],
        *,
        check: bool = True,
        input: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 300.0,
        echo: TextIO | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` as root inside the machine, in a clean environment, and capture its output.

        The environment is PATH, HOME=/root, LANG=C.UTF-8 plus `env`.  With `echo`,
        stderr is merged into stdout and lines are copied to `echo` as they come.
        With `check`, a non-zero exit raises CommandError (command, exit code,
        stdout and stderr tails); a timeout always raises CommandError.
        """
        __tracebackhide__ = True  # pytest: show the caller's line, not this one
        if self.leader is None:
            raise MachineError(f"{self.name} is not booted")
        enter = [*DIE_WITH_PARENT, "nsenter", "-t", str(self.leader), "-a", "--"]
        cmd = [*enter, "env", "-i", *BASE_ENV, *_env_args(env or {}), *argv]
        code, out, err = _execute(cmd, input=input, timeout=timeout, echo=echo, running=self._commands)
        if code is None:
            raise CommandError(argv, None, out, err, note=f"timed out after {timeout:.0f} s")
        if check and code != 0:
            raise CommandError(argv, code, out, err)
        return subprocess.CompletedProcess(argv, code, out, err)

    def stat(self, path: str) -> tuple[str, str, int]:
        """(owner, group, permission bits) of `path` inside the machine; CommandError if it is missing."""
        __tracebackhide__ = True
        owner, group, mode = self.run(["stat", "-c", "%U %G %a", path]).stdout.split()
        return owner, group, int(mode, 8)

    def succeeds(self, argv: list[str], timeout: float = 60.0) -> bool:
        """Whether `argv` exits 0 inside the machine."""
        return self.run(argv, check=False, timeout=timeout).returncode == 0

    def copy_in(self, src: Path, dest: str) -> None:
        """Copy the directory tree `src` to `dest` inside the machine (merging into it).

        Leaves out .git, __pycache__, *.egg-info, build, .pytest_cache and
        similar caches.  Modes are kept; files are owned by root.
        """
        target = self.host_path(dest)
        shutil.copytree(src, target, symlinks=True, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*COPY_EXCLUDES))

    def host_path(self, path: str) -> Path:
        """The host path of absolute `path` inside the machine (refusing paths that escape it)."""
        target = (self.root / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.root.resolve()):
            raise MachineError(f"{path} resolves outside the machine: {target}")
        return target

    def read_console(self) -> str:
        """The console output so far ('' if there is none)."""
        try:
            return self.console_log.read_text(errors="replace")
        except OSError:
            return ""

    # -- power

    def power_cycle(self, *, hard: bool = False, timeout: float = BOOT_TIMEOUT) -> float:
        """Power the machine off and boot it again from the same disk; seconds until it runs again.

        hard=False is a clean poweroff (systemd stops every unit); hard=True is a power cut:
        every process in it is SIGKILLed at once (files already written stay, as the host's
        page cache keeps them; what a process had not written yet is lost).
        """
        assert self._nspawn is not None, f"{self.name} is not booted"
        self._kill_commands()
        if hard and self.leader is not None:
            os.kill(self.leader, signal.SIGKILL)
        self._stop_nspawn(STOP_TIMEOUT)
        (MACHINES_DIR / f".#{self.name}.lck").unlink(missing_ok=True)
        start = time.monotonic()
        self._start_nspawn()
        deadline = time.monotonic() + timeout
        self.leader = self._wait_for_leader(deadline)
        self._wait_until_running(deadline)
        return time.monotonic() - start

    # -- teardown

    def destroy(self, timeout: float = STOP_TIMEOUT) -> None:
        """Ensure the machine is stopped and its directory removed; safe to call twice."""
        self._kill_commands()
        self._stop_nspawn(timeout)
        self._remove_files()
        self.leader = None
        if self.network is not None:
            self.network.close()
        self._release_host_lock()

    def _take_host_lock(self) -> None:
        """Wait until no other test machine runs on this host (they share ports 80/443/8099)."""
        if self._lock is not None:
            return
        self._lock = open(HOST_LOCK, "w")  # noqa: SIM115 -- held until _release_host_lock
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another test machine to finish ({HOST_LOCK})", file=sys.stderr, flush=True)
            fcntl.flock(self._lock, fcntl.LOCK_EX)

    def _release_host_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _kill_commands(self) -> None:
        """SIGKILL commands that `run` started and that still run (e.g. after Ctrl-C).

        They entered the container with nsenter, outside its cgroups, so the
        container's shutdown would wait for them instead of ending them.
        """
        for proc in list(self._commands):
            _kill_command(proc)

    def _stop_nspawn(self, timeout: float) -> None:
        """SIGTERM nspawn's process group (a clean poweroff), then SIGKILL after `timeout` s."""
        proc = self._nspawn
        if proc is None or proc.poll() is not None:
            return
        _kill_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            pass
        if self.leader is not None and _parent_pid(self.leader) == proc.pid:
            os.kill(self.leader, signal.SIGKILL)  # ends every process in the container
        _kill_group(proc.pid, signal.SIGKILL)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise MachineError(f"systemd-nspawn (pid {proc.pid}) of {self.name} did not exit after SIGKILL") from None

    def _remove_files(self) -> None:
        """Remove the machine directory and nspawn's lock file next to it."""
        if not self.name.startswith(NAME_PREFIX) or self.root.parent != MACHINES_DIR:
            raise MachineError(f"refusing to remove {self.root}: not a test machine")
        if self.root.exists():
            shutil.rmtree(self.root)
        (MACHINES_DIR / f".#{self.name}.lck").unlink(missing_ok=True)


def _env_args(env: dict[str, str]) -> list[str]:
    """NAME=VALUE arguments for env(1); raise ValueError for a name env(1) would misread."""
    for name in env:
        if not name.replace("_", "A").isalnum() or name[0].isdigit():
            raise ValueError(f"invalid environment variable name {name!r}")
    return [f"{name}={value}" for name, value in env.items()]


# ---------------------------------------------------------------- bootstrap


def bootstrap_argv(admin: str, password: str, user_env: str = "venv") -> list[str]:
    """The bootstrap arguments after `python3 -`, as the README gives them."""
    return ["--admin", f"{admin}:{password}", "--user-env", user_env]


def run_bootstrap_piped(
    machine: Machine,
    admin: str,
    password: str,
    *,
    echo: TextIO | None = None,
    timeout: float = BOOTSTRAP_TIMEOUT,
    extra: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """Run bootstrap/bootstrap.py the README's way: its text on stdin of `python3 -`.

    This mimics `curl URL | sudo python3 - ...`; TLJH_BOOTSTRAP_PIP_SPEC points
    pip at the checkout copied to /srv/tljh; `extra` are more bootstrap arguments.
    Never raises on a non-zero exit.
    """
    script = (REPO_ROOT / "bootstrap" / "bootstrap.py").read_text()
    return machine.run(
        ["python3", "-", *bootstrap_argv(admin, password), *extra],
        input=script,
        env={"TLJH_BOOTSTRAP_PIP_SPEC": "/srv/tljh"},
        check=False,
        timeout=timeout,
        echo=echo,
    )


# ---------------------------------------------------------------- command line


def _raise_interrupt(signum: int, frame: object) -> None:
    """Turn SIGTERM into KeyboardInterrupt so `with Machine(...)` cleans up."""
    raise KeyboardInterrupt


def try_it(distro: str) -> int:
    """Boot a machine, install the hub from this checkout, and keep it until Ctrl-C or SIGTERM."""
    busy = ports_in_use()
    if busy:
        print(f"Ports {busy} are in use on this host (another hub or test machine?); stop it first.", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _raise_interrupt)
    password = secrets.token_urlsafe(12)
    hub_running = False
    try:
        with Machine(distro) as machine:
            print(
                f"Booted {machine.name} in {machine.boot_seconds:.1f} s (console log: {machine.console_log})",
                flush=True,
            )
            machine.copy_in(REPO_ROOT, "/srv/tljh")
            result = run_bootstrap_piped(machine, "admin", password, echo=sys.stdout)
            if result.returncode != 0:
                print(
                    f"Bootstrap failed with exit code {result.returncode}; destroying {machine.name}.", file=sys.stderr
                )
                return result.returncode
            if not wait_for_http("http://127.0.0.1/hub/api"):
                print(
                    "Warning: the bootstrap succeeded but http://127.0.0.1/hub/api does not answer 200.",
                    file=sys.stderr,
                )
            print(f"Hub running at http://127.0.0.1/ — log in as admin / {password}", flush=True)
            print("Press Ctrl-C to stop and destroy the machine.", flush=True)
            hub_running = True
            while True:
                signal.pause()
    except KeyboardInterrupt:
        print("\nMachine destroyed.", file=sys.stderr)
        return 0 if hub_running else 130
    except CommandError as error:  # e.g. the bootstrap timed out
        print(error, file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    try_parser = commands.add_parser("try", help="boot a machine and install the hub from this checkout in it")
    try_parser.add_argument("--distro", default="bookworm", help="Debian suite (default: bookworm)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("must be run as root (it boots a systemd-nspawn container)")
    return try_it(args.distro)


if __name__ == "__main__":
    sys.exit(main())
