"""Terminal progress: a line per step start and finish, a live indication, the final URL."""

from __future__ import annotations

import io
import ipaddress
import time
from pathlib import Path

import pytest

from tljh.install.installer import started_at
from tljh.install.progress import Progress, hub_url, server_address

TITLES = ["system packages", "hub environment", "user environment"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_piped_output_is_one_plain_line_per_event():
    out = io.StringIO()
    progress = Progress(TITLES, out=out)
    progress.started("system packages")
    progress.finished("system packages", 1.25, 0)
    progress.started("hub environment")
    progress.finished("hub environment", 12.0, 3)
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "[1/3] system packages ..."
    assert lines[1].startswith("[1/3] system packages") and "nothing to do" in lines[1] and lines[1].endswith("1.2s")
    assert lines[2] == "[2/3] hub environment ..."
    assert "3 change(s)" in lines[3] and lines[3].endswith("12.0s")
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()


def test_piped_output_says_still_running_during_a_long_step():
    out = io.StringIO()
    progress = Progress(TITLES, out=out, tick=0.05)
    progress.started("hub environment")
    progress.started("user environment")
    time.sleep(0.3)
    progress.finished("hub environment", 0.3, 1)
    progress.finished("user environment", 0.3, 1)
    progress.close()
    text = out.getvalue()
    still = [line for line in text.splitlines() if line.startswith("  still running: ")]
    assert still, text
    assert "hub environment (0s)" in still[0] and "user environment (0s)" in still[0]
    assert "\r" not in text


def test_no_still_running_lines_when_nothing_runs():
    out = io.StringIO()
    progress = Progress(TITLES, out=out, tick=0.02)
    progress.started("system packages")
    progress.finished("system packages", 0.0, 0)
    time.sleep(0.15)
    progress.close()
    assert "still running" not in out.getvalue()


def test_a_terminal_gets_a_ticking_line_that_step_lines_overwrite():
    out = Terminal()
    progress = Progress(TITLES, out=out, tick=0.05)
    progress.started("user environment")
    time.sleep(0.2)
    progress.failed("user environment", 0.2)
    progress.close()
    text = out.getvalue()
    assert "\r\x1b[K  ... user environment (0s)" in text
    assert "\r\x1b[K[3/3] user environment FAILED after 0.2s\n" in text
    assert text.endswith("\r\x1b[K")


def test_unknown_step_titles_are_numbered_with_a_question_mark():
    out = io.StringIO()
    progress = Progress(TITLES, out=out)
    progress.say("a note")
    progress.failed("something else", 1.0)
    assert out.getvalue().splitlines() == ["a note", "[?/3] something else FAILED after 1.0s"]


@pytest.mark.parametrize(
    "address, port, base_url, url",
    [
        ("10.0.0.5", 80, "/", "http://10.0.0.5/"),
        ("10.0.0.5", 8080, "/", "http://10.0.0.5:8080/"),
        ("10.0.0.5", 80, "/jupyter/", "http://10.0.0.5/jupyter/"),
        ("10.0.0.5", 80, "jupyter", "http://10.0.0.5/jupyter/"),
        (None, 80, "/", "http://<this server's address>/"),
    ],
)
def test_hub_url(address, port, base_url, url):
    assert hub_url(address, port, base_url) == url


def _has_default_route() -> bool:
    try:
        lines = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return False
    return any(line.split()[1] == "00000000" for line in lines if len(line.split()) > 1)


def test_server_address_is_the_default_routes_source_address():
    if not _has_default_route():
        assert server_address() is None
        return
    address = ipaddress.ip_address(server_address())
    assert address.version == 4 and not address.is_loopback and not address.is_unspecified


class FakeProbe:
    def __init__(self, address: str | None) -> None:
        self.address = address

    def __enter__(self) -> FakeProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def connect(self, target: tuple[str, int]) -> None:
        assert target == ("192.0.2.1", 9)
        if self.address is None:
            raise OSError("Network is unreachable")

    def getsockname(self) -> tuple[str, int]:
        assert self.address is not None
        return self.address, 40000


@pytest.mark.parametrize("probed, expected", [("10.0.0.5", "10.0.0.5"), ("127.0.0.1", None), ("127.1.2.3", None),
                                              ("0.0.0.0", None), (None, None)])
def test_server_address_refuses_loopback_unspecified_and_no_route(monkeypatch, probed, expected):
    from tljh.install import progress

    monkeypatch.setattr(progress.socket, "socket", lambda *a: FakeProbe(probed))
    assert server_address() == expected


def test_total_time_counts_from_the_bootstrap():
    assert started_at({"TLJH_BOOTSTRAP_STARTED": "1000.5"}) == 1000.5
    now = time.time()
    assert now - 1 <= started_at({}) <= time.time()
    assert now - 1 <= started_at({"TLJH_BOOTSTRAP_STARTED": "soon"}) <= time.time()
