"""Compatibility with upstream TLJH's `tljh.user`, which published plugins import.

Only the functions plugins are seen to use; each is the installer's own way of doing it.
"""

from __future__ import annotations

from tljh.hub.users import ensure_membership
from tljh.hub.users import ensure_user as _ensure_account


def ensure_user(username: str) -> None:
    """A unix account `username` with a private home (upstream: the plugin passes the unix name)."""
    _ensure_account(username)


def ensure_group(groupname: str) -> None:
    """A system group named groupname."""
    from tljh.actions.system import group_exists
    from tljh.run import run

    if not group_exists(groupname):
        run(["groupadd", "--system", groupname])


def ensure_user_group(username: str, groupname: str) -> None:
    """The unix account username is a member of groupname (created if missing)."""
    ensure_membership(username, groupname, True)


def remove_user_group(username: str, groupname: str) -> None:
    """The unix account username is not a member of groupname."""
    ensure_membership(username, groupname, False)
