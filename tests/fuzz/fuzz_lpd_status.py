#!/usr/bin/env python3
"""atheris harness: lpq text from remote servers (`gateway.lpd.status.parse_status`).

Input: reply bytes. Properties (`tests.unit.fuzz.oracles.check_status`):
never raises (bytes, str, cut at ``max_size``); no more jobs and status
lines than lines. Run with ``-timeout=10``: a slow regex is a finding.
"""

from __future__ import annotations

import _common

from tests.unit.fuzz.oracles import check_status


def test_one_input(data: bytes) -> None:
    check_status(data)


if __name__ == "__main__":
    _common.run(test_one_input)
