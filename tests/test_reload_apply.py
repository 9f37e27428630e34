"""tljh.cli.reload.apply itself (not mocked): the files it writes and removes, the units it restarts,
and the two health checks, against fake systemctl (conftest's fake_commands) and a stand-in hub
answering /hub/api on a local port."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tljh.cli.reload import HUB, PROXY, Snapshot, apply, load_good, remember_current, save_good
from tljh.health import HubNotReady
from tljh.journal import Journal
from tljh.traefik import EXTRA_PREFIX, proxy_files


class StandInHub:
    """/hub/api on 127.0.0.1:<port>; `answer(n)` gives the status of the n-th request (from 1)."""

    def __init__(self, answer: Callable[[int], int]) -> None:
        self.requests = 0
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hub.requests += 1
                self.send_response(answer(hub.requests) if self.path.endswith("/hub/api") else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub_answering() -> Iterator[Callable[[Callable[[int], int]], StandInHub]]:
    started: list[StandInHub] = []

    def start(answer: Callable[[int], int]) -> StandInHub:
        started.append(StandInHub(answer))
        return started[-1]

    yield start
    for hub in started:
        hub.close()


@pytest.fixture
def installed(paths, fake_commands):
    for d in (paths.config_dir, paths.traefik_rules_dir, paths.state_dir, paths.units_dir):
        d.mkdir(parents=True, exist_ok=True)
    paths.traefik_api_secret.write_text("secret")
    return paths


def _config(port: int) -> dict:
    return {"http": {"address": "127.0.0.1", "port": port}}


def test_apply_writes_the_files_restarts_proxy_then_hub_and_waits_for_the_hub(installed, fake_commands, hub_answering):
    hub = hub_answering(lambda n: 200)
    config = _config(hub.port)
    files = proxy_files(config, installed)
    seconds = apply(files, config, installed, [PROXY, HUB], timeout=10)
    assert seconds >= 1.0  # the pause between the two checks
    restarts = [c for c in fake_commands.calls() if c.startswith("systemctl restart")]
    assert restarts == [f"systemctl restart {PROXY}", f"systemctl restart {HUB}"]
    for path, content in files.items():
        if content is not None:
            assert path.read_text() == content
            assert path.stat().st_mode & 0o777 == 0o600
    assert hub.requests >= 2  # asked once per check
    changes = [(e.change, e.target) for e in Journal(installed.journal).entries() if e.kind == "service"]
    assert changes == [("restart", PROXY), ("restart", HUB)]


def test_a_hub_that_answers_once_and_then_fails_is_not_healthy(installed, hub_answering):
    hub = hub_answering(lambda n: 200 if n == 1 else 503)
    config = _config(hub.port)
    with pytest.raises(HubNotReady, match="answered 503"):
        apply(proxy_files(config, installed), config, installed, [HUB], timeout=1.5)
    assert hub.requests >= 2


def test_a_hub_that_never_answers_200_fails_the_first_check(installed, hub_answering):
    hub = hub_answering(lambda n: 502)
    config = _config(hub.port)
    with pytest.raises(HubNotReady, match="answered 502"):
        apply(proxy_files(config, installed), config, installed, [HUB], timeout=1.0)


def test_stale_extra_rule_copies_are_removed_and_current_ones_kept(installed, hub_answering):
    hub = hub_answering(lambda n: 200)
    config = _config(hub.port)
    files = proxy_files(config, installed)
    kept = installed.traefik_rules_dir / f"{EXTRA_PREFIX}kept.toml"
    stale = installed.traefik_rules_dir / f"{EXTRA_PREFIX}stale.toml"
    other = installed.traefik_rules_dir / "not-an-extra.toml"
    files[kept] = "# kept\n"
    for path in (stale, other):
        path.write_text("# old\n")
    apply(files, config, installed, [PROXY], timeout=10)
    assert kept.read_text() == "# kept\n"
    assert not stale.exists()
    assert other.read_text() == "# old\n"  # not one of the copies reload manages
    removed = [(e.change, e.target) for e in Journal(installed.journal).entries() if e.change == "remove"]
    assert removed == [("remove", str(stale))]


def test_units_that_had_restarted_before_are_not_taken_for_a_crash_loop(installed, fake_commands, hub_answering):
    hub = hub_answering(lambda n: 200)
    config = _config(hub.port)
    for unit in (PROXY, HUB):
        (fake_commands.state / f"nrestarts.{unit}").write_text("3\n")  # systemd's count since boot
    apply(proxy_files(config, installed), config, installed, [PROXY, HUB], timeout=10)


def test_a_unit_that_stops_after_its_restart_ends_the_wait_at_once(installed, fake_commands, hub_answering):
    hub = hub_answering(lambda n: 502)
    config = _config(hub.port)
    fake_commands.set(f"crashes.{HUB}")
    started = time.monotonic()
    with pytest.raises(HubNotReady, match=f"{HUB} stopped or restarted by itself"):
        apply(proxy_files(config, installed), config, installed, [HUB], timeout=60)
    assert time.monotonic() - started < 30  # not the whole timeout


def test_the_last_good_configuration_is_private_and_reads_back(installed):
    installed.config_file.write_text("users:\n  admin:\n    - alice\n")
    remember_current(installed)
    good_dir = installed.last_good_dir
    assert good_dir.stat().st_mode & 0o777 == 0o700
    assert {p.name: p.stat().st_mode & 0o777 for p in good_dir.iterdir()} == {"config.yaml": 0o600, "proxy.json": 0o600}
    good = load_good(installed, {})
    assert good.config_bytes == installed.config_file.read_bytes()
    assert good.files == proxy_files({"users": {"admin": ["alice"]}}, installed)


def test_saving_creates_the_state_directories_it_needs(paths):
    save_good(paths, Snapshot(b"a: 1\n", {}))
    assert (paths.last_good_dir / "config.yaml").read_bytes() == b"a: 1\n"
