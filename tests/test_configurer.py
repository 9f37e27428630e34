import pytest

from tljh.hub.traits import hub_config
from tljh.paths import HUB_PORT


def cfg(paths, config=None, password="apipw"):
    return hub_config(config or {}, paths, password)


def test_defaults(paths):
    c = cfg(paths)
    hub = c["JupyterHub"]
    assert hub["bind_url"] == "http://:80/"
    assert hub["hub_bind_url"] == f"http://127.0.0.1:{HUB_PORT}"
    assert hub["cleanup_servers"] is False
    assert hub["authenticator_class"] == "firstuseauthenticator.FirstUseAuthenticator"
    assert hub["db_url"] == f"sqlite:///{paths.state_dir / 'jupyterhub.sqlite'}"
    assert c["FirstUseAuthenticator"] == {"create_users": False, "dbm_path": str(paths.passwords_dbm)}
    assert c["Authenticator"] == {"admin_users": set()}


def test_default_spawner_runs_from_user_env(paths):
    spawner = cfg(paths)["SystemdSpawner"]
    assert spawner["cmd"] == [str(paths.user_env / "bin/jupyterhub-singleuser")]
    assert spawner["extra_paths"] == [str(paths.user_env / "bin")]
    assert spawner["default_url"] == "/lab"
    assert spawner["username_template"] == "jupyter-{USERNAME}"
    assert "mem_limit" not in spawner and "cpu_limit" not in spawner


def test_default_culler_service(paths):
    hub = cfg(paths)["JupyterHub"]
    [service] = hub["services"]
    assert service["name"] == "cull-idle"
    assert service["command"][:3] == [str(paths.hub_env / "bin/python3"), "-m", "jupyterhub_idle_culler"]
    assert "--timeout=600" in service["command"]
    assert "--cull-every=60" in service["command"]
    assert "--cull-users" not in service["command"]
    [role] = [r for r in hub["load_roles"] if r["name"] != "admin"]
    assert role["services"] == ["cull-idle"]
    assert "admin:users" not in role["scopes"]


def test_culler_settings_and_disabling(paths):
    hub = cfg(paths, {"services": {"cull": {"timeout": 3600, "every": 120, "users": True}}})["JupyterHub"]
    command = hub["services"][0]["command"]
    assert "--timeout=3600" in command and "--cull-every=120" in command and "--cull-users" in command
    assert "admin:users" in [r for r in hub["load_roles"] if r["name"] == "idle-culler"][0]["scopes"]
    disabled = cfg(paths, {"services": {"cull": {"enabled": False}}})["JupyterHub"]
    assert "services" not in disabled
    assert [r["name"] for r in disabled["load_roles"]] == ["admin"]


def test_proxy_api_settings(paths):
    proxy = cfg(paths, password="s3cret")["TraefikFileProviderProxy"]
    assert proxy["traefik_api_url"] == "http://127.0.0.1:8099"
    assert proxy["traefik_api_password"] == "s3cret"
    assert proxy["dynamic_config_file"] == str(paths.traefik_rules_dir / "rules.toml")


def test_port_and_base_url(paths):
    assert cfg(paths, {"http": {"port": 8080}, "base_url": "/jhub/"})["JupyterHub"]["bind_url"] == "http://:8080/jhub/"


def test_limits(paths):
    spawner = cfg(paths, {"limits": {"memory": "1G", "cpu": 2}})["SystemdSpawner"]
    assert spawner["mem_limit"] == "1G"
    assert spawner["cpu_limit"] == 2.0 and isinstance(spawner["cpu_limit"], float)


@pytest.mark.parametrize("app, url", [("jupyterlab", "/lab"), ("classic", "/tree"), ("/custom", "/custom")])
def test_default_app(paths, app, url):
    assert cfg(paths, {"user_environment": {"default_app": app}})["SystemdSpawner"]["default_url"] == url


@pytest.mark.parametrize(
    "name, cls",
    [
        ("firstuse", "firstuseauthenticator.FirstUseAuthenticator"),
        ("dummy", "jupyterhub.auth.DummyAuthenticator"),
        ("pam", "jupyterhub.auth.PAMAuthenticator"),
        ("oauthenticator.github.GitHubOAuthenticator", "oauthenticator.github.GitHubOAuthenticator"),
    ],
)
def test_auth_type(paths, name, cls):
    assert cfg(paths, {"auth": {"type": name}})["JupyterHub"]["authenticator_class"] == cls


