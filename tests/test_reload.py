"""tljh.cli.reload: what a reload restarts, the last good configuration, and the rollback (services mocked)."""

import logging
import os
import signal
import time

import pytest

from tljh.cli import reload as reload_module
from tljh.config import ConfigError
from tljh.health import HubNotReady
from tljh.journal import Journal
from tljh.cli.reload import (HUB, PROXY, ReloadFailed, ReloadInterrupted, Snapshot, api_password, describe, load_good,
                             preflight, reload, save_good, units_to_restart)
from tljh.traefik import proxy_files, write_proxy_files


@pytest.fixture
def installed(paths):
    for d in (paths.config_dir, paths.traefik_rules_dir):
        d.mkdir(parents=True)
    paths.traefik_api_secret.write_text("secret")
    paths.config_file.write_text("users:\n  admin:\n    - alice\n")
    write_proxy_files(proxy_files({}, paths))
    save_good(paths, Snapshot(paths.config_file.read_bytes(), proxy_files({}, paths)))
    return paths


def test_reload_hub_restarts_only_the_hub_when_traefik_config_is_unchanged(installed):
    files = proxy_files({"limits": {"memory": "1G"}}, installed)
    assert units_to_restart("hub", {"limits": {"memory": "1G"}}, {}, files, installed) == [HUB]


def test_reload_proxy_restarts_only_traefik_when_the_hub_reads_no_change(installed):
    files = proxy_files({}, installed)
    assert units_to_restart("proxy", {}, {}, files, installed) == [PROXY]


def test_a_changed_port_restarts_both_proxy_first(installed):
    new = {"http": {"port": 8080}}
    files = proxy_files(new, installed)
    assert units_to_restart("hub", new, {}, files, installed) == [PROXY, HUB]
    assert units_to_restart("proxy", new, {}, files, installed) == [PROXY, HUB]


def test_snapshot_round_trip(installed):
    good = load_good(installed, {})
    assert good.config_bytes == b"users:\n  admin:\n    - alice\n"
    assert good.files[installed.traefik_toml] == installed.traefik_toml.read_text()
    assert good.config() == {"users": {"admin": ["alice"]}}


def test_without_a_snapshot_the_fallback_keeps_users_only(paths):
    good = load_good(paths, {"users": {"admin": ["alice"]}, "limits": {"memory": "1G"}})
    assert good.config() == {"users": {"admin": ["alice"]}}
    assert load_good(paths, {"http": {"port": 81}}).config() == {}


def test_invalid_config_is_refused_before_anything_is_touched(installed, monkeypatch):
    monkeypatch.setattr(reload_module, "apply", lambda *a: pytest.fail("applied an invalid config"))
    installed.config_file.write_text("limits:\n  memory: lots\n")
    with pytest.raises(ConfigError, match="limits.memory: 'lots' is not allowed"):
        reload("hub", installed, installed.config_file)


def test_missing_certificate_is_refused_before_anything_is_touched(installed, monkeypatch):
    monkeypatch.setattr(reload_module, "apply", lambda *a: pytest.fail("applied"))
    installed.config_file.write_text("https:\n  enabled: true\n  tls:\n    cert: /nonexistent/c.pem\n    key: /nonexistent/k.pem\n")
    with pytest.raises(ConfigError, match="https.tls.cert: /nonexistent/c.pem does not exist"):
        reload("proxy", installed, installed.config_file)


def test_success_remembers_the_new_config(installed, monkeypatch):
    calls = []
    monkeypatch.setattr(reload_module, "apply", lambda files, config, paths, units, timeout: calls.append(units) or 2.5)
    installed.config_file.write_text("users:\n  admin:\n    - alice\nlimits:\n  cpu: 2\n")
    outcome = reload("hub", installed, installed.config_file)
    assert (outcome.restarted, outcome.seconds) == ([HUB], 2.5)
    assert calls == [[HUB]]
    assert load_good(installed, {}).config() == {"users": {"admin": ["alice"]}, "limits": {"cpu": 2}}


