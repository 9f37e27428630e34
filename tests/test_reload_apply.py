"""tljh.cli.reload.apply itself (not mocked): the files it writes and removes, the units it restarts,
and the two health checks, against fake systemctl (conftest's fake_commands) and a stand-in hub
answering /hub/api on a local port."""

from __future__ import annotations

import http.server
import stat
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest

from tljh.cli import reload as reload_module
from tljh.cli.reload import (HUB, PROXY, Snapshot, apply, load_good, remember_current, restart, save_good,
                             units_to_restart, validated)
from tljh.config import ConfigError
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
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)  # quick to shut down
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
    with pytest.raises(HubNotReady, match="answered 503 after 2s"):
        apply(proxy_files(config, installed), config, installed, [HUB], timeout=1.5)
    assert hub.requests >= 2


def test_a_hub_that_never_answers_200_fails_the_first_check(installed, hub_answering):
    hub = hub_answering(lambda n: 502)
    config = _config(hub.port)
    with pytest.raises(HubNotReady, match="answered 502 after 1s"):
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


@pytest.fixture
def hub_answering_now(hub_answering, monkeypatch):
    """hub_answering, with apply's pause between its two health checks skipped (proven above)."""
    monkeypatch.setattr(reload_module, "time", SimpleNamespace(monotonic=time.monotonic, sleep=lambda s: None))
    return hub_answering


def _config_with(port: int, **more) -> dict:
    return {**_config(port), **more}


# ------------------------------------------------------------------ apply, for real against fake systemctl


def test_an_extra_rule_copy_still_configured_is_neither_removed_nor_rewritten(installed, hub_answering_now):
    hub = hub_answering_now(lambda n: 200)
    installed.traefik_dynamic_config_d.mkdir(parents=True)
    (installed.traefik_dynamic_config_d / "mine.toml").write_text("# mine\n")
    copy = installed.traefik_rules_dir / f"{EXTRA_PREFIX}mine.toml"
    copy.write_text("# mine\n")
    copy.chmod(0o600)
    stale = installed.traefik_rules_dir / f"{EXTRA_PREFIX}old.toml"
    stale.write_text("# old\n")
    before = copy.stat().st_ino
    config = _config(hub.port)
    files = proxy_files(config, installed)
    del files[stale]  # a snapshot from before the stale copy appeared
    apply(files, config, installed, [PROXY], timeout=10)
    assert copy.stat().st_ino == before and copy.read_text() == "# mine\n"
    assert not stale.exists()
    removed = [(e.kind, e.change, e.target) for e in Journal(installed.journal).entries() if e.change == "remove"]
    assert removed == [("file", "remove", str(stale))]


def test_apply_makes_lets_encrypts_storage_private_and_moves_the_hubs_routes(installed, hub_answering_now):
    hub = hub_answering_now(lambda n: 200)
    installed.acme_json.parent.mkdir(parents=True, exist_ok=True)
    rules = installed.traefik_rules_dir / "rules.toml"
    rules.write_text('[http.routers.route_hub]\nentryPoints = ["https"]\nrule = "PathPrefix(`/`)"\nservice = "s"\n'
                     '[http.routers.route_api]\nentryPoints = ["http"]\nrule = "PathPrefix(`/api`)"\nservice = "api"\n')
    config = _config_with(hub.port, https={"letsencrypt": {"domains": ["hub.example.org"]}})
    apply(proxy_files(config, installed), config, installed, [PROXY], timeout=10)
    assert stat.S_IMODE(installed.acme_json.stat().st_mode) == 0o600
    routers = tomllib.loads(rules.read_text())["http"]["routers"]
    assert routers["route_hub"]["entryPoints"] == ["http"]
    assert "route_api" in routers  # the hub does not restart: its API router kept
    apply(proxy_files(config, installed), config, installed, [HUB], timeout=10)
    assert "route_api" not in rules.read_text()  # the restarted hub writes it anew


