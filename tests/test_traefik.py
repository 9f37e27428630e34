import toml

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
    assert toml.loads(text) == static_config({"http": {"port": 8000}}, paths)
