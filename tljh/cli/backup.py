"""`tljh backup` / `tljh restore`, and the archive `tljh uninstall` leaves: one tarball of the hub's
configuration and state (database, cookie secret, passwords, certificates), optionally the hub
users' homes.

The tarball holds MANIFEST.json (format, tljh version, what is inside), `prefix/config/...`,
`prefix/state/...` (paths relative to the prefix), `certs/...` (certificate files named in
config.yaml outside the prefix) and `home/<account>/...`.
"""

from __future__ import annotations

import io
import json
import os
import pwd
import socket
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from tljh import __version__
from tljh.hub.users import UNIX_PREFIX
from tljh.paths import USERS_GROUP, Paths

FORMAT = 1
# What a backup holds from the state dir: the hub's own state. Rendered files (traefik.toml, rules,
# fingerprints, last-good) are made again by the installer; the journal describes this machine only.
STATE_FILES = ("jupyterhub.sqlite", "jupyterhub_cookie_secret", "passwords.dbm", "passwords.dbm.db",
               "passwords.dbm.dat", "passwords.dbm.dir", "passwords.dbm.bak", "acme.json")
ARCHIVE_DIR = Path("/var/backups")


class BackupError(Exception):
    """A backup or restore cannot go on; the message says why."""


def hub_accounts() -> list[str]:
    """The unix accounts the hub made: jupyter-* accounts (TLJH's names for hub users, see tljh.hub.users)
    in the jupyterhub-users group or left by an earlier install (regular accounts, uid 1000 and up)."""
    import grp

    try:
        members = set(grp.getgrnam(USERS_GROUP).gr_mem)
    except KeyError:
        members = set()
    members |= {u.pw_name for u in pwd.getpwall() if u.pw_uid >= 1000 and u.pw_uid != 65534}
    return sorted(m for m in members if m.startswith(UNIX_PREFIX))


def version_tuple(version: str) -> Any:
    """A comparable version (PEP 440); an unreadable one counts as the oldest."""
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version)
    except InvalidVersion:
        return Version("0")


def default_archive(kind: str, directory: Path = ARCHIVE_DIR) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return directory / f"tljh-{kind}-{socket.gethostname()}-{stamp}.tar.gz"


def cert_files(paths: Paths) -> list[Path]:
    """Certificate and key files named in config.yaml (https.tls), when outside the prefix."""
    from tljh import config as config_file

    try:
        config = config_file.load(paths.config_file)
    except Exception:  # noqa: BLE001  (reported, not raised: one bad item must not hide the rest)
        return []
    found = [config_file.get_item(config, key, None) for key in ("https.tls.cert", "https.tls.key")]
    return [Path(str(p)) for p in found if p and Path(str(p)).is_file() and paths.prefix not in Path(str(p)).parents]


def write_archive(paths: Paths, dest: Path, homes: list[str]) -> dict[str, Any]:
    """Write the tarball (0600) with the hub state and the given accounts' homes; its manifest."""
    manifest: dict[str, Any] = {"format": FORMAT, "tljh_version": __version__, "made": time.time(),
                                "host": socket.gethostname(), "prefix": str(paths.prefix), "homes": {}, "certs": []}
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        if paths.config_dir.is_dir():
            tar.add(paths.config_dir, arcname="prefix/config")
        for name in STATE_FILES:
            if (paths.state_dir / name).exists():
                tar.add(paths.state_dir / name, arcname=f"prefix/state/{name}")
        for cert in cert_files(paths):
            tar.add(cert, arcname=f"certs{cert}")
            manifest["certs"].append(str(cert))
        for account in homes:
            home = Path(pwd.getpwnam(account).pw_dir)
            if home.is_dir():
                tar.add(home, arcname=f"home/{account}")
                manifest["homes"][account] = str(home)
        data = json.dumps(manifest, indent=2).encode()
        info = tarfile.TarInfo("MANIFEST.json")
        info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
        tar.addfile(info, io.BytesIO(data))
    return manifest


def read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        member = tar.extractfile("MANIFEST.json")
    except KeyError:
        member = None
    if member is None:
        raise BackupError("this tarball has no MANIFEST.json: it was not made by `tljh backup`")
    return dict(json.loads(member.read()))


