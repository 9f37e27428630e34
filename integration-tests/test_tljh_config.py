"""tljh-config on the installed hub: every key family taking effect, reloads, rollbacks, bad input.

Every test that changes config.yaml restores it and reloads (fixture `changed`, try/finally),
so the files after this one see the default hub. Named test_tljh_* so it runs after
test_hub/test_install and before test_zz_rerun.
"""

from __future__ import annotations

import hashlib
import re
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest
import requests
import urllib3

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

from hubclient import HubClient, http_get  # noqa: E402
from machine import Machine  # noqa: E402

if TYPE_CHECKING:
    from conftest import Installation

CONFIG = "/opt/tljh/config/config.yaml"
LOCK = "/opt/tljh/config/.config.yaml.lock"
FAILED = "/opt/tljh/state/config.failed.yaml"
HUB = "/opt/tljh/hub"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
CERT_DIR = "/etc/ssl/tljh-test"
SHARED = "shared-secret-9"  # DummyAuthenticator's password in the `customised` hub


# ---------------------------------------------------------------- helpers


def tljh_config(machine: Machine, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return machine.run(["tljh-config", *args], check=False, timeout=timeout)


def ok(machine: Machine, *args: str) -> str:
    """Run tljh-config; its stdout, after asserting it exited 0."""
    result = tljh_config(machine, *args)
    assert result.returncode == 0, f"tljh-config {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
    return result.stdout


def config_bytes(machine: Machine) -> bytes:
    return machine.host_path(CONFIG).read_bytes()


def digest(machine: Machine) -> str:
    return hashlib.sha256(config_bytes(machine)).hexdigest()


def direct_get(url: str) -> requests.Response:
    """GET url without following redirects, checking certificates or using proxy variables."""
    with requests.Session() as session:
        session.trust_env = False
        return session.get(url, timeout=10, verify=False, allow_redirects=False)


def hub_answers(url: str = "http://127.0.0.1/hub/api") -> int | None:
    """The status url answers with, None when nothing listens."""
    try:
        return direct_get(url).status_code
    except requests.RequestException:
        return None


def main_pid(machine: Machine, unit: str) -> str:
    return machine.run(["systemctl", "show", "-p", "MainPID", "--value", unit]).stdout.strip()


@contextmanager
def changed(machine: Machine, *edits: tuple[str, ...], reload: str = "hub") -> Iterator[str]:
    """config.yaml with edits applied and reloaded; afterwards the original file, reloaded."""
    original = config_bytes(machine)
    try:
        for edit in edits:
            ok(machine, *edit)
        yield ok(machine, "reload", reload)
    finally:
        machine.host_path(CONFIG).write_bytes(original)
        restored = tljh_config(machine, "reload", "proxy")
        assert restored.returncode == 0, f"restoring the original config failed:\n{restored.stderr}"


def admin_client(hub_url: str, admin_name: str, admin_password: str) -> HubClient:
    client = HubClient(hub_url)
    client.login(admin_name, admin_password)
    return client


def api(client: HubClient, method: str, path: str) -> requests.Response:
    return client.request(method, f"/hub/api{path}", headers={"X-XSRFToken": client.xsrf_cookie("/hub/")})


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


# ---------------------------------------------------------------- bad input: a table


BAD_EDITS = [
    (["set", "http.port", "eighty"], "http.port: 'eighty' is not allowed; allowed: an integer 1-65535"),
    (["set", "http.port", "70000"], "http.port: 70000 is not allowed"),
    (["set", "http.port", "80.5"], "http.port: 80.5 is not allowed"),
    (["set", "http.prot", "80"], "http.prot: unknown key; known keys in http: address, port"),
    (["set", "limits.memory", "lots"], "limits.memory: 'lots' is not allowed; allowed: a size with a unit"),
    (["set", "limits.cpu", "-1"], "limits.cpu: -1 is not allowed; allowed: a number of CPUs from 0.01"),
    (["set", "limits.cpu", "0"], "limits.cpu: 0 is not allowed"),
    (["set", "limits.swap", "1G"], "limits.swap: unknown key; known keys in limits: memory, cpu"),
    (["set", "users.admin", "alice"], "users.admin: 'alice' is not allowed; allowed: a list of user names"),
    (["set", "users.admin.x", "1"], "users.admin is not a section"),
    (["set", "users.nonsense", "1"], "users.nonsense: unknown key"),
    (["set", "services.cull.timeout", "0"], "services.cull.timeout: 0 is not allowed; allowed: an integer 1-"),
    (["set", "services.cull.enabled", "maybe"], "services.cull.enabled: 'maybe' is not allowed; allowed: true or false"),
    (["set", "user_environment.default_app", "lab"], "user_environment.default_app: 'lab' is not allowed"),
    (["add-item", "https.letsencrypt.domains", "not a domain"], "https.letsencrypt.domains: the item 'not a domain'"),
    (["set", "auth.type", "not a class"], "auth.type: 'not a class' is not allowed; allowed: one of firstuse"),
    (["set", "auth.github.client_id", "x"], "auth.github: unknown key"),
    (["set", "base_url", "jhub"], "base_url: 'jhub' is not allowed; allowed: a URL path starting with /"),
    (["set", "traefik_api.ip", "localhost"], "traefik_api.ip: 'localhost' is not allowed; allowed: a loopback address"),
    (["set", "traefik_api.port", "80"], "traefik_api.port: port 80 is already used by http.port"),
    (["set", "users..admin", "x"], "'users..admin' is not a valid KEY"),
    (["set", "limit.memory", "1G"], "limit: unknown key; did you mean limits?"),
    (["add-item", "users.extra_user_groups.sudo", "eve"], "members of sudo are root"),
    (["add-item", "users.admin", "../root"], "users.admin: the item '../root' is not allowed"),
    (["set", "limits.memory", "1G\n"], "U+000A (a trailing newline?)"),
    (["unset", "limits.memory"], "limits.memory is not set"),
    (["remove-item", "users.admin", "nobody"], "'nobody' is not in users.admin"),
    (["add-item", "http.port", "81"], "http.port: the list [81] is not allowed; allowed: an integer"),
    (["add-item", "limits.cpu", "1"], "limits.cpu: the list [1] is not allowed"),
    (["add-item", "users.extra_user_groups.jupyterhub-admins", "eve"], "jupyterhub-admins is managed by TLJH"),
    (["--config-path", "/nonexistent/config.yaml", "set", "http.port", "81"], "/nonexistent does not exist"),
]


# Edits made before some cases (and undone after): https on with a certificate.
HTTPS_ON = [["set", "https.tls.cert", "/etc/c.pem"], ["set", "https.tls.key", "/etc/k.pem"],
            ["set", "https.enabled", "true"]]
NEEDS_HTTPS_ON = {"https.letsencrypt.email"}


@pytest.mark.parametrize("args, message", BAD_EDITS, ids=[" ".join(a) for a, _ in BAD_EDITS])
def test_bad_edit_is_refused_and_file_unchanged(machine: Machine, installed: Installation, args: list[str],
                                                message: str) -> None:
    original = config_bytes(machine)
    try:
        for edit in HTTPS_ON if NEEDS_HTTPS_ON & set(args) else []:
            ok(machine, *edit)
        before = digest(machine)
        result = tljh_config(machine, *args)
        assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        assert digest(machine) == before, "config.yaml changed"
    finally:
        machine.host_path(CONFIG).write_bytes(original)


@pytest.mark.parametrize("args", [["frobnicate"], ["reload", "everything"], ["set", "http.port"]])
def test_bad_command_line_is_a_usage_error(machine: Machine, installed: Installation, args: list[str]) -> None:
    before = digest(machine)
    result = tljh_config(machine, *args)
    assert result.returncode == 2, result
    assert "usage: tljh-config" in result.stderr and "error:" in result.stderr
    assert digest(machine) == before


def test_not_root_is_one_line(machine: Machine, installed: Installation) -> None:
    before = digest(machine)
    result = machine.run([*NOBODY, "tljh-config", "set", "http.port", "81"], check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "tljh-config must be run as root: sudo tljh-config ...", result.stderr
    assert digest(machine) == before


def test_missing_file_is_reported(machine: Machine, installed: Installation) -> None:
    result = tljh_config(machine, "--config-path", "/root/absent.yaml", "show")
    assert result.returncode == 1 and "/root/absent.yaml does not exist" in result.stderr, result.stderr
    result = tljh_config(machine, "unset", "--config-path", "/root/absent.yaml", "http.port")
    assert result.returncode == 1 and "does not exist, so http.port is not set" in result.stderr, result.stderr
    assert not machine.succeeds(["test", "-e", "/root/absent.yaml"])


def test_hand_edited_bad_yaml_is_refused(machine: Machine, installed: Installation) -> None:
    original = config_bytes(machine)
    broken = original + b"limits: [unclosed\n"
    machine.host_path(CONFIG).write_bytes(broken)
    try:
        for args in (["set", "http.port", "81"], ["show"], ["reload"]):
            result = tljh_config(machine, *args)
            assert result.returncode == 1, (args, result)
            assert re.search(r"is not valid YAML \(line \d+, column \d+", result.stderr), result.stderr
            assert "Traceback" not in result.stderr
            assert config_bytes(machine) == broken
        assert hub_answers() == 200
    finally:
        machine.host_path(CONFIG).write_bytes(original)


def test_hand_edited_invalid_value_stops_reload(machine: Machine, installed: Installation) -> None:
    """A valid YAML file with a bad value: reload refuses before restarting anything."""
    original = config_bytes(machine)
    hub_pid = main_pid(machine, "jupyterhub")
    machine.host_path(CONFIG).write_bytes(original + b"limits:\n  memory: 12 apples\n")
    try:
        result = tljh_config(machine, "reload")
        assert result.returncode == 1
        assert "limits.memory: '12 apples' is not allowed" in result.stderr and "nothing was reloaded" in result.stderr
        assert main_pid(machine, "jupyterhub") == hub_pid, "the hub was restarted"
    finally:
        machine.host_path(CONFIG).write_bytes(original)


def test_lock_held_gives_a_clear_message(machine: Machine, installed: Installation) -> None:
    before = digest(machine)
    machine.run(["systemd-run", "--unit=tljh-test-lock", "--collect", "flock", LOCK, "sleep", "120"])
    try:
        assert wait_until(lambda: not machine.succeeds(["flock", "-n", LOCK, "true"]), 10), "lock not taken"
        start = time.monotonic()
        result = tljh_config(machine, "set", "http.port", "81")
        waited = time.monotonic() - start
        assert result.returncode == 1
        assert "locked by another run" in result.stderr and "waited 5s" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert 4 < waited < 30, waited
        assert digest(machine) == before
    finally:
        machine.run(["systemctl", "stop", "tljh-test-lock"], check=False)


# ---------------------------------------------------------------- editing keeps the file


def test_edits_keep_comments_order_mode_and_parse_values(machine: Machine, installed: Installation) -> None:
    original = config_bytes(machine)
    machine.host_path(CONFIG).write_bytes(b"# my notes\n" + original)
    try:
        ok(machine, "set", "limits.cpu", "1.5")
        ok(machine, "add-item", "users.allowed", "007")
        ok(machine, "set", "services.cull.users", "true")
        text = config_bytes(machine).decode()
        assert text.startswith("# my notes\n")
        assert "cpu: 1.5" in text and "- '007'" in text and "users: true" in text, text
        assert machine.stat(CONFIG) == ("root", "root", 0o600)
        assert text.index("users:") < text.index("limits:")  # users came first, and stays first
    finally:
        machine.host_path(CONFIG).write_bytes(original)


# ---------------------------------------------------------------- reload


def test_reload_hub_is_timed_and_keeps_user_servers(machine: Machine, admin_server: HubClient,
                                                    admin_unit: str) -> None:
    server_pid, hub_pid = main_pid(machine, admin_unit), main_pid(machine, "jupyterhub")
    out = ok(machine, "reload")
    assert re.search(r"hub reloaded \(restarted jupyterhub\); the hub answered after \d+\.\ds", out), out
    assert main_pid(machine, "jupyterhub") != hub_pid, "the hub was not restarted"
    assert main_pid(machine, admin_unit) == server_pid, "the user's server was restarted"
    xsrf = admin_server.open_server()  # the server still answers through the proxy, after OAuth with the new hub
    status = admin_server.get(f"/user/{admin_server.username}/api/status", headers={"X-XSRFToken": xsrf})
    assert status.status_code == 200, status.text[:300]


def test_broken_authenticator_is_rolled_back(machine: Machine, installed: Installation) -> None:
    """A valid config that breaks the hub: reload fails, the last good config is back, the hub serves."""
    original = config_bytes(machine)
    try:
        ok(machine, "set", "auth.type", "tljh_no_such_module.Authenticator")
        start = time.monotonic()
        result = tljh_config(machine, "reload")
        seconds = time.monotonic() - start
        print(f"rollback of a broken authenticator took {seconds:.1f}s")
        assert result.returncode == 1, result.stdout
        assert "jupyterhub.service stopped or restarted by itself" in result.stderr, result.stderr
        assert "tljh_no_such_module" in result.stderr, "the journal tail does not show the cause"
        assert "is back to the last good one, and the hub is serving with it again" in result.stderr
        assert config_bytes(machine) == original
        assert b"tljh_no_such_module" in machine.host_path(FAILED).read_bytes()
        assert hub_answers() == 200
        assert seconds < 60, "a crash loop should be noticed without waiting out the timeout"
    finally:
        machine.host_path(CONFIG).write_bytes(original)


def test_taken_port_is_rolled_back(machine: Machine, installed: Installation) -> None:
    original = config_bytes(machine)
    machine.run(["systemd-run", "--unit=tljh-test-port", "--collect", "python3", "-m", "http.server", "8081"])
    try:
        assert wait_until(lambda: machine.succeeds(["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8081/"]), 15)
        ok(machine, "set", "http.port", "8081")
        result = tljh_config(machine, "reload", "proxy")
        assert result.returncode == 1, result.stdout
        assert "traefik.service stopped or restarted by itself" in result.stderr, result.stderr
        assert "address already in use" in result.stderr, result.stderr
        assert config_bytes(machine) == original
        assert hub_answers() == 200
    finally:
        machine.run(["systemctl", "stop", "tljh-test-port"], check=False)
        machine.host_path(CONFIG).write_bytes(original)


# ---------------------------------------------------------------- users, limits, default app, culler


@pytest.fixture(scope="class")
def customised(machine: Machine, installed: Installation, admin_server: HubClient, hub_url: str,
               admin_name: str, admin_password: str) -> Iterator[HubClient]:
    """dummy auth with a shared password, limits, an extra group, allowed and banned users, the classic app
    and a fast culler; carol and mallory exist in the hub."""
    edits = [
        ("set", "auth.type", "dummy"),
        ("set", "auth.DummyAuthenticator.password", SHARED),
        ("set", "limits.memory", "1G"),
        ("set", "limits.cpu", "0.5"),
        ("add-item", "users.extra_user_groups.tljh-testers", "carol"),
        ("add-item", "users.banned", "mallory"),
        ("add-item", "users.allowed", "erin"),
        ("set", "user_environment.default_app", "classic"),
        ("set", "services.cull.timeout", "20"),
        ("set", "services.cull.every", "5"),
    ]
    try:
        with changed(machine, *edits):
            admin = admin_client(hub_url, admin_name, SHARED)  # dummy auth: the shared password
            for name in ("carol", "mallory"):
                assert api(admin, "POST", f"/users/{name}").status_code in (201, 409)
            yield admin
    finally:
        admin_server.start_server()  # the fast culler stops it too; later files expect it running


class TestCustomisedHub:
    """The tests that share the `customised` hub; it is restored after the last of them."""

    def test_auth_type_and_class_traits(self, customised: HubClient, hub_url: str, admin_name: str,
                                        admin_password: str) -> None:
        """auth.type dummy with auth.DummyAuthenticator.password: the shared password works, FirstUse's does not."""
        assert HubClient(hub_url).try_login(admin_name, SHARED).ok
        assert not HubClient(hub_url).try_login(admin_name, admin_password).ok

    def test_allowed_user_may_log_in(self, customised: HubClient, hub_url: str) -> None:
        """erin was never created but users.allowed lists her; frank is neither allowed nor known."""
        assert HubClient(hub_url).try_login("erin", SHARED).ok
        assert not HubClient(hub_url).try_login("frank", SHARED).ok

    def test_banned_user_is_refused(self, customised: HubClient, hub_url: str) -> None:
        assert not HubClient(hub_url).try_login("mallory", SHARED).ok
        assert HubClient(hub_url).try_login("carol", SHARED).ok  # the control: not banned, may log in


    def test_limits_groups_and_default_app(self, machine: Machine, customised: HubClient, hub_url: str) -> None:
        carol = HubClient(hub_url)
        carol.login("carol", SHARED)
        carol.start_server()
        memory = machine.run(["systemctl", "show", "-p", "MemoryMax", "--value", "jupyter-carol"]).stdout.strip()
        quota = machine.run(["systemctl", "show", "-p", "CPUQuotaPerSecUSec", "--value", "jupyter-carol"]).stdout.strip()
        assert memory == str(1024**3), memory
        assert quota == "500ms", quota
        assert "tljh-testers" in machine.run(["id", "-nG", "jupyter-carol"]).stdout.split()
        landing = carol.get("/user/carol/")
        assert landing.status_code == 200 and landing.url.endswith("/user/carol/tree"), landing.url

    def test_culler_stops_an_idle_server(self, customised: HubClient, hub_url: str) -> None:
        """timeout 20, every 5: carol's idle server is gone within timeout + every + slack."""
        def stopped() -> bool:
            model = api(customised, "GET", "/users/carol").json()
            return not model.get("servers")

        start = time.monotonic()
        assert wait_until(stopped, 60, interval=2), "carol's idle server was not culled"
        print(f"culled {time.monotonic() - start:.0f}s after the checks before this test")


def test_restored_hub_uses_firstuse_again(installed: Installation, hub_url: str, admin_name: str,
                                          admin_password: str) -> None:
    assert HubClient(hub_url).try_login(admin_name, admin_password).ok
    assert not HubClient(hub_url).try_login(admin_name, SHARED).ok


def test_authenticator_packages_are_importable(machine: Machine, installed: Installation) -> None:
    modules = ("nativeauthenticator, oauthenticator.github, oauthenticator.google, oauthenticator.gitlab, "
               "oauthenticator.generic, ldapauthenticator, tmpauthenticator, firstuseauthenticator")
    machine.run([f"{HUB}/bin/python", "-c", f"import {modules}"], timeout=120)


# ---------------------------------------------------------------- base_url, ports, traefik API


def test_base_url_http_port_and_traefik_api(machine: Machine, installed: Installation) -> None:
    edits = [("set", "base_url", "/jhub/"), ("set", "http.port", "8080"), ("set", "traefik_api.port", "8098"),
             ("set", "traefik_api.ip", "127.0.0.2")]
    with changed(machine, *edits, reload="proxy") as out:
        assert "restarted traefik, jupyterhub" in out, out
        assert hub_answers("http://127.0.0.1:8080/jhub/hub/api") == 200
        assert hub_answers("http://127.0.0.1/hub/api") is None, "port 80 still answers"
        assert http_get("http://127.0.0.2:8098/api/rawdata").status_code == 401
        assert hub_answers("http://127.0.0.1:8098/api/rawdata") is None, "the API listens beyond traefik_api.ip"
        assert hub_answers("http://127.0.0.1:8099/api/rawdata") is None, "the old API port still answers"
        assert http_get("http://127.0.0.1:8080/jhub/hub/login").status_code == 200
    assert hub_answers() == 200


# ---------------------------------------------------------------- https


@pytest.fixture(scope="module")
def certificate(machine: Machine, installed: Installation) -> str:
    """A self-signed certificate made with openssl in the machine; its PEM text."""
    machine.run(["mkdir", "-p", CERT_DIR])
    machine.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=tljh-test",
                 "-keyout", f"{CERT_DIR}/key.pem", "-out", f"{CERT_DIR}/cert.pem"], timeout=60)
    return machine.host_path(f"{CERT_DIR}/cert.pem").read_text()