def test_failure_restores_the_last_good_config_and_says_what_failed(installed, monkeypatch):
    calls = []

    def apply(files, config, paths, units, timeout):
        calls.append((units, dict(config)))
        if len(calls) == 1:
            raise HubNotReady("jupyterhub.service stopped or restarted by itself while starting.\nNo module named x", HUB)
        return 3.0

    monkeypatch.setattr(reload_module, "apply", apply)
    good_bytes = installed.config_file.read_bytes()
    installed.config_file.write_text("auth:\n  type: x.Authenticator\n")
    installed.config_file.chmod(0o640)
    with pytest.raises(ReloadFailed) as failed:
        reload("hub", installed, installed.config_file)
    message = str(failed.value)
    assert "did not come up healthy" in message and "No module named x" in message
    assert "is back to the last good one, and the hub is serving with it again (3.0s)" in message
    assert installed.config_file.read_bytes() == good_bytes
    assert installed.config_file.stat().st_mode & 0o777 == 0o640
    assert installed.failed_config.read_text() == "auth:\n  type: x.Authenticator\n"
    assert calls[1][0] == [PROXY, HUB]  # the rollback restarts both
    assert load_good(installed, {}).config_bytes == good_bytes


def test_failed_rollback_says_so(installed, monkeypatch):
    def apply(files, config, paths, units, timeout):
        raise HubNotReady("nothing answers")

    monkeypatch.setattr(reload_module, "apply", apply)
    installed.config_file.write_text("limits:\n  cpu: 1\n")
    with pytest.raises(ReloadFailed, match="did not come back with it either"):
        reload("hub", installed, installed.config_file)


def test_a_failing_systemctl_is_rolled_back_too(installed, monkeypatch):
    from tljh.run import CommandError

    calls = []

    def apply(files, config, paths, units, timeout):
        calls.append(units)
        if len(calls) == 1:
            raise CommandError(["systemctl", "restart", HUB], 1, "Unit jupyterhub.service not found.")
        return 1.0

    monkeypatch.setattr(reload_module, "apply", apply)
    good_bytes = installed.config_file.read_bytes()
    installed.config_file.write_text("limits:\n  cpu: 1\n")
    with pytest.raises(ReloadFailed, match="(?s)systemctl restart jupyterhub.service.*not found.*serving with it again"):
        reload("hub", installed, installed.config_file)
    assert installed.config_file.read_bytes() == good_bytes


# ------------------------------------------------------------------ every other way out is rolled back too


def _fails_first(error: BaseException, calls: list):
    def apply(files, config, paths, units, timeout):
        calls.append(units)
        if len(calls) == 1:
            raise error
        return 1.5

    return apply


@pytest.mark.parametrize("error", [ValueError("TomlDecodeError: Key name found without value"), OSError(28, "No space left on device")])
def test_any_exception_is_rolled_back(installed, monkeypatch, error):
    calls = []
    monkeypatch.setattr(reload_module, "apply", _fails_first(error, calls))
    good_bytes = installed.config_file.read_bytes()
    installed.config_file.write_text("limits:\n  cpu: 1\n")
    with pytest.raises(ReloadFailed, match=f"(?s)unexpected error: {type(error).__name__}.*serving with it again") as failed:
        reload("hub", installed, installed.config_file)
    assert not isinstance(failed.value, ReloadInterrupted)
    assert installed.config_file.read_bytes() == good_bytes
    assert calls == [[HUB], [PROXY, HUB]]


def test_ctrl_c_is_rolled_back_and_reported_as_an_interruption(installed, monkeypatch):
    calls = []
    monkeypatch.setattr(reload_module, "apply", _fails_first(KeyboardInterrupt(), calls))
    good_bytes = installed.config_file.read_bytes()
    installed.config_file.write_text("limits:\n  cpu: 1\n")
    with pytest.raises(ReloadInterrupted, match="(?s)interrupted by SIGINT.*serving with it again"):
        reload("hub", installed, installed.config_file)
    assert installed.config_file.read_bytes() == good_bytes
    assert calls[1] == [PROXY, HUB]


