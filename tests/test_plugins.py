"""Plugins: loading real entry points (from dist-info directories on sys.path), calling hooks,
attributing failures, merging config.yaml defaults, and the installer's plugin helpers."""

import http.server
import importlib
import json
import logging
import sys
import threading
import types
from pathlib import Path

import pluggy
import pytest

from tljh import config as config_file
from tljh.actions.python import PluginPackages, RequirementsFile
from tljh.hub.traits import configure
from tljh.install.hubsetup import PluginConfigDefaults, add_missing
from tljh.install.installer import UserError, parse_args, plugin_step, read_user_requirements, user_extra
from tljh.journal import NullJournal
from tljh.plugins import PluginError, call_hook, hook_results, load_plugins, merge_specs, spec_project
from tljh.install.userenv import ExtraPackages, UserRequirements, VenvUserEnvironment

ALL_HOOKS = '''
from tljh.hooks import hookimpl

@hookimpl
def tljh_extra_apt_packages():
    return ["tree"]

@hookimpl
def tljh_extra_hub_pip_packages():
    return ["termcolor==3.3.0"]

@hookimpl
def tljh_extra_user_conda_packages():
    return ["numpy", "tree-sitter"]

@hookimpl
def tljh_extra_user_conda_channels():
    return ["bioconda"]

@hookimpl
def tljh_extra_user_pip_packages():
    return ["tabulate==0.10.0"]

@hookimpl
def tljh_custom_jupyterhub_config(c):
    c.JupyterHub.template_vars = {"from": "plugin"}
    c.Spawner.default_url = "/plugin"

@hookimpl
def tljh_config_post_install(config):
    config.setdefault("plugin", {})["added"] = True
    config.setdefault("users", {})["admin"] = ["hijack"]
'''


