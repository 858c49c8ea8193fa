"""Fuzz the IPP message parser: documented error only, bounds, chunking.

Properties are in `oracles.check_ipp`; inputs are arbitrary bytes, messages
assembled from wire items with some lengths wrong, and mutated recordings of
real clients and printers (tests/fixtures/ipp/*.bin).
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.ipp import Message, ParserLimits, encode

from ..ipp.strategies import messages
from .oracles import check_ipp, ipp_chunked
from .strategies import IPP_FIXTURES, ipp_inputs, ipp_messages, mutated, seeds

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(FUZZ, max_examples=150)
@given(data=ipp_inputs, seed=seeds)
def test_any_body_raises_only_ipp_decode_error(data: bytes, seed: int) -> None:
    check_ipp(data, seed)


@settings(FUZZ, max_examples=50)
@given(data=mutated(messages.map(encode), max_mutations=3), seed=seeds)
def test_mutated_valid_messages(data: bytes, seed: int) -> None:
    check_ipp(data, seed)


@settings(max_examples=40, deadline=None)
@given(data=mutated(st.sampled_from(IPP_FIXTURES)), seed=seeds)
def test_fixtures_byte_by_byte(data: bytes, seed: int) -> None:
    """One byte per feed: the slowest client there is."""
    for limits in (ParserLimits(), ParserLimits(max_header_bytes=64)):
        ipp_chunked(data, limits, random.Random(seed), 1)


@settings(FUZZ, max_examples=60)
@given(data=ipp_messages(), seed=seeds)
def test_header_bytes_bound_with_tiny_limits(data: bytes, seed: int) -> None:
    """With a limit smaller than most messages the bound must still hold."""
    for size in (1, 7, 8, 9, 20):
        ipp_chunked(data, ParserLimits(max_header_bytes=size), random.Random(seed), 5)


def test_every_fixture_passes_the_oracle() -> None:
    for data in IPP_FIXTURES:
        for seed in range(4):
            check_ipp(data, seed)
    check_ipp(encode(Message.request(0x0B)), 0)
