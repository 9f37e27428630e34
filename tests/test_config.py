import math
import stat

import pytest

from tljh import config
from tljh.config import ConfigError, add_item, get_item, load, parse_value, remove_item, save, set_item, unset_item

ORIGINAL = """\
# TLJH settings
users:
  admin:
    - alice  # the first admin
limits:
  memory: 1G
http:
  port: 80
"""


@pytest.fixture
def config_path(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(ORIGINAL)
    return path


def test_missing_or_empty_file_loads_as_empty_mapping(tmp_path):
    assert load(tmp_path / "absent.yaml") == {}
    (tmp_path / "empty.yaml").write_text("")
    assert load(tmp_path / "empty.yaml") == {}


def test_invalid_yaml_and_non_mapping_are_config_errors(tmp_path):
    (tmp_path / "bad.yaml").write_text("users: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load(tmp_path / "list.yaml")


def test_round_trip_keeps_comments_and_key_order(config_path):
    data = load(config_path)
    set_item(data, "limits.cpu", 2)
    set_item(data, "auth.type", "dummy")
    assert add_item(data, "users.admin", "bob") is True
    save(config_path, data)
    text = config_path.read_text()
    assert "# TLJH settings" in text and "# the first admin" in text
    assert list(load(config_path)) == ["users", "limits", "http", "auth"]
    assert list(load(config_path)["limits"]) == ["memory", "cpu"]
    assert get_item(load(config_path), "users.admin") == ["alice", "bob"]


def test_untouched_round_trip_is_identical(config_path):
    save(config_path, load(config_path))
    assert config_path.read_text() == ORIGINAL


def test_save_keeps_mode_and_new_file_is_private(config_path, tmp_path):
    config_path.chmod(0o640)
    save(config_path, load(config_path))
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o640
    new = tmp_path / "new.yaml"
    save(new, {"a": 1})
    assert stat.S_IMODE(new.stat().st_mode) == 0o600


def test_get_item_by_dotted_key_with_default(config_path):
    data = load(config_path)
    assert get_item(data, "http.port") == 80
    assert get_item(data, "http.address", "") == ""
    assert get_item(data, "limits.memory.deeper", "d") == "d"


def test_set_item_creates_sections_and_refuses_to_go_through_a_value(config_path):
    data = load(config_path)
    set_item(data, "services.cull.timeout", 300)
    assert get_item(data, "services.cull.timeout") == 300
    with pytest.raises(ConfigError, match="http.port is not a section"):
        set_item(data, "http.port.x", 1)


def test_unset_removes_key_and_emptied_parents(config_path):
    data = load(config_path)
    set_item(data, "a.b.c", 1)
    unset_item(data, "a.b.c")
    assert "a" not in data
    unset_item(data, "limits.memory")
    assert "limits" not in data
    assert get_item(data, "http.port") == 80


def test_unset_keeps_parents_that_still_hold_something(config_path):
    data = load(config_path)
    set_item(data, "http.address", "0.0.0.0")
    unset_item(data, "http.port")
    assert data["http"] == {"address": "0.0.0.0"}


def test_unset_of_missing_key_is_an_error(config_path):
    with pytest.raises(ConfigError, match="not set"):
        unset_item(load(config_path), "http.address")


def test_add_item_is_idempotent_and_refuses_non_lists(config_path):
    data = load(config_path)
    assert add_item(data, "users.admin", "alice") is False
    assert get_item(data, "users.admin") == ["alice"]
    assert add_item(data, "users.allowed", "carol") is True
    assert get_item(data, "users.allowed") == ["carol"]
    with pytest.raises(ConfigError, match="not a list"):
        add_item(data, "http.port", 1)


def test_remove_item(config_path):
    data = load(config_path)
    remove_item(data, "users.admin", "alice")
    assert get_item(data, "users.admin") == []
    with pytest.raises(ConfigError):
        remove_item(data, "users.admin", "alice")
    with pytest.raises(ConfigError):
        remove_item(data, "users.nothing", "x")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("80", 80),
        ("-3", -3),
        ("+7", 7),
        ("0", 0),
        ("0.5", 0.5),
        ("-1.5", -1.5),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("true", True),
        ("True", True),
        ("false", False),
        ("FALSE", False),
        ("null", None),
        ("none", None),
        ("~", None),
        ("1G", "1G"),
        ("inf", "inf"),
        ("-inf", "-inf"),
        ("nan", "nan"),
        ("NaN", "NaN"),
        ("infinity", "infinity"),
        ("1_000", "1_000"),
        ("0x10", "0x10"),
        ("yes", "yes"),
        ("", ""),
        ("hello world", "hello world"),
        ("/custom", "/custom"),
    ],
)
def test_parse_value(text, expected):
    value = parse_value(text)
    assert value == expected
    assert type(value) is type(expected)


def test_parse_value_never_gives_non_finite_floats():
    for text in ("inf", "nan", "Infinity", "-NaN", "+inf"):
        value = parse_value(text)
        assert not (isinstance(value, float) and not math.isfinite(value)), (text, value)


def test_dump_of_empty_mapping_reloads_as_empty(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(config.dump(load(tmp_path / "absent.yaml")))
    assert load(path) == {}
