"""The hub env's copy kept while a run changes it: taken once, put back on failure, dropped when done."""

from tljh.install.hubenv import HubEnvBackup, marker, previous


def make_env(paths, version):
    (paths.hub_env / "bin").mkdir(parents=True, exist_ok=True)
    (paths.hub_env / "bin/python3").write_text("python")
    (paths.hub_env / "version").write_text(version)
    paths.state_dir.mkdir(parents=True, exist_ok=True)


def test_a_failed_run_gets_the_env_back_as_it_was(paths):
    make_env(paths, "old")
    backup = HubEnvBackup(paths)
    backup.before_change()
    backup.before_change()  # once per run
    (paths.hub_env / "version").write_text("half upgraded")
    assert marker(paths).exists() and (previous(paths) / "version").read_text() == "old"
    assert backup.restore() is True
    assert (paths.hub_env / "version").read_text() == "old"
    assert not marker(paths).exists() and not previous(paths).exists()
    assert sorted(p.name for p in paths.prefix.iterdir()) == ["hub", "state"]


def test_a_finished_run_drops_the_copy(paths):
    make_env(paths, "old")
    backup = HubEnvBackup(paths)
    backup.before_change()
    (paths.hub_env / "version").write_text("new")
    backup.done()
    assert not marker(paths).exists() and not previous(paths).exists()
    assert backup.restore() is False and (paths.hub_env / "version").read_text() == "new"


def test_the_copy_of_a_killed_run_is_kept_not_replaced_by_the_half_upgraded_env(paths):
    make_env(paths, "old")
    HubEnvBackup(paths).before_change()  # then the run is killed mid-upgrade
    (paths.hub_env / "version").write_text("half upgraded")
    again = HubEnvBackup(paths)
    again.before_change()
    assert (previous(paths) / "version").read_text() == "old"
    assert again.restore() and (paths.hub_env / "version").read_text() == "old"


def test_the_unit_puts_the_copy_back_before_the_hub_starts_unless_an_install_runs(paths):
    from tljh.services import render_unit

    unit = render_unit("jupyterhub.service", paths)
    pre = next(line for line in unit.splitlines() if line.startswith("ExecStartPre="))
    assert f"[ -e {marker(paths)} ]" in pre and f"flock -n {paths.prefix}/.install.lock true" in pre
    assert f"mv {previous(paths)} {paths.hub_env}" in pre


def _exec_start_pre(paths) -> list[str]:
    import shlex

    from tljh.services import render_unit

    line = next(x for x in render_unit("jupyterhub.service", paths).splitlines() if x.startswith("ExecStartPre="))
    return shlex.split(line.removeprefix("ExecStartPre="))


def test_the_units_shell_puts_the_copy_back_only_while_no_install_runs(paths):
    import fcntl
    import os
    import subprocess

    make_env(paths, "old")
    HubEnvBackup(paths).before_change()
    (paths.hub_env / "version").write_text("half upgraded")
    lock = os.open(paths.prefix / ".install.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # an install is running: leave its work alone
        subprocess.run(_exec_start_pre(paths), check=True)
        assert (paths.hub_env / "version").read_text() == "half upgraded"
    finally:
        os.close(lock)
    subprocess.run(_exec_start_pre(paths), check=True)  # killed: no install holds the lock
    assert (paths.hub_env / "version").read_text() == "old"
    assert not marker(paths).exists() and not previous(paths).exists()
    subprocess.run(_exec_start_pre(paths), check=True)  # nothing to do afterwards
    assert (paths.hub_env / "version").read_text() == "old"
