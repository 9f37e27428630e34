"""Upstream TLJH's how-to guides, typed as written: every `tljh-config` command line they give, in
their order, reloads included (../shared/UPSTREAM.md, "tljh-config as documented"); the HTTPS
parts against a self-signed certificate made in the machine. Then a sample of the hostile values
tests/test_hostile_config.py accepts, reloaded into the real hub.

The configuration is put back (and reloaded) afterwards, so the files after this one see the
default hub.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from machine import Machine
from test_tljh_config import CONFIG, config_bytes, direct_get, hub_answers, ok, tljh_config

if TYPE_CHECKING:
    from conftest import Installation

CERTS = "/etc/mycerts"

# (guide, its command lines after `sudo tljh-config`), in the guides' order.
GUIDES: list[tuple[str, list[list[str]]]] = [
    ("add admins", [["add-item", "users.admin", "upstream-admin"], ["reload"]]),
    ("user groups", [["add-item", "users.extra_user_groups.group1", "user1"], ["reload"]]),
    ("memory and cpu limits", [["set", "limits.memory", "4G"], ["set", "limits.cpu", "2"], ["reload"],
                               ["set", "limits.memory", "None"], ["set", "limits.cpu", "None"], ["reload"]]),
    ("idle culler", [["set", "services.cull.timeout", "600"], ["set", "services.cull.every", "60"],
                     ["set", "services.cull.users", "False"], ["set", "services.cull.max_age", "0"],
                     ["set", "services.cull.enabled", "True"], ["reload"]]),
    ("default interface", [["set", "user_environment.default_app", "classic"], ["reload", "hub"]]),
    ("github authenticator", [["set", "auth.GitHubOAuthenticator.client_id", "<client-id>"],
                              ["set", "auth.GitHubOAuthenticator.client_secret", "<client-secret>"],
                              ["set", "auth.GitHubOAuthenticator.oauth_callback_url",
                               "http://127.0.0.1/hub/oauth_callback"],
                              ["set", "auth.type", "oauthenticator.github.GitHubOAuthenticator"], ["reload"]]),
    ("native authenticator", [["set", "auth.type", "nativeauthenticator.NativeAuthenticator"], ["reload"]]),
    ("firstuse authenticator", [["set", "auth.type", "firstuseauthenticator.FirstUseAuthenticator"],
                                ["set", "auth.FirstUseAuthenticator.create_users", "false"], ["reload"]]),
    ("https with let's encrypt", [["set", "https.enabled", "true"],
                                  ["set", "https.letsencrypt.email", "you@example.com"],
                                  ["add-item", "https.letsencrypt.domains", "yourhub.yourdomain.edu"],
                                  ["show"], ["reload", "proxy"]]),
    ("https with your own certificate", [["set", "https.enabled", "true"],
                                         ["set", "https.tls.key", f"{CERTS}/mydomain.key"],
                                         ["set", "https.tls.cert", f"{CERTS}/mydomain.cert"], ["reload", "proxy"]]),
]


@pytest.fixture(scope="module")
def restored(machine: Machine, installed: Installation) -> Iterator[None]:
    """The original config.yaml back and reloaded after the module, whatever happened."""
    original = config_bytes(machine)
    yield
    machine.host_path(CONFIG).write_bytes(original)
    result = tljh_config(machine, "reload", "proxy")
    assert result.returncode == 0, f"restoring the original config failed:\n{result.stderr}"
    assert hub_answers() == 200


@pytest.fixture(scope="module")
def certificate(machine: Machine, installed: Installation) -> str:
    """The guide's certificate files, self-signed, made with openssl in the machine; its PEM text."""
    machine.run(["mkdir", "-p", CERTS])
    machine.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                 "/CN=upstream-guide", "-keyout", f"{CERTS}/mydomain.key", "-out", f"{CERTS}/mydomain.cert"],
                timeout=60)
    return machine.host_path(f"{CERTS}/mydomain.cert").read_text()


def test_every_documented_command_line_works_in_order(machine: Machine, restored: None, certificate: str) -> None:
    for guide, commands in GUIDES:
        for args in commands:
            result = tljh_config(machine, *args)
            said = f"{result.stdout}\n{result.stderr}"
            assert result.returncode == 0, f"{guide}: tljh-config {' '.join(args)} exited {result.returncode}:\n{said}"
        if guide == "https with let's encrypt":  # traefik keeps its default certificate: no ACME server here
            assert hub_answers("https://127.0.0.1/hub/api") == 200
    config = machine.run(["cat", CONFIG]).stdout
    assert "memory" not in config and "cpu" not in config  # `set ... None` removed them
    served = ssl.get_server_certificate(("127.0.0.1", 443))
    assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(certificate)
    assert hub_answers("https://127.0.0.1/hub/api") == 200
    redirect = direct_get("http://127.0.0.1/hub/api")
    assert redirect.status_code in (301, 302, 307, 308), redirect.status_code


def test_upstream_order_half_done_is_refused_where_it_takes_effect(machine: Machine, restored: None) -> None:
    """`set https.enabled true` alone is written (with a note); reload refuses it in one message."""
    ok(machine, "unset", "https")
    said = ok(machine, "set", "https.enabled", "true")
    assert "note: reload refuses this until it is complete: https.enabled: true needs a certificate" in said
    before = config_bytes(machine)
    result = tljh_config(machine, "reload", "proxy")
    assert result.returncode == 1 and "https.enabled: true needs a certificate" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert config_bytes(machine) == before
    ok(machine, "unset", "https")


ACCEPTED_SAMPLE = [
    ["add-item", "users.admin", "Bob"],
    ["add-item", "users.admin", "jürgen"],
    ["add-item", "users.admin", "alice.smith"],
    ["add-item", "users.admin", "a@b.org"],
    ["add-item", "users.allowed", "x" * 255],
    ["add-item", "users.extra_user_groups.students", "bob"],
    ["set", "limits.cpu", "0.01"],
    ["set", "limits.memory", "9223372036854775807"],
    ["set", "traefik_api.password", "!#$%&'()*+,-./:;<=>?@[]^_`{|}~\"\\"],
    ["set", "auth.DummyAuthenticator.password", "{a: 1} &x *x !!python/object"],
    ["set", "base_url", "/my-hub_1.0~x/"],
]


def test_accepted_hostile_values_work_in_the_hub(machine: Machine, restored: None) -> None:
    """What tljh-config accepts, the hub starts with: a sample of the table's accepted values."""
    for args in ACCEPTED_SAMPLE:
        ok(machine, *args)
    ok(machine, "reload", "proxy")
    ok(machine, "reload", "hub")
    assert hub_answers("http://127.0.0.1/my-hub_1.0~x/hub/api") == 200
