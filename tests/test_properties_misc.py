"""Property tests over other large input spaces: plugin specs, dpkg's answers, the journal's records."""

from __future__ import annotations

import dataclasses
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from tljh.actions.system import missing_packages
from tljh.journal import Entry, Journal
from tljh.plugins import merge_specs, spec_project

FAST = settings(deadline=None)

NAME = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,12}[A-Za-z0-9])?", fullmatch=True)
VERSION = st.from_regex(r"(==|>=|<=|~=|!=|<|>)[0-9]{1,3}(\.[0-9]{1,3}){0,2}", fullmatch=True)
NAME_SPEC = st.builds(lambda n, e, v: n + e + v, NAME, st.sampled_from(["", "[extra]", "[a,b]"]),
                      st.one_of(st.just(""), VERSION))
PATH_SPEC = st.builds(lambda n: f"/srv/plugins/{n}", NAME) | st.builds(lambda n: f"./{n}", NAME)
SPEC = st.one_of(NAME_SPEC, PATH_SPEC)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@FAST
@given(NAME, st.sampled_from(["", "[extra]"]), st.one_of(st.just(""), VERSION))
def test_a_named_spec_names_its_canonical_project(name, extras, version):
    assert spec_project(name + extras + version) == canonical(name)
    assert spec_project(f"  {name}{extras} {version} ") == canonical(name)


@FAST
@given(PATH_SPEC)
def test_paths_name_no_project(spec):
    assert spec_project(spec) is None


def key(spec: str) -> str:
    return spec_project(spec) or spec


@FAST
@given(st.lists(SPEC, max_size=6), st.lists(SPEC, max_size=6))
def test_merging_keeps_one_spec_per_project_and_the_requested_one_wins(remembered, requested):
    merged = merge_specs(remembered, requested)
    keys = [key(s) for s in merged]
    assert len(keys) == len(set(keys)) or len({key(s) for s in remembered}) < len(remembered)
    last_requested = {key(s): s for s in requested}
    for k, spec in last_requested.items():
        assert [s for s in merged if key(s) == k] == [spec]
    # remembered specs of projects not requested stay, in their order
    kept = [s for s in remembered if key(s) not in last_requested]
    assert [s for s in merged if key(s) not in last_requested] == kept
    assert merge_specs(merged, requested) == merged  # a re-run with the same requests changes nothing
    assert merge_specs(merged, []) == merged


@FAST
@given(st.dictionaries(NAME, st.sampled_from(["installed", "not-installed", "config-files", "half-installed"]),
                       max_size=8),
       st.lists(NAME, max_size=8, unique=True), st.sampled_from(["", ":amd64", ":arm64"]))
def test_missing_packages_is_the_wanted_ones_dpkg_does_not_call_installed(status, wanted, arch):
    output = "".join(f"{name}{arch} {state}\n" for name, state in status.items())
    assert missing_packages(output, wanted) == [p for p in wanted if status.get(p) != "installed"]


TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)


@FAST
@given(st.lists(st.builds(Entry, kind=TEXT, target=TEXT, change=TEXT, backup=st.none() | TEXT,
                          time=st.floats(min_value=0, max_value=2e9)), max_size=6))
def test_any_journal_entries_read_back_as_written_newest_last(tmp_path_factory, entries):
    journal = Journal(tmp_path_factory.mktemp("journal") / "journal.jsonl", run="run-1")
    for entry in entries:
        journal.record(entry)
    entries = [dataclasses.replace(e, run="run-1") for e in entries]  # each entry carries its run's id
    assert journal.entries() == entries
    assert list(journal.reversed()) == entries[::-1]
    if entries:
        assert journal.path.stat().st_mode & 0o777 == 0o600
