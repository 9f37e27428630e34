"""The integration harness refuses a TLJH_TEST_DISTROS that names no distro (it would skip everything)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("value", [",", "", " , "])
def test_a_distro_list_naming_no_distro_is_an_error_not_a_skip(value):
    env = {**os.environ, "TLJH_TEST_DISTROS": value}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "integration-tests", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode not in (0, 5), result.stdout[-2000:]
    assert f"TLJH_TEST_DISTROS={value!r} names no distro" in result.stdout + result.stderr
