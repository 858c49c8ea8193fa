#!/usr/bin/env python3
"""atheris harness: the IPP message parser (`gateway.ipp`).

Input: byte 0 seeds the chunking, the rest is an ``application/ipp`` body.
Properties (`tests.unit.fuzz.oracles.check_ipp`): only `IppDecodeError`;
``header_bytes`` within ``max_header_bytes``; the same result whole or in
pieces; a decoded message re-encodes to itself. See README.md.
"""

from __future__ import annotations

import _common

from tests.unit.fuzz.oracles import check_ipp


def test_one_input(data: bytes) -> None:
    if data:
        check_ipp(data[1:], seed=data[0])


if __name__ == "__main__":
    _common.run(test_one_input)
