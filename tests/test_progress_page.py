"""The bootstrap's progress page server: its routes, read-only answers, path traversal, lifecycle."""

from __future__ import annotations

import http.client
import json
import os
import threading
from pathlib import Path

import pytest

from tljh.paths import Paths
from tljh.install.progress import PageStatus, page_server_pid, stop_page

SECRET = "root:x:0:0:secret-line-that-must-never-be-served"
LOG_TEXT = "line 1 of the install\nline 2 of the install\n"


def page_files(bootstrap, paths: Paths):
    """The bootstrap's PageFiles at the same places as tljh's Paths (under tmp, so no root needed)."""
    for path in (paths.progress_index, paths.progress_status, paths.log_file):
        path.parent.mkdir(parents=True, exist_ok=True)
    return bootstrap.PageFiles(
        log=paths.log_file,
        index=paths.progress_index,
        favicon=paths.progress_favicon,
        status=paths.progress_status,
        pid=paths.progress_pid,
    )


@pytest.fixture
def files(bootstrap, paths):
    files = page_files(bootstrap, paths)
    files.log.write_text(LOG_TEXT)
    for secret in (paths.root / "etc/passwd", paths.root / "var/run/secret.txt", paths.root / "secret.txt"):
        secret.parent.mkdir(parents=True, exist_ok=True)
        secret.write_text(SECRET)
    return files


