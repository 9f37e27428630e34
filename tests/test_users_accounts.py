"""tljh.hub.users against a stand-in account database: creating accounts, private homes, group
membership, which accounts count as hub accounts, and the record's edge cases.

The machine's account and group databases are files in a tmp dir (`passwd`: name:uid:home lines;
`groups/G/`: one empty file per member), read through stand-ins for the pwd and grp modules and
changed by stand-in useradd, groupadd and gpasswd commands first on PATH (conftest's fake_commands).
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest

from tljh.actions import system
from tljh.hub import users
from tljh.hub.users import AccountRecord, NoAccountName, candidates
from tljh.paths import ADMINS_GROUP, USERS_GROUP

ACCOUNT_COMMANDS = {
    # useradd [options] --groups G NAME: the home is made 0755 whatever -K says (as an old useradd or a plugin may)
    "useradd": r"""
for a in "$@"; do last="$a"; done
prev=""; for a in "$@"; do [ "$prev" = --groups ] && groups="$a"; prev="$a"; done
echo "$last:$(( 1000 + $(wc -l < "$STATE/passwd") )):$STATE/home/$last" >> "$STATE/passwd"
mkdir -p -m 0755 "$STATE/home/$last"
[ -n "$groups" ] && touch "$STATE/groups/$groups/$last"
exit 0
""",
    "groupadd": r"""for a in "$@"; do last="$a"; done; mkdir "$STATE/groups/$last" """,
    "gpasswd": r"""
case "$1" in
  --add) touch "$STATE/groups/$3/$2" ;;
  --delete) rm "$STATE/groups/$3/$2" ;;
