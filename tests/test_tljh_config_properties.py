"""Property-based (hypothesis): any value given to tljh-config is either refused cleanly (one line,
exit 1, the file byte for byte unchanged) or stored exactly and used; and traefik's TOML rendered
from any accepted configuration reads back to the same values (quotes, backslashes, unicode...).
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tljh import config as config_file
from tljh.cli.tljh_config import main
from tljh.hub.traits import hub_config
from tljh.paths import Paths
from tljh.schema import edit_problems
from tljh.traefik import render_static_config, render_tls_config

START = b"# kept\nusers:\n  admin:\n    - alice\n"
STRING_KEYS = ["base_url", "auth.type", "traefik_api.username", "traefik_api.password", "https.tls.cert",
               "https.letsencrypt.email", "user_environment.default_app", "http.address",
               "auth.GitHubOAuthenticator.client_id", "plugins.mine.value"]
LIST_KEYS = ["users.admin", "users.allowed", "users.extra_user_groups.students", "https.letsencrypt.domains"]
NUMBER_KEYS = ["limits.cpu", "limits.memory", "http.port", "traefik_api.port", "services.cull.timeout",
               "services.cull.concurrency", "services.cull.enabled"]
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow])

texts = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["1G", "1G\n", "0.5", "80", "True", "None", "null", "~", "/jhub/", "a/b", "../x", "-1", "1e400", "nan",
     "0x50", "'quoted'", '"dq"', "a\\b", "!!binary x", "&a", "*a", "{a: 1}", "[1, 2]", "\u202e", "\x00"])


@pytest.fixture(autouse=True)
def as_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)


def run_cli(*args: str) -> tuple[int, str, bytes, bytes, Path]:
    """tljh-config on a fresh config file: exit code, stderr, bytes before, bytes after, the file."""
    import contextlib
    import io

    directory = Path(tempfile.mkdtemp(prefix="tljh-prop-"))
    path = directory / "config.yaml"
    path.write_bytes(START)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["--config-path", str(path), args[0], "--", *args[1:]])  # "--": values may start with -
    return code, err.getvalue(), START, path.read_bytes(), path


def check_outcome(code: int, err: str, before: bytes, after: bytes, path: Path) -> object:
    """Refused cleanly, or accepted into a file the hub and traefik can use; the value stored."""
    if code != 0:
        assert code == 1
        assert err.count("\n") == 1 and err.startswith("tljh-config: "), err
        assert after == before
        return None
    data = config_file.load(path)
    assert edit_problems(data) == []
    paths = Paths(prefix=path.parent / "prefix", root=path.parent / "root")
    hub_config(data, paths, "secret")
    tomllib.loads(render_static_config(data, paths))
    tomllib.loads(render_tls_config(data))
    return data


@PROPERTY_SETTINGS
@given(key=st.sampled_from(STRING_KEYS), value=texts)
def test_any_text_for_a_string_key(key: str, value: str) -> None:
    data = check_outcome(*run_cli("set", key, value))
    if data is not None and value not in ("None", "null", "~", "Null", "NULL", "none"):
        stored = config_file.get_item(data, key)
        assert stored == value or key == "auth.GitHubOAuthenticator.client_id" or key.startswith("plugins."), (
            stored, value)


@PROPERTY_SETTINGS
@given(key=st.sampled_from(LIST_KEYS), value=texts)
def test_any_text_as_a_list_item(key: str, value: str) -> None:
    data = check_outcome(*run_cli("add-item", key, value))
    if data is not None:
        assert value in config_file.get_item(data, key)


@PROPERTY_SETTINGS
@given(key=st.sampled_from(NUMBER_KEYS),
       value=texts | st.integers().map(str) | st.floats(allow_nan=True, allow_infinity=True).map(repr))
def test_any_text_for_a_number_key(key: str, value: str) -> None:
    data = check_outcome(*run_cli("set", key, value))
    cpu = config_file.get_item(data, key) if data is not None and key == "limits.cpu" else None
    assert cpu is None or 0.01 <= cpu <= 1024


@PROPERTY_SETTINGS
@given(yaml_text=st.text(st.characters(codec="utf-8"), max_size=200))
def test_any_hand_written_file_is_read_or_refused_in_one_message(yaml_text: str) -> None:
    """Whatever config.yaml holds, reading and checking it never raises anything but ConfigError."""
    from tljh.schema import problems

    directory = Path(tempfile.mkdtemp(prefix="tljh-prop-"))
    path = directory / "config.yaml"
    path.write_text(yaml_text)
    try:
        found = problems(config_file.load(path))
    except config_file.ConfigError:
        return
    assert all("\n" not in line for line in found)


# ---------------------------------------------------------------- TOML rendering of accepted values

paths_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1, max_size=30)


@PROPERTY_SETTINGS
@given(cert=paths_text, key=paths_text, email_user=st.from_regex(r"[A-Za-z0-9._%+'\"\\-]{1,12}", fullmatch=True),
       domain=st.from_regex(r"[a-z0-9]{1,10}\.[a-z]{2,5}", fullmatch=True), port=st.integers(1, 65535),
       address=st.sampled_from(["", "0.0.0.0", "10.1.2.3", "::", "::1", "fe80::1"]))
def test_toml_of_any_accepted_value_reads_back(cert: str, key: str, email_user: str, domain: str, port: int,
                                               address: str) -> None:
    config = {"https": {"enabled": True, "port": port, "address": address,
                        "tls": {"cert": "/" + cert, "key": "/" + key},
                        "letsencrypt": {"email": f"{email_user}@{domain}", "domains": [domain]}}}
    if edit_problems(config):
        return  # refused: nothing is rendered from it
    paths = Paths(prefix=Path("/opt/tljh"), root=Path("/"))
    static = tomllib.loads(render_static_config(config, paths))
    tls = tomllib.loads(render_tls_config(config))
    assert tls["tls"]["certificates"] == [{"certFile": "/" + cert, "keyFile": "/" + key}]
    assert static["certificatesResolvers"]["letsencrypt"]["acme"]["email"] == f"{email_user}@{domain}"
    https = static["entryPoints"]["https"]
    assert https["address"] == (f"[{address}]:{port}" if ":" in address else f"{address}:{port}")
    assert https["http"]["tls"]["domains"] == [{"main": domain, "sans": []}]
