"""Headless Chromium (Debian's `chromium` package, on the host) for looking at pages as people do.

- `dump_dom(url)`: the page's DOM after its scripts ran for a few seconds.
- `screenshot(url, path)`: a PNG of the page.
- `Browser(url)`: a tab left open on url; `tab()` says where it is now (url, title) through
  Chromium's DevTools HTTP endpoint, so a test can see the page's own scripts move it along.

Standard library only.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Callable

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
SCRIPT_TIME_MS = 3000  # how long (virtual time) a page's scripts run before a dump or screenshot
COMMAND_TIMEOUT = 60.0


class BrowserError(RuntimeError):
    """Chromium is missing, failed or did not answer."""


def chromium() -> str:
    """The chromium binary (installed by .ci/run's apt line)."""
    found = shutil.which("chromium")
    if found is None:
        raise BrowserError("chromium is not installed on the host: apt-get install chromium (.ci/run does)")
    return found


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="tljh-chromium-", ignore_cleanup_errors=True) as profile:
        cmd = [chromium(), *FLAGS, f"--user-data-dir={profile}", *args]
        result = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    if result.returncode != 0:
        raise BrowserError(f"chromium {args} exited with {result.returncode}:\n{result.stderr[-2000:]}")
    return result


def dump_dom(url: str) -> str:
    """The DOM of url once its scripts ran for SCRIPT_TIME_MS."""
    return _run([f"--virtual-time-budget={SCRIPT_TIME_MS}", "--dump-dom", url]).stdout


def screenshot(url: str, path: Path) -> Path:
    """A PNG of url (1100x900) once its scripts ran, saved at path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _run([f"--virtual-time-budget={SCRIPT_TIME_MS}", "--window-size=1100,900", f"--screenshot={path}", url])
    if not path.is_file():
        raise BrowserError(f"chromium wrote no screenshot to {path}")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Browser:
    """A headless Chromium with one tab opened on url, until close()."""

    def __init__(self, url: str, log: Path) -> None:
        self.port = free_port()
        self.profile = tempfile.TemporaryDirectory(prefix="tljh-chromium-", ignore_cleanup_errors=True)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as out:
            self.proc = subprocess.Popen(
                [chromium(), *FLAGS, f"--user-data-dir={self.profile.name}",
                 f"--remote-debugging-port={self.port}", url],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def tab(self) -> dict[str, str] | None:
        """The open tab's url and title, None if Chromium does not answer (yet)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=5) as response:
                pages = [t for t in json.loads(response.read()) if t.get("type") == "page"]
        except (OSError, ValueError):
            return None
        return {"url": pages[0]["url"], "title": pages[0]["title"]} if pages else None

    def wait_for_tab(self, done: Callable[[dict[str, str]], bool], timeout: float) -> dict[str, str] | None:
        """Poll the tab until done(tab) is true or timeout passes; the last tab seen."""
        deadline, tab = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            tab = self.tab() or tab
            if tab is not None and done(tab):
                break
            time.sleep(0.5)
        return tab

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.profile.cleanup()
