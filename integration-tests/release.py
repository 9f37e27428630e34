"""The release bootstrap file (tools/build_release.py), built once per test session on the host."""

from __future__ import annotations

import functools
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import REPO_ROOT


@functools.lru_cache(maxsize=1)
def release_bootstrap() -> Path:
    """dist/tljh-bootstrap-VERSION.py of this checkout, built into a temporary directory."""
    outdir = Path(tempfile.mkdtemp(prefix="tljh-release-"))
    subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "build_release.py"), "--outdir", str(outdir)],
                   check=True, stdout=subprocess.DEVNULL)
    [found] = outdir.glob("tljh-bootstrap-*.py")
    return found


def wheel_sha256(bootstrap: Path) -> str:
    """The sha256 of the wheel the release file carries (its RELEASE_WHEEL_SHA256 line)."""
    for line in bootstrap.read_text().splitlines():
        if line.startswith("RELEASE_WHEEL_SHA256 = "):
            return line.split('"')[1]
    raise AssertionError(f"{bootstrap} carries no wheel")
