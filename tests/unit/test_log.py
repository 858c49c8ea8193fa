"""Job event lines: one per event, readable, and client text cannot forge lines."""

from __future__ import annotations

import json
import logging

import pytest

from gateway.core.job import Frontend, Job, JobState, Origin
from gateway.log import JsonFormatter, fields, job_event


def job() -> Job:
    return Job(1, "lp", JobState.PENDING, {}, (), Origin(Frontend.LPD, peer="10.0.0.7"))


def test_text_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateway.jobs")
    job_event("received", job(), user="bob", name="Q3 report\r\nINFO job 2 completed")
    (record,) = caplog.records
    line = record.getMessage()
    assert line.startswith("job 1 received queue=lp peer=10.0.0.7 user=bob name=")
    assert "\n" not in line and "\r" not in line
    assert '"Q3 report\\x0d\\x0aINFO job 2 completed"' in line


def test_fields_quote_and_escape() -> None:
    assert fields(a="plain", b="two words", c='say "hi"', d=None) == (
        'a=plain b="two words" c="say \\"hi\\""'
    )


def test_json_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateway.jobs")
    job_event("forwarding", job(), backend="file:///x", attempt=2)
    data = json.loads(JsonFormatter().format(caplog.records[0]))
    assert data["level"] == "info" and data["logger"] == "gateway.jobs"
    assert data["job_id"] == 1 and data["event"] == "forwarding"
    assert data["queue"] == "lp" and data["peer"] == "10.0.0.7"
    assert data["backend"] == "file:///x" and data["attempt"] == 2
    assert data["message"].startswith("job 1 forwarding")
