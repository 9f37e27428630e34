import re

import pytest

from tljh.hub.users import UNIX_NAME_MAX, UNIX_PREFIX, unix_suffix, unix_username

UNIX_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
ODD_NAMES = [
    "Alice",
    "alice@example.org",
    "a.b",
    "josé",
    "名前",
    "x" * 100,
    "-leading-dash",
    "_leading_underscore",
    "a b",
    "UPPER.CASE@Example.ORG" * 3,
    "---",
]


@pytest.mark.parametrize("name", ["alice", "bob2", "a-b_c", "0day", "x" * 24])
def test_safe_short_names_are_unchanged(name):
    assert unix_suffix(name) == name
    assert unix_username(name) == UNIX_PREFIX + name


@pytest.mark.parametrize("name", ODD_NAMES)
def test_other_names_become_valid_bounded_unix_names(name):
    suffix = unix_suffix(name)
    username = unix_username(name)
    assert len(suffix) <= UNIX_NAME_MAX - len(UNIX_PREFIX) == 24
    assert len(username) <= UNIX_NAME_MAX
    assert UNIX_NAME.fullmatch(username), username
    assert UNIX_NAME.fullmatch(suffix), suffix
    assert suffix != name


def test_names_with_the_same_sanitized_form_stay_distinct():
    names = ["alice@example.org", "alice#example.org", "Alice@Example.org", "alice-example-org-" + "z" * 30,
             "alice-example-org-" + "y" * 30, "x" * 25, "x" * 26]
    suffixes = [unix_suffix(n) for n in names]
    assert len(set(suffixes)) == len(names)


def test_readable_stem_is_kept():
    assert unix_suffix("Alice@Example.org").startswith("alice-example-org-")


def test_name_is_deterministic():
    assert unix_username("josé") == unix_username("josé")


def test_groups_of():
    from tljh.hub.users import groups_of

    groups = {"gpu": ["alice", "bob"], "docker": ["alice"], "empty": [], "none": None}
    assert groups_of("alice", groups) == ["docker", "gpu"]
    assert groups_of("bob", groups) == ["gpu"]
    assert groups_of("carol", groups) == []
