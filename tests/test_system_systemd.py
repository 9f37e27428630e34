from tljh.actions.system import missing_packages
from tljh.actions.systemd import files_content, fingerprint


def test_missing_packages_from_dpkg_query_output():
    status = "python3 installed\npython3-venv not-installed\nlibc6:amd64 installed\nsudo config-files\n"
    assert missing_packages(status, ["python3", "python3-venv", "sudo", "libc6", "curl"]) == [
        "python3-venv",
        "sudo",
        "curl",
    ]


def test_missing_packages_with_empty_output_is_everything():
    assert missing_packages("", ["python3", "sudo"]) == ["python3", "sudo"]


def test_fingerprint_is_stable_and_sensitive_to_content_and_order():
    base = fingerprint([b"a", b"b"])
    assert base == fingerprint([b"a", b"b"])
    assert base != fingerprint([b"a", b"c"])
    assert base != fingerprint([b"b", b"a"])
    assert base != fingerprint([b"ab", b""])  # part boundaries count
    assert len(base) == 64


def test_files_content_names_each_file_and_counts_missing_as_empty(tmp_path):
    present = tmp_path / "present"
    present.write_bytes(b"data")
    missing = tmp_path / "missing"
    assert files_content([present, missing]) == [str(present).encode() + b"\0data", str(missing).encode() + b"\0"]


def test_fingerprint_of_files_changes_when_one_file_changes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("1")
    before = fingerprint(files_content([a, b]))
    assert before == fingerprint(files_content([a, b]))
    b.write_text("new")
    assert fingerprint(files_content([a, b])) != before
