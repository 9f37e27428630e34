"""The hub name → unix account mapping (tljh.hub.users), against a simulated machine.

The machine's accounts are simulated (no root): `Machine` says which account and group names
exist and which accounts are regular members of jupyterhub-users (made by TLJH or upstream TLJH).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import stat
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tljh.hub import users
from tljh.hub.users import (
    UNIX_NAME_MAX,
    AccountRecord,
    candidates,
    is_valid_account,
    prepare_at_hub_start,
    upstream_account,
)

VALID = re.compile(r"[a-z_][a-z0-9_.-]*")
SYSTEM_ACCOUNTS = {"root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "nobody",
                   "www-data", "systemd-network", "messagebus", "_apt", "sshd", "jupyter-svc", "jupyter-root"}
ISSUE_NAMES = ["alice.smith", "alice-smith-634258", ".", "cdb4ee", "a", "b" * 24, "c" * 25, "d" * 64, "Alice",
               "ALICE.SMITH", "josé", "名前", "alice@example.org", "-", "--", "a-", "-a", "alice smith", "ALICE"]


@dataclass
class Machine:
    accounts: set[str] = field(default_factory=lambda: set(SYSTEM_ACCOUNTS))
    hub_accounts: set[str] = field(default_factory=set)  # regular accounts in jupyterhub-users
    groups: set[str] = field(default_factory=lambda: {"sudo", "docker", "jupyter-group"})

    def install(self, monkeypatch: pytest.MonkeyPatch) -> Machine:
        monkeypatch.setattr(users, "user_exists", lambda n: n in self.accounts | self.hub_accounts)
        monkeypatch.setattr(users, "group_exists", lambda n: n in self.groups)
        monkeypatch.setattr(users, "is_hub_account", lambda n: n in self.hub_accounts)
        return self


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Machine:
    return Machine().install(monkeypatch)


@pytest.fixture
def record(paths) -> AccountRecord:
    paths.state_dir.mkdir(parents=True)
    return AccountRecord(paths.unix_accounts)


def assert_good(mapping: dict[str, str], taken_before: set[str]) -> None:
    """Distinct names got distinct, valid, ≤32-character accounts, none of them pre-existing."""
    accounts = list(mapping.values())
    assert len(set(accounts)) == len(accounts), mapping
    for name, account in mapping.items():
        assert len(account) <= UNIX_NAME_MAX, (name, account)
        assert VALID.fullmatch(account), (name, account)
        assert account not in taken_before, (name, account)


# ------------------------------------------------------------------ properties

hub_names = st.text(min_size=1, max_size=70).filter(lambda s: "\x00" not in s)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(hub_names, min_size=1, max_size=12, unique=True), data=st.data())
def test_distinct_names_get_distinct_valid_free_accounts(paths, monkeypatch, tmp_path_factory, names, data):
    """Any hub names, in any order, on a machine where some of their preferred accounts are
    already taken by system accounts: distinct, valid, ≤32 characters, never a pre-existing account,
    and each name keeps its account."""
    first_choices = [next(candidates(n)) for n in names]
    squatted = data.draw(st.sets(st.sampled_from(first_choices)))
    m = Machine(accounts=SYSTEM_ACCOUNTS | squatted).install(monkeypatch)
    record = AccountRecord(tmp_path_factory.mktemp("state") / "unix-accounts.json")
    mapping = {}
    for name in names:
        mapping[name] = record.account_for(name)
        m.hub_accounts.add(mapping[name])  # the spawner creates it
    assert_good(mapping, SYSTEM_ACCOUNTS | squatted)
    assert {n: record.account_for(n) for n in names} == mapping  # stable
    assert AccountRecord(record.path).load() == mapping  # and persistent


@given(name=hub_names)
def test_every_candidate_is_a_valid_account_name(name):
    for candidate in itertools.islice(candidates(name), 5):
        assert is_valid_account(candidate), candidate
        assert candidate.startswith("jupyter-")


@given(a=hub_names, b=hub_names)
def test_first_choices_of_distinct_names_only_collide_through_a_digest(a, b):
    """Without the record, two names share a first choice only when both are digested forms;
    a verbatim name's first choice is upstream's jupyter-NAME, which no other verbatim name has."""
    assume(a != b)
    if next(candidates(a)) == next(candidates(b)):
        assert len(next(candidates(a))) == UNIX_NAME_MAX or not (users._VERBATIM.fullmatch(a)
                                                                   and users._VERBATIM.fullmatch(b))


# ------------------------------------------------------------------ the issue's cases


@pytest.mark.parametrize("order", [1, -1])
def test_the_issues_names_get_distinct_accounts_in_either_order(machine, record, order):
    names = ISSUE_NAMES[::order]
    # each name's would-be digest form as a hub name of its own, too (the old collision)
    names += [next(candidates(n)).removeprefix("jupyter-") for n in ISSUE_NAMES]
    names += ["alice-" + hashlib.sha256(b"Alice").hexdigest()[:8]]
    mapping = {}
    for name in dict.fromkeys(names):
        mapping[name] = record.account_for(name)
        machine.hub_accounts.add(mapping[name])
    assert_good(mapping, SYSTEM_ACCOUNTS)


def test_alice_smith_and_the_old_digest_form_differ(machine, record):
    assert record.account_for("alice-smith-634258") == upstream_account("alice-smith-634258")
    assert record.account_for("alice.smith") == "jupyter-alice.smith"
    other = record.account_for("Alice.Smith")
    assert other not in ("jupyter-alice.smith", "jupyter-alice-smith-634258")


def test_a_digest_form_claimed_first_pushes_the_later_name_to_another_account(machine, record):
    digest_form = next(candidates("Alice"))
    squatter = digest_form.removeprefix("jupyter-")
    assert record.account_for(squatter) == digest_form
    machine.hub_accounts.add(digest_form)
    alice = record.account_for("Alice")
    assert alice != digest_form and is_valid_account(alice)


@pytest.mark.parametrize("length", [1, 17, 18, 24, 25, 64])
def test_lengths(machine, record, length):
    account = record.account_for("x" * length)
    assert len(account) <= UNIX_NAME_MAX and is_valid_account(account)
    assert account == upstream_account("x" * length)  # a plain name gets upstream's name


def test_never_a_system_account(machine, record):
    for name in ("root", "svc", "daemon", "nobody"):
        account = record.account_for(name)
        assert account not in SYSTEM_ACCOUNTS
    assert record.account_for("svc") != "jupyter-svc"  # exists, but is not a hub account


def test_an_existing_group_of_that_name_is_skipped(machine, record):
    assert record.account_for("group") != "jupyter-group"


# ------------------------------------------------------------------ upstream compatibility


def test_upstream_rule():
    assert upstream_account("alice") == "jupyter-alice"
    assert upstream_account("alice.smith") == "jupyter-alice.smith"
    assert upstream_account("x" * 17) == "jupyter-" + "x" * 17  # 25 characters: kept
    full = "jupyter-" + "x" * 18  # 26 characters: truncated
    assert upstream_account("x" * 18) == full[:26] + "-" + hashlib.sha256(full.encode()).hexdigest()[:5]
    assert len(upstream_account("y" * 64)) == 32


def test_existing_upstream_accounts_are_found(machine, record):
    machine.hub_accounts |= {"jupyter-alice.smith", "jupyter-bob"}
    assert record.account_for("alice.smith") == "jupyter-alice.smith"
    assert record.account_for("bob") == "jupyter-bob"


def test_an_upstream_account_with_characters_this_scheme_would_digest_is_found(machine, record):
    machine.hub_accounts.add("jupyter-carol@example.org")
    assert record.account_for("carol@example.org") == "jupyter-carol@example.org"
    assert record.account_for("Carol@example.org") != "jupyter-carol@example.org"


def test_truncated_upstream_accounts_are_adopted_only_for_known_hub_users(machine, record, paths):
    long_name = "a-rather-long-name-of-a-student"
    upstream = upstream_account(long_name)
    machine.hub_accounts.add(upstream)
    # a name seen for the first time at spawn does not get a truncated account (its digest is forgeable)
    assert record.account_for(long_name) != upstream
    fresh = AccountRecord(paths.state_dir / "other.json")
    assert fresh.adopt_existing([long_name]) == [long_name]
    assert fresh.account_for(long_name) == upstream


def test_an_account_held_by_another_name_is_not_adopted(machine, record):
    machine.hub_accounts.add("jupyter-dave")
    record._save({"someone-else": "jupyter-dave"})
    assert record.account_for("dave") != "jupyter-dave"
    assert record.adopt_existing(["dave"]) == []


def test_the_record_file_is_private_and_replaced_whole(machine, record):
    record.account_for("alice")
    assert stat.S_IMODE(record.path.stat().st_mode) == 0o600
    assert json.loads(record.path.read_text()) == {"version": 1, "accounts": {"alice": "jupyter-alice"},
                                                   "created_groups": []}
    assert not [p for p in record.path.parent.iterdir() if p.name.startswith(".unix-accounts")]


def test_hub_start_adopts_the_databases_users_and_revokes_stale_admins(machine, record, paths, monkeypatch):
    import sqlite3

    db = paths.state_dir / "jupyterhub.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO users (name) VALUES (?)", [("alice",), ("mallory",), ("x" * 30,)])
    machine.hub_accounts |= {"jupyter-alice", "jupyter-mallory", upstream_account("x" * 30)}
    admins_group = {"jupyter-alice", "jupyter-mallory", "a-local-admin"}
    monkeypatch.setattr(users, "group_members", lambda g: set(admins_group) if g == users.ADMINS_GROUP else set())
    removed = []
    monkeypatch.setattr(users, "ensure_membership", lambda n, g, member: removed.append((n, g, member)))
    assert prepare_at_hub_start(record.path, db, ["alice"]) == ["jupyter-mallory"]
    assert removed == [("jupyter-mallory", users.ADMINS_GROUP, False)]  # a-local-admin is not a hub account
    assert record.load() == {"alice": "jupyter-alice", "mallory": "jupyter-mallory",
                             "x" * 30: upstream_account("x" * 30)}


def test_no_database_yet(paths):
    assert users.hub_user_names(paths.state_dir / "jupyterhub.sqlite") == []


def test_groups_of():
    groups = {"gpu": ["alice", "bob"], "docker": ["alice"], "empty": [], "none": None}
    assert users.groups_of("alice", groups) == ["docker", "gpu"]
    assert users.groups_of("bob", groups) == ["gpu"]
    assert users.groups_of("carol", groups) == []


def test_a_group_the_hub_creates_is_recorded_and_the_accounts_kept(machine, record, fake_commands):
    record.account_for("alice")
    assert record.ensure_group("gpu") is True
    assert "groupadd --system gpu" in fake_commands.calls()
    assert record.created_groups() == ["gpu"]
    assert record.load() == {"alice": "jupyter-alice"}
    record.account_for("bob")  # a later save keeps the groups
    assert record.created_groups() == ["gpu"]


def test_an_existing_group_is_neither_created_nor_recorded(machine, record, fake_commands):
    assert record.ensure_group("docker") is False
    assert fake_commands.calls() == []
    assert record.created_groups() == []


def test_uninstall_removes_the_hub_made_groups_that_exist(monkeypatch, fake_commands):
    from tljh.actions import system
    from tljh.cli.uninstall import remove_hub_made_groups

    monkeypatch.setattr(system, "group_exists", lambda g: g in {"gpu", "stuck"})
    (fake_commands.bin / "groupdel").write_text(
        f'#!/bin/sh\nprintf "%s\\n" "groupdel $*" >> "{fake_commands.state}/calls.log"\n[ "$1" != stuck ]\n')
    assert remove_hub_made_groups(["gone", "gpu", "stuck"]) == ["stuck"]
    assert fake_commands.calls() == ["groupdel gpu", "groupdel stuck"]
