"""Credentials stay out of logs, pages, error messages and command lines others can read."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tljh import run as run_module
from tljh.install.installer import installer_argv
from tljh.install.progress import PageStatus
from tljh.run import CommandError, RedactingFormatter, redact, redact_argv, register_secret

TEXTS = [
    ("pip install git+https://ghp_abc123@github.com/o/p.git", "pip install git+https://***@github.com/o/p.git"),
    ("https://user:pa:ss@host/simple/", "https://***@host/simple/"),
    ("see http://u@h and ftp://a:b@c/x", "see http://***@h and ftp://***@c/x"),
    ("--admin alice:secret --plugin x", "--admin alice:*** --plugin x"),
    ("--admin=alice:s3:cret", "--admin=alice:***"),
    ("python3 - --admin 'alice:my pw'", "python3 - --admin 'alice:*** pw'"),
    ("mailto alice@example.org and https://example.org/a@b", "mailto alice@example.org and https://example.org/a@b"),
    ("--admin alice", "--admin alice"),
]


@pytest.mark.parametrize("text, shown", TEXTS)
def test_redact(text, shown, bootstrap):
    assert redact(text) == shown
    assert bootstrap.redact(text) == shown  # the bootstrap's copy follows the same rules


ARGVS = [
    (["--admin", "alice:pw1", "bob:pw2", "carol", "--plugin", "a:b"], ["--admin", "alice:***", "bob:***", "carol",
                                                                        "--plugin", "a:b"]),
    (["--admin=alice:pw", "--admin", "x"], ["--admin=alice:***", "--admin", "x"]),
    (["--plugin", "git+https://TOKEN@h/p.git"], ["--plugin", "git+https://***@h/p.git"]),
    (["--user-requirements-txt-url", "https://u:p@h/r.txt"], ["--user-requirements-txt-url", "https://***@h/r.txt"]),
    (["--admin", "alice", "--user-env", "venv"], ["--admin", "alice", "--user-env", "venv"]),
]


@pytest.mark.parametrize("argv, shown", ARGVS)
def test_redact_argv(argv, shown, bootstrap):
    assert redact_argv(argv) == shown
    assert bootstrap.redact_argv(argv) == shown


def test_registered_secrets_are_hidden_everywhere(monkeypatch):
    monkeypatch.setattr(run_module, "_secrets", set())
    register_secret("correct horse battery")
    register_secret("abc")  # too short to hide safely: ignored
    assert redact("error: 'correct horse battery' refused") == "error: '***' refused"
    assert redact("abc") == "abc"


def test_log_lines_and_command_errors_are_redacted(monkeypatch):
    monkeypatch.setattr(run_module, "_secrets", set())
    register_secret("Hunter2-password")
    record = logging.LogRecord("tljh", logging.INFO, __file__, 1, "got %s and %s", ("Hunter2-password",
                               "https://tok@h/x"), None)
    line = RedactingFormatter("%(message)s").format(record)
    assert line == "got *** and https://***@h/x"
    with pytest.raises(CommandError) as failed:
        run_module.run([sys.executable, "-c", "print('https://tok@h'); raise SystemExit(3)", "--admin", "a:Hunter2-password"])
    assert "Hunter2-password" not in str(failed.value) and "a:***" in str(failed.value)
    assert failed.value.output == "https://***@h"


def test_page_status_error_is_redacted(paths, monkeypatch):
    monkeypatch.setattr(run_module, "_secrets", set())
    register_secret("Hunter2-password")
    paths.progress_status.parent.mkdir(parents=True, exist_ok=True)
    page = PageStatus(paths.progress_status, ["one"])
    page.fail("bad --admin alice:Hunter2-password, pip install https://tok@h/x failed")
    text = paths.progress_status.read_text()
    assert "Hunter2-password" not in text and "tok@" not in text and "alice:***" in text


def test_installer_takes_its_arguments_from_the_environment():
    env = {"TLJH_INSTALLER_ARGS": json.dumps(["--admin", "alice:pw"]), "OTHER": "1"}
    assert installer_argv(["--admin", "alice:***"], env) == ["--admin", "alice:pw"]
    assert env == {"OTHER": "1"}  # no command started later inherits it
    assert installer_argv(["--admin", "bob"], {}) == ["--admin", "bob"]
    with pytest.raises(SystemExit):
        installer_argv([], {"TLJH_INSTALLER_ARGS": "{}"})


def test_bootstrap_hands_secrets_over_in_the_environment(bootstrap, monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(os, "execv", lambda path, argv: calls.append((path, argv)))
    monkeypatch.delenv("TLJH_INSTALLER_ARGS", raising=False)
    bootstrap.hand_over(tmp_path, ["--admin", "alice:pw", "--plugin", "git+https://TOK@h/p"])
    assert calls[0][1][1:] == ["-m", "tljh.installer", "--admin", "alice:***", "--plugin", "git+https://***@h/p"]
    assert json.loads(os.environ["TLJH_INSTALLER_ARGS"]) == ["--admin", "alice:pw", "--plugin", "git+https://TOK@h/p"]
    monkeypatch.delenv("TLJH_INSTALLER_ARGS")
    bootstrap.hand_over(tmp_path, ["--admin", "bob"])
    assert calls[1][1][3:] == ["--admin", "bob"] and "TLJH_INSTALLER_ARGS" not in os.environ


def test_bootstrap_hides_its_own_command_line(bootstrap):
    """What every local user sees in /proc/PID/cmdline: the password is gone once the bootstrap starts."""
    bootstrap_file = bootstrap.__file__
    code = (
        "import importlib.util, sys, time\n"
        f"spec = importlib.util.spec_from_file_location('b', {str(bootstrap_file)!r})\n"
        "b = importlib.util.module_from_spec(spec); sys.modules['b'] = b; spec.loader.exec_module(b)\n"
        "print(b.hide_command_line(b.redact_argv(sys.orig_argv)), flush=True)\n"
        "time.sleep(30)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, "--admin", "alice:Sup3rSecret", "--plugin",
                              "git+https://ghp_T0KEN@h/p.git"], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "True"
        shown = Path(f"/proc/{child.pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        assert shown[-4:] == [b"--admin", b"alice:***", b"--plugin", b"git+https://***@h/p.git"]
        assert b"Sup3rSecret" not in b" ".join(shown) and b"ghp_T0KEN" not in b" ".join(shown)
        ps = subprocess.run(["ps", "-ww", "-o", "args=", "-p", str(child.pid)], capture_output=True, text=True).stdout
        assert "Sup3rSecret" not in ps and "alice:***" in ps, ps
    finally:
        child.kill()
        child.wait()


def test_bootstrap_redacts_the_passwords_it_was_given_anywhere(bootstrap, monkeypatch):
    monkeypatch.setattr(bootstrap, "SECRETS", set())
    bootstrap.remember_secrets(["--admin", "alice:Pa55word", "bob:x", "--admin=carol:Other-Secret",
                                "--plugin", "git+https://tok@h/p"])
    assert sorted(bootstrap.SECRETS) == ["Other-Secret", "Pa55word"]
    assert bootstrap.redact("argument --admin: 'alice:Pa55word' Other-Secret") == "argument --admin: 'alice:***' ***"
