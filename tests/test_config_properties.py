"""Property tests of config.yaml editing (tljh.config): any sequence of tljh-config edits, saved and
read back, gives what the same edits give on a plain dict; values of any shape survive the file;
comments and keys that an edit does not touch stay as they were."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tljh.config import ConfigError, add_item, dump, get_item, load, loads, remove_item, save, set_item, unset_item

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Keys: a small alphabet of parts, so that edits often meet (same key, parent/child, siblings).
PART = st.sampled_from(["users", "admin", "limits", "memory", "a", "b", "c-d", "e_f", "1"])
KEY = st.lists(PART, min_size=1, max_size=3).map(".".join)
TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x85\u2028\u2029\ufeff"), max_size=20)
SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False), TEXT,
)
ITEM = st.one_of(st.integers(min_value=-1000, max_value=1000), TEXT)
EDIT = st.one_of(
    st.tuples(st.just("set"), KEY, SCALAR),
    st.tuples(st.just("unset"), KEY, st.none()),
    st.tuples(st.just("add"), KEY, ITEM),
    st.tuples(st.just("remove"), KEY, ITEM),
)


def plain(value: Any) -> Any:
    """ruamel's round-trip containers and scalars as plain Python values."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def apply(data: Any, edit: tuple[str, str, Any]) -> bool:
    """One tljh-config edit on data; False when tljh.config refused it (and so changed nothing)."""
    what, key, value = edit
    try:
        if what == "set":
            set_item(data, key, value)
        elif what == "unset":
            unset_item(data, key)
        elif what == "add":
            add_item(data, key, value)
        else:
            remove_item(data, key, value)
    except ConfigError:
        return False
    return True


# ------------------------------------------------------------------ a plain-dict model of the edits


def model_apply(model: dict[str, Any], edit: tuple[str, str, Any]) -> bool:
    what, key, value = edit
    *parents, last = key.split(".")
    node: Any = model
    trail = []
    for part in parents:
        if part not in node:
            if what in ("unset", "remove"):
                return False
            node[part] = {}
        if not isinstance(node[part], dict):
            return False
        trail.append(node)
        node = node[part]
    if what == "set":
        node[last] = value
    elif what == "unset":
        if last not in node:
            return False
        del node[last]
        for holder, part in zip(reversed(trail), reversed(parents), strict=True):  # sections left empty go too
            if holder[part]:
                break
            del holder[part]
    elif what == "add":
        items = node.setdefault(last, [])
        if not isinstance(items, list):
            return False
        if value not in items:
            items.append(value)
    else:
        items = node.get(last)
        if not isinstance(items, list) or value not in items:
            return False
        items.remove(value)
    return True


@SETTINGS
@given(st.lists(EDIT, max_size=12))
@example([("set", "users", 9.38827948100758e27), ("set", "admin", None)])  # found: ruamel respelled the float
def test_any_edits_saved_and_read_back_equal_the_same_edits_on_a_plain_dict(tmp_path, edits):
    path = tmp_path / "config.yaml"
    path.unlink(missing_ok=True)
    model: dict[str, Any] = {}
    for edit in edits:
        before = copy.deepcopy(model)
        data = load(path)
        accepted = apply(data, edit)
        assert accepted == model_apply(model, edit), (edit, before)
        if accepted:
            save(path, data)
        assert plain(load(path)) == model, (edit, path.read_text())


@SETTINGS
@given(KEY, SCALAR)
def test_a_set_value_reads_back_equal_and_of_the_same_type(key, value):
    data = loads("")
    set_item(data, key, value)
    back = get_item(loads(dump(data)), key)
    assert plain(back) == value and type(plain(back)) is type(value), dump(data)


@SETTINGS
@given(st.lists(ITEM, min_size=1, max_size=6, unique=True))
def test_added_items_keep_their_order_and_removing_one_keeps_the_rest(items):
    data = loads("")
    for item in items:
        assert add_item(data, "users.allowed", item) is True
    for item in items:
        assert add_item(data, "users.allowed", item) is False  # already there: no duplicate
    assert plain(get_item(loads(dump(data)), "users.allowed")) == items
    remove_item(data, "users.allowed", items[0])
    assert plain(get_item(loads(dump(data)), "users.allowed")) == items[1:]


ORIGINAL = """\
# TLJH settings
users:
  admin:
    - alice  # the first admin
limits:
  memory: 1G  # per user
"""


@SETTINGS
@given(st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=3).map(".".join), SCALAR)
def test_edits_elsewhere_keep_comments_and_untouched_keys(key, value):
    data = loads(ORIGINAL)
    set_item(data, f"plugin.{key}", value)
    text = dump(data)
    assert text.startswith(ORIGINAL), text
    again = loads(text)
    unset_item(again, f"plugin.{key}")
    assert dump(again) == ORIGINAL


@SETTINGS
@given(st.lists(EDIT, max_size=8))
def test_rendering_is_stable(edits):
    data = loads(ORIGINAL)
    for edit in edits:
        apply(data, edit)
    text = dump(data)
    again = dump(loads(text))
    assert plain(loads(again)) == plain(data)
    if not any(isinstance(value, float) for _, _, value in edits):  # ruamel may respell a float, not change it
        assert again == text


@pytest.mark.parametrize("key", ["", ".", "a.", ".a", "a..b", " a", "a. b", "a.b "])
def test_malformed_keys_are_refused_by_every_edit(key):
    for edit in (("set", key, 1), ("unset", key, None), ("add", key, 1), ("remove", key, 1)):
        data = loads(ORIGINAL)
        assert apply(data, edit) is False, edit
        assert dump(data) == ORIGINAL
