"""Shared fixtures: the repository root on sys.path, a Paths over tmp_path, the bootstrap module."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import hypothesis
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


# Stand-ins for the system commands the actions run (systemctl, dpkg, dpkg-query, apt-get, groupadd,
# groupdel, visudo, journalctl), first on PATH. Each logs its argv to calls.log and keeps its
# state as files: enabled.UNIT, active.UNIT, nrestarts.UNIT, installed.PKG, dpkg-interrupted
# (crashes.UNIT: a (re)start leaves the unit inactive; fail.VERB: systemctl VERB fails); visudo refuses a
# file containing "BROKEN".
FAKE_COMMANDS = {
    "systemctl": r"""
if [ -e "$STATE/fail.$1" ]; then echo "Failed to $1 $2" >&2; exit 1; fi
case "$1" in
  is-enabled) if [ -e "$STATE/enabled.$2" ]; then echo enabled; exit 0; fi; echo disabled; exit 1 ;;
  is-active) if [ -e "$STATE/active.$2" ]; then echo active; exit 0; fi; echo inactive; exit 3 ;;
  enable) touch "$STATE/enabled.$2" ;;
  start|restart) if [ -e "$STATE/crashes.$2" ]; then rm -f "$STATE/active.$2"; else touch "$STATE/active.$2"; fi ;;
  disable) [ "$2" = --now ] && rm -f "$STATE/active.$3" "$STATE/enabled.$3"; rm -f "$STATE/enabled.$2" ;;
  show) unit="$4"
        if [ -e "$STATE/active.$unit" ]; then echo ActiveState=active; echo SubState=running
        else echo ActiveState=inactive; echo SubState=dead; fi
        echo "NRestarts=$(cat "$STATE/nrestarts.$unit" 2>/dev/null || echo 0)" ;;
esac
""",
    "dpkg-query": r"""
if [ "$1" != -W ] || [ "$2" != -f ] || [ "$3" != '${Package} ${db:Status-Status}
' ]; then echo "fake dpkg-query: unexpected arguments: $*" >&2; exit 2; fi
shift 3
status=0
for p in "$@"; do
  if [ -e "$STATE/installed.$p" ]; then echo "$p installed"; else echo "dpkg-query: no packages found matching $p" >&2; status=1; fi
done
exit $status
""",
    "apt-get": r"""
cmd=update; for a in "$@"; do [ "$a" = install ] && cmd=install; done
if [ -e "$STATE/apt-output.$cmd" ]; then cat "$STATE/apt-output.$cmd"; [ $cmd = install ] && exit 100; exit 0; fi
install=no
for a in "$@"; do
  case "$a" in install) install=yes ;; -*|*=*|update|--yes) ;; *) [ $install = yes ] && touch "$STATE/installed.$a" ;; esac
done
exit 0
""",
    "dpkg": r"""
case "$1" in
  --audit) [ -e "$STATE/dpkg-interrupted" ] && echo "The following packages are only half configured: x" ;;
  --configure) rm -f "$STATE/dpkg-interrupted" ;;
esac
exit 0
""",
    "groupadd": "",
    "groupdel": "",
    "journalctl": "echo '(journal)'",
    "visudo": r"""
f="$2"
if grep -q BROKEN "$f"; then echo "$f: syntax error near line 1" >&2; exit 1; fi
echo "$f: parsed OK"
""",
}


class FakeCommands:
    """The fake commands' directory, their state and what they were asked to do."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.state = root / "state"
        self.bin.mkdir(parents=True)
        self.state.mkdir()
        for name, body in FAKE_COMMANDS.items():
            script = self.bin / name
            script.write_text(
                f'#!/bin/sh\nSTATE="{self.state}"\nprintf "%s\\n" "{name} $*" >> "$STATE/calls.log"\n{body}'
            )
            script.chmod(0o755)

    def calls(self) -> list[str]:
        log = self.state / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def forget_calls(self) -> None:
        (self.state / "calls.log").unlink(missing_ok=True)

    def set(self, name: str, present: bool = True) -> None:
        """Create or remove a state flag such as "active.x.service" or "installed.curl"."""
        if present:
            (self.state / name).touch()
        else:
            (self.state / name).unlink(missing_ok=True)


@pytest.fixture
def fake_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCommands:
    """Fake system commands first on PATH (never the real ones: the tests must not need root)."""
    import shutil

    fakes = FakeCommands(tmp_path / "fake-commands")
    monkeypatch.setenv("PATH", f"{fakes.bin}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    for name in FAKE_COMMANDS:
        assert shutil.which(name) == str(fakes.bin / name), name
    return fakes


# Property tests: hypothesis' default number of examples; tools/mutation.py asks for fewer
# (TLJH_HYPOTHESIS_PROFILE=mutation), since it runs the tests once per mutant.
hypothesis.settings.register_profile("mutation", max_examples=15)
hypothesis.settings.load_profile(os.environ.get("TLJH_HYPOTHESIS_PROFILE", "default"))
