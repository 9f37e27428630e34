"""The lock files: complete, hash-pinned, up to date with their requirements (CI fails otherwise)."""

import re

import pytest
import shutil
import subprocess
import sys
from pathlib import Path

from tljh.actions.python import read_pins
from tljh.paths import HUB_LOCK, HUB_REQUIREMENTS, REQUIREMENTS_DIR, USER_LOCK

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
import lock  # noqa: E402


def test_every_lock_is_up_to_date_with_its_requirements():
    result = subprocess.run([sys.executable, str(REPO / "tools/lock.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_check_notices_a_changed_requirements_file(tmp_path):
    for name in ("hub.txt", "hub.lock"):
        shutil.copy(REQUIREMENTS_DIR / name, tmp_path / name)
    assert lock.problems("hub", tmp_path) == []
    with open(tmp_path / "hub.txt", "a") as f:
        f.write("newthing==1.0\n")
    found = lock.problems("hub", tmp_path)
    assert "hub.txt changed since hub.lock was generated" in found
    assert "newthing is in hub.txt but not in hub.lock" in found


def test_every_locked_package_is_pinned_with_hashes():
    for path in (HUB_LOCK, USER_LOCK):
        entries = path.read_text().replace("\\\n", " ")
        requirement_lines = [line for line in entries.splitlines() if line.strip() and not line.strip().startswith("#")]
        assert len(requirement_lines) > 20, path
        for line in requirement_lines:
            assert re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*==\S+", line), line
            assert "--hash=sha256:" in line, line


def test_direct_pins_are_locked_at_their_version_for_each_python():
    for requirements, locked in ((HUB_REQUIREMENTS, HUB_LOCK), (REQUIREMENTS_DIR / "user-venv.txt", USER_LOCK)):
        for minor in (10, 11, 12, 13):
            env = {"python_version": f"3.{minor}", "python_full_version": f"3.{minor}.0", "sys_platform": "linux",
                   "platform_machine": "x86_64", "implementation_name": "cpython", "platform_system": "Linux",
                   "os_name": "posix", "platform_python_implementation": "CPython", "platform_release": "",
                   "platform_version": "", "implementation_version": f"3.{minor}.0", "extra": ""}
            direct = read_pins(requirements.read_text(), env)
            pins = read_pins(locked.read_text(), env)
            for name, version in direct.items():
                assert pins.get(name) == version, (locked.name, minor, name)


def test_the_hub_lock_holds_every_dependency_of_the_tljh_package():
    # the installer installs the hub lock (tljh itself came with --no-deps): its dependencies must all be locked
    setup = (REPO / "setup.py").read_text()
    block = setup[setup.index("install_requires=[") : setup.index("]", setup.index("install_requires=["))]
    names = {re.split(r"[<>=;\s\[]", spec)[0].lower().replace("_", "-").replace(".", "-")
             for spec in re.findall(r'^\s*"([A-Za-z0-9][^"\\]*)', block, re.M)}
    locked = set(read_pins(HUB_LOCK.read_text()))
    assert names and names <= locked, names - locked


def test_the_installer_lock_is_the_part_of_the_hub_lock_it_names():
    installer = (REQUIREMENTS_DIR / "installer.lock").read_text()
    blocks = {name: block for name, block, _ in lock.lock_blocks(HUB_LOCK.read_text())}
    mine = lock.lock_blocks(installer)
    assert {"jsonschema", "ruamel-yaml", "pluggy", "requests", "packaging", "certifi", "rpds-py"} <= {n for n, _, _ in mine}
    assert "jupyterhub" not in {n for n, _, _ in mine}  # the hub itself comes in the installer's hub env step
    for name, block, _ in mine:
        assert block in HUB_LOCK.read_text() and name in blocks  # the same pins and hashes, block for block


def test_the_subset_follows_via_notes_and_refuses_an_unknown_root():
    text = ("a==1 \\\n    --hash=sha256:aa\n    # via -r x.txt\n"
            "b==2 \\\n    --hash=sha256:bb\n    # via\n    #   a\n    #   z\n"
            "c==3 \\\n    --hash=sha256:cc\n    # via b\n"
            "z==4 \\\n    --hash=sha256:dd\n    # via -r x.txt\n")
    assert [line.split("==")[0] for line in lock.subset_of(text, {"a"}).splitlines() if "==" in line] == ["a", "b", "c"]
    assert [line.split("==")[0] for line in lock.subset_of(text, {"c"}).splitlines() if "==" in line] == ["c"]
    with pytest.raises(SystemExit, match="not in the lock: nope"):
        lock.subset_of(text, {"nope"})
