"""An install interrupted anywhere is finished by a plain re-run (issue 11).

Runs last: the session install is taken down (services, config, state and the user env; the hub
venv is kept), then the installer is run again and again, each run interrupted one step
further, by the signal a dead SSH session (SIGHUP), Ctrl-C (SIGINT) or a kill/power cut
(SIGKILL) sends to the installer's whole process group (pip and apt included):

- pass A: SIGKILL at every step boundary in turn (as the installer's progress output announces
  each step), starting from the taken-down machine; each run must first finish the step the
  previous one was killed in;
- mid-step: the user environment (the longest step) is removed and rebuilt by runs killed a
  few seconds into it (during the venv's creation, during pip: SIGKILL, SIGINT, SIGHUP);
- pass B: config, state and services taken down again, SIGINT and SIGHUP at every boundary.

Each pass ends with a run that completes; each interrupted run is followed by one that first
finishes the step it was interrupted in. At the end a plain re-run (the bootstrap) completes and
the machine passes the clean-install checks: the admin logs in, starts a server, runs code in a
kernel, and a no-op re-run restarts nothing. The number of interruption points is printed.
(CI time: the checks run once, at the end, not after each pass.)
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass

import pytest

from hubclient import HubClient
from machine import BOOTSTRAP_TIMEOUT, Machine, bootstrap_argv, tail

pytestmark = pytest.mark.one_distro

USER = "/opt/tljh/user"
SERVICES = ("jupyterhub", "traefik")

# Runs the installer in its own session; interrupts its process group `delay` s after the
# `nth` step start line (or the first start line of `title`); prints a JSON report.
DRIVER = r"""
import json, os, re, signal, subprocess, sys, threading, time
argv, nth, title, delay, signame = json.loads(sys.argv[1])
for sig in (signal.SIGINT, signal.SIGHUP):  # as in a terminal: the harness may hand them down ignored
    signal.signal(sig, signal.SIG_DFL)
start = re.compile(r"^\[(\d+)/(\d+)\] (.+) \.\.\.$")
p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
out, seen, hit = [], 0, None
def interrupt():
    try:
        os.killpg(p.pid, getattr(signal, signame))
    except ProcessLookupError:
        pass
for line in p.stdout:
    out.append(line)
    m = start.match(line.rstrip("\n"))
    if m and hit is None:
        seen += 1
        if (title and m.group(3) == title) or (not title and seen == nth):
            hit = line.strip()
            threading.Timer(delay, interrupt).start() if delay else interrupt()
rc = p.wait()
print(json.dumps({"hit": hit, "rc": rc, "out": "".join(out)}))
"""


@dataclass
class Interrupted:
    hit: str | None  # the start line the interruption was aimed at; None if the run never printed it
    rc: int
    out: str


def installer_argv(admin: str, password: str) -> list[str]:
    return ["/opt/tljh/hub/bin/python3", "-m", "tljh.installer", *bootstrap_argv(admin, password)]


def interrupted_run(machine: Machine, argv: list[str], *, nth: int = 0, title: str = "", delay: float = 0.0,
                    signame: str = "SIGKILL") -> Interrupted:
    spec = json.dumps([argv, nth, title, delay, signame])
    result = machine.run(["python3", "-c", DRIVER, spec], timeout=BOOTSTRAP_TIMEOUT)
    return Interrupted(**json.loads(result.stdout.strip().splitlines()[-1]))


def take_down(machine: Machine, *, user_env: bool) -> None:
    """Remove services, config and state (and the user env): what an install makes after the hub venv."""
    machine.run(["sh", "-c", "systemctl stop 'jupyter-*' jupyterhub traefik; systemctl disable jupyterhub traefik"])
    machine.run(["rm", "-f", "/etc/systemd/system/jupyterhub.service", "/etc/systemd/system/traefik.service"])
    machine.run(["systemctl", "daemon-reload"])
    machine.run(["rm", "-rf", "/opt/tljh/config", "/opt/tljh/state", *([USER] if user_env else [])])


def interrupt_at_every_boundary(machine: Machine, argv: list[str], signals: list[str]) -> list[str]:
    """Interrupt runs at the 1st, 2nd, ... step start until a run finishes first; the points hit."""
    points = []
    for nth in range(1, 40):
        signame = signals[(nth - 1) % len(signals)]
        run = interrupted_run(machine, argv, nth=nth, signame=signame)
        if run.hit is None:  # every step was passed: this run completed
            assert run.rc == 0, tail(run.out, 60)
            return points
        assert run.rc != 0, f"{signame} at {run.hit} did not stop the installer:\n{tail(run.out, 30)}"
        points.append(f"{signame} at {run.hit}")
    pytest.fail(f"the installer never completed: {points}")


def clean_install_checks(machine: Machine, argv: list[str], hub_url: str, admin: str, password: str) -> None:
    """A plain re-run (the bootstrap) completes; login, spawn, kernel; then a re-run restarts nothing."""
    plain = machine.run(["python3", "/srv/tljh/bootstrap/bootstrap.py", *bootstrap_argv(admin, password)],
                        check=False, timeout=BOOTSTRAP_TIMEOUT)
    assert plain.returncode == 0, tail(plain.stdout + plain.stderr, 60)
    client = HubClient(hub_url)
    client.login(admin, password)
    client.start_server()
    assert client.evaluate("__import__('sys').prefix") == f"'{USER}'"
    show = ["systemctl", "show", "-p", "ActiveEnterTimestampMonotonic", "--value"]
    before = [machine.run([*show, unit]).stdout for unit in SERVICES]
    again = machine.run(argv, check=False, timeout=BOOTSTRAP_TIMEOUT)
    assert again.returncode == 0, tail(again.stdout + again.stderr, 60)
    assert [machine.run([*show, unit]).stdout for unit in SERVICES] == before


def test_every_interrupted_install_is_finished_by_a_plain_rerun(
    machine: Machine, installed: object, hub_url: str, admin_name: str, admin_password: str
) -> None:
    argv = installer_argv(admin_name, admin_password)
    start = time.monotonic()
    take_down(machine, user_env=True)
    points = interrupt_at_every_boundary(machine, argv, ["SIGKILL"])

    machine.run(["rm", "-rf", USER])
    for delay, signame in ((2.0, "SIGKILL"), (12.0, "SIGINT"), (24.0, "SIGHUP")):
        run = interrupted_run(machine, argv, title="user environment", delay=delay, signame=signame)
        assert run.hit is not None, tail(run.out, 30)
        if run.rc == 0:  # the step finished before the signal: the env is complete
            break
        points.append(f"{signame} {delay:.0f}s into {run.hit}")

    take_down(machine, user_env=False)
    points += interrupt_at_every_boundary(machine, argv, ["SIGINT", "SIGHUP"])
    clean_install_checks(machine, argv, hub_url, admin_name, admin_password)
    print(f"\n{len(points)} interruption points in {time.monotonic() - start:.0f}s:\n  " + "\n  ".join(points),
          file=sys.stderr)
