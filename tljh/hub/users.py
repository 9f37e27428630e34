"""Unix accounts for hub users: their names, creation at first spawn, and group membership."""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import re

from tljh.actions.system import group_exists
from tljh.paths import ADMINS_GROUP, USERS_GROUP
from tljh.run import run

UNIX_PREFIX = "jupyter-"
UNIX_NAME_MAX = 32
_SAFE = re.compile(r"[a-z0-9][a-z0-9_-]*")


def unix_suffix(hub_name: str) -> str:
    """What follows 'jupyter-' in the unix name of a hub user.

    Short names of safe characters are kept as they are; any other name becomes a readable,
    truncated stem plus a digest of the full name, so distinct hub names get distinct accounts.
    """
    room = UNIX_NAME_MAX - len(UNIX_PREFIX)
    if _SAFE.fullmatch(hub_name) and len(hub_name) <= room:
        return hub_name
    digest = hashlib.sha256(hub_name.encode("utf-8")).hexdigest()[:6]
    stem = re.sub(r"[^a-z0-9_-]+", "-", hub_name.lower()).strip("-_")
    return f"{stem[: room - len(digest) - 1]}-{digest}".lstrip("-_")


def unix_username(hub_name: str) -> str:
    return UNIX_PREFIX + unix_suffix(hub_name)


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def group_members(group: str) -> set[str]:
    try:
        return set(grp.getgrnam(group).gr_mem)
    except KeyError:
        return set()


def ensure_user(name: str) -> bool:
    """A unix account with a private home (0700) in jupyterhub-users; True if it was just created."""
    if user_exists(name):
        return False
    run(["useradd", "--create-home", "--shell", "/bin/bash", "-K", "HOME_MODE=0700", "--groups", USERS_GROUP, name])
    os.chmod(pwd.getpwnam(name).pw_dir, 0o700)
    return True


def ensure_membership(name: str, group: str, member: bool) -> None:
    """name is in group exactly when member is True (groups are created if missing)."""
    if member and not group_exists(group):
        run(["groupadd", "--system", group])
    if member and name not in group_members(group):
        run(["gpasswd", "--add", name, group])
    elif not member and name in group_members(group):
        run(["gpasswd", "--delete", name, group])


def ensure_admin_membership(name: str, admin: bool) -> None:
    ensure_membership(name, USERS_GROUP, True)
    ensure_membership(name, ADMINS_GROUP, admin)


def groups_of(hub_name: str, extra_user_groups: dict[str, list[str]]) -> list[str]:
    """The extra groups, in name order, whose member list holds hub_name."""
    return sorted(group for group, names in extra_user_groups.items() if hub_name in (names or []))
