"""What a machine looks like, for comparing it before an install and after an uninstall.

Run inside the machine with its python3 (standard library only); prints one JSON document:
files under /etc, /opt, /usr/bin, /var/lib/systemd and /home (owner, group, mode, and the sha256
of a file or the target of a link), users, groups (with members), installed apt packages and
enabled units.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import stat
import subprocess
import sys

ROOTS = ("/etc", "/opt", "/usr/bin", "/var/lib/systemd", "/home")


def describe(path: str) -> str:
    st = os.lstat(path)
    owner = _name(pwd.getpwuid, st.st_uid)
    group = _name(grp.getgrgid, st.st_gid)
    head = f"{owner}:{group} {stat.S_IMODE(st.st_mode):o}"
    if stat.S_ISLNK(st.st_mode):
        return f"{head} -> {os.readlink(path)}"
    if stat.S_ISDIR(st.st_mode):
        return f"{head} dir"
    if stat.S_ISREG(st.st_mode):
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return f"{head} {digest.hexdigest()}"
    return f"{head} special"


def _name(lookup, number: int) -> str:  # type: ignore[no-untyped-def]
    try:
        return str(lookup(number)[0])
    except KeyError:
        return str(number)


def files() -> dict[str, str]:
    found = {}
    for root in ROOTS:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                try:
                    found[path] = describe(path)
                except OSError:
                    pass
    return found


def command(argv: list[str]) -> list[str]:
    out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    return sorted(line.strip() for line in out.splitlines() if line.strip())


def main() -> None:
    json.dump({
        "files": files(),
        "users": sorted(f"{u.pw_name}:{u.pw_uid}:{u.pw_dir}:{u.pw_shell}" for u in pwd.getpwall()),
        "groups": sorted(f"{g.gr_name}:{g.gr_gid}:{','.join(sorted(g.gr_mem))}" for g in grp.getgrall()),
        "apt": command(["dpkg-query", "-W", "-f", "${Package}\n"]),
        "enabled_units": command(["systemctl", "list-unit-files", "--state=enabled", "--no-legend", "--plain"]),
    }, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