def test_https_with_own_certificate_and_letsencrypt(machine: Machine, certificate: str) -> None:
    """Our certificate is served on 443 (no Let's Encrypt server is reachable here, so traefik keeps the
    default one while its ACME resolver, on staging, is configured); http redirects; TLS 1.1 is refused."""
    edits = [("set", "https.tls.cert", f"{CERT_DIR}/cert.pem"), ("set", "https.tls.key", f"{CERT_DIR}/key.pem"),
             ("set", "https.letsencrypt.email", "admin@tljh-test.example.org"),
             ("add-item", "https.letsencrypt.domains", "hub.tljh-test.example.org"),
             ("set", "https.letsencrypt.staging", "true"), ("set", "https.enabled", "true")]
    with changed(machine, *edits, reload="proxy"):
        served = ssl.get_server_certificate(("127.0.0.1", 443))
        assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(certificate)
        assert hub_answers("https://127.0.0.1/hub/api") == 200
        redirect = direct_get("http://127.0.0.1/hub/api")
        assert redirect.status_code in (301, 302, 307, 308) and redirect.headers["Location"].startswith("https://")
        tls12 = machine.run(["openssl", "s_client", "-connect", "127.0.0.1:443", "-tls1_2"], input="", check=False)
        tls11 = machine.run(["openssl", "s_client", "-connect", "127.0.0.1:443", "-tls1_1",
                             "-cipher", "DEFAULT:@SECLEVEL=0"], input="", check=False)
        assert tls12.returncode == 0, tls12.stdout[-500:]
        assert tls11.returncode != 0 and "protocol version" in (tls11.stdout + tls11.stderr), tls11.stderr[-500:]
        assert machine.stat("/opt/tljh/state/acme.json") == ("root", "root", 0o600)
        static = machine.run(["cat", "/opt/tljh/state/traefik.toml"]).stdout
        assert "acme-staging-v02" in static and "tlsChallenge" in static, static
    assert hub_answers() == 200
    with pytest.raises(OSError):
        ssl.get_server_certificate(("127.0.0.1", 443), timeout=5)


