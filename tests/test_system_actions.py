"""Service, Group, AptPackages, visudo_check and the sudoers file: plan and apply against fake commands.

The commands (systemctl, dpkg-query, apt-get, groupadd, visudo) are the stand-ins of conftest's
fake_commands fixture, so these tests need no root and change nothing on the host; the real
ones are exercised in the test machines.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tljh.actions import Change
from tljh.actions.files import File
from tljh.actions.system import APT_LOCK_TIMEOUT_SECONDS, AptFetchError, AptPackages, Group, visudo_check
from tljh.actions.systemd import Service, fingerprint
from tljh.install.installer import access_steps, sudoers as sudoers_text
from tljh.journal import Entry, Journal
from tljh.run import CommandError

UNIT = "demo.service"
UNIT_TEXT = "[Service]\nExecStart=/bin/true\n"


@pytest.fixture
def journal(tmp_path):
    return Journal(tmp_path / "journal.jsonl")


class Inputs:
    """What the service reads at start; tests change it between runs."""

    def __init__(self) -> None:
        self.value = b"config v1"

    def __call__(self) -> list[bytes]:
        return [self.value]


@pytest.fixture
def service(tmp_path, fake_commands):
    inputs = Inputs()
    action = Service(UNIT, UNIT_TEXT, tmp_path / "units", tmp_path / "state" / "demo.fingerprint", inputs)
    (tmp_path / "units").mkdir()
    (tmp_path / "state").mkdir()
    return action, inputs


# ------------------------------------------------------------------ Service


def test_a_new_service_is_written_enabled_and_started(service, fake_commands, journal, tmp_path):
    action, _ = service
    assert action.plan() == [Change("create", str(tmp_path / "units" / UNIT)), Change("enable", UNIT),
                             Change("start", UNIT)]
    action.apply(journal)
    systemctl = [c for c in fake_commands.calls() if c.startswith("systemctl") and " is-" not in c]
    assert systemctl == ["systemctl daemon-reload", f"systemctl enable {UNIT}", f"systemctl restart {UNIT}"]
    assert (tmp_path / "units" / UNIT).read_text() == UNIT_TEXT
    assert [(e.kind, e.change, e.target) for e in journal.entries()] == [
        ("file", "create", str(tmp_path / "units" / UNIT)), ("service", "enable", UNIT), ("service", "start", UNIT)]


def test_the_fingerprint_of_unit_and_inputs_is_stored_after_a_start(service, journal, tmp_path):
    action, _ = service
    action.apply(journal)
    stored = (tmp_path / "state" / "demo.fingerprint").read_text()
    assert stored == fingerprint([UNIT_TEXT.encode(), b"config v1"])
    assert (tmp_path / "state" / "demo.fingerprint").stat().st_mode & 0o777 == 0o600


def test_a_second_run_changes_and_restarts_nothing(service, fake_commands, journal):
    action, _ = service
    action.apply(journal)
    fake_commands.forget_calls()
    assert action.plan() == []
    assert action.apply(journal) == []
    assert not [c for c in fake_commands.calls() if " is-" not in c]


def test_changed_inputs_restart_the_running_service(service, fake_commands, journal):
    action, inputs = service
    action.apply(journal)
    inputs.value = b"config v2"
    assert action.plan() == [Change("restart", UNIT)]
    fake_commands.forget_calls()
    assert action.apply(journal) == [Change("restart", UNIT)]
    assert [c for c in fake_commands.calls() if " is-" not in c] == ["systemctl daemon-reload", f"systemctl restart {UNIT}"]
    assert action.plan() == []


def test_a_new_unit_text_is_written_reloaded_and_restarts_the_service(service, fake_commands, journal, tmp_path):
    action, inputs = service
    action.apply(journal)
    upgraded = Service(UNIT, "[Service]\nExecStart=/bin/new\n", tmp_path / "units", action.fingerprint_file, inputs)
    unit = tmp_path / "units" / UNIT
    assert upgraded.plan() == [Change("update", str(unit)), Change("restart", UNIT)]
    fake_commands.forget_calls()
    upgraded.apply(journal)
    assert unit.read_text() == "[Service]\nExecStart=/bin/new\n"
    assert [c for c in fake_commands.calls() if " is-" not in c] == [
        "systemctl daemon-reload", f"systemctl restart {UNIT}"]
    assert upgraded.plan() == []


def test_a_disabled_service_is_enabled_without_a_restart(service, fake_commands, journal):
    action, _ = service
    action.apply(journal)
    fake_commands.set(f"enabled.{UNIT}", False)
    assert action.plan() == [Change("enable", UNIT)]
    fake_commands.forget_calls()
    action.apply(journal)
    assert [c for c in fake_commands.calls() if " is-" not in c] == [f"systemctl enable {UNIT}"]


def test_a_stopped_service_is_started_even_when_nothing_changed(service, fake_commands, journal):
    action, _ = service
    action.apply(journal)
    fake_commands.set(f"active.{UNIT}", False)
    assert action.plan() == [Change("start", UNIT)]
    action.apply(journal)
    assert action.plan() == []


def test_a_running_service_without_a_stored_fingerprint_is_restarted(service, fake_commands, journal, tmp_path):
    action, _ = service
    action.apply(journal)
    (tmp_path / "state" / "demo.fingerprint").unlink()
    assert action.plan() == [Change("restart", UNIT)]


def test_reverting_its_entries_stops_disables_and_removes_the_unit(service, fake_commands, journal, tmp_path):
    action, _ = service
    action.apply(journal)
    fake_commands.forget_calls()
    for entry in journal.reversed():  # the unit file's entry is the File's (kind "file"), undone by it
        action.revert(entry)
    assert fake_commands.calls() == [f"systemctl stop {UNIT}", f"systemctl disable --now {UNIT}"]
    assert not (tmp_path / "units" / UNIT).exists()  # (uninstall reloads systemd once, at the end)
    fake_commands.set(f"enabled.{UNIT}", False)
    fake_commands.set(f"active.{UNIT}", False)
    assert action.plan() == [Change("create", str(tmp_path / "units" / UNIT)), Change("enable", UNIT),
                             Change("start", UNIT)]


# ------------------------------------------------------------------ Group

ABSENT_GROUP = "tljh-test-no-such-group"


def test_an_existing_group_needs_nothing(fake_commands, journal):
    assert Group("root").plan() == []
    assert Group("root").apply(journal) == []
    assert fake_commands.calls() == []


def test_a_missing_group_is_created_as_a_system_group_and_journalled(fake_commands, journal):
    group = Group(ABSENT_GROUP)
    assert group.title == f"group {ABSENT_GROUP}"
    assert group.plan() == [Change("create", ABSENT_GROUP)]
    assert group.apply(journal) == [Change("create", ABSENT_GROUP)]
    assert fake_commands.calls() == [f"groupadd --system {ABSENT_GROUP}"]
    assert [(e.kind, e.target, e.change) for e in journal.entries()] == [("group", ABSENT_GROUP, "create")]


def test_reverting_a_group_that_is_already_gone_runs_nothing(fake_commands):
    Group(ABSENT_GROUP).revert(Entry("group", ABSENT_GROUP, "create"))
    assert fake_commands.calls() == []


def test_reverting_an_existing_group_deletes_it(fake_commands):
    Group("root").revert(Entry("group", "root", "create"))  # the fake groupdel: nothing is deleted
    assert fake_commands.calls() == ["groupdel root"]


# ------------------------------------------------------------------ AptPackages


def test_apt_plans_only_the_missing_packages(fake_commands):
    fake_commands.set("installed.python3")
    apt = AptPackages(["python3", "curl", "sudo"])
    assert apt.title == "apt packages python3 curl sudo"
    assert apt.plan() == [Change("install", "curl"), Change("install", "sudo")]


def test_apt_journals_then_updates_and_installs_the_missing_ones_only(fake_commands, journal):
    fake_commands.set("installed.python3")
    apt = AptPackages(["python3", "curl", "sudo"])
    apt.apply(journal)
    lock = f"-o DPkg::Lock::Timeout={APT_LOCK_TIMEOUT_SECONDS}"
    assert [c for c in fake_commands.calls() if c.startswith("apt-get")] == [
        f"apt-get {lock} update",
        f"apt-get {lock} install --yes --no-install-recommends curl sudo",
    ]
    assert [(e.kind, e.target, e.change) for e in journal.entries()] == [("apt", "curl", "install"),
                                                                         ("apt", "sudo", "install")]
    fake_commands.forget_calls()
    assert apt.apply(journal) == []
    assert not [c for c in fake_commands.calls() if c.startswith("apt-get")]


APT_DATA = Path(__file__).parent / "data" / "apt"


REFUSED = "(Could not connect to 127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused))"
MIRROR = "http://deb.debian.org/debian"
UPDATE_FAILED = [f"{MIRROR}/dists/bookworm/InRelease {REFUSED}",
                 f"{MIRROR}/dists/bookworm-updates/InRelease (Unable to connect to 127.0.0.1:9)",
                 f"{MIRROR}-security/dists/bookworm-security/InRelease (Unable to connect to 127.0.0.1:9)"]


@pytest.mark.parametrize("lists, said, fetched", [
    ("stale", "", "; ".join([f"{MIRROR}/pool/main/s/sl/sl_5.02-1%2bb1_amd64.deb {REFUSED}", *UPDATE_FAILED[:2]])
     + " and 1 more (see the log)"),
    ("nolists", " (Unable to locate package sl)", "; ".join(UPDATE_FAILED)),
])
def test_apt_unable_to_reach_its_mirror_says_which_urls_it_could_not_fetch(fake_commands, journal, lists: str,
                                                                          said: str, fetched: str) -> None:
    """Real outputs (tests/data/apt/README.md): `apt-get update` exits 0 and only its W: lines name the mirror."""
    update = "proxy" if lists == "stale" else "nolists"
    (fake_commands.state / "apt-output.update").write_text((APT_DATA / f"update-{update}.txt").read_text())
    (fake_commands.state / "apt-output.install").write_text((APT_DATA / f"install-{lists}.txt").read_text())
    with pytest.raises(AptFetchError) as raised:
        AptPackages(["sl"]).apply(journal)
    assert str(raised.value) == (f"apt-get could not install sl{said}: it could not fetch {fetched}. Check this "
                                 "machine's network, apt's proxy (Acquire::http::Proxy in /etc/apt/apt.conf.d/, "
                                 "http_proxy) and its apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/).")


def test_other_apt_failures_stay_command_errors(fake_commands, journal) -> None:
    from tljh.run import CommandError

    (fake_commands.state / "apt-output.install").write_text("E: Unable to locate package sl\n")
    with pytest.raises(CommandError):
        AptPackages(["sl"]).apply(journal)


def test_apt_first_finishes_what_a_killed_run_left_half_done(fake_commands, journal):
    """apt-get refuses to work after an interrupted dpkg until `dpkg --configure -a` has run."""
    fake_commands.set("dpkg-interrupted")
    AptPackages(["curl"]).apply(journal)
    calls = [c for c in fake_commands.calls() if c.startswith(("dpkg ", "apt-get"))]
    assert calls[:2] == ["dpkg --audit", "dpkg --configure -a"] and calls[2].startswith("apt-get")
    fake_commands.forget_calls()
    AptPackages(["sudo"]).apply(journal)
    assert "dpkg --configure -a" not in fake_commands.calls()


def test_apt_revert_keeps_the_package_and_says_so(fake_commands):
    AptPackages(["curl"]).revert(Entry("apt", "curl", "install"))  # python3, sudo: the rest of the system uses them
    assert fake_commands.calls() == []
    assert "apt-get remove curl" in (AptPackages.undo(Entry("apt", "curl", "install")) or "")


# ------------------------------------------------------------------ visudo and the sudoers file


def test_visudo_check_runs_visudo_on_the_file_and_refuses_what_it_refuses(fake_commands, tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.write_text("%group ALL=(ALL) ALL\n")
    bad.write_text("BROKEN\n")
    visudo_check(good)
    with pytest.raises(CommandError, match="visudo"):
        visudo_check(bad)
    assert [c.split("/")[0] for c in fake_commands.calls()] == ["visudo -cf ", "visudo -cf "]
    assert fake_commands.calls()[1].endswith(str(bad))


def test_the_sudoers_file_is_validated_before_it_is_put_in_place(fake_commands, paths, journal, monkeypatch):
    sudoers = next(a for s in access_steps(paths) for a in s.actions
                   if isinstance(a, File) and a.path == paths.sudoers_file)
    assert sudoers.mode == 0o440
    monkeypatch.setattr(sudoers, "_content", "BROKEN\n" + sudoers_text(paths))
    with pytest.raises(CommandError):
        sudoers.apply(journal)
    assert not paths.sudoers_file.exists()
    monkeypatch.setattr(sudoers, "_content", sudoers_text(paths))
    sudoers.apply(journal)
    assert paths.sudoers_file.read_text() == sudoers_text(paths)
    assert sum(c.startswith("visudo -cf") for c in fake_commands.calls()) == 2


def test_unit_files_are_world_readable_not_writable(service, journal, tmp_path):
    action, _ = service
    action.apply(journal)
    assert (tmp_path / "units" / UNIT).stat().st_mode & 0o777 == 0o644


def test_a_restart_is_journalled_as_a_restart(service, journal):
    action, inputs = service
    action.apply(journal)
    inputs.value = b"config v2"
    action.apply(journal)
    assert [(e.kind, e.change) for e in journal.entries()][-1] == ("service", "restart")


def test_a_failing_systemctl_fails_the_apply(service, fake_commands, journal):
    action, _ = service
    fake_commands.set("fail.enable")
    with pytest.raises(CommandError, match="systemctl enable"):
        action.apply(journal)


@pytest.mark.parametrize("change, verb", [("enable", "disable"), ("start", "stop"), ("restart", "stop")])
def test_undo_disables_or_stops_and_tolerates_a_unit_already_gone(fake_commands, change, verb):
    fake_commands.set(f"fail.{verb}")
    assert Service.undo(Entry("service", UNIT, change)) is None
    assert fake_commands.calls()[0].startswith(f"systemctl {verb} ")
