#!/usr/bin/env python3
"""Benchmark: how long a first install and an idempotent re-run take, and what the hub costs in memory.

    sudo python3 benchmarks/install_speed.py [--distro bookworm]

Boots a throwaway machine (integration-tests/machine.py), runs the bootstrap twice as the README
says, and prints the time of each step, the ratio re-run/first run (the number that matters:
absolute times drift with the network and the machine), and the resident memory of the hub's and
the proxy's processes. Nothing is asserted: this measures.
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration-tests"))

from machine import Machine, bootstrap_argv, run_bootstrap_piped

STEP_LINE = re.compile(r"^\[\d+/\d+\] (.+?)\s{2,}.*?([\d.]+)s$")


def step_times(output: str) -> dict[str, float]:
    """{step title: seconds} from the installer's progress lines."""
    return {m.group(1).strip(): float(m.group(2)) for m in map(STEP_LINE.match, output.splitlines()) if m}


def unit_rss_kib(machine: Machine, unit: str) -> int:
    """Resident memory of every process in a unit's cgroup (KiB), read from /proc."""
    pids = machine.run(["systemctl", "show", "-p", "MainPID", "--value", unit]).stdout.split()
    cgroup = machine.run(["cat", f"/proc/{pids[0]}/cgroup"]).stdout if pids and pids[0] != "0" else ""
    path = next((line.split(":", 2)[2] for line in cgroup.splitlines() if line.split(":")[1] in ("", "name=systemd")), "")
    procs = machine.run(["sh", "-c", f"cat /sys/fs/cgroup/systemd{path}/cgroup.procs /sys/fs/cgroup{path}/cgroup.procs 2>/dev/null"], check=False).stdout.split()
    total = 0
    for pid in set(procs):
        status = machine.run(["cat", f"/proc/{pid}/status"], check=False).stdout
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        total += int(match.group(1)) if match else 0
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--distro", default="bookworm")
    args = parser.parse_args()
    password = secrets.token_urlsafe(12)
    with Machine(args.distro) as machine:
        machine.copy_in(Path(__file__).resolve().parent.parent, "/srv/tljh")
        start = time.monotonic()
        first = run_bootstrap_piped(machine, "admin", password)
        first_seconds = time.monotonic() - start
        if first.returncode != 0:
            print(first.stdout[-3000:], first.stderr[-3000:])
            return 1
        start = time.monotonic()
        second = machine.run(["python3", "/srv/tljh/bootstrap/bootstrap.py", *bootstrap_argv("admin", password)])
        second_seconds = time.monotonic() - start
        memory = {unit: unit_rss_kib(machine, unit) for unit in ("jupyterhub.service", "traefik.service")}
    print(f"machine boot: {machine.boot_seconds:.1f}s ({args.distro})")
    print(f"{'step':<24}{'first run':>12}{'re-run':>10}")
    again = step_times(second.stdout)
    for title, seconds in step_times(first.stdout).items():
        print(f"{title:<24}{seconds:>11.1f}s{again.get(title, float('nan')):>9.1f}s")
    print(f"{'whole bootstrap':<24}{first_seconds:>11.1f}s{second_seconds:>9.1f}s")
    print(f"re-run / first run: {second_seconds / first_seconds:.3f}")
    for unit, kib in memory.items():
        print(f"resident memory of {unit}: {kib / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
