"""The progress page's last status: the hand-over to the hub, and the installer log that keeps it."""

from __future__ import annotations

import json
import logging

from tljh.install.progress import PageStatus, stop_page

PREFIX = "progress page's last status: "


def _logged(caplog) -> list[dict]:
    return [json.loads(r.getMessage()[len(PREFIX):]) for r in caplog.records if r.getMessage().startswith(PREFIX)]


def test_hand_over_is_the_final_state_and_nothing_is_written_after_it(paths):
    paths.progress_status.parent.mkdir(parents=True)
    status = PageStatus(paths.progress_status, ["configuration", "services"])
    status.step("configuration", "running")
    status.step("configuration", "done")
    status.hand_over("/jupyter/")
    doc = json.loads(paths.progress_status.read_text())
    assert doc["state"] == "handed-over" and doc["hub_path"] == "/jupyter/" and doc["error"] is None
    assert [(s["title"], s["state"]) for s in doc["steps"]] == [("configuration", "done"), ("services", "pending")]
    status.step("services", "running")
    status.fail("too late")
    assert json.loads(paths.progress_status.read_text()) == doc


def test_stopping_the_page_logs_its_last_status_then_removes_it(paths, caplog):
    paths.progress_status.parent.mkdir(parents=True)
    status = PageStatus(paths.progress_status, ["configuration", "services"])
    status.step("configuration", "done")
    status.hand_over("/")
    doc = json.loads(paths.progress_status.read_text())
    with caplog.at_level(logging.INFO, logger="tljh"):
        assert stop_page(paths) is False  # no page server in this test, only its files
    assert _logged(caplog) == [doc]
    assert not paths.progress_status.exists()


def test_stopping_without_a_status_file_logs_nothing(paths, caplog):
    with caplog.at_level(logging.INFO, logger="tljh"):
        assert stop_page(paths) is False
    assert _logged(caplog) == []