def test_sighup_during_the_wait_is_rolled_back_and_ignored_during_the_rollback(installed, monkeypatch):
    """The SSH session closing (SIGHUP) stops the reload; a second one does not stop the rollback."""
    calls = []

    def apply(files, config, paths, units, timeout):
        calls.append(units)
        os.kill(os.getpid(), signal.SIGHUP)  # delivered at once to this (main) thread
        time.sleep(0.1)
        return 2.0

    monkeypatch.setattr(reload_module, "apply", apply)
    before = signal.getsignal(signal.SIGHUP)
    good_bytes = installed.config_file.read_bytes()
    installed.config_file.write_text("limits:\n  cpu: 1\n")
    with pytest.raises(ReloadInterrupted, match="(?s)interrupted by SIGHUP.*serving with it again"):
        reload("hub", installed, installed.config_file)
    assert calls == [[HUB], [PROXY, HUB]]
    assert installed.config_file.read_bytes() == good_bytes
    assert signal.getsignal(signal.SIGHUP) == before


def test_a_failure_while_putting_config_back_says_so(installed, monkeypatch):
    monkeypatch.setattr(reload_module, "apply", _fails_first(HubNotReady("nothing answers"), []))

    def broken(path, content):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(reload_module.config_file, "replace", broken)
    installed.config_file.write_text("limits:\n  cpu: 1\n")
    with pytest.raises(ReloadFailed, match="(?s)nothing answers.*back failed as well: unexpected error: OSError"):
        reload("hub", installed, installed.config_file)


def test_an_unreadable_hub_rules_file_is_set_aside_and_the_hub_restarted(installed, monkeypatch):
    calls = []
    monkeypatch.setattr(reload_module, "apply", lambda files, config, paths, units, timeout: calls.append(units) or 1.0)
    rules = installed.traefik_rules_dir / "rules.toml"
    rules.write_text('[http.routers.x]\nrule = "PathPrefix(`/`)"\ngarbage here\n')
    outcome = reload("proxy", installed, installed.config_file)
    assert outcome.restarted == [PROXY, HUB]
    assert not rules.exists()
    assert (installed.traefik_rules_dir / "rules.toml.unreadable").read_text().endswith("garbage here\n")


# ------------------------------------------------------------------ the installer's fingerprints stay current


@pytest.fixture
def fake_systemd(monkeypatch):
    """systemctl as a recorder: every unit enabled and active; restarts are listed."""
    from tljh.actions import systemd

    restarted = []

    def systemctl(*args, check=True):
        if args[0] == "restart":
            restarted.append(args[1])
        return {"is-enabled": "enabled", "is-active": "active"}.get(args[0], "")

    monkeypatch.setattr(systemd, "systemctl", systemctl)
    monkeypatch.setattr(reload_module, "unit_state", lambda unit: {"NRestarts": "0"})
    monkeypatch.setattr(reload_module, "wait_for_hub", lambda *a, **k: 0.1)
    monkeypatch.setattr(reload_module.time, "sleep", lambda s: None)
    return restarted


def _as_installed(paths):
    """Both services as the installer leaves them: unit files written, inputs remembered."""
    from tljh.journal import NullJournal
    from tljh.services import services

    for service in services(paths):
        service.unit.apply(NullJournal())
        service.remember()


@pytest.mark.parametrize(("edit", "component", "expected"), [
    ("limits:\n  cpu: 1\n", "hub", [HUB]),
    ("http:\n  port: 8080\n", "hub", [PROXY, HUB]),
    ("", "proxy", [PROXY]),
])
def test_after_a_reload_the_installer_would_restart_nothing(installed, fake_systemd, edit, component, expected):
    from tljh.services import services

    _as_installed(installed)
    installed.config_file.write_text("users:\n  admin:\n    - alice\n" + edit)
    assert reload(component, installed, installed.config_file).restarted == expected
    assert fake_systemd == expected
    for service in services(installed):
        assert [c.what for c in service.plan()] == [], service.name
    kinds = [(e.kind, e.change) for e in Journal(installed.journal).entries()]
    assert [k for k in kinds if k[0] == "service"] == [("service", "restart")] * len(expected)


