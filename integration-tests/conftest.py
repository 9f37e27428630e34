"""Fixtures for the integration tests: a booted machine per distro, with the hub installed in it.

Run as root from the repository root:

    python3 -m pytest integration-tests -v
    TLJH_TEST_DISTROS=bookworm,trixie python3 -m pytest integration-tests -v

Each machine has a network namespace of its own, which the test process enters while the
machine lives (see machine.py): tests reach the hub at 127.0.0.1, and up to TLJH_TEST_MACHINES
(default 2) test runs on one host proceed at once. Within one run, `machine` is a session fixture
parametrized by distro: pytest groups the tests by distro and tears one machine down before
booting the next.

Without root the tests are skipped with a stated reason (and listed at the end
of the run); with CI set they fail instead, since CI must run them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # import machine/hubclient under any import mode

from hubclient import HubClient
from machine import LOG_DIR, REPO_ROOT, Machine, run_bootstrap_piped, tail
from pagewatch import ARTIFACTS, PageWatch, last_status_logged, watch_install

ADMIN = "admin"
PASSWORD = "s3cret:with:colons"
ADMIN_ACCOUNT = "jupyter-admin"  # the system user of hub user "admin"
ADMIN_UNIT = "jupyter-admin"  # SystemdSpawner's unit for the admin's server (unit_name_template "jupyter-{USERNAME}")
HUB_URL = "http://127.0.0.1"
TRAEFIK_API_URL = "http://127.0.0.1:8099"
CHECKOUT = "/srv/tljh"
# The session install also installs plugins (one from this checkout, one published on the package
# index) and an admin's requirements file; test_plugins.py checks their effects, and
# test_zz_rerun.py's second run (without these) keeps them.
SESSION_PLUGINS = (f"{CHECKOUT}/integration-tests/plugins/tljh-example-plugin", "tljh-new-user==0.1.3")
SESSION_USER_REQUIREMENTS = f"{CHECKOUT}/integration-tests/plugins/user-requirements.txt"
SESSION_EXTRA_ARGS = (
    *(arg for spec in SESSION_PLUGINS for arg in ("--plugin", spec)),
    "--user-requirements-txt-url", SESSION_USER_REQUIREMENTS,
)
NOT_ROOT_REASON = "integration tests boot a systemd-nspawn machine and need root; run them as root"


def distros_under_test() -> list[str]:
    """The distros to test, from TLJH_TEST_DISTROS (comma separated; default bookworm).

    A value naming no distro is refused: it would skip every machine test and still exit 0.
    """
    raw = os.environ.get("TLJH_TEST_DISTROS", "bookworm")
    names = [name.strip() for name in raw.split(",") if name.strip()]
    if not names:
        raise pytest.UsageError(f"TLJH_TEST_DISTROS={raw!r} names no distro; give one or more, e.g. bookworm,trixie")
    return names


@dataclass
class Installation:
    """The outcome of the first (piped) bootstrap run."""

    result: subprocess.CompletedProcess[str]
    seconds: float
    log: Path
    page: PageWatch  # what a browser on http://127.0.0.1/ saw during the install (--show-progress-page)


# ---------------------------------------------------------------- checks before booting


def require_root() -> None:
    """Skip (or, under CI, fail) with an explicit reason unless running as root."""
    if os.geteuid() == 0:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{NOT_ROOT_REASON} (CI is set: they must run there, so this is a failure)", pytrace=False)
    pytest.skip(NOT_ROOT_REASON)


_live_machines: list[Machine] = []


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session", params=distros_under_test())
def machine(request: pytest.FixtureRequest) -> Iterator[Machine]:
    """A booted machine of one distro; destroyed after its tests, pass or fail."""
    require_root()
    assert not _live_machines, f"another test machine is still running: {_live_machines[0].name}"
    with Machine(request.param, private_network=True) as booted:
        _live_machines.append(booted)
        print(
            f"booted {booted.name} in {booted.boot_seconds:.1f} s; console log {booted.console_log}", file=sys.stderr
        )
        try:
            yield booted
        finally:
            _live_machines.remove(booted)


@pytest.fixture(scope="session")
def checkout(machine: Machine) -> str:
    """This checkout, copied to /srv/tljh in the machine (readable by every user)."""
    machine.copy_in(REPO_ROOT, CHECKOUT)
    machine.run(["chmod", "-R", "a+rX", CHECKOUT])
    return CHECKOUT


@pytest.fixture(scope="session")
def installed(machine: Machine, checkout: str) -> Installation:
    """The hub installed by the README's command: bootstrap.py piped into `python3 -` as root,
    with --show-progress-page, watched from the host with a headless Chromium (pagewatch.py).

    Fails (once, for every test that needs it) with the output's tail if the bootstrap fails.
    """
    log = LOG_DIR / f"{machine.name}.bootstrap.log"
    # the machine before the install, for test_zz_lifecycle.py's comparison after uninstalling
    pre_install_snapshot(machine).write_text(
        machine.run(["python3", f"{CHECKOUT}/integration-tests/snapshot.py"], timeout=300).stdout)
    start = time.monotonic()
    with open(log, "w") as echo:
        result, page = watch_install(
            lambda: run_bootstrap_piped(machine, ADMIN, PASSWORD, echo=echo, extra=("--show-progress-page", *SESSION_EXTRA_ARGS)),
            ARTIFACTS,
            machine.distro,
        )
    seconds = time.monotonic() - start
    page.final_status = last_status_logged(machine.run(["cat", "/opt/tljh/installer.log"], check=False).stdout)
    if result.returncode != 0:
        pytest.fail(
            f"bootstrap exited with {result.returncode} after {seconds:.0f} s (full output: {log}):\n"
            f"{tail(result.stdout, 60)}",
            pytrace=False,
        )
    return Installation(result, seconds, log, page)


def pre_install_snapshot(machine: Machine) -> Path:
    """Where the `installed` fixture keeps snapshot.py's picture of the machine before the install."""
    return LOG_DIR / f"{machine.name}.pre-install.json"


