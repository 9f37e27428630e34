"""Hostile input for tljh-config, table-driven: every value is either refused (one line, exit 1,
config.yaml byte for byte unchanged) or accepted and then used by the hub's and traefik's config.

The accepted ones that need a real hub are proven in the test machine
(integration-tests/test_tljh_config_upstream.py reloads with a sample of them).
"""

from __future__ import annotations

import hashlib
import os
import tomllib

import pytest

from tljh import config as config_file
from tljh.cli.tljh_config import main
from tljh.hub.traits import hub_config
from tljh.install.installer import UserError, check_config
from tljh.schema import edit_problems, problems
from tljh.traefik import proxy_files

START = "# an admin's comment\nusers:\n  admin:\n    - alice\n"

R = "refused"
A = "accepted"

# (tljh-config arguments, "refused" + a piece of the one line | "accepted" + a check of its use)
CASES: list[tuple[list[str], str, object]] = [
    # trailing newlines and control characters, in every kind of key
    (["set", "limits.memory", "1G\n"], R, "U+000A (a trailing newline?)"),
    (["set", "limits.memory", "1G\r"], R, "U+000D"),
    (["set", "limits.cpu", "0.5\n"], R, "U+000A"),
    (["set", "http.port", "80\n"], R, "U+000A"),
    (["set", "base_url", "/jhub/\n"], R, "U+000A"),
    (["set", "traefik_api.username", "api\n"], R, "U+000A"),
    (["set", "traefik_api.password", "a-long-secret\n"], R, "U+000A"),
    (["set", "https.letsencrypt.email", "a@b.org\n"], R, "U+000A"),
    (["add-item", "https.letsencrypt.domains", "hub.b.org\n"], R, "U+000A"),
    (["set", "user_environment.default_app", "jupyterlab\n"], R, "U+000A"),
    (["set", "auth.type", "firstuse\n"], R, "U+000A"),
    (["set", "auth.GitHubOAuthenticator.client_id", "abc\n"], R, "U+000A"),
    (["set", "https.tls.cert", "/etc/c.pem\n"], R, "U+000A"),
    (["add-item", "users.admin", "bob\n"], R, "U+000A"),
    (["add-item", "users.extra_user_groups.students", "bob\n"], R, "U+000A"),
    (["set", "plugins.mine.key", "v\n"], R, "U+000A"),
    (["set", "limits.memory", "1G\x00"], R, "U+0000"),
    (["set", "limits.memory", "\x1b[31m1G"], R, "U+001B"),
    (["set", "auth.GitHubOAuthenticator.client_secret", "s\x7f"], R, "U+007F"),
    (["set", "auth.GitHubOAuthenticator.client_secret", "s\u0085"], R, "U+0085"),
    (["add-item", "users.admin", "al\u200bice"], R, "U+200B"),
    (["add-item", "users.admin", "ali\u202ece"], R, "U+202E"),
    (["add-item", "users.admin", "a\u2028b"], R, "U+2028"),
    (["add-item", "users.admin", "a\tb"], R, "U+0009"),
    (["set", "limits.memory\x1b", "1G"], R, "U+001B"),
    (["set", "limits.memory\n", "1G"], R, "is not a valid KEY"),
    # user names that break the hub or name paths
    (["add-item", "users.admin", "a/b"], R, "users.admin: the item 'a/b' is not allowed"),
    (["add-item", "users.admin", "../root"], R, "the item '../root'"),
    (["add-item", "users.admin", " "], R, "the item ' '"),
    (["add-item", "users.admin", "alice "], R, "the item 'alice '"),
    (["add-item", "users.admin", " alice"], R, "the item ' alice'"),
    (["add-item", "users.admin", "."], R, "the item '.'"),
    (["add-item", "users.admin", ".."], R, "the item '..'"),
    (["add-item", "users.admin", "a\\b"], R, "the item 'a\\\\b'"),
    (["add-item", "users.admin", ""], R, "the item ''"),
    (["add-item", "users.admin", "x" * 256], R, "users.admin: the item"),
    (["add-item", "users.allowed", "a b"], R, "users.allowed: the item 'a b'"),
    (["add-item", "users.banned", "/"], R, "users.banned: the item '/'"),
    (["add-item", "users.admin", "\u3000"], R, "the item '\\u3000'"),
    (["set", "users.admin", "alice"], R, "users.admin: 'alice' is not allowed; allowed: a list"),
    (["set", "users.admin.x", "y"], R, "users.admin is not a section"),
    (["set", "users", "x"], R, "users: 'x' is not allowed; allowed: a section"),
    # limits
    (["set", "limits.cpu", "0.001"], R, "limits.cpu: 0.001 is not allowed; allowed: a number of CPUs from 0.01"),
    (["set", "limits.cpu", "0"], R, "limits.cpu: 0 is not allowed"),
    (["set", "limits.cpu", "-1"], R, "limits.cpu: -1 is not allowed"),
    (["set", "limits.cpu", "nan"], R, "limits.cpu: 'nan' is not allowed"),
    (["set", "limits.cpu", "inf"], R, "limits.cpu: 'inf' is not allowed"),
    (["set", "limits.cpu", "1e400"], R, "limits.cpu: '1e400' is not allowed"),
    (["set", "limits.cpu", "1e6"], R, "limits.cpu: 1000000.0 is not allowed"),
    (["set", "limits.cpu", "true"], R, "limits.cpu: true is not allowed"),
    (["set", "limits.cpu", "½"], R, "limits.cpu: '½' is not allowed"),
    (["set", "limits.memory", "99999999999999T"], R, "limits.memory: '99999999999999T' is not allowed"),
    (["set", "limits.memory", "18446744073709551616"], R, "limits.memory: 18446744073709551616 is not allowed"),
    (["set", "limits.memory", "9223372036854775808"], R, "limits.memory: 9223372036854775808"),
    (["set", "limits.memory", "0.0001K"], R, "limits.memory: '0.0001K' is not allowed"),
    (["set", "limits.memory", "1023K"], R, "limits.memory: '1023K' is not allowed"),
    (["set", "limits.memory", "0G"], R, "limits.memory: '0G'"),
    (["set", "limits.memory", "-1"], R, "limits.memory: -1"),
    (["set", "limits.memory", "1g"], R, "limits.memory: '1g'"),
    (["set", "limits.memory", "1 G"], R, "limits.memory: '1 G'"),
    (["set", "limits.memory", " 1G"], R, "limits.memory: ' 1G'"),
    (["set", "limits.memory", "1" * 40 + "G"], R, "limits.memory: '111"),
    (["set", "limits.memory", "1e3"], R, "limits.memory: 1000.0"),
    (["set", "limits.memory", "１G"], R, "limits.memory: '１G'"),  # a fullwidth digit
    (["set", "limits.memory", "!!binary aGk="], R, "limits.memory: '!!binary aGk='"),
    # ports and addresses
    (["set", "http.port", "15001"], R, "port 15001 is already used by the hub's own port"),
    (["set", "traefik_api.port", "15001"], R, "port 15001 is already used by the hub's own port"),
    (["set", "traefik_api.port", "80"], R, "traefik_api.port: port 80 is already used by http.port"),
    (["set", "http.port", "8099"], R, "port 8099 is already used by http.port"),
    (["set", "http.port", "0"], R, "http.port: 0 is not allowed"),
    (["set", "http.port", "65536"], R, "http.port: 65536"),
    (["set", "http.port", "-80"], R, "http.port: -80"),
    (["set", "http.port", "80.0"], R, "http.port: 80.0"),
    (["set", "http.port", "0x50"], R, "http.port: '0x50'"),
    (["set", "http.port", "eighty"], R, "http.port: 'eighty'"),
    (["set", "http.port", "99999999999999999999999"], R, "http.port: 99999999999999999999999"),
    (["set", "http.address", "example.org"], R, "http.address: 'example.org' is not allowed"),
    (["set", "http.address", "999.1.1.1"], R, "http.address: '999.1.1.1'"),
    (["set", "traefik_api.ip", "0.0.0.0"], R, "traefik_api.ip: '0.0.0.0' is not allowed; allowed: a loopback"),
    (["set", "traefik_api.ip", "10.0.0.1"], R, "traefik_api.ip: '10.0.0.1'"),
    # the API credentials
    (["set", "traefik_api.username", "a:b"], R, "traefik_api.username: 'a:b'"),
    (["set", "traefik_api.username", "a b"], R, "traefik_api.username: 'a b'"),
    (["set", "traefik_api.username", "x" * 65], R, "traefik_api.username:"),
    (["set", "traefik_api.password", "short"], R, "traefik_api.password: 'short'"),
    (["set", "traefik_api.password", "has a space"], R, "traefik_api.password: 'has a space'"),
    (["set", "traefik_api.password", "pässwörd-long"], R, "traefik_api.password:"),
    (["set", "traefik_api.password", "x" * 73], R, "traefik_api.password:"),
    # URL paths
    (["set", "base_url", "jhub"], R, "base_url: 'jhub' is not allowed; allowed: a URL path"),
    (["set", "base_url", "/a//b"], R, "base_url: '/a//b'"),
    (["set", "base_url", "/../"], R, "base_url: '/../'"),
    (["set", "base_url", "/a/../b/"], R, "base_url: '/a/../b/'"),
    (["set", "base_url", "/./"], R, "base_url: '/./'"),
    (["set", "base_url", "/a b/"], R, "base_url: '/a b/'"),
    (["set", "base_url", "/a`b/"], R, "base_url: '/a`b/'"),
    (["set", "base_url", "/%2e%2e/"], R, "base_url: '/%2e%2e/'"),
    (["set", "base_url", "/jüpyter/"], R, "base_url: '/jüpyter/'"),
    (["set", "base_url", "/" + "a" * 300], R, "base_url:"),
    (["set", "user_environment.default_app", "lab"], R, "user_environment.default_app: 'lab'"),
    (["set", "user_environment.default_app", "/lab/../../x"], R, "user_environment.default_app: '/lab/../../x'"),
    (["set", "user_environment.default_app", "http://evil.example/"], R, "user_environment.default_app:"),
    # authenticators
    (["set", "auth.type", "nope"], R, "auth.type: 'nope' is not allowed"),
    (["set", "auth.type", ""], R, "auth.type: '' is not allowed"),
    (["set", "auth.type", "GitHub"], R, "auth.type: 'GitHub'"),
    (["set", "auth.GitHubOAuthenticator.1x", "v"], R, "auth.GitHubOAuthenticator: '1x' is not allowed"),
    (["set", "auth.GitHubOAuthenticator.__class__", "v"], R, "'__class__' is not allowed"),
    (["set", "auth.github.client_id", "v"], R, "auth.github: unknown key"),
    # groups that are root by another name, and group names
    *[(["add-item", f"users.extra_user_groups.{g}", "bob"], R, f"users.extra_user_groups.{g}: members of {g} are root")
      for g in ("sudo", "root", "adm", "docker", "wheel", "disk", "shadow", "lxd", "systemd-journal", "admin")],
    (["add-item", "users.extra_user_groups.jupyterhub-admins", "bob"], R, "jupyterhub-admins is managed by TLJH"),
    (["add-item", "users.extra_user_groups.Bad Group", "bob"], R, "users.extra_user_groups: 'Bad Group'"),
    (["add-item", "users.extra_user_groups.0day", "bob"], R, "users.extra_user_groups: '0day'"),
    (["add-item", "users.extra_user_groups." + "g" * 33, "bob"], R, "users.extra_user_groups: 'ggg"),
    (["add-item", "users.extra_user_groups.students", "a/b"], R, "users.extra_user_groups.students: the item 'a/b'"),
    # typos at the top level and inside sections
    (["set", "limit.memory", "1G"], R, "limit: unknown key; did you mean limits?"),
    (["set", "base-url", "/x/"], R, "base-url: unknown key; did you mean base_url?"),
    (["set", "user.admin", "x"], R, "user: unknown key; did you mean users?"),
    (["set", "Users.admin", "x"], R, "Users: unknown key; did you mean users?"),
    (["set", "traefik.port", "81"], R, "traefik: unknown key; did you mean traefik_api?"),
    (["set", "limits.mem", "1G"], R, "limits.mem: unknown key"),
    (["set", "services.cull.timout", "5"], R, "services.cull.timout: unknown key"),
    # the culler
    (["set", "services.cull.timeout", "0"], R, "services.cull.timeout: 0"),
    (["set", "services.cull.timeout", "10000000000"], R, "services.cull.timeout: 10000000000"),
    (["set", "services.cull.every", "1.5"], R, "services.cull.every: 1.5"),
    (["set", "services.cull.concurrency", "101"], R, "services.cull.concurrency: 101"),
    (["set", "services.cull.max_age", "-1"], R, "services.cull.max_age: -1"),
    (["set", "services.cull.enabled", "yes"], R, "services.cull.enabled: 'yes'"),
    # https
    (["set", "https.letsencrypt.email", "nope"], R, "https.letsencrypt.email: 'nope'"),
    (["set", "https.letsencrypt.email", "a b@c.org"], R, "https.letsencrypt.email: 'a b@c.org'"),
    (["add-item", "https.letsencrypt.domains", "bad domain"], R, "https.letsencrypt.domains: the item 'bad domain'"),
    (["add-item", "https.letsencrypt.domains", "localhost"], R, "the item 'localhost'"),
    (["add-item", "https.letsencrypt.domains", "--", "-x.org"], R, "the item '-x.org'"),
    (["set", "https.tls.cert", "relative.pem"], R, "https.tls.cert: 'relative.pem'"),
    (["set", "https.port", "1e3"], R, "https.port: 1000.0"),
    # keys
    (["set", "", "x"], R, "'' is not a valid KEY"),
    (["set", "a..b", "1"], R, "'a..b' is not a valid KEY"),
    (["set", ".limits", "1"], R, "'.limits' is not a valid KEY"),
    (["set", "limits.", "1"], R, "'limits.' is not a valid KEY"),
    (["set", "limits. memory", "1G"], R, "'limits. memory' is not a valid KEY"),
    (["unset", "limits.memory"], R, "limits.memory is not set"),
    (["remove-item", "users.admin", "nobody"], R, "'nobody' is not in users.admin"),
    # sizes
    (["set", "auth.GitHubOAuthenticator.client_secret", "x" * 70000], R, "characters long"),

    # accepted, and then used
    (["add-item", "users.admin", "Bob"], A, lambda c: "Bob" in c["Authenticator"]["admin_users"]),
    (["add-item", "users.admin", "jürgen"], A, lambda c: "jürgen" in c["Authenticator"]["admin_users"]),
    (["add-item", "users.admin", "alice.smith"], A, lambda c: "alice.smith" in c["Authenticator"]["admin_users"]),
    (["add-item", "users.admin", "a@b.org"], A, lambda c: "a@b.org" in c["Authenticator"]["admin_users"]),
    (["add-item", "users.admin", "007"], A, lambda c: "007" in c["Authenticator"]["admin_users"]),
    (["add-item", "users.allowed", "x" * 255], A, lambda c: "x" * 255 in c["Authenticator"]["allowed_users"]),
    (["add-item", "users.extra_user_groups.students", "bob"], A,
     lambda c: c["UserCreatingSpawner"]["extra_user_groups"] == {"students": ["bob"]}),
    (["set", "limits.memory", "1.5G"], A, lambda c: c["SystemdSpawner"]["mem_limit"] == "1.5G"),
    (["set", "limits.memory", "1M"], A, lambda c: c["SystemdSpawner"]["mem_limit"] == "1M"),
    (["set", "limits.memory", "9223372036854775807"], A, lambda c: c["SystemdSpawner"]["mem_limit"] == 2**63 - 1),
    (["set", "limits.cpu", "0.01"], A, lambda c: c["SystemdSpawner"]["cpu_limit"] == 0.01),
    (["set", "limits.cpu", "2"], A, lambda c: c["SystemdSpawner"]["cpu_limit"] == 2.0),
    (["set", "limits.memory", "None"], A, lambda c: "mem_limit" not in c["SystemdSpawner"]),
    (["set", "services.cull.enabled", "False"], A, lambda c: "services" not in c["JupyterHub"]),
    (["set", "services.cull.users", "True"], A, lambda c: "--cull-users" in c["JupyterHub"]["services"][0]["command"]),
    (["set", "http.port", "8080"], A, lambda c: c["JupyterHub"]["bind_url"] == "http://:8080/"),
    (["set", "base_url", "/my-hub_1.0~x/"], A, lambda c: c["JupyterHub"]["bind_url"] == "http://:80/my-hub_1.0~x/"),
    (["set", "traefik_api.ip", "::1"], A, lambda c: c["TraefikFileProviderProxy"]["traefik_api_url"] == "http://[::1]:8099"),
    (["set", "traefik_api.password", "!#$%&'()*+,-./:;<=>?@[]^_`{|}~\"\\"], A,
     lambda c: c["TraefikFileProviderProxy"]["traefik_api_password"] == "!#$%&'()*+,-./:;<=>?@[]^_`{|}~\"\\"),
    (["set", "auth.GitHubOAuthenticator.client_id", "{a: 1} &x *x !!python/object"], A,
     lambda c: c["GitHubOAuthenticator"]["client_id"] == "{a: 1} &x *x !!python/object"),
    (["set", "auth.GenericOAuthenticator.username_claim", "null"], A,
     lambda c: c["GenericOAuthenticator"]["username_claim"] is None),
    (["set", "user_environment.default_app", "/lab/tree/My%20Notebook.ipynb"], A,
     lambda c: c["SystemdSpawner"]["default_url"] == "/lab/tree/My%20Notebook.ipynb"),
    (["set", "https.tls.cert", "/etc/ssl/my cert \"1\".pem"], A, lambda c: True),
    (["set", "https.enabled", "true"], A, lambda c: True),  # upstream's guide sets it first
    (["set", "plugins.mine.setting", "x"], A, lambda c: True),
]


