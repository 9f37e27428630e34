import dbm
import os
import re
import stat

import bcrypt

from tljh.actions import Change
from tljh.config import get_item, load
from tljh.install.hubsetup import AdminUsers, Passwords, secret
from tljh.journal import Journal


def test_secret_is_made_once_and_private(tmp_path):
    journal = Journal(tmp_path / "j")
    action = secret(tmp_path / "api.secret")
    assert action.plan() == [Change("create", str(action.path))]
    action.apply(journal)
    value = action.path.read_text()
    assert re.fullmatch(r"[0-9a-f]{64}", value)
    assert stat.S_IMODE(action.path.stat().st_mode) == 0o600
    assert action.apply(journal) == []
    assert action.path.read_text() == value


def test_secret_readable_by_others_is_tightened_not_changed(tmp_path):
    path = tmp_path / "api.secret"
    path.write_text("kept")
    os.chmod(path, 0o644)
    action = secret(path)
    assert action.plan() == [Change("chmod 600", str(path))]
    action.apply(Journal(tmp_path / "j"))
    assert path.read_text() == "kept"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_admin_users_create_the_config_file(tmp_path):
    path = tmp_path / "config.yaml"
    action = AdminUsers(path, ["alice", "bob"])
    assert action.plan() == [Change("create", str(path)), Change("add admin", "alice"), Change("add admin", "bob")]
    action.apply(Journal(tmp_path / "j"))
    assert get_item(load(path), "users.admin") == ["alice", "bob"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert action.plan() == []


def test_admin_users_add_only_missing_names_and_keep_the_rest(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("# mine\nusers:\n  admin:\n    - alice\nlimits:\n  memory: 2G  # per user\n")
    action = AdminUsers(path, ["alice", "carol"])
    assert action.plan() == [Change("add admin", "carol")]
    action.apply(Journal(tmp_path / "j"))
    text = path.read_text()
    assert "# mine" in text and "# per user" in text
    assert get_item(load(path), "users.admin") == ["alice", "carol"]
    assert get_item(load(path), "limits.memory") == "2G"


def test_passwords_stored_as_bcrypt_and_then_nothing_planned(tmp_path):
    db_path = tmp_path / "passwords.dbm"
    action = Passwords(db_path, {"alice": "pw:1", "bob": "hunter2"})
    assert action.plan() == [Change("set password", "alice"), Change("set password", "bob")]
    action.apply(Journal(tmp_path / "j"))
    with dbm.open(str(db_path), "r") as db:
        stored = db[b"alice"]
    assert stored != b"pw:1" and bcrypt.checkpw(b"pw:1", stored)
    assert action.plan() == []
    files = list(tmp_path.glob("passwords.dbm*"))
    assert files and all(stat.S_IMODE(f.stat().st_mode) & 0o077 == 0 for f in files)


def test_changed_password_is_planned_and_others_kept(tmp_path):
    db_path = tmp_path / "passwords.dbm"
    Passwords(db_path, {"alice": "old", "bob": "bobpw"}).apply(Journal(tmp_path / "j"))
    action = Passwords(db_path, {"alice": "new"})
    assert action.plan() == [Change("set password", "alice")]
    action.apply(Journal(tmp_path / "j"))
    with dbm.open(str(db_path), "r") as db:
        assert bcrypt.checkpw(b"new", db[b"alice"])
        assert bcrypt.checkpw(b"bobpw", db[b"bob"])


def test_no_passwords_plan_nothing(tmp_path):
    assert Passwords(tmp_path / "passwords.dbm", {}).plan() == []


def test_the_installer_writes_config_yaml_only_holding_tljh_configs_lock(paths, monkeypatch):
    """An admin's tljh-config edit running while the installer adds an admin is not lost."""
    import threading
    import time

    from tljh import config as config_file
    from tljh.install import hubsetup
    from tljh.journal import NullJournal

    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_text("limits:\n  cpu: 1\n")
    held, release = threading.Event(), threading.Event()

    def admin_edit():  # what tljh-config set does, slowly
        with config_file.locked(paths.config_file, "tljh-config set limits.memory"):
            data = config_file.load(paths.config_file)
            held.set()
            release.wait(5)
            config_file.set_item(data, "limits.memory", "1G")
            config_file.save(paths.config_file, data)

    thread = threading.Thread(target=admin_edit)
    thread.start()
    held.wait(5)
    threading.Timer(0.5, release.set).start()
    start = time.monotonic()
    hubsetup.AdminUsers(paths.config_file, ["alice"]).apply(NullJournal())
    thread.join()
    assert time.monotonic() - start >= 0.4  # it waited for the edit
    assert config_file.load(paths.config_file) == {"limits": {"cpu": 1, "memory": "1G"}, "users": {"admin": ["alice"]}}