def test_auth_class_traits_pass_through(paths):
    config = {
        "auth": {
            "type": "dummy",
            "DummyAuthenticator": {"password": "pw"},
            "FirstUseAuthenticator": {"create_users": True},
        }
    }
    c = cfg(paths, config)
    assert c["DummyAuthenticator"] == {"password": "pw"}
    assert c["FirstUseAuthenticator"]["create_users"] is True
    assert c["FirstUseAuthenticator"]["dbm_path"] == str(paths.passwords_dbm)
    assert "type" not in c


def test_users(paths):
    users = {"admin": ["alice"], "allowed": ["bob", "carol"], "banned": ["mallory"]}
    auth = cfg(paths, {"users": users})["Authenticator"]
    assert auth == {"admin_users": {"alice"}, "allowed_users": {"bob", "carol"}, "blocked_users": {"mallory"}}


@pytest.mark.parametrize("admins", [[], ["alice"], ["bob", "alice"]])
def test_the_admin_role_is_exactly_users_admin(paths, admins):
    """admin_users only ever adds; the admin role's user list makes JupyterHub revoke the others."""
    roles = cfg(paths, {"users": {"admin": admins}})["JupyterHub"]["load_roles"]
    assert {"name": "admin", "users": sorted(admins)} in roles
    assert [r["name"] for r in roles].count("admin") == 1
    assert [r["name"] for r in roles].count("idle-culler") == 1


def test_the_spawner_gets_the_account_record(paths):
    assert cfg(paths)["UserCreatingSpawner"]["accounts_file"] == str(paths.unix_accounts)


@pytest.mark.parametrize(
    "name, cls",
    [
        ("native", "nativeauthenticator.NativeAuthenticator"),
        ("github", "oauthenticator.github.GitHubOAuthenticator"),
        ("google", "oauthenticator.google.GoogleOAuthenticator"),
        ("gitlab", "oauthenticator.gitlab.GitLabOAuthenticator"),
        ("generic-oauth", "oauthenticator.generic.GenericOAuthenticator"),
        ("generic oauth", "oauthenticator.generic.GenericOAuthenticator"),
        ("generic", "oauthenticator.generic.GenericOAuthenticator"),
        ("ldap", "ldapauthenticator.LDAPAuthenticator"),
        ("tmp", "tmpauthenticator.TmpAuthenticator"),
    ],
)
def test_auth_short_names(paths, name, cls):
    assert cfg(paths, {"auth": {"type": name}})["JupyterHub"]["authenticator_class"] == cls


def test_proxy_entrypoint_follows_https(paths):
    assert cfg(paths)["TraefikFileProviderProxy"]["traefik_entrypoint"] == "http"
    https = {"https": {"enabled": True, "tls": {"cert": "/c", "key": "/k"}}}
    assert cfg(paths, https)["TraefikFileProviderProxy"]["traefik_entrypoint"] == "https"


def test_traefik_api_settings_reach_the_hub(paths):
    proxy = cfg(paths, {"traefik_api": {"ip": "127.0.0.2", "port": 9000, "username": "u", "password": "p" * 8}},
                password="secret")["TraefikFileProviderProxy"]
    assert proxy["traefik_api_url"] == "http://127.0.0.2:9000"
    assert (proxy["traefik_api_username"], proxy["traefik_api_password"]) == ("u", "p" * 8)
    assert proxy["traefik_api_entrypoint"] == "auth_api"


@pytest.mark.parametrize("value, url", [("/jhub", "/jhub/"), ("/jhub/", "/jhub/"), ("/", "/"), ("/a/b", "/a/b/")])
def test_base_url_is_normalised(paths, value, url):
    assert cfg(paths, {"base_url": value})["JupyterHub"]["bind_url"] == f"http://:80{url}"


def test_extra_user_groups_reach_the_spawner(paths):
    config = {"users": {"extra_user_groups": {"students": ["alice"], "gpu": ["alice", "bob"]}}}
    assert cfg(paths, config)["UserCreatingSpawner"]["extra_user_groups"] == {"students": ["alice"],
                                                                             "gpu": ["alice", "bob"]}
    assert cfg(paths)["UserCreatingSpawner"]["extra_user_groups"] == {}


def test_culler_concurrency_max_age_and_named_servers(paths):
    cull = {"concurrency": 2, "max_age": 3600, "remove_named_servers": True}
    command = cfg(paths, {"services": {"cull": cull}})["JupyterHub"]["services"][0]["command"]
    assert "--concurrency=2" in command and "--max-age=3600" in command and "--remove-named-servers" in command
    assert "--remove-named-servers" not in cfg(paths)["JupyterHub"]["services"][0]["command"]
