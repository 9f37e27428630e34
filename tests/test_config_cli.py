import os

import pytest

from tljh.config import ConfigError, get_item, load
from tljh.config_cli import build_parser, edit, main


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "config.yaml"
    p.write_text("# kept\nusers:\n  admin:\n    - alice\n")
    return p


def test_set_parses_values(path):
    edit(path, "set", "limits.memory", "1G")
    edit(path, "set", "limits.cpu", "0.5")
    edit(path, "set", "http.port", "8080")
    edit(path, "set", "services.cull.users", "true")
    data = load(path)
    assert get_item(data, "limits.memory") == "1G"
    assert get_item(data, "limits.cpu") == 0.5
    assert get_item(data, "http.port") == 8080
    assert get_item(data, "services.cull.users") is True
    assert "# kept" in path.read_text()


def test_add_and_remove_item(path):
    edit(path, "add-item", "users.admin", "bob")
    edit(path, "add-item", "users.admin", "bob")
    assert get_item(load(path), "users.admin") == ["alice", "bob"]
    edit(path, "remove-item", "users.admin", "alice")
    assert get_item(load(path), "users.admin") == ["bob"]


def test_unset_removes_emptied_sections(path):
    edit(path, "set", "auth.type", "dummy")
    edit(path, "unset", "auth.type", None)
    assert "auth" not in load(path)


def test_failed_edit_leaves_file_unchanged(path):
    before = path.read_text()
    with pytest.raises(ConfigError):
        edit(path, "remove-item", "users.admin", "nobody")
    assert path.read_text() == before


def test_edit_creates_a_missing_config(tmp_path):
    path = tmp_path / "new.yaml"
    edit(path, "set", "auth.type", "dummy")
    assert get_item(load(path), "auth.type") == "dummy"


def test_parser_commands(tmp_path):
    parser = build_parser(tmp_path / "c.yaml")
    args = parser.parse_args(["set", "http.port", "80"])
    assert (args.command, args.key, args.value, args.config_path) == ("set", "http.port", "80", tmp_path / "c.yaml")
    assert parser.parse_args(["reload"]).component == "hub"
    assert parser.parse_args(["reload", "proxy"]).component == "proxy"
    with pytest.raises(SystemExit):
        parser.parse_args(["reload", "everything"])


def test_main_refuses_non_root(path, capsys, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["--config-path", str(path), "set", "a", "1"]) == 1
    assert "root" in capsys.readouterr().err
    assert "a:" not in path.read_text()


def test_main_reports_config_errors(path, capsys, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert main(["--config-path", str(path), "remove-item", "users.admin", "nobody"]) == 1
    assert "tljh-config:" in capsys.readouterr().err


def test_main_set_and_show(path, capsys, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert main(["--config-path", str(path), "set", "http.port", "8000"]) == 0
    assert main(["--config-path", str(path), "show"]) == 0
    out = capsys.readouterr().out
    assert "port: 8000" in out and "# kept" in out