@pytest.fixture
def config_path(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    path = tmp_path / "config.yaml"
    path.write_text(START)
    return path


def test_there_are_at_least_100_hostile_values():
    assert sum(1 for _, outcome, _ in CASES if outcome == R) >= 100


@pytest.mark.parametrize("args, outcome, expect", CASES, ids=[ascii(" ".join(a))[:70] for a, _, _ in CASES])
def test_hostile_value(config_path, paths, capsys, args, outcome, expect):
    before = hashlib.sha256(config_path.read_bytes()).digest()
    code = main(["--config-path", str(config_path), *args])
    out, err = capsys.readouterr()
    if outcome == R:
        assert code == 1, out
        assert err.count("\n") == 1 and err.startswith("tljh-config: "), err  # one line
        assert str(expect) in err
        assert hashlib.sha256(config_path.read_bytes()).digest() == before
    else:
        assert code == 0, err
        data = config_file.load(config_path)
        assert edit_problems(data) == []
        traits = hub_config(data, paths, "the-secret")
        assert expect(traits), traits  # type: ignore[operator]
        for content in proxy_files(data, paths).values():
            if content is not None:
                tomllib.loads(content)


# Hand-broken config.yaml files: refused by every command that reads them, and by the installer.
BROKEN = [
    ("alias bomb", ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                    "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"), "anchors and aliases"),
    ("recursive alias", "plugins: &u [*u]\n", "anchors and aliases"),
    ("recursive mapping", "users: &u\n  admin: [alice]\n  allowed: *u\n", "anchors and aliases"),
    ("scalar alias", "plugins:\n  a: &s x\n  b: *s\n", "anchors and aliases"),
    ("shared list", "users:\n  admin: &x [alice]\n  allowed: *x\n", "anchors and aliases"),
    ("tag", "limits:\n  memory: !!binary aGk=\n", "limits.memory: bytes values are not allowed"),
    ("custom tag", "limits:\n  memory: !mytag 1G\n", "YAML tags (!mytag)"),
    ("python tag", "auth:\n  type: !!python/object/apply:os.system [id]\n", "YAML tags"),
    ("duplicate key", "users:\n  admin: [a]\n  admin: [b]\n", "not valid YAML"),
    ("a list", "- a\n- b\n", "must hold a mapping"),
    ("text", "just some text\n", "must hold a mapping"),
    ("tab", "users:\n\tadmin: [a]\n", "not valid YAML"),
    ("date", "base_url: 2001-01-01\n", "base_url: date values are not allowed"),
    ("nan port", "http:\n  port: .nan\n", "http.port: nan is not allowed"),
    ("inf cpu", "limits:\n  cpu: .inf\n", "limits.cpu: inf is not allowed"),
    ("complex key", "? [a, b]\n: c\n", "keys are names"),
    ("number key", "1: x\n", "the key 1 is not allowed"),
    ("control key", "\"limits\\e\": {}\n", "U+001B"),
    ("newline value", "limits:\n  memory: \"1G\\n\"\n", "U+000A"),
    ("typo section", "limit:\n  memory: 1G\n", "limit: unknown key; did you mean limits?"),
    ("bad admin", "users:\n  admin: ['../root']\n", "users.admin: the item '../root'"),
    ("sudo group", "users:\n  extra_user_groups:\n    sudo: [alice]\n", "members of sudo are root"),
    ("https half", "https:\n  enabled: true\n", "https.enabled: true needs a certificate"),
    ("null section", "users:\n", "users: null is not allowed"),
]


