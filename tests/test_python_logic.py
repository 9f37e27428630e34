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
