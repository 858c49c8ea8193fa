"""Per-address connection caps and rate limits of the LPD listener."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway import config
from gateway.lpd.server.listener import SourceLimits


class Ctx:
    def __init__(self, **lpd: Any) -> None:
        self.config = config.from_mapping({"gateway": {"spool_dir": "/tmp/x"}, "lpd": lpd})


def test_open_connections_are_capped_per_address() -> None:
    limits = SourceLimits(Ctx(max_connections_per_source=2, rate_limit=0))  # type: ignore[arg-type]
    assert limits.admit("10.0.0.1", 0.0) is None
    assert limits.admit("10.0.0.1", 0.0) is None
    assert "max_connections_per_source" in (limits.admit("10.0.0.1", 0.0) or "")
    assert limits.admit("10.0.0.2", 0.0) is None  # another address is not affected
    limits.release("10.0.0.1")
    assert limits.admit("10.0.0.1", 0.0) is None


def test_rate_limit_refills_over_time() -> None:
    limits = SourceLimits(Ctx(rate_limit=2))  # type: ignore[arg-type]  # burst 4
    for _ in range(4):
        assert limits.admit("10.0.0.1", 0.0) is None
        limits.release("10.0.0.1")
    assert "rate_limit" in (limits.admit("10.0.0.1", 0.0) or "")
    assert limits.admit("10.0.0.1", 0.6) is None  # 1.2 tokens back after 0.6 s


def test_trusted_hosts_are_exempt_from_the_rate_limit_only(tmp_path: Path) -> None:
    """A trusted host may open connections at any rate (a print server forwarding
    a backlog), but not hold more than max_connections_per_source at once."""
    limits = SourceLimits(Ctx(max_connections_per_source=2, rate_limit=1))  # type: ignore[arg-type]
    for _ in range(10):  # far past the burst of 2
        assert limits.admit("127.0.0.1", 0.0) is None
        limits.release("127.0.0.1")
    assert limits.admit("127.0.0.1", 0.0) is None
    assert limits.admit("127.0.0.1", 0.0) is None
    assert "max_connections_per_source" in (limits.admit("127.0.0.1", 0.0) or "")


def test_refusals_are_logged_once_a_minute() -> None:
    limits = SourceLimits(Ctx())  # type: ignore[arg-type]
    assert limits.should_log("10.0.0.1", 100.0)
    assert not limits.should_log("10.0.0.1", 130.0)
    assert limits.should_log("10.0.0.1", 161.0)
