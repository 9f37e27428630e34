import sys

import pytest

from tljh.run import CommandError, command_env, run


def test_run_captures_stdout_and_stderr_together():
    result = run([sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr)"])
    assert result.returncode == 0
    assert set(result.stdout.splitlines()) == {"out", "err"}


def test_run_feeds_input():
    result = run([sys.executable, "-c", "import sys; print(sys.stdin.read().upper())"], input="hello")
    assert result.stdout.strip() == "HELLO"


def test_run_passes_extra_env():
    result = run([sys.executable, "-c", "import os; print(os.environ['TLJH_X'])"], env={"TLJH_X": "42"})
    assert result.stdout.strip() == "42"


def test_failure_raises_command_error_with_output_tail():
    script = "import sys\nfor i in range(100): print(i)\nsys.exit(3)"
    with pytest.raises(CommandError) as info:
        run([sys.executable, "-c", script])
    err = info.value
    assert err.returncode == 3
    assert "exit code 3" in str(err)
    assert err.tail(5).splitlines() == ["95", "96", "97", "98", "99"]


def test_check_false_returns_nonzero_code():
    assert run([sys.executable, "-c", "raise SystemExit(2)"], check=False).returncode == 2


def test_command_env_keeps_environment_and_is_noninteractive(monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://mirror.invalid/simple")
    env = command_env({"EXTRA": "1"})
    assert env["PIP_INDEX_URL"] == "http://mirror.invalid/simple"
    assert env["DEBIAN_FRONTEND"] == "noninteractive"
    assert env["EXTRA"] == "1"
