"""tljh.schema: what config.yaml may hold, and the one-line messages for what it may not."""

import pytest

from tljh.schema import expected_type, problems

VALID = [
    {},
    {"base_url": "/jhub/"},
    {"base_url": "/jhub"},
    {"auth": {"type": "github", "GitHubOAuthenticator": {"client_id": "x", "allowed_organizations": ["o"]}}},
    {"auth": {"type": "mypackage.auth.MyAuthenticator"}},
    {"auth": {"type": "generic-oauth"}},
    {"users": {"admin": ["alice"], "allowed": ["bob"], "banned": ["eve"], "extra_user_groups": {"students": ["bob"]}}},
    {"limits": {"memory": "1G", "cpu": 0.5}},
    {"limits": {"memory": "1.5G", "cpu": 2}},
    {"limits": {"memory": 2147483648}},
    {"user_environment": {"default_app": "classic"}},
    {"user_environment": {"default_app": "/lab/tree/README.md"}},
    {"services": {"cull": {"enabled": False, "timeout": 30, "every": 10, "concurrency": 2, "max_age": 0,
                           "users": True, "remove_named_servers": True}}},
    {"http": {"address": "10.0.0.5", "port": 8080}},
    {"http": {"address": "::1"}},
    {"https": {"enabled": True, "tls": {"cert": "/etc/c.pem", "key": "/etc/k.pem"}}},
    {"https": {"enabled": True, "letsencrypt": {"email": "a@b.org", "domains": ["hub.b.org"], "staging": True}}},
    {"https": {"enabled": False, "port": 80}},  # off: its port does not collide
    {"https": {"tls": {"cert": "/c.pem"}}},  # off: keys may be set one at a time
    {"https": {"letsencrypt": {"email": "a@b.org"}}},
    {"traefik_api": {"ip": "127.0.0.1", "port": 9000, "username": "api", "password": "long-enough"}},
    {"plugins": {"my_plugin": {"anything": [1, 2]}}},
]


@pytest.mark.parametrize("config", VALID)
def test_valid(config):
    assert problems(config) == []


