"""tljh.actions.python's pure decisions: which pins are older, which specs are met, which lines we judge.
(The pip and venv commands themselves are proven in the test machines.)"""

from __future__ import annotations

import pytest

from tljh.actions import python as py


@pytest.mark.parametrize("pins, installed, expected", [
    ({"a": "1.0"}, {}, ["a"]),                      # missing
    ({"a": "1.0"}, {"a": "1.0"}, []),               # as pinned
    ({"a": "1.10"}, {"a": "1.9"}, ["a"]),           # older (not compared as text)
    ({"a": "1.9"}, {"a": "1.10"}, []),              # newer is kept
    ({"a": None}, {"a": "0.1"}, []),                # unpinned: any version
    ({"a": None}, {}, ["a"]),
    ({"a": "1.0"}, {"a": "not-a-version"}, ["a"]),  # cannot tell: reinstall
    ({"a": "1.0", "b": "2.0"}, {"b": "1.0"}, ["a", "b"]),
])
def test_older(pins, installed, expected):
    assert py.older(pins, installed) == expected


@pytest.mark.parametrize("spec, installed, met", [
    ("tabulate", {"tabulate": "0.9"}, True),
    ("tabulate==0.9", {"tabulate": "0.9"}, True),
    ("tabulate>=1.0", {"tabulate": "0.9"}, False),
    ("Tab_Ulate[extra]>=0.9", {"tab-ulate": "1.0rc1"}, True),  # canonical names; pre-releases count
    ("tabulate", {}, False),
    ("not a spec!", {"not": "1"}, False),
])
def test_satisfied(spec, installed, met):
    assert py._satisfied(spec, installed) is met


@pytest.mark.parametrize("spec, name", [("tabulate==1.0", "tabulate"), (" pkg[extra]>=1 ", "pkg"),
                                        ("pkg;python_version>'3'", "pkg"), ("pkg~=1.0", "pkg"), ("pkg", "pkg"),
                                        ("pkg !=2", "pkg")])
def test_spec_name(spec, name):
    assert py._spec_name(spec) == name


@pytest.mark.parametrize("line, judgeable", [
    ("tabulate==1.0", True), ("pkg[extra]>=1; python_version >= '3.8'", True),
    ("-r other.txt", False), ("--index-url https://x/simple", False), ("https://host/pkg.whl", False),
    ("pkg @ https://host/pkg.whl", False), ("./local/dir", False), ("pkg; sys_platform == 'linux/x'", True),
])
def test_judgeable(line, judgeable):
    assert py._judgeable(line) is judgeable


def test_requirement_lines_drop_comments_blanks_and_join_continuations():
    text = "# header\n\ntabulate==1.0  # why\npkg \\\n  >=2\n   \n#x\n"
    assert py._requirement_lines(text) == ["tabulate==1.0", "pkg    >=2"]


def test_older_keeps_a_pin_met_by_an_equal_version_spelt_otherwise():
    assert py.older({"a": "1.0"}, {"a": "1.0.0"}) == []


def test_read_pins_takes_pins_written_with_spaces_and_comments_holding_hashes():
    assert py.read_pins("a == 1\nb==2 # see #12\n") == {"a": "1", "b": "2"}
    env = {"python_version": "3.11", "python_full_version": "3.11.2"}
    assert py.read_pins('c==3 ; python_version >= "3" # why # really\n', env) == {"c": "3"}


def test_requirement_lines_end_at_the_first_comment():
    assert py._requirement_lines("pkg==1 # one # two\n") == ["pkg==1"]


@pytest.mark.parametrize("line", ["pkg @ file:pkg.whl", "pkg --install-option=--prefix=/x"])
def test_a_url_requirement_or_a_path_before_the_marker_is_left_to_pip(line):
    assert py._judgeable(line) is False


def test_python_version_from_virtualenvs_version_info(tmp_path):
    (tmp_path / "pyvenv.cfg").write_text("home = /usr/bin\nversion_info = 3.12.3.final.0\n")
    assert py.python_version(tmp_path) == "3.12.3"


def test_python_version_from_the_newest_lib_directory_when_nothing_else_says(tmp_path):
    for version in ("3.9", "3.10"):
        (tmp_path / "lib" / f"python{version}" / "site-packages").mkdir(parents=True)
    assert py.python_version(tmp_path) == "3.10"
    assert py.python_version(tmp_path / "nothing") is None


def test_marker_environment_completes_a_two_part_version_and_keeps_the_machines_values(tmp_path):
    import platform
    import sys

    (tmp_path / "lib" / "python3.10" / "site-packages").mkdir(parents=True)
    values = py.marker_environment(tmp_path)
    assert (values["python_full_version"], values["python_version"]) == ("3.10.0", "3.10")
    assert values["sys_platform"] == sys.platform and values["platform_machine"] == platform.machine()
    (tmp_path / "pyvenv.cfg").write_text("version = 3.11.7\n")
    assert py.marker_environment(tmp_path)["python_full_version"] == "3.11.7"


def test_an_installer_file_that_is_not_text_does_not_break_reading_a_conda_env(tmp_path):
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    (site / "odd-1.0.dist-info").mkdir(parents=True)
    (site / "odd-1.0.dist-info" / "INSTALLER").write_bytes(b"\xff\xfe conda\n")
    (tmp_path / "conda-meta").mkdir()
    assert py.installed_versions(tmp_path) == {"odd": "1.0"}  # not pip's: not an interrupted install


def test_a_spec_with_spaces_is_judged_by_its_whole_specifier(tmp_path):
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    (site / "tabulate-0.8.dist-info").mkdir(parents=True)
    (site / "tabulate-0.8.dist-info" / "RECORD").write_text("")
    line = "tabulate >= 0.9 ; sys_platform == 'linux'"
    assert [c.target for c in py.RequirementsFile(tmp_path, "r.txt", line + "\n").plan()] == [line]
