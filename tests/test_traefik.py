import pytest
from tljh.traefik import toml_loads

from tljh.traefik import API_ENTRYPOINT, render_static_config, static_config


def test_default_static_config(paths):
    c = static_config({}, paths)
    assert c["entryPoints"]["http"]["address"] == ":80"
    assert c["entryPoints"][API_ENTRYPOINT]["address"] == "127.0.0.1:8099"
    assert c["providers"]["file"] == {"directory": str(paths.traefik_rules_dir), "watch": True}
    assert c["api"]["dashboard"] is False


def test_http_port_and_address_override(paths):
    c = static_config({"http": {"port": 8080, "address": "10.0.0.5"}}, paths)
    assert c["entryPoints"]["http"]["address"] == "10.0.0.5:8080"


def test_api_address_override(paths):
    c = static_config({"traefik_api": {"ip": "127.0.0.2", "port": 9000}}, paths)
    assert c["entryPoints"][API_ENTRYPOINT]["address"] == "127.0.0.2:9000"


def test_rendered_toml_parses_back_to_the_mapping(paths):
    text = render_static_config({"http": {"port": 8000}}, paths)
    assert text.startswith("#")
    assert toml_loads(text) == static_config({"http": {"port": 8000}}, paths)


from tljh.traefik import (  # noqa: E402
    ACME_STAGING,
    deep_merge,
    ensure_acme_storage,
    entrypoint,
    proxy_files,
    tls_config,
    write_proxy_files,
)

HTTPS_CERT = {"enabled": True, "tls": {"cert": "/etc/c.pem", "key": "/etc/k.pem"}}
HTTPS_ACME = {"enabled": True, "letsencrypt": {"email": "a@b.org", "domains": ["hub.b.org", "www.b.org"]}}


def test_no_version_check_and_plain_logs(paths):
    c = static_config({}, paths)
    assert c["global"] == {"checkNewVersion": False, "sendAnonymousUsage": False}
    assert c["log"]["noColor"] is True


def test_https_off_has_no_https_entrypoint_and_no_redirect(paths):
    c = static_config({"https": {"enabled": False, **{k: v for k, v in HTTPS_CERT.items() if k != "enabled"}}}, paths)
    assert "https" not in c["entryPoints"] and "http" not in c["entryPoints"]["http"]
    assert entrypoint({}) == "http"


def test_https_with_certificate(paths):
    config = {"https": {**HTTPS_CERT, "port": 8443, "address": "10.0.0.1"}}
    c = static_config(config, paths)
    assert c["entryPoints"]["https"] == {"address": "10.0.0.1:8443", "http": {"tls": {}}}
    assert c["entryPoints"]["http"]["http"]["redirections"]["entryPoint"] == {"to": "https", "scheme": "https"}
    assert "certificatesResolvers" not in c
    assert entrypoint(config) == "https"
    pair = {"certFile": "/etc/c.pem", "keyFile": "/etc/k.pem"}
    assert tls_config(config)["tls"] == {
        "options": {"default": {"minVersion": "VersionTLS12"}},
        "certificates": [pair],
        "stores": {"default": {"defaultCertificate": pair}},
    }


def test_tls_minimum_is_always_set_and_cert_only_when_https_is_on():
    assert tls_config({}) == {"tls": {"options": {"default": {"minVersion": "VersionTLS12"}}}}
    off = {"https": {**HTTPS_CERT, "enabled": False}}
    assert "certificates" not in tls_config(off)["tls"]


@pytest.mark.parametrize("staging, server", [(True, ACME_STAGING), (False, "https://acme-v02.api.letsencrypt.org/directory")])
def test_letsencrypt(paths, staging, server):
    config = {"https": {**HTTPS_ACME, "letsencrypt": {**HTTPS_ACME["letsencrypt"], "staging": staging}}}
    c = static_config(config, paths)
    tls = c["entryPoints"]["https"]["http"]["tls"]
    assert tls == {"certResolver": "letsencrypt", "domains": [{"main": "hub.b.org", "sans": ["www.b.org"]}]}
    acme = c["certificatesResolvers"]["letsencrypt"]["acme"]
    assert acme == {"email": "a@b.org", "storage": str(paths.acme_json), "caServer": server, "tlsChallenge": {}}


