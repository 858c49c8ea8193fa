"""Test rules (after trio-websocket's): loopback only, port 0, a deadline on every
I/O test (`trio.fail_after` or the subprocess helpers' timeouts), memory streams
where no real socket is needed, and no sleeps used as synchronisation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.core.spool import Spool


@pytest.fixture
async def spool(tmp_path: Path) -> AsyncIterator[Spool]:
    s = await Spool.open(tmp_path / "spool")
    try:
        yield s
    finally:
        await s.aclose()