def test_with_https_on_the_hubs_routes_move_to_the_https_entrypoint(installed, fake_commands, monkeypatch):
    waited = []
    monkeypatch.setattr(reload_module, "wait_for_hub", lambda config, **kw: waited.append(kw["timeout"]) or 0.1)
    monkeypatch.setattr(reload_module, "time", SimpleNamespace(monotonic=time.monotonic, sleep=lambda s: None))
    rules = installed.traefik_rules_dir / "rules.toml"
    rules.write_text('[http.routers.route_hub]\nentryPoints = ["http"]\nrule = "PathPrefix(`/`)"\nservice = "s"\n')
    config = {"https": {"enabled": True, "letsencrypt": {"email": "a@b.c", "domains": ["hub.example.org"]}}}
    apply(proxy_files(config, installed), config, installed, [PROXY], timeout=9)
    assert tomllib.loads(rules.read_text())["http"]["routers"]["route_hub"]["entryPoints"] == ["https"]
    assert waited == [9, 9]


def test_a_hub_dying_right_after_its_first_answer_fails_the_second_check(installed, fake_commands, hub_answering_now):
    def answer(n: int) -> int:
        fake_commands.set(f"active.{HUB}", False)  # it answered, then the unit stopped
        return 200

    hub = hub_answering_now(answer)
    config = _config(hub.port)
    with pytest.raises(HubNotReady, match=f"{HUB} stopped or restarted by itself"):
        apply(proxy_files(config, installed), config, installed, [HUB], timeout=5)
    assert hub.requests == 1


def test_apply_returns_the_seconds_from_the_restart_to_the_hub_answering(installed, hub_answering_now):
    hub = hub_answering_now(lambda n: 200)
    config = _config(hub.port)
    assert 0 <= apply(proxy_files(config, installed), config, installed, [PROXY], timeout=10) < 30


# ------------------------------------------------------------------ the last good configuration, what is restarted


def test_an_invalid_config_names_every_problem_on_a_line_of_its_own(installed):
    installed.config_file.write_text("limits:\n  memory: lots\n  cpu: many\n")
    with pytest.raises(ConfigError) as refused:
        validated(installed.config_file)
    first, *problems = str(refused.value).split("\n")
    assert first == f"{installed.config_file} is not valid, nothing was reloaded:"
    assert len(problems) == 2 and all(p.startswith("  limits.") for p in problems), problems


def test_without_a_snapshot_or_users_the_fallback_is_an_empty_config_with_default_proxy_files(installed):
    good = load_good(installed, {"http": {"port": 81}})
    assert good.config_bytes == b""
    assert good.files == proxy_files({}, installed)
    with_users = load_good(installed, {"users": {"admin": ["alice"]}})
    assert with_users.files == proxy_files({"users": {"admin": ["alice"]}}, installed)


def test_remember_current_keeps_the_proxy_files_of_the_config_on_disk(installed):
    installed.config_file.write_text("http:\n  port: 8080\n")
    remember_current(installed)
    assert load_good(installed, {}).files == proxy_files({"http": {"port": 8080}}, installed)


def test_remember_current_without_a_config_file_keeps_an_empty_one(installed):
    remember_current(installed)
    assert (installed.last_good_dir / "config.yaml").read_bytes() == b""


def test_without_a_traefik_toml_on_disk_the_proxy_is_restarted(installed):
    assert not installed.traefik_toml.exists()
    assert units_to_restart("hub", {}, {}, proxy_files({}, installed), installed) == [PROXY, HUB]


def test_restart_counts_a_unit_whose_restarts_systemd_does_not_report_as_zero(installed, fake_commands):
    (fake_commands.state / f"nrestarts.{HUB}").write_text("")  # NRestarts= with no value
    assert restart([HUB], installed, Journal(installed.journal)) == {HUB: 0}
    (fake_commands.state / f"nrestarts.{HUB}").write_text("4\n")
    assert restart([HUB], installed, Journal(installed.journal)) == {HUB: 4}