def test_ipv6_addresses_are_bracketed(paths):
    c = static_config({"http": {"address": "::1"}, "traefik_api": {"ip": "::1", "port": 9000}}, paths)
    assert c["entryPoints"]["http"]["address"] == "[::1]:80"
    assert c["entryPoints"][API_ENTRYPOINT]["address"] == "[::1]:9000"


def test_deep_merge():
    base = {"a": {"b": 1, "c": {"d": 2}}, "e": [1]}
    assert deep_merge(base, {"a": {"c": {"x": 3}, "b": 5}, "e": [2]}) == {"a": {"b": 5, "c": {"d": 2, "x": 3}}, "e": [2]}
    assert base == {"a": {"b": 1, "c": {"d": 2}}, "e": [1]}


def test_static_snippets_merge_in_name_order(paths):
    paths.traefik_config_d.mkdir(parents=True)
    (paths.traefik_config_d / "20-b.toml").write_text('[log]\nlevel = "DEBUG"\n')
    (paths.traefik_config_d / "10-a.toml").write_text('[log]\nlevel = "WARN"\n[entryPoints.extra]\naddress = ":81"\n')
    (paths.traefik_config_d / "notes.txt").write_text("ignored")
    c = toml_loads(render_static_config({}, paths))
    assert c["log"] == {"level": "DEBUG", "noColor": True}
    assert c["entryPoints"]["extra"] == {"address": ":81"}
    assert c["entryPoints"]["http"] == {"address": ":80"}


def test_broken_snippet_is_a_config_error_naming_it(paths):
    from tljh.config import ConfigError

    paths.traefik_config_d.mkdir(parents=True)
    (paths.traefik_config_d / "bad.toml").write_text("[log\n")
    with pytest.raises(ConfigError, match="bad.toml is not valid TOML"):
        render_static_config({}, paths)


def test_proxy_files_copy_dynamic_snippets_and_drop_stale_copies(paths):
    paths.traefik_dynamic_config_d.mkdir(parents=True)
    paths.traefik_rules_dir.mkdir(parents=True)
    (paths.traefik_dynamic_config_d / "mine.toml").write_text('[http.routers.x]\nrule = "Path(`/x`)"\n')
    (paths.traefik_rules_dir / "extra-old.toml").write_text("")
    (paths.traefik_rules_dir / "rules.toml").write_text("# the hub's")
    files = proxy_files({}, paths)
    assert files[paths.traefik_rules_dir / "extra-mine.toml"].startswith("[http.routers.x]")
    assert files[paths.traefik_rules_dir / "extra-old.toml"] is None
    assert paths.traefik_rules_dir / "rules.toml" not in files
    write_proxy_files(files)
    assert not (paths.traefik_rules_dir / "extra-old.toml").exists()
    assert (paths.traefik_rules_dir / "rules.toml").read_text() == "# the hub's"
    assert toml_loads(paths.traefik_tls_rules.read_text())["tls"]["options"]["default"]["minVersion"] == "VersionTLS12"
    assert oct(paths.traefik_toml.stat().st_mode & 0o777) == "0o600"


def test_acme_storage_is_private_and_only_with_letsencrypt(paths):
    paths.state_dir.mkdir(parents=True)
    ensure_acme_storage({}, paths)
    assert not paths.acme_json.exists()
    paths.acme_json.write_text("{}")
    paths.acme_json.chmod(0o644)
    ensure_acme_storage({"https": HTTPS_ACME}, paths)
    assert paths.acme_json.stat().st_mode & 0o777 == 0o600
    assert paths.acme_json.read_text() == "{}"


