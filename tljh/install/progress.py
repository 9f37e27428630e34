"""Install progress people can follow: terminal lines and the progress page's status file.

The progress page itself is served by the bootstrap (standard library only, so it is up before
apt runs and before this package exists on the machine). The bootstrap writes the status file
for its own steps; the installer takes it over through `PageStatus`, and stops the page server
(`stop_page`) before traefik needs port 80. The status file's format, shared by both writers
and read by the bootstrap's page server:

    {"format": 1,
     "title": "The Littlest JupyterHub 0.1.0",
     "state": "running" | "failed" | "handed-over",
     "log": "/opt/tljh/installer.log",
     "error": null | {"step": "<title>" | null, "message": "<what went wrong>"},
     "hub_path": "/",                                   (with "handed-over": where the hub answers)
     "steps": [{"title": "<title>", "state": "pending" | "running" | "done" | "failed",
                "started": <unix time> | null, "finished": <unix time> | null}, ...]}
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence, TextIO

from tljh.actions.files import write_atomic
from tljh.paths import Paths
from tljh.run import redact

log = logging.getLogger("tljh")

STOP_WAIT_SECONDS = 10.0
TICK_TTY_SECONDS = 1.0
TICK_PIPE_SECONDS = 15.0


# ---------------------------------------------------------------- the page's status file


class PageStatus:
    """The installer's steps in the status file the progress page polls (format: module docstring)."""

    def __init__(self, path: Path, titles: Sequence[str]) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.closed = False
        self.doc = _read_json(path) or {"format": 1, "title": "The Littlest JupyterHub", "steps": []}
        if titles:  # the bootstrap's steps stay as reported; the installer's start over as pending
            kept = [s for s in self.doc["steps"] if s["title"] not in titles]
            self.doc.update(steps=kept + [_pending(t) for t in titles], state="running", error=None)
        self.write()

    @classmethod
    def open(cls, paths: Paths, titles: Sequence[str] = ()) -> PageStatus | None:
        """The page's status, or None when no progress page of this run is being served."""
        if page_server_pid(paths) is None:
            return None
        return cls(paths.progress_status, titles)

    def step(self, title: str, state: str) -> None:
        """Mark the step running (recording its start) or done/failed (recording its end)."""
        with self.lock:
            entry = self._entry(title)
            entry["state"] = state
            entry["started" if state == "running" else "finished"] = time.time()
            self.write()

    def fail(self, message: str) -> None:
        """Show the failure: the failed (else running) step, and the message."""
        with self.lock:
            steps = self.doc["steps"]
            failed = next((s for s in steps if s["state"] == "failed"), None)
            failed = failed or next((s for s in steps if s["state"] == "running"), None)
            if failed is not None:
                failed.update(state="failed", finished=failed["finished"] or time.time())
            self.doc.update(state="failed", error={"step": failed and failed["title"], "message": redact(message)})
            self.write()

    def hand_over(self, hub_path: str) -> None:
        """Tell the page that the hub takes over (the page then waits for hub_path); stop writing."""
        with self.lock:
            self.doc.update(state="handed-over", hub_path=hub_path)
            self.write()
            self.closed = True

    def write(self) -> None:
        if not self.closed:
            write_atomic(self.path, json.dumps(self.doc).encode(), 0o644)

    def _entry(self, title: str) -> dict[str, Any]:
        entry = next((s for s in self.doc["steps"] if s["title"] == title), None)
        if entry is None:
            entry = _pending(title)
            self.doc["steps"].append(entry)
        return entry


def _pending(title: str) -> dict[str, Any]:
    return {"title": title, "state": "pending", "started": None, "finished": None}


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------- the page server's process


