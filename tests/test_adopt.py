"""Adopting an install made by upstream TLJH: detection, the report, upstream's dynamic.toml moved aside."""

from tljh.install.adopt import MovedAside, adoption_report, is_upstream_install, upstream_dynamic_config
from tljh.journal import Journal


def upstream_layout(paths):
    paths.traefik_rules_dir.mkdir(parents=True)
    (paths.state_dir / "jupyterhub.sqlite").write_bytes(b"db")
    (paths.state_dir / "jupyterhub_cookie_secret").write_text("ab" * 32)
    paths.passwords_dbm.write_bytes(b"x")
    paths.acme_json.write_text("{}")
    upstream_dynamic_config(paths).write_text('[tls.options.default]\nminVersion = "VersionTLS12"\n')
    (paths.user_env / "conda-meta").mkdir(parents=True)


def test_a_fresh_machine_and_our_own_install_are_not_adopted(paths):
    assert not is_upstream_install(paths) and adoption_report(paths) == []
    (paths.hub_env / "bin").mkdir(parents=True)
    (paths.hub_env / "bin" / "tljh-config").write_text("")  # what our bootstrap makes before the installer runs
    assert not is_upstream_install(paths) and adoption_report(paths) == []
    upstream_layout(paths)
    paths.install_state.write_text("{}")
    assert not is_upstream_install(paths) and adoption_report(paths) == []


def test_an_upstream_install_is_reported_with_what_is_kept_and_moved(paths):
    upstream_layout(paths)
    assert is_upstream_install(paths)
    report = "\n".join(adoption_report(paths))
    for kept in ("jupyterhub.sqlite", "jupyterhub_cookie_secret", "passwords.dbm", "acme.json", str(paths.user_env)):
        assert kept in report
    assert f"moved aside: {upstream_dynamic_config(paths)}" in report


def test_dynamic_toml_is_moved_aside_once_and_put_back_by_revert(paths):
    upstream_layout(paths)
    journal = Journal(paths.journal)
    action = MovedAside(upstream_dynamic_config(paths), paths.backups_dir)
    [change] = action.apply(journal)
    moved = paths.backups_dir / "upstream-dynamic.toml"
    assert not upstream_dynamic_config(paths).exists() and moved.read_text().startswith("[tls.options.default]")
    assert action.apply(journal) == []  # a second run changes nothing
    [entry] = journal.entries()
    action.revert(entry)
    assert upstream_dynamic_config(paths).exists() and not moved.exists()


def test_a_python_39_user_env_is_reported_with_its_pip_packages(paths):
    upstream_layout(paths)
    (paths.user_env / "conda-meta" / "python-3.9.18-h0_cpython.json").write_text("{}")
    site = paths.user_env / "lib/python3.9/site-packages"
    for name, installer in (("tabulate-0.9.0", "pip"), ("numpy-1.26.0", "conda")):
        (site / f"{name}.dist-info").mkdir(parents=True)
        (site / f"{name}.dist-info" / "INSTALLER").write_text(installer + "\n")
    report = "\n".join(adoption_report(paths))
    assert "the user environment has Python 3.9.18" in report
    assert "1 package(s) installed there with pip" in report and "(sudo -E pip install ...): tabulate\n" in report


def test_a_python_310_user_env_has_no_warning(paths):
    upstream_layout(paths)
    (paths.user_env / "conda-meta" / "python-3.10.4-h0_cpython.json").write_text("{}")
    assert "warning" not in "\n".join(adoption_report(paths))
