"""config.yaml → JupyterHub traitlets: the {Class: {trait: value}} mapping, and applying it to the hub's `c`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tljh import config as config_file
from tljh.config import get_item
from tljh.paths import HUB_PORT, Paths
from tljh.schema import AUTH_ALIASES, AUTH_SHORT_NAMES, DEFAULT_APPS, MANAGED_GROUPS, PRIVILEGED_GROUPS
from tljh.traefik import API_ENTRYPOINT, API_USERNAME, api_address, entrypoint, set_aside_unreadable

SPAWNER_DEFAULTS = {"concurrent_starts": 0, "start_timeout": 900, "http_timeout": 120}
# A user's server yields the CPU to the hub and the proxy (CPUWeight=1000 in their units) while
# it starts, so the hub stays responsive when a class starts together; IO likewise.
USER_UNIT_PROPERTIES = {"CPUWeight": "20", "IOWeight": "20"}
CULL_DEFAULTS = {"enabled": True, "timeout": 600, "every": 60, "concurrency": 5, "max_age": 0, "users": False,
                 "remove_named_servers": False}


def hub_config(config: Any, paths: Paths, api_password: str) -> dict[str, dict[str, Any]]:
    """Everything the hub is configured with, from config.yaml and the installation's layout."""
    c: dict[str, dict[str, Any]] = {}
    for part in (_hub, _proxy, _auth, _users, _spawner, _cull):
        for cls, traits in part(config, paths, api_password).items():
            section = c.setdefault(cls, {})
            roles = section.get("load_roles", []) + traits.get("load_roles", [])
            section.update(traits)
            if roles:
                section["load_roles"] = roles
    return c


def base_url(config: Any) -> str:
    """config.yaml's base_url with exactly one / at each end."""
    path = str(get_item(config, "base_url", "/") or "/").strip("/")
    return f"/{path}/" if path else "/"


def _hub(config: Any, paths: Paths, _: str) -> dict[str, dict[str, Any]]:
    port = get_item(config, "http.port", 80)
    return {
        "JupyterHub": {
            "bind_url": f"http://:{port}{base_url(config)}",
            "hub_bind_url": f"http://127.0.0.1:{HUB_PORT}",
            "cookie_secret_file": str(paths.state_dir / "jupyterhub_cookie_secret"),
            "db_url": f"sqlite:///{paths.hub_db}",
            "cleanup_servers": False,
            # Starts are queued by the spawner (spawner.concurrent_starts), which tells each user
            # their place in line; the hub's own limit would refuse them with a bare 429 instead.
            "concurrent_spawn_limit": 0,
            "spawner_class": "tljh.hub.spawner.UserCreatingSpawner",
            "proxy_class": "tljh.hub.proxy.RulesKeepingProxy",
        }
    }


def api_password_hash(password: str) -> str:
    """The bcrypt hash traefik's API checks the hub's password against, at bcrypt's lowest cost (4).

    traefik verifies it on every API request, and the hub makes several per server start (it
    waits for each new route); at bcrypt's default cost (12) that was ~0.3 s of CPU per start,
    more than the hub's own share. The hash is only in root-only files (/opt/tljh/state), and the
    default password is a long random secret, so a slow hash protects nothing here.
    """
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode("ascii")


def _proxy(config: Any, paths: Paths, api_password: str) -> dict[str, dict[str, Any]]:
    return {
        "TraefikFileProviderProxy": {
            "should_start": False,
            "traefik_api_url": f"http://{api_address(config)}",
            "traefik_api_username": get_item(config, "traefik_api.username") or API_USERNAME,
            "traefik_api_password": get_item(config, "traefik_api.password") or api_password,
            "traefik_entrypoint": entrypoint(config),
            "traefik_api_entrypoint": API_ENTRYPOINT,
            "dynamic_config_file": str(paths.traefik_rules_dir / "rules.toml"),
        }
    }


def authenticator_class(name: str) -> str:
    """The class path of a short name (firstuse, github, ...); a class path is kept as it is."""
    return AUTH_SHORT_NAMES.get(AUTH_ALIASES.get(name, name), name)


def _auth(config: Any, paths: Paths, _: str) -> dict[str, dict[str, Any]]:
    cls = authenticator_class(get_item(config, "auth.type", "firstuse"))
    c: dict[str, dict[str, Any]] = {
        "JupyterHub": {"authenticator_class": cls},
        "FirstUseAuthenticator": {"create_users": False, "dbm_path": str(paths.passwords_dbm)},
    }
    for section, traits in (get_item(config, "auth") or {}).items():
        if isinstance(traits, dict):
            c.setdefault(section, {}).update(traits)
    return c


