#!/usr/bin/env python3
"""atheris harness: control files (`gateway.lpd.controlfile`).

Input: control-file bytes. Properties
(`tests.unit.fuzz.oracles.check_controlfile`): `parse` and every accessor
never raise; ``parse(serialise(cf)) == cf``.
"""

from __future__ import annotations

import _common

from tests.unit.fuzz.oracles import check_controlfile


def test_one_input(data: bytes) -> None:
    check_controlfile(data)


if __name__ == "__main__":
    _common.run(test_one_input)
