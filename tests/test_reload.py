"""tljh.cli.reload: what a reload restarts, the last good configuration, and the rollback (services mocked)."""

import pytest

from tljh.cli import reload as reload_module
from tljh.config import ConfigError
from tljh.health import HubNotReady
from tljh.cli.reload import HUB, PROXY, ReloadFailed, Snapshot, load_good, reload, save_good, units_to_restart
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