def process_start_time(pid: int) -> int | None:
    """When pid started (clock ticks since boot); None if it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def page_server_pid(paths: Paths) -> int | None:
    """The pid of the running page server named by the pid file ("PID STARTTIME"), else None."""
    try:
        pid, started = (int(x) for x in paths.progress_pid.read_text().split())
    except (OSError, ValueError):
        return None
    return pid if process_start_time(pid) == started else None


def stop_page(paths: Paths, timeout: float = STOP_WAIT_SECONDS) -> bool:
    """Ensure the page server is stopped and its files are gone; whether one was running."""
    pid = page_server_pid(paths)
    last = _read_json(paths.progress_status)
    if last is not None:  # the page's final state, kept in the log (the page may not have polled it)
        log.info("progress page's last status: %s", json.dumps(last, sort_keys=True))
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        _wait_until_gone(pid, timeout)
        if process_start_time(pid) is not None:
            os.kill(pid, signal.SIGKILL)
            _wait_until_gone(pid, timeout)
    for path in (paths.progress_index, paths.progress_favicon, paths.progress_pid, paths.progress_status):
        path.unlink(missing_ok=True)
    return pid is not None


def _wait_until_gone(pid: int, timeout: float) -> None:
    """Wait (bounded) until pid has exited; reap it if it is our child (the bootstrap forked it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        if process_start_time(pid) is None:
            return
        time.sleep(0.1)


# ---------------------------------------------------------------- the terminal


class Progress:
    """Terminal lines for each step (as it starts, and as it finishes with its elapsed time), a live
    indication while steps run, and the same states for the progress page when one is shown.

    On a TTY the indication is one line rewritten every second; otherwise (piped output) it is a
    plain "still running" line every TICK_PIPE_SECONDS, so a log stays line-based.
    """

    def __init__(self, titles: Sequence[str], out: TextIO = sys.stdout, page: PageStatus | None = None,
                 tick: float | None = None) -> None:
        self.titles, self.out, self.page = list(titles), out, page
        self.tty = out.isatty()
        self.tick = tick or (TICK_TTY_SECONDS if self.tty else TICK_PIPE_SECONDS)
        self.running: dict[str, float] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.ticker: threading.Thread | None = None

    def started(self, title: str) -> None:
        with self.lock:
            self.running[title] = time.monotonic()
            self._line(f"{self._number(title)} {title} ...")
        if self.page:
            self.page.step(title, "running")
        self._ensure_ticker()

    def finished(self, title: str, seconds: float, changes: int | str) -> None:
        """changes: how many the step made, or a word on how it went."""
        what = changes if isinstance(changes, str) else f"{changes} change(s)" if changes else "nothing to do"
        with self.lock:
            self.running.pop(title, None)
            self._line(f"{self._number(title)} {title:<22} {what:<16} {seconds:6.1f}s")
        if self.page:
            self.page.step(title, "done")

    def failed(self, title: str, seconds: float) -> None:
        with self.lock:
            self.running.pop(title, None)
            self._line(f"{self._number(title)} {title} FAILED after {seconds:.1f}s")
        if self.page:
            self.page.step(title, "failed")

    def say(self, text: str) -> None:
        """One line of its own (not a step)."""
        with self.lock:
            self._line(text)

    def close(self) -> None:
        """Stop the live indication (and clear its line on a TTY)."""
        self.stopping.set()
        if self.ticker is not None:
            self.ticker.join()
        with self.lock:
            if self.tty:
                self.out.write("\r\x1b[K")
                self.out.flush()

    def _number(self, title: str) -> str:
        n = self.titles.index(title) + 1 if title in self.titles else "?"
        return f"[{n}/{len(self.titles)}]"

    def _line(self, text: str) -> None:
        """Print one line (on a TTY, over the live indication). Call with the lock held."""
        self.out.write(("\r\x1b[K" if self.tty else "") + text + "\n")
        self.out.flush()

    def _ensure_ticker(self) -> None:
        with self.lock:
            if self.ticker is None:
                self.ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
                self.ticker.start()

    def _tick(self) -> None:
        while not self.stopping.wait(self.tick):
            with self.lock:
                if not self.running:
                    continue
                now = time.monotonic()
                text = ", ".join(f"{t} ({now - s:.0f}s)" for t, s in self.running.items())
                if self.tty:
                    self.out.write(f"\r\x1b[K  ... {text}")
                else:
                    self.out.write(f"  still running: {text}\n")
                self.out.flush()


# ---------------------------------------------------------------- the end


def server_address() -> str | None:
    """This machine's address on its default route (no packet is sent), None if there is none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the route
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def hub_url(address: str | None, port: int, base_url: str) -> str:
    """The URL people open: http://ADDRESS[:PORT]/BASE_URL, with a hint when the address is unknown."""
    host = address or "<this server's address>"
    netloc = host if port == 80 else f"{host}:{port}"
    return f"http://{netloc}/{base_url.strip('/')}{'/' if base_url.strip('/') else ''}"
