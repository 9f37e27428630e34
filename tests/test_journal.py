import dataclasses
import stat

from tljh.journal import Entry, Journal, NullJournal


def test_record_then_read_back_in_order(tmp_path):
    journal = Journal(tmp_path / "state" / "journal.jsonl", run="run-1")
    first = Entry("file", "/a", "create")
    second = Entry("file", "/b", "update", backup="/backups/b.1", env="/opt/tljh/hub", data={"mode": 0o644})
    journal.record(first)
    journal.record(second)
    with_run = [dataclasses.replace(first, run="run-1"), dataclasses.replace(second, run="run-1")]
    made_dir = journal.entries()[0]
    assert (made_dir.kind, made_dir.target, made_dir.change) == ("directory", str(tmp_path / "state"), "create")
    assert journal.entries()[1:] == with_run
    assert list(journal.reversed())[:2] == with_run[::-1]
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700


def test_each_journal_has_its_own_run_id(tmp_path):
    path = tmp_path / "journal.jsonl"
    Journal(path).record(Entry("group", "g1", "create"))
    Journal(path).record(Entry("group", "g2", "create"))
    runs = [e.run for e in Journal(path).entries()]
    assert all(runs) and runs[0] != runs[1]


def test_old_and_newer_entries_are_read(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_text('{"kind": "pip", "target": "x", "change": "install", "backup": null, "time": 1}\n'
                    '{"kind": "file", "target": "/y", "change": "create", "time": 2, "from_the_future": 1}\n')
    assert [(e.kind, e.target, e.run) for e in Journal(path).entries()] == [("pip", "x", ""), ("file", "/y", "")]


def test_journal_file_is_private_and_one_json_line_per_entry(tmp_path):
    journal = Journal(tmp_path / "journal.jsonl")
    journal.record(Entry("group", "jupyterhub-users", "create"))
    journal.record(Entry("group", "jupyterhub-admins", "create"))
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
    assert len(journal.path.read_text().splitlines()) == 2


def test_missing_journal_is_empty(tmp_path):
    assert Journal(tmp_path / "none.jsonl").entries() == []
    assert list(Journal(tmp_path / "none.jsonl").reversed()) == []


def test_null_journal_records_nothing():
    journal = NullJournal()
    journal.record(Entry("file", "/x", "create"))
    assert journal.entries() == []


def test_a_line_torn_by_a_killed_run_is_skipped_and_the_next_entry_starts_a_line(tmp_path):
    from tljh.journal import Entry, Journal

    journal = Journal(tmp_path / "journal.jsonl")
    journal.record(Entry("file", "/a", "create"))
    with open(journal.path, "a") as f:
        f.write('{"kind": "file", "tar')  # SIGKILL mid-write
    assert [e.target for e in journal.entries()] == ["/a"]
    journal.record(Entry("file", "/b", "create"))
    assert [e.target for e in journal.entries()] == ["/a", "/b"]