def check_compatible(manifest: dict[str, Any]) -> None:
    """Refuse a backup from a newer tljh (or a newer format) than this one."""
    theirs = str(manifest.get("tljh_version", "0"))
    if manifest.get("format", 0) > FORMAT or version_tuple(theirs) > version_tuple(__version__):
        raise BackupError(f"this backup was made by tljh {theirs}, newer than this machine's tljh {__version__}; "
                          "upgrade this install first (re-run the installer), then restore")


def restore_targets(paths: Paths, tar: tarfile.TarFile) -> list[tuple[tarfile.TarInfo, Path]]:
    """Each regular file/dir of the tarball and where it goes on this machine."""
    targets = []
    for member in tar.getmembers():
        name = member.name
        if name.startswith("prefix/"):
            dest = paths.prefix / name[len("prefix/"):]
        elif name.startswith("certs/"):
            dest = Path("/") / name[len("certs/"):]
        elif name.startswith("home/"):
            account = name.split("/")[1]
            rest = name[len(f"home/{account}"):].lstrip("/")
            dest = Path("/home") / account / rest if rest else Path("/home") / account
        else:
            continue
        if ".." in Path(name).parts or not (member.isfile() or member.isdir()):
            continue  # no links, devices or escapes from a tarball
        targets.append((member, dest))
    return targets


def will_overwrite(targets: list[tuple[tarfile.TarInfo, Path]]) -> list[Path]:
    return [dest for member, dest in targets if member.isfile() and dest.exists()]


def backup_main(paths: Paths, file: str | None, with_homes: bool) -> int:
    from tljh.run import run

    if not paths.install_state.exists():
        print(f"error: {paths.install_state} is missing: TLJH is not installed here", file=sys.stderr)
        return 1
    dest = Path(file) if file else default_archive("backup")
    homes = hub_accounts() if with_homes else []
    run(["sync"], check=False)
    manifest = write_archive(paths, dest, homes)
    print(f"backup written to {dest} (tljh {manifest['tljh_version']}; "
          f"{len(manifest['homes'])} home(s): {', '.join(manifest['homes']) or 'none'})")
    return 0


def confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        print(f"{question} [refused: not a terminal; pass --yes]", file=sys.stderr)
        return False
    return input(f"{question} Type 'yes' to go on: ").strip().lower() == "yes"


def restore_main(paths: Paths, file: str, yes: bool = False) -> int:
    """Put a backup's state, config and homes onto this install, then re-run the installer over them."""
    from tljh.hub.users import ensure_user
    from tljh.run import run

    if not paths.install_state.exists():
        print(f"error: install TLJH here first ({paths.install_state} is missing), then restore", file=sys.stderr)
        return 1
    try:
        with tarfile.open(file, "r:*") as tar:
            manifest = read_manifest(tar)
            check_compatible(manifest)
            targets = restore_targets(paths, tar)
            overwrite = will_overwrite(targets)
            print(f"restoring {file} (tljh {manifest.get('tljh_version')} on {manifest.get('host')}); "
                  f"this overwrites {len(overwrite)} file(s):")
            for path in overwrite:
                print(f"  {path}")
            if not yes and not confirm("Stop the hub and restore?"):
                print("nothing was changed")
                return 1
            run(["systemctl", "stop", "jupyterhub.service"], check=False)
            for account in manifest.get("homes", {}):
                ensure_user(account)
            for member, dest in targets:
                _extract(tar, member, dest)
    except (OSError, tarfile.TarError, BackupError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print("files restored; the installer now applies them (config, passwords, units)")
    return os.spawnv(os.P_WAIT, sys.executable, [sys.executable, "-m", "tljh.installer"])


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> None:
    """One member to dest: directories made, files written with their mode; homes owned by their account."""
    owner = _home_owner(dest)
    if member.isdir():
        dest.mkdir(parents=True, exist_ok=True)
        os.chmod(dest, member.mode & 0o7777)
    else:
        source = tar.extractfile(member)
        assert source is not None
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tljh-restore")
        with open(tmp, "wb") as out:
            out.write(source.read())
        os.chmod(tmp, member.mode & 0o7777)
        os.replace(tmp, dest)
    if owner is not None:
        os.chown(dest, owner[0], owner[1], follow_symlinks=False)


def _home_owner(dest: Path) -> tuple[int, int] | None:
    """The (uid, gid) of the account whose home dest is in (by this machine's numbers), else None."""
    parts = dest.parts
    if len(parts) >= 3 and parts[:2] == ("/", "home"):
        try:
            entry = pwd.getpwnam(parts[2])
        except KeyError:
            return None
        return entry.pw_uid, entry.pw_gid
    return None
