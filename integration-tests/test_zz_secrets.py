"""No secret is readable by an unprivileged user, during or after an install with --show-progress-page.

A bootstrap re-run (traefik stopped first, so the progress page can bind port 80) with a new
admin's password and a --plugin URL carrying a token (to a server on 127.0.0.1), while
integration-tests/snoop.py, run as the unprivileged user `snoop`, samples every process's
command line, the progress page (/, /status.json, /logs) and the files an install writes, and
afterwards reads every readable file on the machine. The secrets: that password, that token, and
traefik's API secret. Named test_zz_* (it re-runs the installer); it puts config.yaml and
install.json back and checks the hub answers.
"""

from __future__ import annotations

import functools
import http.server
import json
import secrets
import tarfile
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from hubclient import http_get
from machine import BOOTSTRAP_TIMEOUT, REPO_ROOT, Machine, run_bootstrap_piped, tail

if TYPE_CHECKING:
    from conftest import Installation

SNOOP = "snoop"
HOME = f"/home/{SNOOP}"
STATE_FILES = ("/opt/tljh/config/config.yaml", "/opt/tljh/state/install.json")
PLUGIN = REPO_ROOT / "integration-tests" / "plugins" / "tljh-example-plugin"
pytestmark = pytest.mark.one_distro  # a whole installer re-run and a read of every file: once per CI run


@pytest.fixture(scope="module")
def plugin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The example plugin as a source archive, served on 127.0.0.1 (any user:token is let in)."""
    served = tmp_path_factory.mktemp("plugin-archive")
    with tarfile.open(served / "tljh-example-plugin.tar.gz", "w:gz") as archive:
        archive.add(PLUGIN, arcname="tljh-example-plugin", filter=lambda i: None if "__pycache__" in i.name else i)
    handler = functools.partial(QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def snooped(machine: Machine, installed: Installation, plugin_server: int) -> Iterator[dict[str, Any]]:
    """Re-run the bootstrap with secrets while `snoop` looks; its report (hits, what it saw)."""
    password = "Pw-" + secrets.token_hex(12)
    token = "ghp_" + secrets.token_hex(16)
    api_secret = machine.run(["cat", "/opt/tljh/state/traefik-api.secret"]).stdout.strip()
    assert len(api_secret) >= 16
    kept = {path: machine.host_path(path).read_bytes() for path in STATE_FILES}
    machine.run(["sh", "-c", f"id {SNOOP} >/dev/null 2>&1 || useradd --create-home {SNOOP}"])
    machine.host_path(f"{HOME}/secrets").write_text(f"{password}\n{token}\n{api_secret}\n")
    machine.run(["chown", f"{SNOOP}:{SNOOP}", f"{HOME}/secrets"])
    machine.run(["chmod", "0600", f"{HOME}/secrets"])
    machine.run(["rm", "-f", f"{HOME}/report.json", f"{HOME}/stop"])
    machine.run(["systemctl", "stop", "traefik"])  # port 80 free: the progress page is shown
    machine.run(["systemd-run", f"--uid={SNOOP}", f"--gid={SNOOP}", "--unit=tljh-snoop", "--collect",
                 "python3", "/srv/tljh/integration-tests/snoop.py", f"{HOME}/secrets", f"{HOME}/report.json",
                 f"{HOME}/stop"])
    try:
        url = f"http://tljh:{token}@127.0.0.1:{plugin_server}/tljh-example-plugin.tar.gz"
        result = run_bootstrap_piped(machine, "secretadmin", password, timeout=BOOTSTRAP_TIMEOUT,
                                     extra=("--admin", "admin", "--show-progress-page", "--plugin", url))
        assert result.returncode == 0, tail(result.stdout + result.stderr, 60)
        machine.run(["sh", "-c", f"touch {HOME}/stop && chown {SNOOP} {HOME}/stop"])
        deadline = time.monotonic() + 600
        while machine.succeeds(["systemctl", "is-active", "--quiet", "tljh-snoop"]) and time.monotonic() < deadline:
            time.sleep(2)
        yield json.loads(machine.host_path(f"{HOME}/report.json").read_text())
    finally:
        machine.run(["sh", "-c", f"touch {HOME}/stop; systemctl stop tljh-snoop"], check=False)
        for path, content in kept.items():
            machine.host_path(path).write_bytes(content)
        machine.run(["systemctl", "start", "traefik"], check=False)
        assert http_get("http://127.0.0.1/hub/api").status_code == 200


def test_no_secret_is_readable_by_an_unprivileged_user(snooped: dict[str, Any]) -> None:
    assert snooped["hits"] == [], snooped


def test_the_snoop_saw_the_install(snooped: dict[str, Any]) -> None:
    """It looked while it mattered: the page answered, the installer ran, thousands of files were read."""
    seen = snooped["seen"]
    print(f"snoop: {seen}")  # e.g. how many samples and files (shown with pytest -rP)
    assert seen["page"] >= 1 and seen["installer"] >= 1 and seen["files"] >= 1000, seen
