#!/usr/bin/env python3
"""atheris harness: the LPD connection state machines (`gateway.lpd.protocol`).

Input: byte 0 seeds chunking, limits and the accept/refuse choices; the rest
is what a client sends to the server `Connection` and, in a second pass,
what a server answers a `ClientConnection`. Properties
(`tests.unit.fuzz.oracles.check_lpd_server` / `check_lpd_client`): only
`RemoteProtocolError`; no event carries more than was fed or announced;
lines stay within ``max_line_length``; events do not depend on chunking.
"""

from __future__ import annotations

import _common

from tests.unit.fuzz.oracles import check_lpd_client, check_lpd_server


def test_one_input(data: bytes) -> None:
    if data:
        check_lpd_server(data[1:], seed=data[0])
        check_lpd_client(data[1:], seed=data[0])


if __name__ == "__main__":
    _common.run(test_one_input)