esac
""",
}


class Accounts:
    """The stand-in account and group databases, and the commands that change them."""

    def __init__(self, fake_commands) -> None:
        self.fakes = fake_commands
        self.state = fake_commands.state
        (self.state / "passwd").write_text("")
        (self.state / "groups").mkdir()
        (self.state / "home").mkdir()
        for name, body in ACCOUNT_COMMANDS.items():
            script = fake_commands.bin / name
            script.write_text(f'#!/bin/sh\nSTATE="{self.state}"\nprintf "%s\\n" "{name} $*" >> "$STATE/calls.log"\n{body}')
            script.chmod(0o755)

    def getpwnam(self, name: str) -> SimpleNamespace:
        for line in (self.state / "passwd").read_text().splitlines():
            account, uid, home = line.split(":")
            if account == name:
                return SimpleNamespace(pw_name=account, pw_uid=int(uid), pw_dir=home)
        raise KeyError(name)

    def getgrnam(self, name: str) -> SimpleNamespace:
        where = self.state / "groups" / name
        if not where.is_dir():
            raise KeyError(name)
        return SimpleNamespace(gr_name=name, gr_mem=sorted(p.name for p in where.iterdir()))

    def add_user(self, name: str, uid: int, *groups: str) -> None:
        with (self.state / "passwd").open("a") as f:
            f.write(f"{name}:{uid}:{self.state}/home/{name}\n")
        for group in groups:
            self.add_group(group)
            (self.state / "groups" / group / name).touch()

    def add_group(self, name: str) -> None:
        (self.state / "groups" / name).mkdir(exist_ok=True)

    def members(self, group: str) -> list[str]:
        return self.getgrnam(group).gr_mem


@pytest.fixture
def accounts(fake_commands, monkeypatch) -> Accounts:
    db = Accounts(fake_commands)
    monkeypatch.setattr(users, "pwd", SimpleNamespace(getpwnam=db.getpwnam))
    monkeypatch.setattr(users, "grp", SimpleNamespace(getgrnam=db.getgrnam))
    monkeypatch.setattr(system, "grp", SimpleNamespace(getgrnam=db.getgrnam))
    db.add_user("root", 0)
    db.add_group(USERS_GROUP)
    return db


# ------------------------------------------------------------------ accounts


def test_a_new_account_gets_bash_a_private_home_and_jupyterhub_users(accounts, fake_commands):
    assert users.ensure_user("jupyter-alice") is True
    assert fake_commands.calls() == [("useradd --create-home --shell /bin/bash -K HOME_MODE=0700 "
                                      f"--groups {USERS_GROUP} jupyter-alice")]
    home = Path(accounts.getpwnam("jupyter-alice").pw_dir)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700  # made private even where useradd ignored HOME_MODE
    assert accounts.members(USERS_GROUP) == ["jupyter-alice"]


def test_an_existing_account_is_left_alone(accounts, fake_commands):
    accounts.add_user("jupyter-bob", 1001, USERS_GROUP)
    assert users.ensure_user("jupyter-bob") is False
    assert fake_commands.calls() == []


def test_a_home_opened_up_is_made_private_again_and_a_private_one_left(accounts):
    accounts.add_user("jupyter-carol", 1001)
    home = accounts.state / "home" / "jupyter-carol"
    home.mkdir()
    home.chmod(0o2755)
    assert users.ensure_private_home("jupyter-carol") is True
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert users.ensure_private_home("jupyter-carol") is False
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_a_private_home_is_not_needed_for_an_account_or_home_that_is_not_there(accounts):
    assert users.ensure_private_home("jupyter-nobody") is False
    accounts.add_user("jupyter-homeless", 1001)
    assert users.ensure_private_home("jupyter-homeless") is False


def test_user_exists_and_group_members_read_the_machines_databases(accounts):
    accounts.add_user("jupyter-dave", 1001, "gpu")
    assert users.user_exists("jupyter-dave") and users.user_exists("root")
    assert not users.user_exists("jupyter-erin")
    assert users.group_members("gpu") == {"jupyter-dave"}
    assert users.group_members("no-such-group") == set()


def test_only_a_regular_account_in_jupyterhub_users_is_a_hub_account(accounts):
    accounts.add_user("jupyter-first", 1000, USERS_GROUP)
    accounts.add_user("jupyter-svc", 999, USERS_GROUP)  # a system account, even in the group
    accounts.add_user("jupyter-outsider", 1001)
    assert users.is_hub_account("jupyter-first")
    assert not users.is_hub_account("jupyter-svc")
    assert not users.is_hub_account("jupyter-outsider")
    assert not users.is_hub_account("jupyter-missing")


def test_an_account_or_a_group_of_the_name_makes_it_taken(accounts):
    accounts.add_user("jupyter-x", 1001)
    accounts.add_group("jupyter-g")
    assert users.is_taken("jupyter-x") and users.is_taken("jupyter-g")
    assert not users.is_taken("jupyter-free")


# ------------------------------------------------------------------ groups


def test_joining_a_missing_group_creates_it_first(accounts, fake_commands):
    accounts.add_user("jupyter-alice", 1001, USERS_GROUP)
    users.ensure_membership("jupyter-alice", "gpu", True)
    assert fake_commands.calls() == ["groupadd --system gpu", "gpasswd --add jupyter-alice gpu"]
    assert accounts.members("gpu") == ["jupyter-alice"]
    fake_commands.forget_calls()
    users.ensure_membership("jupyter-alice", "gpu", True)
    assert fake_commands.calls() == []  # already a member: nothing run


def test_leaving_a_group_removes_only_that_member_and_never_creates_a_group(accounts, fake_commands):
    accounts.add_user("jupyter-alice", 1001, "gpu")
    accounts.add_user("jupyter-bob", 1002, "gpu")
    users.ensure_membership("jupyter-alice", "gpu", False)
    assert fake_commands.calls() == ["gpasswd --delete jupyter-alice gpu"]
    assert accounts.members("gpu") == ["jupyter-bob"]
    fake_commands.forget_calls()
    users.ensure_membership("jupyter-alice", "gpu", False)
    users.ensure_membership("jupyter-alice", "absent", False)
    assert fake_commands.calls() == []
    assert not (accounts.state / "groups" / "absent").exists()


def test_an_admin_is_in_both_hub_groups_and_a_former_admin_only_in_the_users_group(accounts, fake_commands):
    accounts.add_user("jupyter-alice", 1001)
    users.ensure_admin_membership("jupyter-alice", True)
    assert accounts.members(USERS_GROUP) == ["jupyter-alice"]
    assert accounts.members(ADMINS_GROUP) == ["jupyter-alice"]
    assert fake_commands.calls() == [f"gpasswd --add jupyter-alice {USERS_GROUP}",
                                     f"groupadd --system {ADMINS_GROUP}",
                                     f"gpasswd --add jupyter-alice {ADMINS_GROUP}"]
    users.ensure_admin_membership("jupyter-alice", False)
    assert accounts.members(USERS_GROUP) == ["jupyter-alice"]
    assert accounts.members(ADMINS_GROUP) == []


def test_stale_admins_leave_the_admins_group_but_local_admins_stay(accounts):
    accounts.add_user("jupyter-alice", 1001, USERS_GROUP, ADMINS_GROUP)
    accounts.add_user("jupyter-mallory", 1002, USERS_GROUP, ADMINS_GROUP)
    accounts.add_user("localadmin", 1003, ADMINS_GROUP)  # not a hub account
    assert users.revoke_stale_admins({"jupyter-alice"}) == ["jupyter-mallory"]
    assert accounts.members(ADMINS_GROUP) == ["jupyter-alice", "localadmin"]


def test_a_group_another_hub_process_creates_meanwhile_is_not_created_twice(paths, fake_commands, monkeypatch):
    """ensure_group looks again once it holds the record's lock."""
    paths.state_dir.mkdir(parents=True)
    looked = []
    monkeypatch.setattr(users, "group_exists", lambda g: looked.append(g) or len(looked) > 1)
    record = AccountRecord(paths.unix_accounts)
    assert record.ensure_group("gpu") is False
    assert looked == ["gpu", "gpu"]
    assert fake_commands.calls() == []
    assert record.created_groups() == ["gpu"]


