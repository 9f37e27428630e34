"""Run in the test machine as an unprivileged user: look for secrets wherever such a user can look.

    python3 snoop.py SECRETS_FILE REPORT_FILE STOP_FILE

Until STOP_FILE exists it samples, every few tenths of a second, every process's command line
(and environment, where readable; from the moment the progress page first answers, since before
that the only process with secrets is the bootstrap in its first instants, showing what the
admin typed, as their sudo does), the progress page (/, /status.json, /logs on 127.0.0.1:80) and
the readable files under the places an install writes to; then it reads every readable file on
the machine once. REPORT_FILE gets a JSON report: the hits (where, which secret), and what was
seen (samples, whether the page and the installer were seen), so a run that saw nothing fails.
Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from pathlib import Path

WATCHED = ("/run", "/tmp", "/var/tmp", "/dev/shm", "/opt/tljh", "/etc", "/var/log", "/srv", "/root", "/home")
SKIPPED = ("/proc", "/sys", "/dev")
MAX_FILE = 20 * 1024 * 1024


def processes(secrets: list[bytes], hits: set[str], seen: dict[str, int]) -> None:
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        for what in ("cmdline", "environ"):
            try:
                data = Path(entry.path, what).read_bytes()
            except OSError:
                continue
            if what == "cmdline" and b"tljh.installer" in data:
                seen["installer"] += 1
            if what == "cmdline" and b"bootstrap" in data:
                seen["bootstrap"] += 1
            found(data, f"/proc/PID/{what} of {data[:120]!r}", secrets, hits)


def page(secrets: list[bytes], hits: set[str], seen: dict[str, int]) -> None:
    for path in ("/", "/status.json", "/logs"):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1{path}", timeout=2) as answer:
                body = answer.read()
        except OSError:
            continue
        if path == "/status.json" and b'"steps"' in body:
            seen["page"] += 1
        found(body, f"http://127.0.0.1{path}", secrets, hits)


OWN_FILES: set[str] = set()


def files(roots: tuple[str, ...], secrets: list[bytes], hits: set[str], seen: dict[str, int]) -> None:
    for root in roots:
        for directory, dirs, names in os.walk(root, onerror=lambda e: None):
            dirs[:] = [d for d in dirs if os.path.join(directory, d) not in SKIPPED]
            for name in names:
                path = os.path.join(directory, name)
                if path in OWN_FILES:
                    continue
                try:
                    if not os.path.isfile(path) or os.path.islink(path) or os.path.getsize(path) > MAX_FILE:
                        continue
                    with open(path, "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                seen["files"] += 1
                found(data, path, secrets, hits)


def found(data: bytes, where: str, secrets: list[bytes], hits: set[str]) -> None:
    for number, secret in enumerate(secrets):
        if secret in data:
            hits.add(f"secret #{number} in {where}")


def main(secrets_file: str, report_file: str, stop_file: str) -> None:
    OWN_FILES.update({os.path.abspath(secrets_file), os.path.abspath(report_file)})
    secrets = [line.encode() for line in Path(secrets_file).read_text().splitlines() if line]
    hits: set[str] = set()
    seen = {"samples": 0, "page": 0, "installer": 0, "bootstrap": 0, "files": 0}
    last_files = 0.0
    while not os.path.exists(stop_file):
        page(secrets, hits, seen)
        if seen["page"]:
            processes(secrets, hits, seen)
        if time.monotonic() - last_files > 5:
            files(WATCHED, secrets, hits, seen)
            last_files = time.monotonic()
        seen["samples"] += 1
        time.sleep(0.2)
    files(("/",), secrets, hits, seen)
    Path(report_file).write_text(json.dumps({"hits": sorted(hits), "seen": seen}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
