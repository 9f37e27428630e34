"""The progress page during the session's install (bootstrap run with --show-progress-page), as
the headless Chromium of pagewatch.py saw it, and the terminal output of that install."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from browser import dump_dom
from machine import Machine

if TYPE_CHECKING:
    from conftest import Installation

PAGE_FILES = ("/var/run/index.html", "/var/run/favicon.ico", "/run/tljh-progress.json", "/run/tljh-progress-page.pid")
TITLE = re.compile(r"TLJH install: (\d+)/(\d+) steps done")


def test_watching_went_smoothly(installed: Installation) -> None:
    assert installed.page.problems == []


def test_status_showed_every_step_and_steps_advanced(installed: Installation) -> None:
    statuses = installed.page.statuses
    assert len(statuses) >= 5, statuses
    last_running = [s for s in statuses if s["state"] == "running"][-1]
    titles = [t["title"] for t in last_running["steps"]]
    assert titles[:3] == ["bootstrap: python3 (apt)", "bootstrap: hub venv", "bootstrap: tljh package"]
    assert {"hub environment", "user environment", "services", "hub is up"} <= set(titles)
    done = [sum(s["state"] == "done" for s in status["steps"]) for status in statuses]
    assert done == sorted(done) and done[-1] > done[0], done
    assert any(
        any(s["state"] == "running" for s in st["steps"]) and any(s["state"] == "pending" for s in st["steps"])
        for st in statuses
    )
    last = {s["title"]: s for s in statuses[-1]["steps"]}
    assert last["hub environment"]["state"] == "done", "no installer step was seen done"
    assert all(s["finished"] >= s["started"] for s in last.values() if s["state"] == "done")
    # the page is gone before the services start (traefik needs port 80)
    assert all(s["state"] == "pending" for st in statuses for s in st["steps"] if s["title"] in ("services", "hub is up"))


def test_every_step_before_the_services_was_done_when_the_page_was_handed_over(installed: Installation) -> None:
    """The page's final status (logged by the installer as it stops the page, so no poll can miss it)."""
    final = installed.page.final_status
    assert final is not None, "the installer log has no 'progress page's last status' line"
    assert final["state"] == "handed-over" and final["hub_path"] == "/" and final["error"] is None, final
    titles = [s["title"] for s in final["steps"]]
    assert titles[:3] == ["bootstrap: python3 (apt)", "bootstrap: hub venv", "bootstrap: tljh package"]
    cut = titles.index("services")
    before, after = final["steps"][:cut], final["steps"][cut:]
    assert {"system packages", "hub environment", "user environment", "configuration"} <= set(titles[:cut]), titles
    assert [s["title"] for s in before if s["state"] != "done"] == [], before
    assert all(s["finished"] >= s["started"] > 0 for s in before), before
    assert titles[cut:cut + 2] == ["services", "hub is up"], titles
    assert all(s["state"] == "pending" for s in after), after


def test_browser_left_open_saw_the_steps_advance(installed: Installation) -> None:
    counts = [int(m.group(1)) for t in installed.page.tab_titles if (m := TITLE.fullmatch(t))]
    assert len(set(counts)) >= 3, installed.page.tab_titles
    assert counts == sorted(counts), installed.page.tab_titles


def test_page_dom_shows_steps_with_states_and_elapsed_times(installed: Installation) -> None:
    first, second = installed.page.doms
    for dom in (first, second):
        assert 'data-state="running"' in dom and 'data-state="pending"' in dom
        assert re.search(r'data-state="running"><span class="mark">.</span>[^<]+<span class="time">\d+s</span>', dom)
        assert '<pre id="log">' in dom and 'id="error" hidden' in dom
    assert re.search(r'data-state="done"><span class="mark">.</span>[^<]+<span class="time">\d+s</span>', second)
    assert second.count('data-state="done"') >= first.count('data-state="done"') + 2


def test_screenshot_is_kept(installed: Installation) -> None:
    shot = installed.page.screenshot
    assert shot is not None and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000, "the screenshot looks empty"
    print(f"screenshot: {shot}")


def test_logs_served_the_install_log_without_the_password(installed: Installation, admin_password: str) -> None:
    logs = installed.page.logs
    assert "$ apt-get" in logs or "pip install" in logs, logs[:2000]
    assert "installer starting with prefix /opt/tljh" in logs  # the installer's own lines, not only the bootstrap's
    assert admin_password not in logs


def test_browser_left_open_ends_on_the_login_page(installed: Installation) -> None:
    tab = installed.page.final_tab
    assert tab is not None and "/hub/login" in tab["url"], tab
    assert "JupyterHub" in tab["title"], tab


def test_same_address_serves_the_login_page_and_page_files_are_gone(machine: Machine, installed: Installation) -> None:
    dom = dump_dom("http://127.0.0.1/")
    assert 'name="username"' in dom and 'name="password"' in dom, dom[:2000]
    assert "Installing The Littlest JupyterHub" not in dom
    for path in PAGE_FILES:
        assert not machine.succeeds(["test", "-e", path]), f"{path} is still there"


def test_terminal_showed_each_step_starting_and_finishing(installed: Installation) -> None:
    out = installed.result.stdout
    assert "\r" not in out, "piped output must stay line-based"
    assert "[bootstrap] progress page: http://" in out
    starts = re.findall(r"^\[(\d+)/(\d+)\] (.+) \.\.\.$", out, re.M)
    ends = re.findall(r"^\[(\d+)/(\d+)\] .+ +(?:nothing to do|answers|\d+ change\(s\)) +\d+\.\ds$", out, re.M)
    assert len(starts) == len(ends) == int(starts[0][1]), out
    assert "progress page stopped: the hub takes over port 80" in out
    assert re.search(r"^Done in \d+s\.$", out, re.M)
    assert re.search(r"^JupyterHub is running: open http://\S+/ ", out, re.M)
    assert "Admins: admin" in out
