"""CUPS's ipptool conformance files against the gateway (reference/ipp.md section 4).

ipp-1.1.test, ipp-2.0.test (-V 2.0), ipp-2.1.test (-V 2.1) and ipp-2.2.test
(-V 2.2), with -I (run every test), over ipp:// and over ipps:// (TLS from the
first byte, the gateway's self-signed certificate), each against a fresh
gateway with a file-backend queue. Any failure fails the test; the counts are
printed (pytest -s shows them).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests import peers
from tests.ipp_harness import (
    gateway_config,
    ipptool_workdir,
    printer_uri,
    run_ipptool,
    running_gateway,
)

pytestmark = pytest.mark.peer

SUITES = [
    ("ipp-1.1.test", "1.1"),
    ("ipp-2.0.test", "2.0"),
    ("ipp-2.1.test", "2.1"),
    ("ipp-2.2.test", "2.2"),
]


@pytest.mark.parametrize("tls", [False, True], ids=["ipp", "ipps"])
@pytest.mark.parametrize(("suite", "version"), SUITES, ids=[v for _, v in SUITES])
async def test_ipptool_conformance(tmp_path: Path, suite: str, version: str, tls: bool) -> None:
    ipptool = peers.require("ipptool")
    work = ipptool_workdir(tmp_path)
    with trio.fail_after(300):
        async with running_gateway(gateway_config(tmp_path)) as running:
            result = await run_ipptool(ipptool, work, printer_uri(running, tls=tls), suite, version)
    scheme = "ipps" if tls else "ipp"
    print(
        f"\n{suite} -V {version} over {scheme}: {result.passed} passed, "
        f"{result.failed} failed, {result.skipped} skipped"
    )
    assert result.failed == 0, result.output
    assert result.returncode == 0, result.output
    assert result.passed >= 54, result.output
