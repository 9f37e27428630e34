"""tljh.config at its edges: the exact messages for broken files and refused edits, file ownership,
the lock's holder, and number parsing corners."""

from __future__ import annotations

import fcntl
import os
from types import SimpleNamespace

import pytest

from tljh import config
from tljh.config import ConfigError, dump, load, loads, parse_value, remove_item, replace, set_item, unset_item

FIX = "fix it by hand (tljh-config cannot edit it)"


@pytest.mark.parametrize("text, where", [
    ("users: [unclosed\n", "line 2, column 1: expected ',' or ']', but got '<stream end>'"),
    ("a: b: c\n", "line 1, column 5: mapping values are not allowed here"),
    ("a: 1\na: 2\n", 'line 2, column 1: found duplicate key "a" with value "2" (original value: "1")'),
])
def test_broken_yaml_is_named_with_its_line_column_and_problem(tmp_path, text, where):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load(path)
    assert str(e.value) == f"{path} is not valid YAML ({where}); {FIX}"
    with pytest.raises(ConfigError) as e:
        loads(text)
    assert str(e.value) == f"config.yaml is not valid YAML ({where}); {FIX}"


def test_where_falls_back_to_the_context_and_to_nothing():
    mark = SimpleNamespace(line=4, column=0)
    assert config._where(SimpleNamespace(problem_mark=mark, problem="p", context="c")) == " (line 5, column 1: p)"
    assert config._where(SimpleNamespace(context_mark=mark, context="c")) == " (line 5, column 1: c)"
    assert config._where(SimpleNamespace(problem_mark=None, context_mark=mark, problem=None, context=None)) == (
        " (line 5, column 1: )")
    assert config._where(SimpleNamespace(context="only context")) == " (only context)"
    assert config._where(SimpleNamespace(problem="only problem")) == " (only problem)"
    assert config._where(ValueError("no marks")) == ""


def test_a_file_that_is_not_a_mapping_names_itself(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("- a\n")
    with pytest.raises(ConfigError, match=rf"^{path} must hold a mapping of settings, not a "):
        load(path)
    with pytest.raises(ConfigError, match=r"^config.yaml must hold a mapping of settings, not a "):
        loads("- a\n")


def test_unreadable_and_non_utf8_files_are_named(tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"a: \xff\xfe\n")
    with pytest.raises(ConfigError) as e:
        load(binary)
    assert str(e.value) == f"{binary} is not UTF-8 text; fix it by hand"
    directory = tmp_path / "dir.yaml"
    directory.mkdir()
    with pytest.raises(ConfigError) as e:
        load(directory)
    assert str(e.value) == f"{directory} cannot be read: Is a directory"


def test_utf8_text_is_read_as_utf8(tmp_path, monkeypatch):
    monkeypatch.setenv("LANG", "C")
    monkeypatch.setenv("LC_ALL", "C")
    path = tmp_path / "config.yaml"
    path.write_bytes("users:\n  admin:\n    - zoë\n".encode())
    assert load(path)["users"]["admin"] == ["zoë"]


def test_rendering_keeps_quotes_and_the_indentation_of_lists_and_mappings():
    text = 'users:\n  admin:\n    - "alice"\n    - bob\nbase_url: \'/x/\'\n'
    assert dump(loads(text)) == text
    data = loads("")
    set_item(data, "users.admin", ["alice"])
    set_item(data, "limits.memory", "1G")
    assert dump(data) == "users:\n  admin:\n    - alice\nlimits:\n  memory: 1G\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_replace_keeps_owner_and_group(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("a: 1\n")
    os.chown(path, 1234, 5678)
    path.chmod(0o640)
    replace(path, b"a: 2\n")
    st = path.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (1234, 5678, 0o640)
    assert path.read_text() == "a: 2\n"


def test_a_new_file_is_private(tmp_path):
    path = tmp_path / "new.yaml"
    replace(path, b"a: 1\n")
    assert path.stat().st_mode & 0o777 == 0o600


def _hold(lock_path, holder: bytes) -> int:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, holder)
    return fd


@pytest.mark.parametrize("holder, named", [(b"4242: tljh-config set\n", "pid 4242: tljh-config set"),
                                           (b"", "another process")])
def test_a_held_lock_names_its_holder(tmp_path, holder, named):
    path = tmp_path / "config.yaml"
    lock_path = tmp_path / ".config.yaml.lock"
    fd = _hold(lock_path, holder)
    try:
        with pytest.raises(ConfigError) as e, config.locked(path, "unset x", wait=0.3):
            pass
    finally:
        os.close(fd)
    assert str(e.value) == (f"the configuration is locked by another run ({named}, lock {lock_path}); "
                            "waited 0s for it. Try again when it has finished.")


def test_setting_through_a_value_names_the_value_that_is_in_the_way():
    data = loads("a:\n  b: 5\n")
    with pytest.raises(ConfigError) as e:
        set_item(data, "a.b.c.d", 1)
    assert str(e.value) == "a.b is not a section, so a.b.c.d cannot be set"


def test_unset_removes_only_the_sections_it_empties():
    data = loads("a:\n  b:\n    c: 1\n  d: 2\n")
    unset_item(data, "a.b.c")
    assert data == {"a": {"d": 2}}
    data = loads("a:\n  b:\n    c:\n      e: 1\n  d: 2\n")
    unset_item(data, "a.b.c.e")
    assert data == {"a": {"d": 2}}


def test_remove_item_messages():
    data = loads("users:\n  admin: alice\n  allowed:\n    - bob\n    - eve\n  banned: []\n")
    with pytest.raises(ConfigError) as e:
        remove_item(data, "users.admin", "alice")
    assert str(e.value) == "users.admin is not a list, so items cannot be removed from it (use unset)"
    with pytest.raises(ConfigError) as e:
        remove_item(data, "users.allowed", "zed")
    assert str(e.value) == "'zed' is not in users.allowed (it holds: bob, eve)"
    with pytest.raises(ConfigError) as e:
        remove_item(data, "users.banned", "zed")
    assert str(e.value) == "'zed' is not in users.banned (it holds: nothing)"


@pytest.mark.parametrize("text, value", [("1E5", 100000.0), ("2.5e-1", 0.25), ("-1E+2", -100.0),
                                         ("1e999", "1e999"), ("-1e999", "-1e999")])
def test_numbers_with_exponents(text, value):
    assert parse_value(text) == value and type(parse_value(text)) is type(value)