def test_a_proxy_only_edit_is_not_a_change_of_the_hubs_inputs(installed):
    from tljh.services import hub_settings

    before = hub_settings(installed)
    installed.config_file.write_text("users:\n  admin:\n    - alice\nhttps:\n  letsencrypt:\n    email: a@b.c\n")
    assert hub_settings(installed) == before
    installed.config_file.write_text("users:\n  admin:\n    - bob\n")
    assert hub_settings(installed) != before


def test_a_reload_says_who_lost_admin(installed, monkeypatch):
    """alice is in the last good users.admin, bob is an admin in the hub's database (given from the
    admin page): a users.admin without them names both; carol, still an admin, is not named."""
    import sqlite3

    with sqlite3.connect(installed.hub_db) as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, admin BOOLEAN)")
        db.executemany("INSERT INTO users (name, admin) VALUES (?, ?)", [("bob", 1), ("carol", 1), ("dan", 0)])
    monkeypatch.setattr(reload_module, "apply", lambda *a: 1.0)
    installed.config_file.write_text("users:\n  admin:\n    - carol\n")
    assert reload("hub", installed, installed.config_file).lost_admin == ["alice", "bob"]
    installed.config_file.write_text("users:\n  admin:\n    - carol\n    - alice\n    - bob\n")
    assert reload("hub", installed, installed.config_file).lost_admin == []


def test_the_reload_message_names_who_lost_admin(installed, monkeypatch, capsys):
    from tljh.cli.tljh_config import reload as reload_command

    monkeypatch.setattr(reload_module, "apply", lambda *a: 1.0)
    installed.config_file.write_text("users:\n  admin: []\n")
    message = reload_command("hub", installed, installed.config_file, 5.0)
    assert "no longer admin: alice (hub admin revoked, removed from jupyterhub-admins" in message


# ------------------------------------------------------------------ refusals, and what the change and the rollback are given


def test_certificate_files_are_checked_only_when_https_is_on_and_both_must_exist(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    preflight({"https": {"tls": {"cert": str(cert), "key": str(key)}}})  # off: not checked
    cert.write_text("cert")
    with pytest.raises(ConfigError, match=f"https.tls.key: {key} does not exist or is not a file"):
        preflight({"https": {"enabled": True, "tls": {"cert": str(cert), "key": str(key)}}})
    key.write_text("key")
    preflight({"https": {"enabled": True, "tls": {"cert": str(cert), "key": str(key)}}})
    preflight({"https": {"enabled": True, "letsencrypt": {"email": "a@b.c"}}})  # no files named


def test_the_proxy_api_password_is_its_secret_file_stripped_or_empty(paths):
    assert api_password(paths) == ""
    paths.traefik_api_secret.parent.mkdir(parents=True)
    paths.traefik_api_secret.write_text("  s3cret\n")
    assert api_password(paths) == "s3cret"


class Recorder:
    """apply's stand-in: records each call; the calls listed in `failing` raise."""

    def __init__(self, failing: dict[int, BaseException] | None = None, during=None) -> None:
        self.calls: list[dict] = []
        self.failing = failing or {}
        self.during = during

    def __call__(self, files, config, paths, units, timeout):
        self.calls.append({"files": files, "paths": paths, "units": units, "timeout": timeout})
        if self.during:
            self.during(len(self.calls))
        if len(self.calls) in self.failing:
            raise self.failing[len(self.calls)]
        return 1.0


def test_success_keeps_the_new_proxy_files_as_the_last_good_ones(installed, monkeypatch):
    monkeypatch.setattr(reload_module, "apply", Recorder())
    installed.config_file.write_text("users:\n  admin:\n    - alice\nhttp:\n  port: 8080\n")
    reload("proxy", installed, installed.config_file, timeout=7)
    assert load_good(installed, {}).files == proxy_files({"http": {"port": 8080}}, installed)


def test_a_proxy_only_reload_names_nobody_as_losing_admin(installed, monkeypatch):
    import sqlite3

    with sqlite3.connect(installed.hub_db) as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, admin BOOLEAN)")
        db.execute("INSERT INTO users (name, admin) VALUES ('bob', 1)")
    monkeypatch.setattr(reload_module, "apply", Recorder())
    outcome = reload("proxy", installed, installed.config_file)
    assert outcome.restarted == [PROXY] and outcome.lost_admin == []