@pytest.fixture
def server(bootstrap, files):
    """A page server on 127.0.0.1 at a random port, serving from a thread."""
    server = bootstrap.bind_page(files, ("127.0.0.1", 0))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def request(server, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """Send path exactly as given (no client-side normalisation) and return status, headers, body."""
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_default_locations_are_the_seed_documents_and_match_tljh_paths(bootstrap):
    files = bootstrap.PageFiles(log=Paths().log_file)
    paths = Paths()
    assert files.index == paths.progress_index == Path("/var/run/index.html")
    assert files.favicon == paths.progress_favicon == Path("/var/run/favicon.ico")
    assert files.status == paths.progress_status
    assert files.pid == paths.progress_pid


def test_binding_writes_the_page_files(server, files, bootstrap):
    assert files.index.read_text() == bootstrap.INDEX_HTML
    assert files.favicon.read_bytes() == bootstrap.FAVICON
    assert bootstrap.FAVICON[:4] == b"\x00\x00\x01\x00"  # an ICO header


@pytest.mark.parametrize("path", ["/", "/index.html", "/?x=1", "/index.html?from=bookmark"])
def test_index(server, path):
    status, headers, body = request(server, path)
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert b"Installing The Littlest JupyterHub" in body
    assert headers["Cache-Control"] == "no-store"


def test_the_page_loads_nothing_from_the_internet(bootstrap):
    html = bootstrap.INDEX_HTML
    assert "http:" not in html and "https:" not in html and "src=" not in html
    assert '"//' not in html and "'//" not in html  # no protocol-relative URLs either
    assert 'href="/favicon.ico"' in html


def test_favicon(server, bootstrap):
    status, headers, body = request(server, "/favicon.ico")
    assert (status, headers["Content-Type"], body) == (200, "image/x-icon", bootstrap.FAVICON)


def test_logs_is_the_redacted_end_of_the_log_as_plain_text(bootstrap, server, files):
    secrets = ("$ pip install git+https://ghp_TOKEN123@example.org/p.git\n"
               "$ python3 -m tljh.installer --admin alice:PASSW0RD --admin=bob:S3CRET\n")
    files.log.write_text(secrets + LOG_TEXT * 10000)
    status, headers, body = request(server, "/logs")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert len(body) == bootstrap.LOGS_TAIL_BYTES and body.decode().endswith(LOG_TEXT)
    files.log.write_text(LOG_TEXT + secrets)
    body = request(server, "/logs")[2].decode()
    assert "https://***@example.org/p.git" in body and "alice:***" in body and "bob:***" in body
    for secret in ("ghp_TOKEN123", "PASSW0RD", "S3CRET"):
        assert secret not in body
        assert secret not in request(server, "/status.json")[2].decode()


def test_connections_are_bounded_and_time_out(bootstrap, server, monkeypatch):
    """Idle connections beyond MAX_CONNECTIONS are closed at once; the page still answers after the
    idle ones time out (REQUEST_TIMEOUT, shortened here)."""
    import socket
    import time

    monkeypatch.setattr(bootstrap.PageHandler, "timeout", 1.0)
    idle = [socket.create_connection(("127.0.0.1", server.server_address[1])) for _ in range(40)]
    try:
        time.sleep(0.3)
        assert threading.active_count() <= bootstrap.MAX_CONNECTIONS + 5
        closed = 0
        for sock in idle[bootstrap.MAX_CONNECTIONS:]:
            sock.settimeout(2)
            try:
                closed += sock.recv(1) == b""
            except (ConnectionResetError, TimeoutError):
                closed += 1
        assert closed >= len(idle) - bootstrap.MAX_CONNECTIONS - 2
        time.sleep(1.5)  # the idle ones time out and free their slots
        assert request(server, "/status.json")[0] == 200
    finally:
        for sock in idle:
            sock.close()


def test_status_before_any_report_says_starting(server):
    status, headers, body = request(server, "/status.json")
    assert (status, headers["Content-Type"]) == (200, "application/json")
    doc = json.loads(body)
    assert doc["state"] == "starting" and doc["steps"] == []


def test_status_carries_the_steps_the_log_tail_and_the_time(bootstrap, server, files):
    bootstrap.Status(files.status, files.log).step(bootstrap.STEPS[0], "running")
    doc = json.loads(request(server, "/status.json")[2])
    assert [s["state"] for s in doc["steps"]] == ["running", "pending", "pending"]
    assert doc["log_tail"] == LOG_TEXT.rstrip("\n")
    assert doc["log"] == str(files.log)
    assert doc["now"] >= doc["steps"][0]["started"]


TRAVERSALS = [
    "/../../../../etc/passwd",
    "/..%2f..%2f..%2fetc%2fpasswd",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "//etc/passwd",
    "/etc/passwd",
    "/secret.txt",
    "/../secret.txt",
    "/var/run/secret.txt",
    "/var/run/index.html",
    "/logs/../etc/passwd",
    "/logs/../../secret.txt",
    "/index.html/../secret.txt",
    "/favicon.ico/..",
    "/./index.html",
    "/status.json/",
    "/logs%00",
    "/%2Fetc%2Fpasswd",
    "http://127.0.0.1/etc/passwd",
    "\\..\\..\\etc\\passwd",
    "*",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_nothing_outside_the_fixed_routes_is_served(server, path):
    status, _, body = request(server, path)
    assert status == 404
    assert b"secret-line" not in body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_requests_are_read_only(server, files, method):
    before = {p: p.read_bytes() for p in (files.index, files.favicon, files.log)}
    status, _, _ = request(server, "/", method)
    assert status == 501
    assert {p: p.read_bytes() for p in before} == before


def test_head_has_no_body(server):
    status, headers, body = request(server, "/logs", "HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) == len(LOG_TEXT)


def test_a_missing_log_is_served_empty(server, files):
    files.log.unlink()
    assert request(server, "/logs")[:1] == (200,)
    assert json.loads(request(server, "/status.json")[2])["log_tail"] == ""


def test_port_in_use_is_said_and_the_page_skipped(bootstrap, server, files, capsys):
    files.index.unlink()
    assert bootstrap.bind_page(files, ("127.0.0.1", server.server_address[1])) is None
    assert "already in use" in capsys.readouterr().out
    assert not files.index.exists()


def test_forked_server_serves_until_the_installer_stops_it(bootstrap, files, paths):
    """The whole lifecycle across both sides: bootstrap forks it, tljh.install.progress stops it, files go."""
    server = bootstrap.bind_page(files, ("127.0.0.1", 0))
    port = server.server_address[1]
    bootstrap.Status(files.status, files.log)
    pid = bootstrap.start_page(server, user=None)
    try:
        assert page_server_pid(paths) == pid
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/status.json")
        assert json.loads(conn.getresponse().read())["state"] == "running"
        conn.close()
        assert pid in listeners(port)  # (so the check that it is gone below can fail)
        assert stop_page(paths) is True
    finally:
        if bootstrap.process_start_time(pid) is not None:
            os.kill(pid, 9)
    assert bootstrap.process_start_time(pid) is None
    for path in (files.index, files.favicon, files.status, files.pid):
        assert not path.exists(), path
    # the port is free: no process listens on it any more, or one that is not ours (a test run
    # beside this one may get the same port from the kernel once it is free)
    assert not (listeners(port) & {pid, os.getpid()})


def listeners(port: int) -> set[int]:
    """The pids (of those this user may inspect) with a TCP socket listening on 127.0.0.1:port."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, state, inode = fields[1], fields[3], fields[9]
        if state == "0A" and address == f"0100007F:{port:04X}":
            inodes.add(f"socket:[{inode}]")
    pids = set()
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) in inodes for fd in fd_dir.iterdir()):
                pids.add(int(fd_dir.parent.name))
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return pids


def test_stop_page_ignores_a_pid_file_naming_another_process(bootstrap, paths, files):
    paths.progress_pid.write_text(f"{os.getpid()} 12345\n")  # our pid, but not our start time
    assert page_server_pid(paths) is None
    assert stop_page(paths) is False  # and we are still alive
    assert not paths.progress_pid.exists()
    bootstrap.stop_page(files)  # the bootstrap's variant: nothing to stop, nothing raised


def test_both_writers_share_one_status_format(bootstrap, files, paths):
    """The bootstrap writes its steps; the installer keeps them and adds its own; the server reads all."""
    status = bootstrap.Status(files.status, files.log)
    for title in bootstrap.STEPS:
        status.step(title, "running")
        status.step(title, "done")
    paths.progress_pid.write_text(f"{os.getpid()} {bootstrap.process_start_time(os.getpid())}\n")
    page = PageStatus.open(paths, ["system packages", "services"])
    assert page is not None
    page.step("system packages", "running")
    doc = bootstrap.read_status(files)
    assert [(s["title"], s["state"]) for s in doc["steps"]] == [
        *[(t, "done") for t in bootstrap.STEPS],
        ("system packages", "running"),
        ("services", "pending"),
    ]
    page.fail("it broke")
    doc = bootstrap.read_status(files)
    assert doc["state"] == "failed"
    assert doc["error"] == {"step": "system packages", "message": "it broke"}


def test_bootstrap_failure_is_recorded(bootstrap, files):
    status = bootstrap.Status(files.status, files.log)
    status.step(bootstrap.STEPS[2], "running")
    status.fail(bootstrap.STEPS[2], "pip failed")
    doc = bootstrap.read_status(files)
    assert doc["state"] == "failed"
    assert doc["error"] == {"step": bootstrap.STEPS[2], "message": "pip failed"}
    assert doc["steps"][2]["state"] == "failed" and doc["steps"][2]["finished"]


def test_status_without_a_page_writes_nothing(bootstrap, files):
    bootstrap.Status(None, files.log).step(bootstrap.STEPS[0], "running")
    assert not files.status.exists()


def test_the_installers_steps_start_over_as_pending(bootstrap, files, paths):
    """A page left from an earlier installer run (e.g. the installer re-run by hand) restarts its steps."""
    status = bootstrap.Status(files.status, files.log)
    for title in bootstrap.STEPS:
        status.step(title, "done")
    paths.progress_pid.write_text(f"{os.getpid()} {bootstrap.process_start_time(os.getpid())}\n")
    first = PageStatus.open(paths, ["system packages"])
    first.step("system packages", "running")
    first.fail("broken")
    PageStatus.open(paths, ["system packages"])
    doc = bootstrap.read_status(files)
    assert (doc["state"], doc["error"]) == ("running", None)
    assert [s["state"] for s in doc["steps"]] == ["done", "done", "done", "pending"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop it")
def test_forked_server_runs_as_nobody_and_still_reads_the_root_only_log(bootstrap, tmp_path_factory):
    """Once the port is bound the server is nobody: it reads the 0600 log through an fd opened before."""
    import pwd
    import tempfile

    shared = Path(tempfile.mkdtemp(prefix="tljh-page-test-"))
    try:
        shared.chmod(0o755)
        files = bootstrap.PageFiles(log=shared / "installer.log", index=shared / "index.html",
                                    favicon=shared / "favicon.ico", status=shared / "status.json",
                                    pid=shared / "page.pid")
        files.log.write_text(LOG_TEXT)
        files.log.chmod(0o600)
        server = bootstrap.bind_page(files, ("127.0.0.1", 0))
        bootstrap.Status(files.status, files.log)
        pid = bootstrap.start_page(server)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
            conn.request("GET", "/status.json")
            assert "line 2 of the install" in json.loads(conn.getresponse().read())["log_tail"]
            uids = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Uid:"))
            assert set(uids.split()[1:]) == {str(pwd.getpwnam("nobody").pw_uid)}, uids
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            assert b"--admin" not in cmdline or b":***" in cmdline
        finally:
            stop_child(pid)
    finally:
        import shutil

        shutil.rmtree(shared)


def stop_child(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM, then (bounded) SIGKILL: a test never waits forever for a forked server."""
    import time

    os.kill(pid, 15)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return
        time.sleep(0.1)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