RULES = (
    '[http.routers.route_api]\nentryPoints = ["auth_api"]\nrule = "Host(`127.0.0.1`)"\nmiddlewares = ["auth_api"]\n'
    '[http.routers."router__2F"]\nentryPoints = ["http"]\nrule = "PathPrefix(`/`)"\n'
    '[http.middlewares.auth_api.basicAuth]\nusers = ["api_admin:hash"]\n'
    '[jupyterhub.routes."router__2F"]\nroutespec = "/"\n'
)


def test_prepare_hub_rules_moves_the_hubs_routes(tmp_path):
    from tljh.traefik import prepare_hub_rules

    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    rules.chmod(0o600)
    assert prepare_hub_rules(rules, "https", hub_restarts=False) is True
    data = toml_loads(rules.read_text())
    assert data["http"]["routers"]["router__2F"]["entryPoints"] == ["https"]
    assert data["http"]["routers"]["route_api"]["entryPoints"] == ["auth_api"]
    assert data["http"]["middlewares"]["auth_api"]["basicAuth"]["users"] == ["api_admin:hash"]
    assert data["jupyterhub"]["routes"]["router__2F"]["routespec"] == "/"
    assert rules.stat().st_mode & 0o777 == 0o600
    assert prepare_hub_rules(rules, "https", hub_restarts=False) is False
    assert prepare_hub_rules(rules, "http", hub_restarts=False) is True
    assert prepare_hub_rules(tmp_path / "absent.toml", "http", hub_restarts=True) is False


def test_prepare_hub_rules_drops_the_api_router_when_the_hub_restarts(tmp_path):
    from tljh.traefik import prepare_hub_rules

    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    assert prepare_hub_rules(rules, "http", hub_restarts=True) is True
    data = toml_loads(rules.read_text())
    assert list(data["http"]["routers"]) == ["router__2F"]
    assert "middlewares" not in data["http"]
    assert data["jupyterhub"]["routes"]["router__2F"]["routespec"] == "/"


def test_toml_round_trips_control_characters_and_unicode():
    # the old `toml` writer turned control characters into other text; tomli-w escapes them
    from tljh.traefik import toml_dumps

    value = {"http": {"routers": {"r": {"rule": "Host(`a`)\x01\x7f\u00e9\t\"\\"}}}}
    assert toml_loads(toml_dumps(value)) == value


def test_an_unreadable_rules_file_is_set_aside_and_a_good_one_kept(tmp_path):
    from tljh.traefik import set_aside_unreadable, unreadable

    rules = tmp_path / "rules.toml"
    assert set_aside_unreadable(rules) is None  # absent: nothing to do
    rules.write_text('[http.routers.r]\nrule = "PathPrefix(`/`)"\n')
    assert not unreadable(rules) and set_aside_unreadable(rules) is None and rules.exists()
    rules.write_text(rules.read_text() + "garbage appended by a full disk\n")
    assert unreadable(rules)
    aside = set_aside_unreadable(rules)
    assert aside == tmp_path / "rules.toml.unreadable" and not rules.exists()
    assert aside.read_text().endswith("garbage appended by a full disk\n")
    rules.write_bytes(b"\xff\xfe not utf-8")
    assert set_aside_unreadable(rules) == aside and not rules.exists()


def test_rules_differ_when_the_hubs_routes_are_not_in_the_file(tmp_path):
    from tljh.traefik import rules_differ, toml_dumps

    routes = {"routes": {"/user/a/": {"target": "http://127.0.0.1:5000", "data": "{}", "router": "r", "service": "s"}}}
    rules = tmp_path / "rules.toml"
    assert rules_differ(rules, routes)  # deleted
    rules.write_text(toml_dumps({"http": {"routers": {"r": {"rule": "x"}}}, "jupyterhub": routes}))
    assert not rules_differ(rules, routes)
    assert rules_differ(rules, {"routes": {}})  # the hub knows other routes
    rules.write_text("")
    assert rules_differ(rules, routes)  # truncated
    rules.write_text("[jupyterhub\n")
    assert rules_differ(rules, routes)  # broken
