"""Is the hub serving? Polls /hub/api through the proxy, bounded, and explains a failure."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

from tljh.config import get_item
from tljh.run import run

UNITS = ("traefik.service", "jupyterhub.service")


class HubNotReady(Exception):
    """The hub did not answer in time; the message names the failing unit and its journal's end."""


def hub_api_url(config: Any) -> str:
    base_url = str(get_item(config, "base_url", "/")).rstrip("/") + "/"
    return f"http://127.0.0.1:{get_item(config, 'http.port', 80)}{base_url}hub/api"


def status(url: str, timeout: float = 5.0) -> int | None:
    """The HTTP status of GET url, or None when nothing answers."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url), timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, ValueError):
        return None


def wait_for_hub(config: Any, timeout: float = 120.0, interval: float = 0.5) -> float:
    """Return once the hub answers 200 through the proxy (seconds waited); else raise HubNotReady."""
    url, start = hub_api_url(config), time.monotonic()
    last = None
    while time.monotonic() - start < timeout:
        last = status(url)
        if last == 200:
            return time.monotonic() - start
        time.sleep(interval)
    raise HubNotReady(f"{url} answered {last or 'nothing'} after {timeout:.0f}s.\n{diagnose()}")


def diagnose() -> str:
    """Which unit is failing (the first inactive one, else the hub) and the end of its journal."""
    states = {u: run(["systemctl", "is-active", u], check=False).stdout.strip() for u in UNITS}
    failing = next((u for u, s in states.items() if s != "active"), "jupyterhub.service")
    journal = run(["journalctl", "-u", failing, "-n", "30", "--no-pager", "-o", "cat"], check=False).stdout
    summary = ", ".join(f"{u} is {s}" for u, s in states.items())
    return f"{summary}. Last lines of {failing}'s journal:\n{journal}"
