"""Build, inside a test machine, what upstream TLJH 2.0 leaves on a machine (facts: shared/UPSTREAM.md).

Upstream's own code cannot be installed here (its bootstrap fetches from GitHub), so the layout is
made from the documented facts: /opt/tljh/{hub,user,config,state}, state files (a hub database
with the users and an admin, FirstUseAuthenticator's passwords.dbm, the cookie secret, the traefik
API secret, acme.json, rules/dynamic.toml), the sudoers file, the two units, the unix accounts
`jupyter-NAME` with homes (0750, o-rwx) holding a file, and a conda user environment (the stand-in
Miniforge: conda channels cannot be reached) with a canary package a user installed.
The units run `sleep infinity` (upstream's hub cannot run without upstream's package).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from machine import Machine

STANDIN_IN_CHECKOUT = "/srv/tljh/tests/standin/Miniforge3-standin.sh"  # the checkout the session copied in

SEED = "/root/upstream-seed"
CANARY = "tabulate==0.10.0"
UPSTREAM_SUDOERS = "%jupyterhub-admins ALL = (ALL) NOPASSWD: ALL\nDefaults exempt_group = jupyterhub-admins\n"
UPSTREAM_DYNAMIC = """[tls.options.default]
minVersion = "VersionTLS12"
cipherSuites = ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]
"""
UPSTREAM_UNIT = """[Unit]
Description={name} (stand-in for upstream TLJH's unit)
[Service]
ExecStart=/bin/sleep infinity
[Install]
WantedBy=multi-user.target
"""


@dataclass(frozen=True)
class UpstreamUser:
    name: str
    password: str
    admin: bool

    @property
    def account(self) -> str:
        return f"jupyter-{self.name}"

    @property
    def note(self) -> str:
        return f"notes of {self.name}, written under upstream TLJH"


def seed_state(machine: Machine, hub_python: str, users: tuple[UpstreamUser, ...]) -> None:
    """The hub database and passwords.dbm, made with a hub environment's jupyterhub and bcrypt."""
    code = f"""
import dbm, os, bcrypt
from jupyterhub import orm
os.makedirs({SEED!r}, exist_ok=True)
db = orm.new_session_factory("sqlite:///{SEED}/jupyterhub.sqlite")()
for name, admin in {[(u.name, u.admin) for u in users]!r}:
    db.add(orm.User(name=name, admin=admin))
db.commit()
with dbm.open("{SEED}/passwords.dbm", "c", 0o600) as store:
    for name, password in {[(u.name, u.password) for u in users]!r}:
        store[name.encode()] = bcrypt.hashpw(password.encode(), bcrypt.gensalt())
"""
    machine.run([hub_python, "-c", code], timeout=120)


def take_down_ours(machine: Machine) -> None:
    """Remove our install entirely (services, units, /opt/tljh, sudoers); unix accounts stay."""
    script = ("systemctl stop 'jupyter-*' jupyterhub traefik; systemctl disable jupyterhub traefik; "
              "rm -f /etc/systemd/system/jupyterhub.service /etc/systemd/system/traefik.service "
              "/etc/sudoers.d/jupyterhub-admins /usr/bin/tljh-config; systemctl daemon-reload; rm -rf /opt/tljh")
    machine.run(["sh", "-c", script], timeout=120)


def sh(machine: Machine, script: str, timeout: float = 300.0) -> None:
    machine.run(["sh", "-euc", script], timeout=timeout)


def build_upstream(machine: Machine, users: tuple[UpstreamUser, ...]) -> None:
    """The upstream layout, on a machine whose /opt/tljh was just removed (state seeded in SEED)."""
    config = "users:\n  admin:\n" + "".join(f"  - {u.name}\n" for u in users if u.admin)
    sh(machine, f"""
mkdir -p /opt/tljh/config/jupyterhub_config.d /opt/tljh/config/traefik_config.d /opt/tljh/state/rules
chmod 0700 /opt/tljh/config /opt/tljh/state
python3 -m venv /opt/tljh/hub
printf '#!/bin/sh\\necho upstream tljh-config\\n' > /opt/tljh/hub/bin/tljh-config
chmod 0755 /opt/tljh/hub/bin/tljh-config
ln -sf /opt/tljh/hub/bin/tljh-config /usr/bin/tljh-config
STANDIN_CONDA_VERSION=4.10.3 STANDIN_MAMBA_VERSION=0.16.0 bash {STANDIN_IN_CHECKOUT} -b -p /opt/tljh/user
/opt/tljh/user/bin/python -m pip install -q {CANARY}
chmod -R o-w /opt/tljh/user
printf %s {shlex.quote(config)} > /opt/tljh/config/config.yaml
cp -a {SEED}/. /opt/tljh/state/
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > /opt/tljh/state/jupyterhub_cookie_secret
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > /opt/tljh/state/traefik-api.secret
printf '{{"letsencrypt": {{"Account": null, "Certificates": null}}}}' > /opt/tljh/state/acme.json
printf '[entryPoints.http]\\naddress = ":80"\\n' > /opt/tljh/state/traefik.toml
printf %s {shlex.quote(UPSTREAM_DYNAMIC)} > /opt/tljh/state/rules/dynamic.toml
chmod 0600 /opt/tljh/state/jupyterhub_cookie_secret /opt/tljh/state/traefik-api.secret /opt/tljh/state/acme.json
echo 'upstream installer log' > /opt/tljh/installer.log
chmod 0500 /opt/tljh/installer.log
printf %s {shlex.quote(UPSTREAM_SUDOERS)} > /etc/sudoers.d/jupyterhub-admins
chmod 0440 /etc/sudoers.d/jupyterhub-admins
getent group jupyterhub-users >/dev/null || groupadd --system jupyterhub-users
getent group jupyterhub-admins >/dev/null || groupadd --system jupyterhub-admins
""", timeout=600)
    for name in ("jupyterhub", "traefik"):
        sh(machine, f"printf %s {shlex.quote(UPSTREAM_UNIT.format(name=name))} > /etc/systemd/system/{name}.service")
    sh(machine, "systemctl daemon-reload && systemctl enable --now jupyterhub traefik")
    for user in users:
        groups = "jupyterhub-users,jupyterhub-admins" if user.admin else "jupyterhub-users"
        sh(machine, f"""
id -u {user.account} >/dev/null 2>&1 || useradd --create-home {user.account}
chmod o-rwx /home/{user.account}
usermod -aG {groups} {user.account}
printf %s {shlex.quote(user.note)} > /home/{user.account}/notes.txt
chown {user.account}: /home/{user.account}/notes.txt
""")
