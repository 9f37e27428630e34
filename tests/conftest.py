"""Shared fixtures: the repository root on sys.path, a Paths over tmp_path, the bootstrap module."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tljh.paths import Paths  # noqa: E402

BOOTSTRAP_FILE = REPO_ROOT / "bootstrap" / "bootstrap.py"


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    """An installation layout entirely under tmp_path (never /opt or /etc)."""
    return Paths(prefix=tmp_path / "prefix", root=tmp_path / "root")


@pytest.fixture(scope="session")
def bootstrap():
    """bootstrap/bootstrap.py, imported as a module without running main()."""
    spec = importlib.util.spec_from_file_location("tljh_bootstrap", BOOTSTRAP_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module
