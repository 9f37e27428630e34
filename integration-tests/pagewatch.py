"""Watch the progress page from the host while an install runs, as a person with a browser would.

`watch_install(install, ...)` runs `install` in a thread and, meanwhile, samples
http://127.0.0.1/status.json, keeps a headless Chromium tab open on http://127.0.0.1/ (recording
its title as the page's script changes it), dumps the page's DOM twice as steps advance, takes
a screenshot, and fetches /logs once. After the install it waits for the open tab to reach the
hub's login page by itself. What it saw is returned for tests to assert on.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from browser import Browser, dump_dom, screenshot

PAGE_URL = "http://127.0.0.1/"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"  # screenshots (gitignored)
SAMPLE_EVERY = 0.5
HANDOVER_TIMEOUT = 60.0
BOOTSTRAP_STEP_PREFIX = "bootstrap: "


@dataclass
class PageWatch:
    """What the watcher saw of the progress page during one install."""

    statuses: list[dict[str, Any]] = field(default_factory=list)  # distinct /status.json answers
    tab_titles: list[str] = field(default_factory=list)  # distinct titles of the tab left open
    doms: list[str] = field(default_factory=list)  # --dump-dom of the page as steps advanced
    screenshot: Path | None = None
    logs: str = ""  # /logs, fetched while the installer ran
    final_tab: dict[str, str] | None = None  # where the tab left open was after the install
    problems: list[str] = field(default_factory=list)  # what went wrong while watching
    final_status: dict[str, Any] | None = None  # the page's last status, from the installer log after the install


LAST_STATUS = "progress page's last status: "  # the installer logs it as it stops the page


def last_status_logged(log: str) -> dict[str, Any] | None:
    """The last status document the installer logged as it stopped the page, if any.

    Polling every SAMPLE_EVERY seconds can miss the final state (the page is stopped right after
    it); the log line cannot be missed.
    """
    lines = [line for line in log.splitlines() if LAST_STATUS in line]
    return dict(json.loads(lines[-1].split(LAST_STATUS, 1)[1])) if lines else None


def get(url: str) -> tuple[int, bytes] | None:
    """(status, body) of GET url, None if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, ValueError):
        return None


def status_now() -> dict[str, Any] | None:
    """The page's status document, None if the page server does not answer it."""
    answer = get(PAGE_URL + "status.json")
    if answer is None or answer[0] != 200:
        return None
    try:
        return dict(json.loads(answer[1]))
    except ValueError:
        return None


def states(status: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["title"], s["state"]) for s in status.get("steps", [])]


def done_count(status: dict[str, Any]) -> int:
    return sum(1 for _, state in states(status) if state == "done")


def running_with_pending(status: dict[str, Any]) -> bool:
    """Whether a step runs while others are still pending."""
    pairs = states(status)
    return any(s == "running" for _, s in pairs) and any(s == "pending" for _, s in pairs)


def shows_a_step_running(dom: str) -> bool:
    """Whether a DOM dump of the page shows a step running while others wait."""
    return 'data-state="running"' in dom and 'data-state="pending"' in dom


class Watcher:
    """One sample at a time; the decisions of what to capture when."""

    def __init__(self, artifacts: Path, name: str) -> None:
        self.seen = PageWatch()
        self.artifacts, self.name = artifacts, name
        self.browser: Browser | None = None
        self.first_done = 0  # steps done at the first DOM dump

    def sample(self) -> None:
        status = status_now()
        if status is None:
            return
        if self.browser is None:
            self.browser = Browser(PAGE_URL, self.artifacts / f"{self.name}.chromium.log")
        self._record(status)
        tab = self.browser.tab()
        if tab and (not self.seen.tab_titles or self.seen.tab_titles[-1] != tab["title"]):
            self.seen.tab_titles.append(tab["title"])
        self._capture(status)

    def _record(self, status: dict[str, Any]) -> None:
        key = {k: status.get(k) for k in ("state", "steps", "error")}
        if not self.seen.statuses or {k: self.seen.statuses[-1].get(k) for k in key} != key:
            self.seen.statuses.append(status)

    def _capture(self, status: dict[str, Any]) -> None:
        """A DOM dump as soon as a step runs; a second one, a screenshot and /logs once two more
        steps are done (both times during a long step: the bootstrap's pip, the environments).

        The browser takes seconds to render: when the install moved on meanwhile (between two
        steps, or the hand-over from the bootstrap to the installer) the dump shows no running step,
        and it is taken again at a later sample, while a step runs; if none ever shows one, the
        tests find fewer than two dumps and fail."""
        try:
            if not self.seen.doms and running_with_pending(status):
                dom = dump_dom(PAGE_URL)
                if shows_a_step_running(dom):
                    self.seen.doms.append(dom)
                    self.first_done = done_count(status)
            elif len(self.seen.doms) == 1 and done_count(status) >= self.first_done + 2 and running_with_pending(status):
                dom = dump_dom(PAGE_URL)
                if not shows_a_step_running(dom):
                    return
                self.seen.doms.append(dom)
                self.seen.screenshot = screenshot(PAGE_URL, self.artifacts / f"{self.name}.progress-page.png")
                answer = get(PAGE_URL + "logs")
                self.seen.logs = answer[1].decode(errors="replace") if answer else ""
        except Exception as error:  # noqa: BLE001 -- recorded for the tests to report; the install goes on
            self.seen.problems.append(f"capture failed: {error}")

    def finish(self) -> PageWatch:
        """Wait for the tab left open to reach the hub's login page; close the browser."""
        if self.browser is None:
            self.seen.problems.append("the progress page never answered /status.json")
            return self.seen
        try:
            self.seen.final_tab = self.browser.wait_for_tab(lambda t: "/hub/login" in t["url"], HANDOVER_TIMEOUT)
        finally:
            self.browser.close()
        return self.seen


def watch_install(install: Callable[[], Any], artifacts: Path, name: str) -> tuple[Any, PageWatch]:
    """Run install() in a thread while watching the page; return its result and what was seen."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = install()
        except BaseException as error:  # noqa: BLE001 -- re-raised below, in the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=target, name="install", daemon=True)
    watcher = Watcher(artifacts, name)
    thread.start()
    try:
        while thread.is_alive():
            watcher.sample()
            time.sleep(SAMPLE_EVERY)
        thread.join()
    finally:
        seen = watcher.finish()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"], seen
