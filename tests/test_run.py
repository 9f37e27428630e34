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


def _alive(pid: int) -> bool:
    """Whether pid runs (a zombie, dead but not yet reaped by its new parent, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("die_with_parent", [True, False])
def test_a_command_ends_when_the_process_that_ran_it_is_killed(tmp_path, die_with_parent):
    import os
    import signal
    import subprocess
    import time

    pidfile = tmp_path / "child.pid"
    program = (
        "import tljh.run as r\n"
        + ("r.children_die_with_this_process()\n" if die_with_parent else "")
        + f"r.run(['sh', '-c', 'echo $$ > {pidfile}; exec sleep 30'])\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", program])
    deadline = time.monotonic() + 20
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pidfile.read_text())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    try:
        deadline = time.monotonic() + 3
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _alive(child) is not die_with_parent
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)
