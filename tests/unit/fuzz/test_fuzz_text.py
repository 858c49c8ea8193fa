"""Fuzz the text parsers: control files and lpq replies never raise.

Inputs: arbitrary bytes, control files assembled from any code with odd
operands (digit runs around ``int()``'s 4300-digit limit, bytes that are not
UTF-8, mixed line ends), lpq lines assembled from rank/owner/job/size tokens
(Unicode digits such as ``²``), and mutated captures.
"""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.lpd.status import parse_status

from .oracles import check_controlfile, check_status
from .strategies import LPD_CAPTURES, controlfile_inputs, status_inputs, status_texts

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(data=controlfile_inputs)
def test_controlfile_parse_never_raises_and_round_trips(data: bytes) -> None:
    check_controlfile(data)


@settings(FUZZ, max_examples=150)
@given(data=status_inputs)
def test_parse_status_never_raises(data: bytes) -> None:
    check_status(data)


@settings(FUZZ, max_examples=100)
@given(text=status_texts)
def test_parse_status_never_raises_on_str(text: str) -> None:
    check_status(text.encode("utf-8"))


def test_every_capture_passes_the_oracles() -> None:
    for data in LPD_CAPTURES:
        check_controlfile(data)
        check_status(data)


PUMP_PREFIXES = ("", "a: 1st [job ", "a: 1st [job 1]\n\t", "1st u ", "a@", "\t1 copies of ")
PUMPS = (" ", "1", "\t", "a", "1 ", ": ", "@a", " 1 bytes")
PUMP_SUFFIXES = ("", "x", "]", " bytes", "\n", " 1")


@settings(max_examples=30, deadline=None)
@given(
    prefix=st.sampled_from(PUMP_PREFIXES),
    pump=st.sampled_from(PUMPS),
    suffix=st.sampled_from(PUMP_SUFFIXES),
)
def test_parse_status_time_is_not_superlinear(prefix: str, pump: str, suffix: str) -> None:
    """A 12 kB line made of one repeated token parses in well under a second
    (a regex that backtracks quadratically or worse takes minutes)."""
    text = prefix + pump * (12_000 // len(pump)) + suffix
    started = time.perf_counter()
    parse_status(text)
    assert time.perf_counter() - started < 1.0