def make_dist(site: Path, project: str, module: str, source: str, entry_name: str | None = None) -> None:
    """A minimal installed distribution with one "tljh" entry point, as pip leaves it."""
    info = site / f"{project.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[tljh]\n{entry_name or project} = {module}\n")
    (site / f"{module}.py").write_text(source)


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A directory on sys.path for fake installed plugins; their modules are forgotten afterwards."""
    directory = tmp_path / "site"
    directory.mkdir()
    monkeypatch.syspath_prepend(str(directory))
    before = set(sys.modules)
    yield directory
    for name in set(sys.modules) - before:
        del sys.modules[name]
    importlib.invalidate_caches()


# loading and calling

def test_plugins_installed_after_start_are_loaded(site):
    assert load_plugins().get_plugins() == set()
    make_dist(site, "tljh-all", "tljh_all_hooks", ALL_HOOKS)
    pm = load_plugins()
    assert pm.get_plugin("tljh-all") is not None


def test_hook_results_collect_every_list_hook(site):
    make_dist(site, "tljh-all", "tljh_all_hooks", ALL_HOOKS)
    make_dist(site, "tljh-more", "tljh_more", (
        "from tljh.hooks import hookimpl\n"
        "@hookimpl\ndef tljh_extra_apt_packages():\n    return ['tree', 'sl']\n"
        "@hookimpl\ndef tljh_extra_user_conda_packages():\n    return ['scipy']\n"
        "@hookimpl\ndef tljh_extra_user_conda_channels():\n    return None\n"
    ))
    results = hook_results(load_plugins())
    assert sorted(results.apt) == ["sl", "tree"]  # every plugin's packages, each once
    assert results.hub_pip == ("termcolor==3.3.0",)
    assert set(results.user_conda) == {"numpy", "tree-sitter", "scipy"}
    assert results.user_conda_channels == ("bioconda",)
    assert results.user_pip == ("tabulate==0.10.0",)
    assert sorted(results.conda_askers) == ["tljh-all", "tljh-more"]


def test_conda_channel_defaults_to_conda_forge(site):
    make_dist(site, "tljh-conda", "tljh_conda", (
        "from tljh.hooks import hookimpl\n"
        "@hookimpl\ndef tljh_extra_user_conda_packages():\n    return ['numpy']\n"
    ))
    assert hook_results(load_plugins()).user_conda_channels == ("conda-forge",)


def test_no_plugins_ask_for_nothing(site):
    results = hook_results(load_plugins())
    assert (results.apt, results.hub_pip, results.user_conda, results.user_conda_channels, results.user_pip) == (
        (), (), (), (), ())


def test_plugin_failing_to_import_is_named(site, caplog):
    make_dist(site, "tljh-broken", "tljh_broken", "import not_a_module_anywhere\n")
    with caplog.at_level(logging.ERROR, logger="tljh"), pytest.raises(PluginError) as info:
        load_plugins()
    message = str(info.value)
    assert "tljh-broken" in message and "failed to import" in message and "not_a_module_anywhere" in message
    assert "Traceback" in caplog.text  # the traceback goes to the log


def test_plugin_raising_in_a_hook_is_named_with_the_hook(site, caplog):
    make_dist(site, "tljh-raises", "tljh_raises", (
        "from tljh.hooks import hookimpl\n"
        "@hookimpl\ndef tljh_extra_user_pip_packages():\n    raise RuntimeError('no network')\n"
    ))
    pm = load_plugins()
    with caplog.at_level(logging.ERROR, logger="tljh"), pytest.raises(PluginError) as info:
        hook_results(pm)
    assert str(info.value) == "plugin 'tljh-raises' raised in hook tljh_extra_user_pip_packages: RuntimeError: no network"
    assert "Traceback" in caplog.text and "no network" in caplog.text


@pytest.mark.parametrize("value", ["'numpy'", "[1, 2]", "['']", "{'a': 1}"])
def test_plugin_returning_something_else_than_a_list_of_strings_is_refused(site, value):
    make_dist(site, "tljh-odd", "tljh_odd", (
        f"from tljh.hooks import hookimpl\n@hookimpl\ndef tljh_extra_apt_packages():\n    return {value}\n"
    ))
    with pytest.raises(PluginError, match="plugin 'tljh-odd' returned .* from hook tljh_extra_apt_packages"):
        hook_results(load_plugins())


def test_call_hook_passes_arguments_by_name_to_every_plugin():
    from tljh import hooks

    seen = []
    one = types.SimpleNamespace(tljh_new_user_create=hooks.hookimpl(lambda username: seen.append(("one", username))))
    two = types.SimpleNamespace(tljh_new_user_create=hooks.hookimpl(lambda username: seen.append(("two", username))))
    pm = pluggy.PluginManager("tljh")
    pm.add_hookspecs(hooks)
    pm.register(one, name="one")
    pm.register(two, name="two")
    called = call_hook(pm, "tljh_new_user_create", username="jupyter-ann")
    assert [name for name, _ in called] == ["two", "one"]  # pluggy's order: last registered first
    assert sorted(seen) == [("one", "jupyter-ann"), ("two", "jupyter-ann")]


# custom JupyterHub config: after config.yaml, before jupyterhub_config.d

def test_custom_config_hook_runs_between_config_yaml_and_snippets(site, paths):
    from traitlets.config import Config

    from tljh import hooks

    make_dist(site, "tljh-all", "tljh_all_hooks", ALL_HOOKS)
    hooks.plugin_manager.cache_clear()
    paths.state_dir.mkdir(parents=True)
    paths.traefik_api_secret.write_text("secret")
    paths.config_d.mkdir(parents=True)
    config_file.save(paths.config_file, {"user_environment": {"default_app": "classic"}})
    (paths.config_d / "50-snippet.py").write_text("c.JupyterHub.template_vars = {'from': 'snippet'}\n")
    c = Config()
    try:
        configure(c, paths)
    finally:
        hooks.plugin_manager.cache_clear()
    assert c.Spawner.default_url == "/plugin"  # the plugin ran (config.yaml's SystemdSpawner value is separate)
    assert c.SystemdSpawner.default_url == "/tree"  # config.yaml was applied
    assert c.JupyterHub.template_vars == {"from": "snippet"}  # the snippet came after the plugin


# config.yaml defaults from tljh_config_post_install

def test_add_missing_never_changes_set_values():
    target = {"users": {"admin": ["alice"]}, "limits": {"memory": "1G"}, "x": 1}
    added, kept = add_missing(target, {
        "users": {"admin": ["alice", "bob"], "allowed": ["carol"]},
        "limits": {"memory": "4G", "cpu": 2},
        "x": 2,
        "new": {"deep": True},
    })
    assert target == {
        "users": {"admin": ["alice", "bob"], "allowed": ["carol"]},
        "limits": {"memory": "1G", "cpu": 2},
        "x": 1,
        "new": {"deep": True},
    }
    assert sorted(added) == ["limits.cpu", "new", "users.admin", "users.allowed"]
    assert sorted(kept) == ["limits.memory", "x"]


def test_plugin_config_defaults_are_written_once_and_admin_values_kept(paths, caplog):
    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_text("# the admin's comment\nusers:\n  admin:\n    - alice\n")

    def propose(config):
        config.setdefault("services", {}).setdefault("cull", {})["timeout"] = 7200
        config["users"]["admin"] = ["mallory"]

    action = PluginConfigDefaults(paths.config_file, propose)
    assert sorted(str(c) for c in action.plan()) == ["set services", "set users.admin"]
    with caplog.at_level(logging.WARNING, logger="tljh"):
        action.apply(NullJournal())
    data = config_file.load(paths.config_file)
    assert data["services"]["cull"]["timeout"] == 7200
    assert list(data["users"]["admin"]) == ["alice", "mallory"]  # added to, never replaced
    assert "# the admin's comment" in paths.config_file.read_text()
    assert PluginConfigDefaults(paths.config_file, propose).plan() == []  # a re-run changes nothing


def test_plugin_config_cannot_override_a_value(paths, caplog):
    paths.config_dir.mkdir(parents=True)
    config_file.save(paths.config_file, {"limits": {"memory": "1G"}})

    def propose(config):
        config["limits"]["memory"] = "8G"

    action = PluginConfigDefaults(paths.config_file, propose)
    with caplog.at_level(logging.WARNING, logger="tljh"):
        assert action.plan() == []
        assert action.apply(NullJournal()) == []
    assert caplog.text.count("limits.memory") == 1  # said once
    assert config_file.load(paths.config_file)["limits"]["memory"] == "1G"


# plugin specs and the plugin install action

@pytest.mark.parametrize("spec, project", [
    ("tljh-new-user", "tljh-new-user"),
    ("tljh_New.User==0.1.3", "tljh-new-user"),
    ("tljh-db[extra] >= 0.5", "tljh-db"),
    ("/srv/tljh/integration-tests/plugins/tljh-example", None),
    ("./plugin", None),
    ("https://example.org/p.whl", None),
    ("git+https://example.org/p.git", None),
])
def test_spec_project(spec, project):
    assert spec_project(spec) == project


def test_merge_specs_keeps_remembered_and_replaces_same_project():
    remembered = ["tljh-new-user==0.1.2", "/srv/plugin"]
    assert merge_specs(remembered, []) == remembered
    assert merge_specs(remembered, ["tljh-new-user==0.1.3"]) == ["/srv/plugin", "tljh-new-user==0.1.3"]
    assert merge_specs(remembered, ["/srv/plugin", "tljh-db"]) == ["tljh-new-user==0.1.2", "/srv/plugin", "tljh-db"]


def _env_with(tmp_path, *dists):
    site = tmp_path / "env/lib/python3.11/site-packages"
    site.mkdir(parents=True)
    for dist in dists:
        (site / f"{dist}.dist-info").mkdir()
        (site / f"{dist}.dist-info" / "RECORD").write_text("")
    return tmp_path / "env"


def test_plugin_packages_plan(tmp_path):
    env = _env_with(tmp_path, "tljh_new_user-0.1.3", "tljh_example-1.0")
    specs = ["tljh-new-user==0.1.3", "tljh-new-user>=0.2", "tljh-db", "/srv/example", "/srv/other"]
    remembered = {"/srv/example": "tljh-example", "/srv/other": "tljh-other"}
    action = PluginPackages(env, specs, fresh=set(), projects=remembered)
    assert [c.target for c in action.plan()] == ["tljh-new-user>=0.2", "tljh-db", "/srv/other"]
    again = PluginPackages(env, ["/srv/example"], fresh={"/srv/example"}, projects=remembered)
    assert [c.target for c in again.plan()] == ["/srv/example"]  # given on this run: pip rebuilds it


def test_plugin_step_remembers_across_runs(paths):
    state = {"plugins": ["tljh-new-user==0.1.3"], "plugin_projects": {}}
    step, action = plugin_step(paths, state, ("/srv/example",))
    assert action.specs == ["tljh-new-user==0.1.3", "/srv/example"]
    assert action.fresh == {"/srv/example"}
    step, action = plugin_step(paths, {}, ())
    assert step.actions == []


# --plugin and --user-requirements-txt-url

def test_parse_args_plugins_and_requirements():
    options = parse_args(["--plugin", "tljh-new-user", "--plugin", "/srv/p", "--user-requirements-txt-url", "r.txt"])
    assert options.plugins == ("tljh-new-user", "/srv/p")
    assert options.user_requirements == "r.txt"


def test_parse_args_refuses_an_empty_plugin(capsys):
    with pytest.raises(SystemExit) as info:
        parse_args(["--plugin", " "])
    assert info.value.code == 2
    assert "--plugin needs a pip spec" in capsys.readouterr().err


@pytest.fixture
def http_dir(tmp_path):
    """A local HTTP server serving tmp_path/www."""
    www = tmp_path / "www"
    www.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(www), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_user_requirements_from_url_and_path(http_dir, tmp_path):
    www, url = http_dir
    (www / "reqs.txt").write_text("tabulate==0.10.0\n")
    assert read_user_requirements(f"{url}/reqs.txt") == UserRequirements(f"{url}/reqs.txt", "tabulate==0.10.0\n")
    local = tmp_path / "local.txt"
    local.write_text("pyfiglet\n")
    assert read_user_requirements(str(local)) == UserRequirements(str(local), "pyfiglet\n")
    assert read_user_requirements(None) is None


@pytest.mark.parametrize("name", ["missing.txt", "gone/reqs.txt"])
def test_unreadable_user_requirements_are_refused(http_dir, tmp_path, name):
    www, url = http_dir
    for source in (f"{url}/{name}", str(tmp_path / name)):
        with pytest.raises(UserError, match="--user-requirements-txt-url .* cannot be read"):
            read_user_requirements(source)


def test_requirements_file_plan(tmp_path):
    env = _env_with(tmp_path, "tabulate-0.10.0", "pyfiglet-1.0.4")
    text = "# a comment\ntabulate==0.10.0\npyfiglet>=1  # inline\nrich\nwin-only ; sys_platform == 'win32'\n"
    action = RequirementsFile(env, "http://x/reqs.txt", text)
    assert [str(c) for c in action.plan()] == ["install rich"]
    assert RequirementsFile(env, "r.txt", "tabulate==0.10.0\npyfiglet\n").plan() == []
    other = RequirementsFile(env, "r.txt", "tabulate==0.10.0\n-r more.txt\n")
    assert [str(c) for c in other.plan()] == ["install -r r.txt"]  # pip decides for what we cannot check


def test_venv_user_env_skips_conda_packages_with_a_warning(paths, capsys):
    from tljh.plugins import HookResults

    results = HookResults(user_conda=("numpy",), user_conda_channels=("conda-forge",), user_pip=("tabulate",),
                          conda_askers=("tljh-example",))
    extra = user_extra(results, VenvUserEnvironment(paths), None)
    assert extra == ExtraPackages(pip=("tabulate",))
    out = capsys.readouterr().out
    assert "tljh-example" in out and "numpy" in out and "skipped" in out


def test_venv_user_env_actions_in_order(paths):
    extra = ExtraPackages(pip=("tabulate",), requirements=UserRequirements("r.txt", "pyfiglet\n"))
    kinds = [type(a).__name__ for a in VenvUserEnvironment(paths).actions(extra)]
    assert kinds == ["Venv", "PipRequirements", "PipPackages", "RequirementsFile"]


def test_state_keeps_json_serialisable_plugin_record(paths):
    state = {"plugins": ["/srv/p", "tljh-q==1.0"], "plugin_projects": {"/srv/p": "tljh-p"}}
    step, action = plugin_step(paths, state, ("tljh-q==2.0", "tljh-r"))
    assert step.actions == [action]
    assert action.specs == ["/srv/p", "tljh-q==2.0", "tljh-r"]  # this run's spec replaces the remembered one
    assert action.fresh == {"tljh-q==2.0", "tljh-r"}
    record = json.loads(json.dumps({"plugins": action.specs, "plugin_projects": action.projects}))
    assert record == {"plugins": ["/srv/p", "tljh-q==2.0", "tljh-r"], "plugin_projects": {"/srv/p": "tljh-p"}}
    _, again = plugin_step(paths, record, ())  # the next run, from the saved state alone
    assert (again.specs, again.projects, again.fresh) == (action.specs, action.projects, set())


def test_no_plugins_make_an_empty_step(paths):
    step, action = plugin_step(paths, {}, ())
    assert step.title == "plugins" and step.actions == [] and action.specs == []


def test_hook_wrappers_are_refused_by_name():
    from tljh import hooks

    def wrapper():
        yield

    plugin = types.SimpleNamespace(tljh_post_install=hooks.hookimpl(wrapper=True)(wrapper))
    pm = pluggy.PluginManager("tljh")
    pm.add_hookspecs(hooks)
    pm.register(plugin, name="wrapping")
    with pytest.raises(PluginError, match="plugin 'wrapping' implements tljh_post_install as a hook wrapper"):
        call_hook(pm, "tljh_post_install")


# upstream TLJH's internal modules that published plugins import

def test_a_plugin_importing_upstreams_kept_internals_loads(site, monkeypatch, tmp_path):
    monkeypatch.setenv("TLJH_INSTALL_PREFIX", str(tmp_path / "prefix"))
    make_dist(site, "tljh-old-style", "tljh_old_style", (
        "from tljh.hooks import hookimpl\n"
        "from tljh.config import CONFIG_FILE, USER_ENV_PREFIX, STATE_DIR\n"
        "from tljh.configurer import load_config\n"
        "from tljh.user import ensure_group, ensure_user_group\n"
        "from tljh.utils import run_subprocess\n"
        "seen = (CONFIG_FILE, USER_ENV_PREFIX, STATE_DIR)\n"
        "@hookimpl\ndef tljh_extra_apt_packages():\n    return ['tree']\n"
    ))
    pm = load_plugins()
    module = pm.get_plugin("tljh-old-style")
    prefix = tmp_path / "prefix"
    assert module.seen == (str(prefix / "config/config.yaml"), str(prefix / "user"), str(prefix / "state"))
    assert module.load_config() == {}
    (prefix / "config").mkdir(parents=True)
    (prefix / "config/config.yaml").write_text("users:\n  admin: [ada]\n")
    assert module.load_config() == {"users": {"admin": ["ada"]}}


@pytest.mark.parametrize("line, missing", [("import tljh.systemd", "tljh.systemd"),
                                           ("from tljh.conda import ensure_conda_packages", "tljh.conda"),
                                           ("from tljh import user_creating_spawner", "tljh.user_creating_spawner")])
def test_a_plugin_importing_an_upstream_module_not_kept_is_named_with_the_module(site, line, missing):
    make_dist(site, "tljh-needs-internals", "tljh_needs_internals", f"{line}\n")
    with pytest.raises(PluginError) as info:
        load_plugins()
    message = str(info.value)
    assert "plugin 'tljh-needs-internals'" in message and f"imports {missing}" in message
    assert "internal module of upstream TLJH" in message and "tljh.hooks" in message
