import os

import pytest

from tljh.config import ConfigError, get_item, load
from tljh.cli.tljh_config import build_parser, edit, main


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


import hashlib  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from tljh import config as config_module  # noqa: E402


@pytest.fixture
def root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "args, message",
    [
        (["set", "http.port", "eighty"], "http.port: 'eighty' is not allowed; allowed: an integer 1-65535"),
        (["set", "limits.cpu", "0"], "limits.cpu: 0 is not allowed"),
        (["set", "users.admin", "bob"], "users.admin: 'bob' is not allowed; allowed: a list of user names"),
        (["set", "users.nobody", "x"], "users.nobody: unknown key"),
        (["set", "a..b", "1"], "'a..b' is not a valid KEY"),
        (["unset", "limits.memory"], "limits.memory is not set"),
        (["remove-item", "users.allowed", "x"], "users.allowed is not set, so it has no items to remove"),
        (["add-item", "users.admin.x", "x"], "users.admin is not a section"),
    ],
)
def test_refused_edit_names_the_problem_and_keeps_the_file(path, capsys, root, args, message):
    before = sha(path)
    assert main(["--config-path", str(path), *args]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert sha(path) == before


def test_edit_of_hand_broken_yaml_is_refused(path, capsys, root):
    path.write_text("users: [unclosed\n")
    before = sha(path)
    assert main(["--config-path", str(path), "set", "http.port", "81"]) == 1
    assert "is not valid YAML (line 2, column 1" in capsys.readouterr().err
    assert sha(path) == before


def test_names_stay_text(path, root):
    assert main(["--config-path", str(path), "add-item", "users.admin", "007"]) == 0
    assert main(["--config-path", str(path), "set", "traefik_api.password", "12345678"]) == 0
    assert main(["--config-path", str(path), "add-item", "users.banned", "true"]) == 0
    data = load(path)
    assert get_item(data, "users.admin") == ["alice", "007"]
    assert get_item(data, "traefik_api.password") == "12345678"
    assert get_item(data, "users.banned") == ["true"]
    assert main(["--config-path", str(path), "remove-item", "users.admin", "007"]) == 0
    assert get_item(load(path), "users.admin") == ["alice"]


def test_add_item_twice_says_so(path, capsys, root):
    assert main(["--config-path", str(path), "add-item", "users.admin", "alice"]) == 0
    assert "already in users.admin; nothing changed" in capsys.readouterr().out


def test_config_path_before_or_after_the_command(tmp_path):
    parser = build_parser(tmp_path / "default.yaml")
    for argv in (["--config-path", "/x.yaml", "set", "a", "1"], ["set", "--config-path", "/x.yaml", "a", "1"]):
        assert str(parser.parse_args(argv).config_path) == "/x.yaml"
    assert parser.parse_args(["show"]).config_path == tmp_path / "default.yaml"


@pytest.mark.parametrize("command", ["show", "set", "unset", "add-item", "remove-item", "reload"])
def test_every_command_has_help(tmp_path, capsys, command):
    with pytest.raises(SystemExit) as exit:
        build_parser(tmp_path / "c.yaml").parse_args([command, "--help"])
    assert exit.value.code == 0
    assert "--config-path" in capsys.readouterr().out


def test_reload_timeout_option(tmp_path):
    parser = build_parser(tmp_path / "c.yaml")
    assert parser.parse_args(["reload"]).timeout == 60
    assert parser.parse_args(["reload", "proxy", "--timeout", "90"]).timeout == 90
    with pytest.raises(SystemExit):
        parser.parse_args(["reload", "--timeout", "0"])


def test_show_of_missing_file_is_an_error(tmp_path, capsys, root):
    assert main(["--config-path", str(tmp_path / "absent.yaml"), "show"]) == 1
    assert "absent.yaml does not exist" in capsys.readouterr().err


def test_missing_directory_is_an_error(tmp_path, capsys, root):
    assert main(["--config-path", str(tmp_path / "nope" / "c.yaml"), "set", "http.port", "81"]) == 1
    assert f"{tmp_path / 'nope'} does not exist" in capsys.readouterr().err


def test_held_lock_is_a_clear_message_after_a_bounded_wait(path, capsys, root, monkeypatch):
    monkeypatch.setattr(config_module, "LOCK_WAIT_SECONDS", 0.3)
    held, release = threading.Event(), threading.Event()

    def holder():
        with config_module.locked(path, "tljh-config reload hub"):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        held.wait(5)
        before, start = sha(path), time.monotonic()
        assert main(["--config-path", str(path), "set", "http.port", "81"]) == 1
        assert 0.25 < time.monotonic() - start < 3
        err = capsys.readouterr().err
        assert "locked by another run (pid" in err and "tljh-config reload hub" in err, err
        assert "waited 0s" in err and "Try again" in err
        assert sha(path) == before
    finally:
        release.set()
        thread.join()
    assert main(["--config-path", str(path), "set", "http.port", "81"]) == 0


def test_write_keeps_mode(path, root):
    path.chmod(0o640)
    assert main(["--config-path", str(path), "set", "http.port", "81"]) == 0
    assert path.stat().st_mode & 0o777 == 0o640
