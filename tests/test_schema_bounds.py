"""tljh.schema at its boundaries: every port's range, every boolean's type, every integer's limits."""

import pytest

from tljh.schema import problems

PORT_KEYS = [("http", "port"), ("https", "port"), ("traefik_api", "port")]
# Ports that collide with no default listener (80, 443, 15001).
FREE_LOW, FREE_HIGH = 1, 65535


def _at(section: str, key: str, value: object) -> dict:
    return {section: {key: value}}


@pytest.mark.parametrize("section, key", PORT_KEYS)
@pytest.mark.parametrize("value", [FREE_LOW, FREE_HIGH])
def test_ports_at_both_ends_of_the_range_are_accepted(section, key, value):
    assert problems(_at(section, key, value)) == []


@pytest.mark.parametrize("section, key", PORT_KEYS)
@pytest.mark.parametrize("value", [0, 65536, -1, 70000])
def test_ports_outside_the_range_are_refused(section, key, value):
    assert problems(_at(section, key, value)) == [
        f"{section}.{key}: {value} is not allowed; allowed: an integer 1-65535 " + _what(section)]


def _what(section: str) -> str:
    return {"http": "(the public http port)", "https": "(the public https port)",
            "traefik_api": "(traefik's API port)"}[section]


BOOLEANS = [("services", "cull", "enabled"), ("services", "cull", "users"), ("services", "cull", "remove_named_servers"),
            ("https", "enabled", None), ("https", "letsencrypt", "staging")]


def _nested(path: tuple, value: object) -> dict:
    keys = [k for k in path if k is not None]
    config: object = value
    for k in reversed(keys):
        config = {k: config}
    assert isinstance(config, dict)
    return config


@pytest.mark.parametrize("path", BOOLEANS, ids=lambda p: ".".join(k for k in p if k))
@pytest.mark.parametrize("value", ["yes", "true", 1, 0, None])
def test_booleans_refuse_everything_but_true_and_false(path, value):
    key = ".".join(k for k in path if k)
    found = problems(_nested(path, value))
    assert len(found) == 1 and found[0].startswith(f"{key}: "), found
    assert "is not allowed; allowed: true or false" in found[0]


@pytest.mark.parametrize("path", BOOLEANS, ids=lambda p: ".".join(k for k in p if k))
def test_booleans_accept_false(path):
    assert problems(_nested(path, False)) == []


def test_letsencrypt_staging_true_is_accepted():
    assert problems({"https": {"letsencrypt": {"staging": True}}}) == []


@pytest.mark.parametrize("key, lowest, highest", [("timeout", 1, None), ("every", 1, None),
                                                  ("concurrency", 1, 100), ("max_age", 0, None)])
def test_cull_integers_at_their_limits(key, lowest, highest):
    assert problems({"services": {"cull": {key: lowest}}}) == []
    assert problems({"services": {"cull": {key: lowest - 1}}})[0].startswith(f"services.cull.{key}: {lowest - 1} ")
    if highest is not None:
        assert problems({"services": {"cull": {key: highest}}}) == []
        assert problems({"services": {"cull": {key: highest + 1}}})[0].startswith(f"services.cull.{key}: {highest + 1} ")
    assert problems({"services": {"cull": {key: True}}})  # a boolean is not an integer


def test_memory_in_bytes_at_its_minimum():
    assert problems({"limits": {"memory": 1048576}}) == []
    assert problems({"limits": {"memory": 1048575}})


def test_traefik_api_password_of_exactly_eight_characters():
    assert problems({"traefik_api": {"password": "12345678"}}) == []
    assert problems({"traefik_api": {"password": "1234567"}})
