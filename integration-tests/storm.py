"""Many new users starting their servers at once, through the hub's REST API with an admin token.

Used by test_spawn_storm.py (does every server come up, as its own user, with its limits?) and
by benchmarks/ (how long, and how responsive is the hub meanwhile?). Traffic goes only to the
test machine's hub at 127.0.0.1, in loops bounded by a deadline.

    with admin_token(machine) as api:
        result = storm(api, [f"storm-{i}" for i in range(20)], timeout=600)
"""

from __future__ import annotations

import json
import secrets
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests
import requests.adapters
from machine import Machine

HUB_URL = "http://127.0.0.1"
CONFIG_D = "/opt/tljh/config/jupyterhub_config.d"
TOKEN_SNIPPET = f"{CONFIG_D}/zz-storm-admin-token.py"
SERVICE = "storm-admin"
REQUEST_TIMEOUT = 60.0


class AdminAPI:
    """The hub's REST API as an admin service (token auth), directly, whatever proxy variables say."""

    def __init__(self, token: str, base_url: str = HUB_URL) -> None:
        self.base = base_url.rstrip("/") + "/hub/api"
        self.session = requests.Session()
        self.session.trust_env = False
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=256)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["Authorization"] = f"token {token}"

    def call(self, method: str, path: str, **kwargs: object) -> requests.Response:
        kwargs.setdefault("timeout", REQUEST_TIMEOUT)
        return self.session.request(method, self.base + path, **kwargs)  # type: ignore[arg-type]

    def create_users(self, names: list[str]) -> None:
        """Ensure the hub users exist (new ones are created; existing ones are kept)."""
        existing = {u["name"] for u in self.users()}
        missing = [n for n in names if n not in existing]
        if missing:
            response = self.call("POST", "/users", json={"usernames": missing})
            response.raise_for_status()

    def users(self) -> list[dict]:
        response = self.call("GET", "/users", params={"limit": 1000})
        response.raise_for_status()
        return response.json()

    def stop_and_delete(self, names: list[str]) -> None:
        """Stop the users' servers (waiting for each to stop) and delete the hub users."""
        for name in names:
            self.call("DELETE", f"/users/{name}/server")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            live = [u["name"] for u in self.users() if u["name"] in names and (u.get("servers") or u.get("pending"))]
            if not live:
                break
            time.sleep(1)
        for name in names:
            self.call("DELETE", f"/users/{name}")


@contextmanager
def admin_token(machine: Machine, reload_timeout: float = 240) -> Iterator[AdminAPI]:
    """An admin service token registered through jupyterhub_config.d (reload hub); removed afterwards."""
    token = secrets.token_hex(32)
    snippet = (
        "# Test/benchmark only (integration-tests/storm.py): an admin service token.\n"
        f"c.JupyterHub.services.append({{'name': {SERVICE!r}, 'api_token': {token!r}}})\n"
        f"c.JupyterHub.load_roles.append({{'name': {SERVICE!r}, 'services': [{SERVICE!r}],\n"
        "    'scopes': ['admin:users', 'admin:servers', 'list:users', 'read:users', 'read:servers']})\n"
    )
    machine.run(["install", "-m", "0600", "/dev/stdin", TOKEN_SNIPPET], input=snippet)
    try:
        machine.run(["tljh-config", "reload", "hub"], timeout=reload_timeout)
        yield AdminAPI(token)
    finally:
        machine.run(["rm", "-f", TOKEN_SNIPPET])
        machine.run(["tljh-config", "reload", "hub"], timeout=reload_timeout, check=False)


@dataclass
class StormResult:
    """How each user's start went, and how the hub answered an admin meanwhile."""

    ready_seconds: dict[str, float] = field(default_factory=dict)  # from the start request to ready
    failures: dict[str, str] = field(default_factory=dict)  # user → why
    hub_latencies: list[float] = field(default_factory=list)  # GET /hub/api/users/NAME, seconds
    progress: dict[str, list[str]] = field(default_factory=dict)  # user → progress messages seen

    def summary(self) -> dict[str, float | int]:
        times = sorted(self.ready_seconds.values())
        return {
            "n": len(self.ready_seconds) + len(self.failures),
            "ready": len(times),
            "failures": len(self.failures),
            "p50_s": round(percentile(times, 50), 2),
            "p95_s": round(percentile(times, 95), 2),
            "max_s": round(times[-1], 2) if times else float("nan"),
            "hub_api_p95_s": round(percentile(sorted(self.hub_latencies), 95), 3),
            "hub_api_max_s": round(max(self.hub_latencies), 3) if self.hub_latencies else float("nan"),
        }