def _users(config: Any, paths: Paths, _: str) -> dict[str, dict[str, Any]]:
    """Admins are exactly users.admin: admin_users only ever adds, so the admin role's user list is
    given too, which JupyterHub makes the exact membership at every start (removing the others)."""
    admins = set(get_item(config, "users.admin") or [])
    auth: dict[str, Any] = {"admin_users": admins}
    if get_item(config, "users.allowed"):
        auth["allowed_users"] = set(get_item(config, "users.allowed"))
    if get_item(config, "users.banned"):
        auth["blocked_users"] = set(get_item(config, "users.banned"))
    return {"Authenticator": auth, "JupyterHub": {"load_roles": [{"name": "admin", "users": sorted(admins)}]}}


def _spawner(config: Any, paths: Paths, _: str) -> dict[str, dict[str, Any]]:
    app = get_item(config, "user_environment.default_app", "jupyterlab")
    spawner: dict[str, Any] = {
        "cmd": [str(paths.user_env / "bin/jupyterhub-singleuser")],
        "extra_paths": [str(paths.user_env / "bin")],
        "default_shell": "/bin/bash",
        "default_url": DEFAULT_APPS.get(app, app),
        "username_template": "jupyter-{USERNAME}",
        "unit_name_template": "jupyter-{USERNAME}",
        "isolate_tmp": True,
        "unit_extra_properties": dict(USER_UNIT_PROPERTIES),
    }
    if get_item(config, "limits.memory") is not None:
        spawner["mem_limit"] = get_item(config, "limits.memory")
    if get_item(config, "limits.cpu") is not None:
        spawner["cpu_limit"] = float(get_item(config, "limits.cpu"))
    groups = get_item(config, "users.extra_user_groups") or {}
    # tljh-config, reload and the installer refuse these; a hand edit followed by a reboot must not hand them out
    extra = {str(group): [str(name) for name in names or []] for group, names in groups.items()
             if group not in PRIVILEGED_GROUPS and group not in MANAGED_GROUPS}
    timing = {**SPAWNER_DEFAULTS, **(get_item(config, "spawner") or {})}
    spawner.update(start_timeout=timing["start_timeout"], http_timeout=timing["http_timeout"])
    queue = {"extra_user_groups": extra, "concurrent_starts": timing["concurrent_starts"],
             "accounts_file": str(paths.unix_accounts)}
    return {"SystemdSpawner": spawner, "UserCreatingSpawner": queue}


def _cull(config: Any, paths: Paths, _: str) -> dict[str, dict[str, Any]]:
    cull = dict(CULL_DEFAULTS)
    cull.update(get_item(config, "services.cull") or {})
    if not cull["enabled"]:
        return {}
    python = str(paths.hub_env / "bin/python3")
    command = [python, "-m", "jupyterhub_idle_culler", f"--timeout={cull['timeout']}", f"--cull-every={cull['every']}"]
    command += [f"--concurrency={cull['concurrency']}", f"--max-age={cull['max_age']}"]
    if cull["users"]:
        command.append("--cull-users")
    if cull["remove_named_servers"]:
        command.append("--remove-named-servers")
    scopes = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
    if cull["users"]:
        scopes.append("admin:users")
    return {
        "JupyterHub": {
            "services": [{"name": "cull-idle", "command": command}],
            "load_roles": [{"name": "idle-culler", "scopes": scopes, "services": ["cull-idle"]}],
        }
    }

def configure(c: Any, paths: Paths | None = None) -> None:
    """Set c from config.yaml, then let plugins and jupyterhub_config.d snippets edit it.

    A rules.toml traefik cannot read (a full disk, a hand edit) is set aside first: the hub
    then writes it anew with every route it knows, instead of starting with none served.
    """
    paths = paths or Paths.from_env()
    aside = set_aside_unreadable(paths.traefik_rules_dir / "rules.toml")
    if aside is not None:
        print(f"tljh: {paths.traefik_rules_dir / 'rules.toml'} was not valid TOML; moved to {aside}, the hub rewrites it")
    api_password = paths.traefik_api_secret.read_text().strip()
    for cls, traits in hub_config(config_file.load(paths.config_file), paths, api_password).items():
        for name, value in traits.items():
            setattr(c[cls], name, value)
    from tljh.hooks import plugin_manager
    from tljh.plugins import call_hook

    call_hook(plugin_manager(), "tljh_custom_jupyterhub_config", c=c)
    for snippet in sorted(paths.config_d.glob("*.py")):
        _load_snippet(c, snippet)
    proxy = c["TraefikFileProviderProxy"]
    if "traefik_api_hashed_password" not in proxy:
        proxy.traefik_api_hashed_password = api_password_hash(proxy.traefik_api_password)


def _load_snippet(c: Any, path: Path) -> None:
    """Run one jupyterhub_config.d file with the same `c` (and get_config) a config file sees."""
    code = compile(path.read_text(encoding="utf-8"), str(path), "exec")
    exec(code, {"c": c, "get_config": lambda: c, "__file__": str(path)})