@pytest.mark.parametrize("name, text, message", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_file_is_refused_everywhere(config_path, paths, capsys, name, text, message):
    config_path.write_text(text)
    before = config_path.read_bytes()
    try:
        found = problems(config_file.load(config_path))
    except config_file.ConfigError as e:
        found = [str(e)]
    assert any(message in line for line in found), found
    # an edit of another key is refused (unless the problem is one reload checks), the file unchanged
    code = main(["--config-path", str(config_path), "set", "services.cull.timeout", "30"])
    err = capsys.readouterr().err
    if name != "https half":
        assert code == 1 and "\n" not in err.rstrip("\n").split("\n", 1)[0]
        assert config_path.read_bytes() == before
    # the installer refuses to start with it
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_bytes(config_path.read_bytes())
    with pytest.raises(UserError) as refused:
        check_config(paths)
    assert message in str(refused.value)


def test_a_huge_file_is_refused(config_path):
    config_path.write_text("a: " + "x" * (2 * 1024**2) + "\n")
    with pytest.raises(config_file.ConfigError, match="larger than 1024 KiB"):
        config_file.load(config_path)


def test_non_utf8_is_refused(config_path):
    config_path.write_bytes(b"base_url: /\xff/\n")
    with pytest.raises(config_file.ConfigError, match="not UTF-8"):
        config_file.load(config_path)


def test_installer_refuses_a_missing_certificate_as_reload_does(paths, tmp_path):
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(f"https:\n  enabled: true\n  tls:\n    cert: {tmp_path}/no.pem\n    key: {tmp_path}/no.key\n")
    with pytest.raises(UserError, match="https.tls.cert: .*no.pem does not exist"):
        check_config(paths)


def test_the_hub_never_hands_out_a_privileged_group_even_from_a_hand_edit(paths):
    config = {"users": {"extra_user_groups": {"sudo": ["eve"], "docker": ["eve"], "jupyterhub-admins": ["eve"],
                                              "students": ["eve"]}}}
    assert hub_config(config, paths, "s")["UserCreatingSpawner"]["extra_user_groups"] == {"students": ["eve"]}