def percentile(sorted_values: list[float], pct: float) -> float:
    """The nearest-rank percentile of already sorted values (nan for none)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return sorted_values[int(rank) - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def storm(api: AdminAPI, names: list[str], timeout: float = 900, probe_user: str | None = None,
          watch_progress: bool = False) -> StormResult:
    """Start every user's server at the same moment and wait (at most `timeout` s) until each is
    ready or has failed. Meanwhile GET /hub/api/users/`probe_user` twice a second (the admin's view)
    and, with `watch_progress`, read each user's progress event stream from the moment the hub
    accepted their start (what their spawn page shows)."""
    api.create_users(names)
    result = StormResult()
    done = threading.Event()
    probe = threading.Thread(target=_probe, args=(api, probe_user or names[0], done, result), daemon=True)
    probe.start()
    watchers: list[threading.Thread] = []
    started: dict[str, float] = {}

    def start(name: str) -> str:
        outcome = _start(api, name, barrier, started)
        if not outcome and watch_progress:
            watcher = threading.Thread(target=_watch_progress, args=(api, name, result, timeout), daemon=True)
            watcher.start()
            watchers.append(watcher)
        return outcome

    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        barrier = threading.Barrier(len(names))
        for name, outcome in zip(names, pool.map(start, names), strict=True):
            if outcome:
                result.failures[name] = outcome
    _wait_ready(api, [n for n in names if n not in result.failures], started, result, timeout)
    done.set()
    probe.join(timeout=REQUEST_TIMEOUT + 5)
    for watcher in watchers:
        watcher.join(timeout=REQUEST_TIMEOUT + 5)
    return result


def _start(api: AdminAPI, name: str, barrier: threading.Barrier, started: dict[str, float]) -> str:
    """POST the start request (all threads at once); '' when accepted, else why not."""
    barrier.wait(timeout=60)
    started[name] = time.monotonic()
    try:
        response = api.call("POST", f"/users/{name}/server")
    except requests.RequestException as error:
        return f"start request failed: {error}"
    if response.status_code not in (201, 202):
        return f"start answered {response.status_code}: {response.text[:300]}"
    return ""


def _wait_ready(api: AdminAPI, names: list[str], started: dict[str, float], result: StormResult,
                timeout: float) -> None:
    """Poll the users list once a second until every user in `names` is ready or failed."""
    waiting = set(names)
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        now = time.monotonic()
        try:
            models = {u["name"]: u for u in api.users() if u["name"] in waiting}
        except (requests.RequestException, ValueError):
            time.sleep(1)
            continue
        for name, model in models.items():
            server = (model.get("servers") or {}).get("")
            if server and server.get("ready"):
                result.ready_seconds[name] = now - started[name]
                waiting.discard(name)
            elif not server and not model.get("pending"):
                result.failures[name] = "the server stopped or its start failed (see the hub's log)"
                waiting.discard(name)
        time.sleep(1)
    for name in waiting:
        result.failures[name] = f"not ready within {timeout:.0f} s"


def _probe(api: AdminAPI, name: str, done: threading.Event, result: StormResult) -> None:
    """An admin's request to the hub twice a second until `done`; each one's latency."""
    while not done.is_set():
        start = time.monotonic()
        try:
            api.call("GET", f"/users/{name}", timeout=REQUEST_TIMEOUT)
        except requests.RequestException:
            pass
        result.hub_latencies.append(time.monotonic() - start)
        done.wait(0.5)


def _watch_progress(api: AdminAPI, name: str, result: StormResult, timeout: float) -> None:
    """Read the user's progress event stream (what the spawn page shows) until it ends."""
    messages: list[str] = []
    result.progress[name] = messages
    try:
        with api.call("GET", f"/users/{name}/server/progress", stream=True, timeout=timeout) as response:
            for line in response.iter_lines(decode_unicode=True):
                if line and line.startswith("data:"):
                    event = json.loads(line[5:])
                    messages.append(event.get("message", ""))
                    if event.get("ready") or event.get("failed"):
                        break
    except (requests.RequestException, ValueError) as error:
        messages.append(f"(progress stream ended: {error})")
