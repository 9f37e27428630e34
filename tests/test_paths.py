from pathlib import Path

from tljh.paths import DEFAULT_PREFIX, HUB_REQUIREMENTS, TRAEFIK_REQUIREMENTS, USER_VENV_REQUIREMENTS, Paths


def test_from_env_uses_prefix_variable():
    assert Paths.from_env({"TLJH_INSTALL_PREFIX": "/srv/tljh"}).prefix == Path("/srv/tljh")


def test_from_env_defaults_when_unset_or_empty():
    assert Paths.from_env({}).prefix == DEFAULT_PREFIX
    assert Paths.from_env({"TLJH_INSTALL_PREFIX": ""}).prefix == DEFAULT_PREFIX


def test_tljh_tree_is_under_prefix_and_system_files_under_root(paths):
    for p in (paths.hub_env, paths.user_env, paths.config_file, paths.config_d, paths.journal,
              paths.backups_dir, paths.traefik_toml, paths.traefik_bin, paths.passwords_dbm, paths.log_file):
        assert paths.prefix in p.parents
    for p in (paths.units_dir, paths.sudoers_file, paths.tljh_config_link):
        assert paths.root in p.parents
    assert paths.config_file.name == "config.yaml"
    assert paths.sudoers_file == paths.root / "etc/sudoers.d/jupyterhub-admins"


def test_requirement_files_ship_with_the_package():
    for req in (HUB_REQUIREMENTS, TRAEFIK_REQUIREMENTS, USER_VENV_REQUIREMENTS):
        assert req.is_file(), req