@pytest.fixture(scope="session")
def admin_name() -> str:
    """The admin user given to the bootstrap (--admin admin:PASSWORD)."""
    return ADMIN


@pytest.fixture(scope="session")
def admin_password() -> str:
    """The admin's password (it contains ':' on purpose)."""
    return PASSWORD


@pytest.fixture(scope="session")
def admin_account() -> str:
    """The system user that the admin's server runs as."""
    return ADMIN_ACCOUNT


@pytest.fixture(scope="session")
def admin_unit() -> str:
    """The systemd unit of the admin's server."""
    return ADMIN_UNIT


@pytest.fixture(scope="session")
def hub_url() -> str:
    """The hub's public URL, as seen from the host (the machine shares its network)."""
    return HUB_URL


@pytest.fixture(scope="session")
def traefik_api_url() -> str:
    """Where traefik's API listens (localhost, behind basic auth)."""
    return TRAEFIK_API_URL


@pytest.fixture(scope="session")
def admin_server(installed: Installation, hub_url: str, admin_name: str, admin_password: str) -> HubClient:
    """A client logged in as the admin whose server is running (started if needed)."""
    client = HubClient(hub_url)
    client.login(admin_name, admin_password)
    client.start_server()
    return client


# ---------------------------------------------------------------- heavy tests on one distro

def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "one_distro: a long test (many installs, load, reboots) that runs only on one distro "
        "(TLJH_TEST_HEAVY_DISTRO, default the first of TLJH_TEST_DISTROS), to keep CI's time bounded; "
        "what it proves does not depend on the distro",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect `one_distro` tests for every distro but the heavy one (TLJH_TEST_HEAVY_DISTRO, or the first)."""
    first = [os.environ.get("TLJH_TEST_HEAVY_DISTRO") or distros_under_test()[0]]
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        distro = callspec.params.get("machine") if callspec is not None else None
        heavy = item.get_closest_marker("one_distro") is not None
        (drop if heavy and distro is not None and [distro] != first else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# ---------------------------------------------------------------- reporting


def _diagnostics(machine: Machine) -> str:
    """Console log path and the hub's and proxy's journal tails, for a failed test's report."""
    lines = [f"machine {machine.name}; console log {machine.console_log}"]
    if machine.leader is None:
        return lines[0]
    try:
        journal = machine.run(
            ["journalctl", "--no-pager", "-n", "60", "-u", "jupyterhub", "-u", "traefik", "-u", "jupyter-*"],
            check=False,
            timeout=30,
        )
        lines.append(journal.stdout or journal.stderr)
    except Exception as error:  # noqa: BLE001 -- diagnostics must never hide the real failure
        lines.append(f"(could not read the journal: {error})")
    return "\n".join(lines)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the machine's diagnostics to the report of a failed test."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    booted = getattr(item, "funcargs", {}).get("machine")
    if report.failed and isinstance(booted, Machine):
        report.sections.append(("test machine", _diagnostics(booted)))


def _skip_reason(report: pytest.TestReport) -> str:
    """The reason given for a skip."""
    longrepr = report.longrepr
    return str(longrepr[-1]) if isinstance(longrepr, tuple) else str(longrepr)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say loudly, with reasons, when integration tests were skipped."""
    here = Path(__file__).resolve().parent
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if Path(str(report.fspath)).resolve().is_relative_to(here)
    ]
    if not skipped:
        return
    reasons = sorted({_skip_reason(report) for report in skipped})
    terminalreporter.section("integration tests SKIPPED", sep="!", red=True, bold=True)
    terminalreporter.line(f"{len(skipped)} integration test(s) did not run:")
    for reason in reasons:
        terminalreporter.line(f"  {reason}")
