"""What the front-ends are given: the spool, the queues and the dispatcher."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.config import Config
from gateway.core.dispatcher import Dispatcher
from gateway.core.queues import Queues
from gateway.core.spool import Spool

if TYPE_CHECKING:
    from gateway.metrics import Metrics


@dataclass(frozen=True, slots=True)
class GatewayContext:
    """Shared by every listener. Front-ends write jobs into ``spool`` and read
    status from it; they never talk to a backend (only ``dispatcher`` does)."""

    config: Config
    spool: Spool
    queues: Queues
    dispatcher: Dispatcher
    hostname: str
    metrics: Metrics | None = None  # always set by the app; optional for tests