# ---------------------------------------------------------------- the admin's traefik snippets


def test_traefik_static_and_dynamic_snippets(machine: Machine, installed: Installation) -> None:
    static = "/opt/tljh/config/traefik_config.d/test-extra.toml"
    dynamic = "/opt/tljh/config/traefik_dynamic_config.d/test-extra.toml"
    machine.run(["mkdir", "-p", "/opt/tljh/config/traefik_config.d", "/opt/tljh/config/traefik_dynamic_config.d"])
    machine.host_path(static).write_text('[entryPoints.testextra]\naddress = ":8083"\n')
    machine.host_path(dynamic).write_text(
        '[http.routers.testextra]\nrule = "PathPrefix(`/`)"\nentryPoints = ["testextra"]\nservice = "testextra"\n'
        '[http.services.testextra.loadBalancer]\n[[http.services.testextra.loadBalancer.servers]]\n'
        'url = "http://127.0.0.1:15001"\n'
    )
    try:
        ok(machine, "reload", "proxy")
        assert wait_until(lambda: hub_answers("http://127.0.0.1:8083/hub/api") == 200, 10)
        assert machine.succeeds(["test", "-f", "/opt/tljh/state/rules/extra-test-extra.toml"])
    finally:
        machine.run(["rm", "-f", static, dynamic])
        ok(machine, "reload", "proxy")
    assert not machine.succeeds(["test", "-e", "/opt/tljh/state/rules/extra-test-extra.toml"])
    assert hub_answers("http://127.0.0.1:8083/hub/api") is None