# ------------------------------------------------------------------ naming details


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def test_a_name_that_is_not_verbatim_gets_a_readable_stem_and_a_digest_of_the_whole_name():
    first, second = list(candidates("Alice Smith"))[:2]
    assert first == f"jupyter-alice-smith-{_digest('Alice Smith')}"
    assert second == f"jupyter-alice-smith-{_digest('1:Alice Smith')}"  # then salted digests


def test_the_stem_is_cut_to_fit_32_characters_without_a_dash_at_either_end():
    assert next(candidates("ABCDEFGHIJKLMN opq")) == f"jupyter-abcdefghijklmn-{_digest('ABCDEFGHIJKLMN opq')}"
    assert next(candidates("!ABCDEFGHIJKLMNOPQ")) == f"jupyter-abcdefghijklmno-{_digest('!ABCDEFGHIJKLMNOPQ')}"
    assert len(next(candidates("!ABCDEFGHIJKLMNOPQ"))) == 32


def test_a_name_with_nothing_readable_gets_the_digest_alone():
    assert next(candidates("名前")) == f"jupyter-{_digest('名前')}"


def test_a_name_holding_a_lone_surrogate_still_gets_an_account_name():
    name = "bad\udcffbyte"  # what an undecodable byte in a login name becomes
    first = next(candidates(name))
    assert re.fullmatch(r"jupyter-bad-byte-[0-9a-f]{8}", first)
    assert users.is_valid_account(first)


@pytest.mark.parametrize("name", ["x" * 33, "Alice", "-x", "1x", "", "a b"])
def test_not_a_valid_account_name(name):
    assert users.is_valid_account(name) is False


def test_when_every_candidate_is_taken_the_error_names_the_hub_user(paths, monkeypatch):
    paths.state_dir.mkdir(parents=True)
    monkeypatch.setattr(users, "is_taken", lambda name: True)
    monkeypatch.setattr(users, "is_hub_account", lambda name: False)
    with pytest.raises(NoAccountName, match="no free unix account name for hub user 'alice'"):
        AccountRecord(paths.unix_accounts).account_for("alice")


# ------------------------------------------------------------------ the record


@pytest.fixture
def record(paths) -> AccountRecord:
    paths.state_dir.mkdir(parents=True)
    return AccountRecord(paths.unix_accounts)


def test_lookup_gives_the_recorded_account_and_changes_nothing(record):
    record._save({"alice": "jupyter-alice"})
    before = record.path.read_bytes()
    assert record.lookup("alice") == "jupyter-alice"
    assert record.lookup("bob") is None
    assert record.path.read_bytes() == before


@pytest.mark.parametrize("content", ['["alice"]', '{"accounts": ["alice"], "created_groups": "gpu"}'])
def test_a_record_of_the_wrong_shape_reads_as_empty(record, content):
    record.path.write_text(content)
    assert record.load() == {}
    assert record.created_groups() == []


def test_the_record_is_one_entry_a_line_sorted_in_the_names_own_letters(record):
    record._save({"zoé": "jupyter-zo-1234abcd", "alice": "jupyter-alice"}, ["gpu"])
    assert record.path.read_text(encoding="utf-8") == (
        '{\n "accounts": {\n  "alice": "jupyter-alice",\n  "zoé": "jupyter-zo-1234abcd"\n },\n'
        ' "created_groups": [\n  "gpu"\n ],\n "version": 1\n}\n')


def test_the_records_lock_file_is_private(record, monkeypatch):
    monkeypatch.setattr(users, "is_taken", lambda name: False)
    monkeypatch.setattr(users, "is_hub_account", lambda name: False)
    record.account_for("alice")
    lock = record.path.with_name(record.path.name + ".lock")
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_a_recorded_name_is_not_adopted_again(record, monkeypatch):
    monkeypatch.setattr(users, "is_hub_account", lambda name: name == "jupyter-bob")
    record._save({"bob": "jupyter-bob-1234abcd"})
    assert record.adopt_existing(["bob"]) == []
    assert json.loads(record.path.read_text())["accounts"] == {"bob": "jupyter-bob-1234abcd"}
