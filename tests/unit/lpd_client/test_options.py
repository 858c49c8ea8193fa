"""lpd:// URIs and backend options: parsing, defaults, validation, and the
registration in `gateway.backends.create`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway import backends
from gateway.backends.lpd import LpdBackend, LpdSettings, split_uri
from gateway.config import QueueConfig
from gateway.lpd.client import Reserve


def test_split_uri() -> None:
    assert split_uri("lpd://printer.example/lp") == ("printer.example", 515, "lp", {})
    assert split_uri("lpd://10.0.0.5:5515/raw%5Fq?reserve=rfc1179&order=data,control+banner") == (
        "10.0.0.5",
        5515,
        "raw_q",
        {"reserve": "rfc1179", "order": "data,control", "banner": ""},
    )
    for bad in ("lpd://host", "lpd://host/", "ipp://host/lp", "lpd://host/a/b", "lpd://h/a%20b"):
        with pytest.raises(ValueError):
            split_uri(bad)


def test_defaults() -> None:
    settings = LpdSettings.parse({})
    assert settings == LpdSettings()
    assert settings.reserve is Reserve.NONE
    assert not settings.data_first and not settings.manual_copies and not settings.stream
    assert settings.banner is None and settings.agent is None and settings.long_status
    assert (settings.timeout, settings.contimeout) == (300.0, 604800.0)


@pytest.mark.parametrize(
    ("options", "field", "value"),
    [
        ({"reserve": "rfc1179"}, "reserve", Reserve.RFC1179),
        ({"reserve": "yes"}, "reserve", Reserve.RFC1179),
        ({"reserve": "any"}, "reserve", Reserve.ANY),
        ({"reserve": "none"}, "reserve", Reserve.NONE),
        ({"order": "data,control"}, "data_first", True),
        ({"order": "control, data"}, "data_first", False),
        ({"format": "o"}, "format_letter", "o"),
        ({"postscript": "o"}, "postscript_letter", "o"),
        ({"banner": ""}, "banner", True),
        ({"banner": "off"}, "banner", False),
        ({"banner": False}, "banner", False),
        ({"manual_copies": "on"}, "manual_copies", True),
        ({"sanitize_title": "yes"}, "sanitize_title", True),
        ({"charset": "ISO-8859-1"}, "charset", "latin-1"),
        ({"charset": "ascii"}, "charset", "ascii"),
        ({"timeout": "5"}, "timeout", 5.0),
        ({"contimeout": 60}, "contimeout", 60.0),
        ({"mode": "stream"}, "stream", True),
        ({"agent": "root"}, "agent", "root"),
        ({"status": "short"}, "long_status", False),
        ({"waitjob": "on"}, "waitjob", True),
    ],
)
def test_each_option(options: dict[str, Any], field: str, value: object) -> None:
    assert getattr(LpdSettings.parse(options), field) == value


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"reserve": "sometimes"}, "reserve="),
        ({"order": "data"}, "order="),
        ({"format": "x"}, "format="),
        ({"banner": "maybe"}, "banner="),
        ({"timeout": "0"}, "timeout="),
        ({"timeout": "soon"}, "timeout="),
        ({"mode": "fast"}, "mode="),
        ({"agent": "two words"}, "agent="),
        ({"charset": "ebcdic"}, "charset="),
        ({"snmp": "off"}, "unknown lpd option"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        LpdSettings.parse(options)


def test_backend_options_win_over_the_uri() -> None:
    backend = LpdBackend(
        "lpd://h/lp?format=f&waitjob=on", {"format": "l", "timeout": 9}, hostname="gw"
    )
    assert backend.output.format_letter == "l"
    assert backend.one_job_at_a_time is True
    assert backend.client.timeout == 9
    assert LpdBackend("lpd://h/lp", {}, hostname="gw").one_job_at_a_time is False
    caps = backend.capabilities()
    # What the printer prints (the formats option); the rest is the queue's.
    assert caps.document_formats == ("application/postscript", "text/plain")
    assert caps.printer_attributes == {}


def test_registered_by_scheme(tmp_path: Path) -> None:
    context = backends.BackendContext("gw.example", tmp_path)
    backend = backends.create(
        QueueConfig("q", "lpd://printer/lp?order=data,control", backend_options={"banner": True}),
        context,
    )
    assert isinstance(backend, LpdBackend)
    assert backend.settings.data_first and backend.output.banner is True
    assert backend.output.host == "gw.example"
    with pytest.raises(backends.BackendUnavailable, match="wrong type"):
        backends.create(QueueConfig("q", "lpd://p/lp", backend_options={"banner": "yes"}), context)
    with pytest.raises(backends.BackendUnavailable, match="unknown option"):
        backends.create(QueueConfig("q", "lpd://p/lp", backend_options={"snmp": "off"}), context)
    with pytest.raises(backends.BackendUnavailable, match="order="):
        backends.create(QueueConfig("q", "lpd://p/lp?order=sideways"), context)


def test_reserve_without_privilege_fails_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gateway.backends.lpd.can_bind_reserved_ports", lambda ports: False)
    with pytest.raises(ValueError, match="CAP_NET_BIND_SERVICE"):
        LpdBackend("lpd://h/lp?reserve=rfc1179", {}, hostname="gw")
