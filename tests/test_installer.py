import argparse
import os
import shutil
import subprocess

import pytest

from tljh.install.installer import Admin, Options, UserError, choose_user_env, parse_admin, parse_args, render_unit, sudoers
from tljh.paths import ADMINS_GROUP, PACKAGE_DIR

UNITS = sorted(p.name for p in (PACKAGE_DIR / "install" / "units").glob("*.service"))


# parse_admin / parse_args

def test_admin_without_password():
    assert parse_admin("alice") == Admin("alice", None)


def test_password_may_contain_colons():
    assert parse_admin("alice:pw:with:colons") == Admin("alice", "pw:with:colons")


def test_admin_name_is_lowercased():
    assert parse_admin("ALICE:Secret") == Admin("alice", "Secret")


@pytest.mark.parametrize("value", ["alice:", "", ":pw", "al ice", "al ice:pw", "a,b", "a/b", "\t"])


def test_bad_admin_values_are_rejected(value):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_admin(value)


def test_parse_args_collects_admins_and_user_env():
    options = parse_args(["--admin", "alice:pw", "--admin", "Bob", "--user-env", "venv"])
    assert options == Options(admins=(Admin("alice", "pw"), Admin("bob")), user_env="venv")
    assert parse_args([]) == Options()


def test_parse_args_rejects_bad_admin_and_unknown_env(capsys):
    with pytest.raises(SystemExit) as info:
        parse_args(["--admin", "alice:"])
    assert info.value.code == 2
    assert "empty" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--user-env", "docker"])


# choose_user_env

def test_user_env_defaults_to_conda_and_follows_memory():
    assert choose_user_env(None, None) == "conda"
    assert choose_user_env("venv", None) == "venv"
    assert choose_user_env(None, "venv") == "venv"
    assert choose_user_env("venv", "venv") == "venv"
    assert choose_user_env(None, "conda") == "conda"
    assert choose_user_env("conda", "conda") == "conda"


@pytest.mark.parametrize("requested, remembered", [("venv", "conda"), ("conda", "venv")])


def test_switching_user_env_is_refused(requested, remembered):
    with pytest.raises(UserError, match="switching"):
        choose_user_env(requested, remembered)


def test_unknown_remembered_user_env_is_refused():
    with pytest.raises(UserError, match="not available"):
        choose_user_env(None, "docker")


# units

def test_both_units_are_shipped():
    assert UNITS == ["jupyterhub.service", "traefik.service"]


@pytest.mark.parametrize("name", UNITS)


def test_render_unit_substitutes_every_placeholder(paths, name):
    text = render_unit(name, paths)
    assert "$" not in text
    assert "[Service]" in text and "ExecStart=" in text


def test_rendered_units_point_into_the_prefix(paths):
    traefik = render_unit("traefik.service", paths)
    assert f"ExecStart={paths.traefik_bin} --configfile={paths.traefik_toml}" in traefik
    assert f"ReadWritePaths={paths.state_dir}" in traefik
    hub = render_unit("jupyterhub.service", paths)
    assert f"ExecStart={paths.hub_env}/bin/python3 -m jupyterhub.app -f {PACKAGE_DIR / 'hub' / 'jupyterhub_config.py'}" in hub
    assert f"Environment=TLJH_INSTALL_PREFIX={paths.prefix}" in hub
    assert (PACKAGE_DIR / "hub" / "jupyterhub_config.py").is_file()


# sudoers

def test_sudoers_grants_the_admins_group(paths):
    text = sudoers(paths)
    assert f"%{ADMINS_GROUP} ALL=(ALL) NOPASSWD:ALL" in text.splitlines()
    assert text.endswith("\n")


def test_sudoers_resets_the_environment_and_puts_the_user_env_first_on_sudos_path(paths):
    """No `!env_reset` (every sudo would act like sudo -E); PATH under sudo starts with the user env."""
    text = sudoers(paths)
    defaults = [row for row in text.splitlines() if row.startswith("Defaults")]
    assert not [row for row in defaults if "env_reset" in row or "!secure_path" in row or "env_keep" in row]
    line = f'Defaults:%{ADMINS_GROUP} secure_path="{paths.user_env / "bin"}:/usr/local/sbin:'
    assert any(row.startswith(line) for row in text.splitlines()), text


def test_sudoers_passes_visudo(tmp_path, paths):
    candidates = [os.environ.get("TLJH_TEST_VISUDO"), shutil.which("visudo"), "/usr/sbin/visudo", "/sbin/visudo"]
    visudo = next((p for p in candidates if p and os.path.exists(p)), None)
    if visudo is None:
        pytest.skip("visudo is not installed here (package sudo); the SUDOERS text was not checked")
    path = tmp_path / "jupyterhub-admins"
    path.write_text(sudoers(paths))
    path.chmod(0o440)
    result = subprocess.run([visudo, "-cf", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_config_refuses_an_invalid_config_before_installing(paths):
    from tljh.install.installer import check_config

    check_config(paths)  # no config.yaml yet: fine
    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_text("limits:\n  memory: lots\n")
    with pytest.raises(UserError, match="limits.memory: 'lots' is not allowed"):
        check_config(paths)
    paths.config_file.write_text("limits: [unclosed\n")
    with pytest.raises(UserError, match="is not valid YAML"):
        check_config(paths)


@pytest.mark.parametrize(("name", "most"), [("jupyterhub.service", 0.1), ("traefik.service", 0.5)])


def test_units_restart_at_once_and_never_give_up(paths, name, most):
    """A SIGKILLed hub or proxy comes back within seconds; a start limit would leave it down for good
    (and make `systemctl restart` in a reload's rollback fail)."""
    lines = render_unit(name, paths).splitlines()
    assert "StartLimitIntervalSec=0" in lines and "Restart=always" in lines
    restart_sec = next(line.split("=", 1)[1] for line in lines if line.startswith("RestartSec="))
    assert restart_sec.endswith("ms") and int(restart_sec[:-2]) / 1000 <= most


def test_upstream_flag_forms_several_values_after_one_flag_and_repeated():
    options = parse_args(["--admin", "alice", "bob:pw", "--admin", "carol", "--plugin", "a", "b==1",
                          "--plugin", "/srv/c", "--user-env", "venv"])
    assert options.admins == (Admin("alice"), Admin("bob", "pw"), Admin("carol"))
    assert options.plugins == ("a", "b==1", "/srv/c")
    assert options.user_env == "venv"
