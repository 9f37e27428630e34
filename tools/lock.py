#!/usr/bin/env python3
"""Generate or check the lock files of the hub and user environments.

    python3 tools/lock.py            # (re)generate every lock from its requirements file
    python3 tools/lock.py --upgrade  # the same, letting every transitive pin move to its newest release
    python3 tools/lock.py --check    # exit 1 when a lock is out of date with its requirements (offline)
    python3 tools/lock.py --wheels   # every locked version has a wheel for x86_64 and aarch64, Python 3.10-3.13

Each `tljh/install/requirements/NAME.txt` (the direct requirements, exact pins) has a lock
`NAME.lock`: every package the environment gets, transitive ones included, pinned, with the sha256
of every file the package index has for it, made by `uv pip compile --universal --generate-hashes`
for Python 3.10 and newer on any platform (environment markers pick per Python version and
architecture; x86_64 and aarch64 wheels are both hashed). The installer installs it with
`pip install --require-hashes`. A lock records the sha256 of the requirements file it was made
from; --check compares it, and checks that every direct pin is in the lock at its version.
Regenerating keeps the existing transitive pins unless --upgrade is given (uv reads the old lock).

uv is taken from PATH or beside this Python (`pip install uv`). The hashes are those of the files on
the index uv resolves against (UV_INDEX_URL; default PyPI); a mirror of that index serves the same
files, so the locks work through a mirror configured in pip.conf.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

REQUIREMENTS_DIR = Path(__file__).resolve().parent.parent / "tljh" / "install" / "requirements"
LOCKED = ("hub", "user-venv")  # traefik.txt is hashed by hand: one package, --no-deps
# installer.lock: the part of hub.lock the installer itself imports before its "hub environment" step
# (the bootstrap installs only that, so the rest of the hub's packages install beside the user
# environment). Its roots are installer.txt's project names; the rest follows hub.lock's "# via" notes.
SUBSETS = {"installer": "hub"}
PYTHON_FLOOR = "3.10"
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
PLATFORMS = ("x86_64-manylinux_2_28", "aarch64-manylinux_2_28")
# Locked packages published only as source (pure Python): pip builds them in the machine.
SOURCE_ONLY = {"onetimepass": "jupyterhub-nativeauthenticator"}
INPUT_LINE = re.compile(r"^# input: (?P<name>\S+) sha256=(?P<digest>[0-9a-f]{64})$", re.M)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def header(requirements: Path) -> str:
    return (f"# Lock of {requirements.name}: every package, pinned with hashes. Do not edit: "
            "regenerate with `python3 tools/lock.py`.\n"
            f"# input: {requirements.name} sha256={digest(requirements)}\n")


def uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if not Path(found).exists():
        sys.exit("uv is needed to generate the locks: pip install uv")
    return found


def generate(name: str, upgrade: bool) -> None:
    requirements, lock = REQUIREMENTS_DIR / f"{name}.txt", REQUIREMENTS_DIR / f"{name}.lock"
    argv = [uv(), "pip", "compile", "--quiet", "--universal", "--python-version", PYTHON_FLOOR,
            "--generate-hashes", "--no-header", "--native-tls", str(requirements), "-o", str(lock)]
    subprocess.run([*argv, *(["--upgrade"] if upgrade else [])], check=True)
    body = lock.read_text()
    lock.write_text(header(requirements) + body.replace(str(REQUIREMENTS_DIR) + "/", ""))
    print(f"wrote {lock}")


def lock_blocks(text: str) -> list[tuple[str, str, set[str]]]:
    """(canonical project, the block's text, the projects it is "via") of each pinned block of a uv lock."""
    blocks: list[tuple[str, str, set[str]]] = []
    for chunk in re.split(r"\n(?=[A-Za-z0-9])", text):
        if not chunk[:1].isalnum():
            continue
        name = re.sub(r"[-_.]+", "-", re.split(r"[=;\s\[]", chunk)[0]).lower()
        via_text = chunk.split("# via", 1)[1] if "# via" in chunk else ""
        via = {re.sub(r"[-_.]+", "-", word).lower() for word in re.findall(r"^[\s#]*([A-Za-z0-9][\w.-]*)\s*$",
                                                                          via_text, re.M)}
        blocks.append((name, chunk.rstrip("\n") + "\n", via))
    return blocks


def subset_of(lock_text: str, roots: set[str]) -> str:
    """The blocks of a lock needed by `roots` (canonical names): the roots and, again and again,
    every project one of them is the "via" of."""
    blocks = lock_blocks(lock_text)
    missing = roots - {name for name, _, _ in blocks}
    if missing:
        raise SystemExit(f"not in the lock: {', '.join(sorted(missing))}")
    needed = set(roots)
    while grown := {name for name, _, via in blocks if name not in needed and via & needed}:
        needed |= grown
    return "".join(block for name, block, _ in blocks if name in needed)


def subset_text(name: str, directory: Path = REQUIREMENTS_DIR) -> str:
    """NAME.lock as generated: the header, then the part of its parent lock NAME.txt's roots need."""
    roots_file, parent = directory / f"{name}.txt", directory / f"{SUBSETS[name]}.lock"
    roots = {re.sub(r"[-_.]+", "-", line.split("#", 1)[0].strip()).lower()
             for line in roots_file.read_text().splitlines() if line.split("#", 1)[0].strip()}
    return (f"# The part of {parent.name} that {roots_file.name} names, with what it needs. Do not edit: "
            "regenerate with `python3 tools/lock.py`.\n"
            f"# input: {roots_file.name} sha256={digest(roots_file)}\n"
            f"# from: {parent.name} sha256={digest(parent)}\n" + subset_of(parent.read_text(), roots))


def subset_problems(name: str, directory: Path = REQUIREMENTS_DIR) -> list[str]:
    lock = directory / f"{name}.lock"
    if not lock.is_file():
        return [f"{lock.name} is missing"]
    if lock.read_text() != subset_text(name, directory):
        return [f"{lock.name} is not the part of {SUBSETS[name]}.lock that {name}.txt names"]
    return []


def direct_pins(text: str) -> dict[str, tuple[str, str]]:
    """{canonical name: (version, marker)} of `name==version[; marker]` lines (comments, options skipped)."""
    pins = {}
    for line in text.replace("\\\n", " ").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        spec, _, marker = line.partition(";")
        spec = spec.split("--hash")[0].strip()
        name, _, version = spec.partition("==")
        pins[re.sub(r"[-_.]+", "-", re.split(r"[\[\s]", name.strip())[0]).lower() + "|" + marker.strip()] = (
            version.strip(), marker.strip())
    return pins


def problems(name: str, directory: Path = REQUIREMENTS_DIR) -> list[str]:
    """Why NAME.lock is out of date with NAME.txt ([] when it is not)."""
    requirements, lock = directory / f"{name}.txt", directory / f"{name}.lock"
    if not lock.is_file():
        return [f"{lock.name} is missing"]
    text = lock.read_text()
    found = INPUT_LINE.search(text)
    if found is None or found["name"] != requirements.name:
        return [f"{lock.name} does not say which requirements file it was made from"]
    out = []
    if found["digest"] != digest(requirements):
        out.append(f"{requirements.name} changed since {lock.name} was generated")
    locked = {key.split("|")[0]: version for key, (version, _) in direct_pins(text).items()}
    for key, (version, _) in direct_pins(requirements.read_text()).items():
        project = key.split("|")[0]
        if version and project not in locked:
            out.append(f"{project} is in {requirements.name} but not in {lock.name}")
    for line in re.findall(r"^[A-Za-z0-9].*$", text, re.M):
        if "==" not in line or not line.rstrip().endswith("\\"):
            out.append(f"{lock.name}: {line.split()[0]} is not pinned with hashes")
    return out


def wheel_problems(name: str) -> list[str]:
    """Locked versions without a wheel for one of PLATFORMS x PYTHONS (uv resolves the exact pins
    with --only-binary; SOURCE_ONLY packages and the packages needing them are left out)."""
    import tempfile

    text = (REQUIREMENTS_DIR / f"{name}.lock").read_text().replace("\\\n", " ")
    skipped = set(SOURCE_ONLY) | set(SOURCE_ONLY.values())
    pins = [line.split(" --hash")[0].strip() for line in text.splitlines()
            if line[:1].isalnum() and re.split(r"[=;\s]", line)[0] not in skipped]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        pinned = Path(tmp) / "pins.txt"
        pinned.write_text("\n".join(pins) + "\n")
        for platform in PLATFORMS:
            for python in PYTHONS:
                result = subprocess.run([uv(), "pip", "compile", "--quiet", "--no-header", "--native-tls",
                                         "--only-binary", ":all:", "--python-platform", platform,
                                         "--python-version", python, str(pinned)], capture_output=True, text=True)
                if result.returncode != 0:
                    out.append(f"{name}.lock on {platform} Python {python}: {result.stderr.strip().splitlines()[:2]}")
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that every lock is up to date")
    parser.add_argument("--upgrade", action="store_true", help="let every pin move to its newest release")
    parser.add_argument("--wheels", action="store_true", help="check that every locked version has wheels")
    args = parser.parse_args(argv)
    if args.wheels:
        found = [p for name in LOCKED for p in wheel_problems(name)]
        for problem in found:
            print(f"no wheel: {problem}", file=sys.stderr)
        print(f"checked {', '.join(PLATFORMS)} x Python {', '.join(PYTHONS)}: "
              + ("every locked version has a wheel" if not found else f"{len(found)} problem(s)")
              + f" (source only, built by pip: {', '.join(SOURCE_ONLY)})")
        return 1 if found else 0
    if args.check:
        found = [p for name in LOCKED for p in problems(name)] + [p for name in SUBSETS for p in subset_problems(name)]
        for problem in found:
            print(f"out of date: {problem}", file=sys.stderr)
        if found:
            print("regenerate the locks with `python3 tools/lock.py` and commit them", file=sys.stderr)
        return 1 if found else 0
    for name in LOCKED:
        generate(name, args.upgrade)
    for name in SUBSETS:
        (REQUIREMENTS_DIR / f"{name}.lock").write_text(subset_text(name))
        print(f"wrote {REQUIREMENTS_DIR / name}.lock")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
