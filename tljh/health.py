"""Is the hub serving? Polls /hub/api through the proxy, bounded, and explains a failure."""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from typing import Any

from tljh.config import get_item
from tljh.run import run

UNITS = ("traefik.service", "jupyterhub.service")
EVERY_ADDRESS = ("", "0.0.0.0", "::")


class HubNotReady(Exception):
    """The hub did not answer in time; the message names the failing unit and its journal's end."""

    def __init__(self, message: str, unit: str | None = None) -> None:
        super().__init__(message)
        self.unit = unit


def _local_host(address: str) -> str:
    if address in EVERY_ADDRESS:
        return "127.0.0.1"
    return f"[{address}]" if ":" in address else address


def hub_api_url(config: Any) -> str:
    """/hub/api through the proxy: over https when it is on (http then only redirects)."""
    from tljh.hub.traits import base_url

    if get_item(config, "https.enabled", False):
        host = _local_host(str(get_item(config, "https.address", "")))
        return f"https://{host}:{get_item(config, 'https.port', 443)}{base_url(config)}hub/api"
    host = _local_host(str(get_item(config, "http.address", "")))
    return f"http://{host}:{get_item(config, 'http.port', 80)}{base_url(config)}hub/api"


def _unverified() -> ssl.SSLContext:
    """TLS without certificate checks: the check is whether the hub answers, not who signed the cert."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def status(url: str, timeout: float = 5.0) -> int | None:
    """The HTTP status of GET url (not following redirects), or None when nothing answers."""
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=_unverified()), _NoRedirect()
    )
    try:
        with opener.open(urllib.request.Request(url), timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, ValueError):
        return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def unit_state(unit: str) -> dict[str, str]:
    """ActiveState, SubState and NRestarts of a unit, as systemctl shows them."""
    out = run(["systemctl", "show", "-p", "ActiveState,SubState,NRestarts", unit], check=False).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def crashed(unit: str, restarts_before: int) -> bool:
    """Whether unit has failed, or restarted by itself, since its NRestarts was restarts_before."""
    state = unit_state(unit)
    restarts = int(state.get("NRestarts", "0") or 0)
    return state.get("ActiveState") in ("failed", "inactive") or state.get("SubState") == "auto-restart" or (
        restarts > restarts_before
    )


def wait_for_hub(
    config: Any, timeout: float = 120.0, interval: float = 0.5, watch: dict[str, int] | None = None
) -> float:
    """Return once the hub answers 200 through the proxy (seconds waited); else raise HubNotReady.

    watch maps units to their NRestarts when they were started: one that fails or restarts by
    itself ends the wait at once (a crash loop is not worth waiting out).
    """
    url, start = hub_api_url(config), time.monotonic()
    last = None
    while time.monotonic() - start < timeout:
        for unit, restarts in (watch or {}).items():
            if crashed(unit, restarts):
                raise HubNotReady(f"{unit} stopped or restarted by itself while starting.\n{diagnose(unit)}", unit)
        last = status(url)
        if last == 200:
            return time.monotonic() - start
        time.sleep(interval)
    raise HubNotReady(f"{url} answered {last or 'nothing'} after {timeout:.0f}s.\n{diagnose()}")


def diagnose(unit: str | None = None) -> str:
    """Which unit is failing (the one given, else the first inactive, else the hub) and its journal's end."""
    states = {u: run(["systemctl", "is-active", u], check=False).stdout.strip() for u in UNITS}
    failing = unit or next((u for u, s in states.items() if s != "active"), "jupyterhub.service")
    journal = run(["journalctl", "-u", failing, "-n", "30", "--no-pager", "-o", "cat"], check=False).stdout
    summary = ", ".join(f"{u} is {s}" for u, s in states.items())
    return f"{summary}. Last lines of {failing}'s journal:\n{journal}"
