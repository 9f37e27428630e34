"""tljh.plugins at its edges: names in failure messages and the log, duplicate entry points, call order."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

import pytest

from tljh.plugins import PluginError, hook_results, load_plugins, spec_project


def make_dist(site: Path, project: str, module: str, source: str, entry_name: str | None = None) -> None:
    info = site / f"{project.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[tljh]\n{entry_name or project} = {module}\n")
    (site / f"{module}.py").write_text(source)


def apt_plugin(packages: list[str]) -> str:
    return f"from tljh.hooks import hookimpl\n@hookimpl\ndef tljh_extra_apt_packages():\n    return {packages!r}\n"


@pytest.fixture
def site(tmp_path, monkeypatch):
    directory = tmp_path / "site"
    directory.mkdir()
    monkeypatch.syspath_prepend(str(directory))
    before = set(sys.modules)
    yield directory
    for name in set(sys.modules) - before:
        del sys.modules[name]
    importlib.invalidate_caches()


def test_a_plugin_failing_to_import_is_named_with_its_distribution(site, caplog):
    make_dist(site, "tljh-broken", "tljh_broken", "import not_a_module_anywhere\n")
    with caplog.at_level(logging.ERROR, logger="tljh"), pytest.raises(PluginError) as info:
        load_plugins()
    assert str(info.value) == ("plugin 'tljh-broken' (tljh_broken from tljh-broken 1.0) failed to import: "
                               "ModuleNotFoundError: No module named 'not_a_module_anywhere'")
    assert [r.getMessage() for r in caplog.records] == ["plugin tljh-broken (tljh_broken from tljh-broken 1.0) failed to import"]


def test_a_hook_failure_is_logged_with_plugin_and_hook(site, caplog):
    make_dist(site, "tljh-raises", "tljh_raises", (
        "from tljh.hooks import hookimpl\n"
        "@hookimpl\ndef tljh_extra_apt_packages():\n    raise RuntimeError('no network')\n"
    ))
    pm = load_plugins()
    with caplog.at_level(logging.ERROR, logger="tljh"), pytest.raises(PluginError):
        hook_results(pm)
    assert [r.getMessage() for r in caplog.records] == ["plugin tljh-raises raised in hook tljh_extra_apt_packages"]


def test_two_distributions_with_the_same_entry_point_name_load_once(site):
    make_dist(site, "tljh-one", "tljh_one", apt_plugin(["one"]), entry_name="same")
    make_dist(site, "tljh-two", "tljh_two", apt_plugin(["two"]), entry_name="same")
    pm = load_plugins()
    assert [name for name, _ in pm.list_name_plugin()] == ["same"]
    assert hook_results(pm).apt in (("one",), ("two",))


def test_plugins_are_registered_in_name_order_so_calls_are_in_reverse_name_order(site):
    for name in ("tljh-c", "tljh-a", "tljh-b"):
        make_dist(site, name, name.replace("-", "_"), apt_plugin([name]))
    assert hook_results(load_plugins()).apt == ("tljh-c", "tljh-b", "tljh-a")  # pluggy: last registered first


@pytest.mark.parametrize("spec", ["not a spec!", "=1.0", "[extra]", "", "name[unclosed", "a b"])
def test_specs_that_are_not_names_name_no_project(spec):
    assert spec_project(spec) is None
