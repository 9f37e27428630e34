import stat

from tljh.journal import Entry, Journal, NullJournal


def test_record_then_read_back_in_order(tmp_path):
    journal = Journal(tmp_path / "state" / "journal.jsonl")
    first = Entry("file", "/a", "create")
    second = Entry("file", "/b", "update", backup="/backups/b.1")
    journal.record(first)
    journal.record(second)
    assert journal.entries() == [first, second]
    assert list(journal.reversed()) == [second, first]


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
