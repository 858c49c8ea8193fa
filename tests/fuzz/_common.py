"""Shared start-up of the atheris harnesses (not a test module).

Why: each harness is run as a script (``python tests/fuzz/fuzz_ipp.py``), so
the repository root must be put on ``sys.path`` before `gateway` and the
shared properties (`tests.unit.fuzz.oracles`) are imported, and `gateway`
must be imported inside ``atheris.instrument_imports`` so libFuzzer sees its
coverage. The properties themselves live in `tests.unit.fuzz.oracles`,
shared with the hypothesis tests.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import atheris  # noqa: E402

with atheris.instrument_imports(include=["gateway"]):
    import gateway.ipp
    import gateway.lpd.controlfile
    import gateway.lpd.protocol
    import gateway.lpd.status  # noqa: F401


def run(test_one_input: Callable[[bytes], None]) -> None:
    """Hand the command line to libFuzzer and fuzz `test_one_input`."""
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
