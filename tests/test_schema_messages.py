"""tljh.schema's messages, word for word: what an admin reads decides whether they can fix it.
(The "allowed" part of each key is taken from SCHEMA, so rewording it does not break these tests.)"""

import pytest

from tljh.paths import TRAEFIK_API_PORT
from tljh.schema import SCHEMA, problems


def allowed(key: str) -> str:
    node = SCHEMA
    for part in key.split("."):
        node = node["properties"][part]
    return "allowed: " + node["allowed"]


CERT = {"cert": "/c.pem", "key": "/k.pem"}
NEEDS_CERT = ("https.enabled: true needs a certificate: set https.tls.cert and https.tls.key, or "
              "https.letsencrypt.email and https.letsencrypt.domains (tljh-config set ...)")
TLS_PAIR = "https.tls: cert and key must be set together (absolute paths to PEM files) while https is enabled"
NO_DOMAINS = ("https.letsencrypt: Let's Encrypt without domains; add one with: "
              "tljh-config add-item https.letsencrypt.domains DOMAIN")
NO_EMAIL = "https.letsencrypt: domains without an email; set one with: tljh-config set https.letsencrypt.email EMAIL"
NAMES = allowed("users.admin")
CPU = allowed("limits.cpu")
ADDRESS = allowed("http.address")

EXACT = [
    ({"users": {"x": 1, "y": 2}},
     ["users.x, users.y: unknown keys; known keys in users: allowed, banned, admin, extra_user_groups"]),
    ({"users": {"x": 1}}, ["users.x: unknown key; known keys in users: allowed, banned, admin, extra_user_groups"]),
    ({"auth": {"GitHubOAuthenticator": {}, "bad": 1}},
     [("auth.bad: unknown key; known keys in auth: type, or a section named after an authenticator class "
      "(e.g. GitHubOAuthenticator)")]),
    ({"https": {"enabled": True}}, [NEEDS_CERT]),
    ({"https": {"enabled": True, "tls": {"key": "/k"}}}, [TLS_PAIR, NEEDS_CERT]),
    ({"https": {"enabled": True, "tls": {"cert": "/c"}, "letsencrypt": {"email": "a@b.org", "domains": ["b.org"]}}},
     [TLS_PAIR]),
    ({"https": {"enabled": True, "letsencrypt": {"email": "a@b.org"}}}, [NO_DOMAINS, NEEDS_CERT]),
    ({"https": {"enabled": True, "letsencrypt": {"email": "a@b.org"}, "tls": CERT}}, [NO_DOMAINS]),
    ({"https": {"enabled": True, "letsencrypt": {"domains": ["a.b.org"]}, "tls": CERT}}, [NO_EMAIL]),
    ({"https": {"enabled": True, "letsencrypt": {"domains": ["a.b.org"]}}}, [NO_EMAIL, NEEDS_CERT]),
    ({"https": {"enabled": True, "letsencrypt": {"email": "a@b.org", "domains": ["a.b.org"]}}}, []),
    ({"https": {"enabled": True, "tls": CERT}}, []),
    ({"http": {"port": TRAEFIK_API_PORT}},
     [f"traefik_api.port: port {TRAEFIK_API_PORT} is already used by http.port; each listener needs its own port"]),
    ({"traefik_api": {"port": 80}},
     ["traefik_api.port: port 80 is already used by http.port; each listener needs its own port"]),
    ({"http": {"port": 443}, "https": {"enabled": True, "tls": CERT}},
     ["https.port: port 443 is already used by http.port; each listener needs its own port"]),
    ({"http": {"port": 444}, "https": {"enabled": True, "tls": CERT}}, []),
    ({"http": {"port": 8080}, "https": {"enabled": True, "tls": CERT, "port": 8080}},
     ["https.port: port 8080 is already used by http.port; each listener needs its own port"]),
    ({"limits": {"cpu": False}}, [f"limits.cpu: false is not allowed; {CPU}"]),
    ({"limits": {"cpu": True}}, [f"limits.cpu: true is not allowed; {CPU}"]),
    ({"limits": {"cpu": {}}}, [f"limits.cpu: a mapping is not allowed; {CPU}"]),
    ({"limits": {"cpu": None}},
     [(f"limits.cpu: null is not allowed; {CPU} "
      "(to remove it, use: tljh-config unset limits.cpu)")]),
    ({"users": {"admin": ["a" * 6 + "x" * 40, "b", "b"]}},  # its repr is 60 characters: shown
     [f"users.admin: the list {['a' * 6 + 'x' * 40, 'b', 'b']!r} is not allowed; {NAMES}"]),
    ({"users": {"admin": ["a" * 7 + "x" * 40, "b", "b"]}},  # 61: summarised
     [f"users.admin: a list is not allowed; {NAMES}"]),
    ({"users": {"admin": ["alice", 5]}}, [f"users.admin: the item 5 is not allowed; {NAMES}"]),
    ({"http": {"address": ""}}, []),
    ({"https": {"address": ""}}, []),
    ({"http": {"address": "::"}}, []),
    ({"http": {"address": "300.1.1.1"}},
     [f"http.address: '300.1.1.1' is not allowed; {ADDRESS}"]),
]


@pytest.mark.parametrize("config, expected", EXACT, ids=[str(c)[:60] for c, _ in EXACT])
def test_exact_problems(config, expected):
    assert problems(config) == expected
