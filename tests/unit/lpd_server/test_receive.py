"""Receive-job helpers that need no network (gateway/lpd/server/receive.py)."""

from __future__ import annotations

from gateway.lpd.controlfile import parse
from gateway.lpd.server.receive import with_synthesised_requests
from gateway.lpd.server.session import normalise_peer


def test_u_lines_without_print_lines_become_f() -> None:
    cf = with_synthesised_requests(parse(b"Hh\nPp\nUdfA001h\nUdfB001h\nUdfA001h\nU/etc/passwd\n"))
    assert [r.data_file for r in cf.requests()] == ["dfA001h", "dfB001h"]
    assert {r.letter for r in cf.requests()} == {"f"}


def test_print_lines_are_left_alone() -> None:
    original = parse(b"Hh\nPp\nldfA001h\nUdfB001h\n")
    assert with_synthesised_requests(original) is original


def test_normalise_peer() -> None:
    assert normalise_peer("::ffff:10.1.2.3") == "10.1.2.3"
    assert normalise_peer("fe80::1%eth0") == "fe80::1"
    assert normalise_peer("::1") == "::1"
    assert normalise_peer("127.0.0.1") == "127.0.0.1"
    assert normalise_peer("not-an-ip") == "not-an-ip"
