"""Fuzz the LPD connection state machines (server and client roles).

The server `Connection` is driven as the LPD front-end drives it
(`oracles.drive_server`): PAUSED is answered with accept() or, at random,
refuse(); the first `RemoteProtocolError` ends the run. Inputs: arbitrary
bytes, streams assembled from commands, file headers (counts right and
wrong), bodies and trailers, and mutated captures of real clients.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings

from .oracles import check_lpd_client, check_lpd_server, drive_server
from .strategies import LPD_CAPTURES, lpd_reply_inputs, lpd_server_inputs, seeds

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(data=lpd_server_inputs, seed=seeds)
def test_server_raises_only_remote_protocol_error(data: bytes, seed: int) -> None:
    check_lpd_server(data, seed)


@FUZZ
@given(data=lpd_server_inputs, seed=seeds)
def test_server_without_eof(data: bytes, seed: int) -> None:
    """A peer that stops sending (no close) leaves the connection waiting, bounded."""
    drive_server(data, random.Random(seed), max_chunk=7, eof=False, max_line_length=32)


@FUZZ
@given(data=lpd_reply_inputs, seed=seeds)
def test_client_raises_only_remote_protocol_error(data: bytes, seed: int) -> None:
    check_lpd_client(data, seed)


def test_every_capture_passes_the_oracles() -> None:
    for data in LPD_CAPTURES:
        for seed in range(4):
            check_lpd_server(data, seed)
            check_lpd_client(data, seed)
