#!/usr/bin/env python3
"""Build a release: the sdist and wheel, and the self-contained bootstrap file that carries the wheel.

    python3 tools/build_release.py [--outdir dist] [--verify]

- `python -m build` makes dist/the_littlest_jupyterhub-VERSION.tar.gz and -py3-none-any.whl;
- dist/tljh-bootstrap-VERSION.py is bootstrap/bootstrap.py with that wheel inside it (base64, with
  its sha256, checked by the bootstrap before it is used), so
  `curl -L URL | sudo python3 - --admin alice:PW` installs exactly this version, with nothing of ours
  on any package index; its sha256 is written beside it (.sha256) and printed;
- with --verify, the wheel is installed into a clean venv the way the bootstrap does it (the
  installer lock with --require-hashes, then the wheel with --no-deps) and every console script it declares
  (tljh-config and tljh) must be there and answer --help; and the
  bootstrap file must say its version.

The build needs the `build` package (pip install build) and the package index (for setuptools).
"""

from __future__ import annotations

import argparse
import base64
import configparser
import hashlib
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BOOTSTRAP = REPO / "bootstrap" / "bootstrap.py"
INSTALLER_LOCK = "tljh/install/requirements/installer.lock"
REQUIRED_SCRIPTS = {"tljh-config", "tljh"}
LINE = 76


def version() -> str:
    found = re.search(r'^__version__ = "([^"]+)"$', (REPO / "tljh" / "__init__.py").read_text(), re.M)
    assert found, "tljh/__init__.py has no __version__"
    return found[1]


def build(outdir: Path) -> tuple[Path, Path]:
    """sdist and wheel of this checkout, with the standard build front end."""
    for old in outdir.glob("the_littlest_jupyterhub-*"):
        old.unlink()
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(outdir), str(REPO)],
                   check=True)
    [sdist] = outdir.glob(f"the_littlest_jupyterhub-{version()}.tar.gz")
    [wheel] = outdir.glob(f"the_littlest_jupyterhub-{version()}-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.getinfo(INSTALLER_LOCK)  # KeyError if the lock is not packaged
    return sdist, wheel


def assignment(name: str, value: str) -> str:
    assert re.fullmatch(r"[\w.-]+", value), value
    return f'{name} = "{value}"'


def bootstrap_with(wheel: Path) -> str:
    """bootstrap.py's text with the wheel (name, sha256, base64) filled in."""
    data = wheel.read_bytes()
    encoded = base64.b64encode(data).decode()
    chunks = "\n".join(f'    "{encoded[i:i + LINE]}"' for i in range(0, len(encoded), LINE))
    text = BOOTSTRAP.read_text()
    replacements = {
        'RELEASE_WHEEL_NAME = ""': assignment("RELEASE_WHEEL_NAME", wheel.name),
        'RELEASE_WHEEL_SHA256 = ""': assignment("RELEASE_WHEEL_SHA256", hashlib.sha256(data).hexdigest()),
        'RELEASE_WHEEL = ""': f"RELEASE_WHEEL = (\n{chunks}\n)",
    }
    for old, new in replacements.items():
        assert text.count(f"\n{old}\n") == 1, f"{BOOTSTRAP} has no line {old!r}"
        text = text.replace(f"\n{old}\n", f"\n{new}\n")
    assert f'\nVERSION = "{version()}"\n' in text, "bootstrap.py's VERSION differs from tljh.__version__"
    return text


def write_bootstrap(wheel: Path, outdir: Path) -> Path:
    target = outdir / f"tljh-bootstrap-{version()}.py"
    target.write_text(bootstrap_with(wheel))
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    (outdir / f"{target.name}.sha256").write_text(f"{digest}  {target.name}\n")
    return target


def console_scripts(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        [entry_points] = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        parser = configparser.ConfigParser()
        parser.read_string(archive.read(entry_points).decode())
    return set(parser["console_scripts"]) if parser.has_section("console_scripts") else set()


def verify(wheel: Path, bootstrap: Path) -> None:
    """The wheel in a clean venv (as the bootstrap installs it) provides its console scripts; the
    bootstrap file says its version and carries this wheel."""
    scripts = console_scripts(wheel)
    missing = REQUIRED_SCRIPTS - scripts
    assert not missing, f"{wheel.name} declares no console script {', '.join(sorted(missing))}"
    with tempfile.TemporaryDirectory(prefix="tljh-verify-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        with zipfile.ZipFile(wheel) as archive:
            (Path(tmp) / "installer.lock").write_bytes(archive.read(INSTALLER_LOCK))
        pip = [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-warn-script-location"]
        subprocess.run([*pip, "--require-hashes", "-r", str(Path(tmp) / "installer.lock")], check=True)
        subprocess.run([*pip, "--no-deps", str(wheel)], check=True)
        for script in sorted(scripts):
            subprocess.run([str(venv / "bin" / script), "--help"], check=True, stdout=subprocess.DEVNULL)
            print(f"verified: {script} --help runs from the wheel installed in a clean venv")
    said = subprocess.run([sys.executable, str(bootstrap), "--version"], check=True, capture_output=True,
                          text=True).stdout
    assert said.startswith(f"tljh bootstrap {version()}: installs tljh {version()} ({wheel.name}"), said
    print(f"verified: {bootstrap.name} --version says: {said.strip()}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", type=Path, default=REPO / "dist")
    parser.add_argument("--verify", action="store_true", help="install the wheel into a clean venv and check it")
    args = parser.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    sdist, wheel = build(args.outdir)
    bootstrap = write_bootstrap(wheel, args.outdir)
    if args.verify:
        verify(wheel, bootstrap)
    digest = (args.outdir / f"{bootstrap.name}.sha256").read_text().split()[0]
    print(f"built {sdist.name}, {wheel.name}\nbootstrap file: {bootstrap} (sha256 {digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