INVALID = [
    ({"base_url": "jhub"}, "base_url: 'jhub' is not allowed; allowed: a URL path starting with /"),
    ({"base_url": "/a//b"}, "base_url: '/a//b' is not allowed"),
    ({"auth": {"type": "nope"}}, "auth.type: 'nope' is not allowed; allowed: one of firstuse, dummy, native"),
    ({"auth": {"type": 5}}, "auth.type: 5 is not allowed"),
    ({"auth": {"github": {"client_id": "x"}}}, "auth.github: unknown key; known keys in auth: type, or a section"),
    ({"auth": {"GitHubOAuthenticator": "x"}}, "auth.GitHubOAuthenticator: 'x' is not allowed; allowed: a mapping"),
    ({"users": {"admin": "alice"}}, "users.admin: 'alice' is not allowed; allowed: a list of user names"),
    ({"users": {"admin": ["alice", "alice"]}}, "users.admin: the list ['alice', 'alice'] is not allowed"),
    ({"users": {"admin": [5]}}, "users.admin: the item 5 is not allowed"),
    ({"users": {"extra_user_groups": {"Bad Group": ["a"]}}}, "users.extra_user_groups: 'Bad Group' is not allowed; allowed: a mapping {unix group name"),
    ({"users": {"extra_user_groups": {"g": "a"}}}, "users.extra_user_groups.g: 'a' is not allowed"),
    ({"users": {"extra_user_groups": {"jupyterhub-admins": ["a"]}}}, "jupyterhub-admins is managed by TLJH"),
    ({"users": {"admins": ["a"]}}, "users.admins: unknown key; known keys in users: allowed, banned, admin"),
    ({"users": None}, "users: null is not allowed; allowed: a section (a mapping of keys) (to remove it, use"),
    ({"limits": {"memory": "1g"}}, "limits.memory: '1g' is not allowed; allowed: a size with a unit K, M, G or T"),
    ({"limits": {"memory": "0G"}}, "limits.memory: '0G' is not allowed"),
    ({"limits": {"memory": 1000}}, "limits.memory: 1000 is not allowed"),
    ({"limits": {"memory": True}}, "limits.memory: true is not allowed"),
    ({"limits": {"cpu": 0}}, "limits.cpu: 0 is not allowed; allowed: a number of CPUs from 0.01 to 1024"),
    ({"limits": {"cpu": "half"}}, "limits.cpu: 'half' is not allowed"),
    ({"limits": {"cpu": True}}, "limits.cpu: true is not allowed"),
    ({"user_environment": {"default_app": "lab"}}, "user_environment.default_app: 'lab' is not allowed"),
    ({"services": {"cull": {"timeout": 0}}}, "services.cull.timeout: 0 is not allowed"),
    ({"services": {"cull": {"every": 1.5}}}, "services.cull.every: 1.5 is not allowed"),
    ({"services": {"cull": {"enabled": "yes"}}}, "services.cull.enabled: 'yes' is not allowed; allowed: true or false"),
    ({"services": {"cull": {"timout": 5}}}, "services.cull.timout: unknown key; known keys in services.cull: enabled"),
    ({"services": {"other": {}}}, "services.other: unknown key; known keys in services: cull"),
    ({"http": {"port": "80"}}, "http.port: '80' is not allowed; allowed: an integer 1-65535"),
    ({"http": {"port": 80.0}}, "http.port: 80.0 is not allowed"),
    ({"http": {"port": 0}}, "http.port: 0 is not allowed"),
    ({"http": {"address": "example.org"}}, "http.address: 'example.org' is not allowed; allowed: an IP address"),
    ({"my_plugin": {"anything": 1}}, "my_plugin: unknown key; did you mean plugins? known keys: base_url, auth"),
    ({"https": {"enabled": True}}, "https.enabled: true needs a certificate: set https.tls.cert and https.tls.key, or"),
    ({"https": {"enabled": True, "tls": {"cert": "/c.pem"}, "letsencrypt": {"email": "a@b.org", "domains": ["b.org"]}}},
     "https.tls: cert and key must be set together"),
    ({"https": {"tls": {"cert": "c.pem", "key": "/k"}}}, "https.tls.cert: 'c.pem' is not allowed; allowed: an absolute"),
    ({"https": {"enabled": True, "letsencrypt": {"email": "a@b.org"}}}, "https.letsencrypt: Let's Encrypt without domains"),
    ({"https": {"enabled": True, "letsencrypt": {"email": "a@b.org"}, "tls": {"cert": "/c", "key": "/k"}}},
     "https.letsencrypt: Let's Encrypt without domains"),
    ({"https": {"enabled": True, "letsencrypt": {"domains": ["a.b.org"]}}}, "https.letsencrypt: domains without an email"),
    ({"https": {"letsencrypt": {"email": "nope"}}}, "https.letsencrypt.email: 'nope' is not allowed"),
    ({"https": {"letsencrypt": {"domains": ["bad domain"]}}}, "https.letsencrypt.domains: the item 'bad domain'"),
    ({"https": {"enabled": True, "port": 80, "tls": {"cert": "/c", "key": "/k"}}},
     "https.port: port 80 is already used by http.port"),
    ({"traefik_api": {"port": 80}}, "traefik_api.port: port 80 is already used by http.port"),
    ({"traefik_api": {"username": "a:b"}}, "traefik_api.username: 'a:b' is not allowed"),
    ({"traefik_api": {"password": "short"}}, "traefik_api.password: 'short' is not allowed; allowed: 8-64 printable ASCII"),
]


@pytest.mark.parametrize("config, message", INVALID, ids=[m[:40] for _, m in INVALID])
def test_invalid_names_key_value_and_what_is_allowed(config, message):
    found = problems(config)
    assert found, config
    assert any(message in line for line in found), found


def test_non_mapping_config():
    assert problems(["a"]) == ["the configuration must be a mapping of settings, not the list ['a']"]


def test_every_problem_is_listed_once_in_key_order():
    found = problems({"limits": {"cpu": 0, "memory": "x"}, "http": {"port": "x"}})
    assert [line.split(":")[0] for line in found] == ["http.port", "limits.cpu", "limits.memory"]


@pytest.mark.parametrize(
    "key, kind",
    [("users.admin", "string"), ("users.extra_user_groups.docker", "string"), ("auth.type", "string"),
     ("base_url", "string"), ("traefik_api.password", "string"), ("http.port", "integer"),
     ("limits.memory", None), ("limits.cpu", "number"), ("auth.GitHubOAuthenticator.client_id", None),
     ("plugin.key", None)],
)
def test_expected_type(key, kind):
    assert expected_type(key) == kind
