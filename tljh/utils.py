"""Compatibility with upstream TLJH's `tljh.utils`, which published plugins import."""

from __future__ import annotations

from typing import Any, Sequence


def run_subprocess(cmd: Sequence[str], *args: Any, **kwargs: Any) -> None:
    """Run cmd (an argv list), its output logged; raises tljh.run.CommandError when it fails."""
    from tljh.run import run

    run(list(cmd))