def test_the_timeout_and_the_last_good_files_reach_the_change_and_the_rollback(installed, monkeypatch):
    recorder = Recorder({1: HubNotReady("first"), 2: HubNotReady("second")})
    monkeypatch.setattr(reload_module, "apply", recorder)
    installed.config_file.write_text("users:\n  admin:\n    - alice\nlimits:\n  cpu: 1\n")
    with pytest.raises(ReloadFailed) as failed:
        reload("hub", installed, installed.config_file, timeout=7)
    assert [c["timeout"] for c in recorder.calls] == [7, 7]
    assert [c["paths"] for c in recorder.calls] == [installed, installed]
    assert recorder.calls[1]["files"] == proxy_files({}, installed)
    assert str(failed.value).endswith("but the hub did not come back with it either:\nsecond")


def test_the_rollback_sets_aside_a_hub_rules_file_the_failed_attempt_broke(installed, monkeypatch):
    rules = installed.traefik_rules_dir / "rules.toml"
    monkeypatch.setattr(reload_module, "apply", Recorder(
        {1: HubNotReady("first")}, during=lambda n: n == 1 and rules.write_text("garbage [[\n")))
    installed.config_file.write_text("users:\n  admin:\n    - alice\nlimits:\n  cpu: 1\n")
    with pytest.raises(ReloadFailed, match="serving with it again"):
        reload("hub", installed, installed.config_file)
    assert not rules.exists()
    assert (installed.traefik_rules_dir / "rules.toml.unreadable").read_text() == "garbage [[\n"


def test_a_signal_after_the_change_succeeded_is_ignored_and_logged(installed, monkeypatch, caplog):
    save = reload_module.save_good

    def save_interrupted(paths, snapshot):
        os.kill(os.getpid(), signal.SIGHUP)  # the SSH session closes while the result is kept
        save(paths, snapshot)

    monkeypatch.setattr(reload_module, "apply", Recorder())
    monkeypatch.setattr(reload_module, "save_good", save_interrupted)
    installed.config_file.write_text("users:\n  admin:\n    - alice\nlimits:\n  cpu: 1\n")
    with caplog.at_level(logging.WARNING, logger="tljh"):
        assert reload("hub", installed, installed.config_file).restarted == [HUB]
    assert load_good(installed, {}).config() == {"users": {"admin": ["alice"]}, "limits": {"cpu": 1}}
    assert "SIGHUP ignored: the reload is finishing what it started" in caplog.messages


def test_describe_says_ctrl_c_and_logs_an_unexpected_errors_traceback(caplog):
    assert describe(KeyboardInterrupt()) == "interrupted by SIGINT (Ctrl-C)"
    failure = ValueError("odd")
    with caplog.at_level(logging.DEBUG, logger="tljh"):
        assert describe(failure) == "unexpected error: ValueError: odd"
    [record] = [r for r in caplog.records if r.message == "unexpected error during reload"]
    assert record.exc_info is not None and record.exc_info[1] is failure


def test_a_reload_without_a_config_file_keeps_an_empty_one_as_the_last_good(paths, monkeypatch):
    monkeypatch.setattr(reload_module, "apply", Recorder())
    reload("hub", paths, paths.config_file)
    assert (paths.last_good_dir / "config.yaml").read_bytes() == b""


def test_a_first_reload_without_a_snapshot_keeps_the_admins_of_the_current_config(paths, monkeypatch):
    monkeypatch.setattr(reload_module, "apply", Recorder())
    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_text("users:\n  admin:\n    - alice\nlimits:\n  cpu: 1\n")
    assert reload("hub", paths, paths.config_file).lost_admin == []
