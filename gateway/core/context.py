"""What the front-ends are given: the spool, the queues and the dispatcher.

``config`` is the configuration in force. A reload (`gateway.reload`) puts a
new one here, so code that reads ``context.config`` per connection or per
request follows it; what a listener built once at start (a TLS context, the
password checks) is rebuilt by the `Reconfigurable` the listener registered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from gateway.config import Config
from gateway.core.dispatcher import Dispatcher
from gateway.core.queues import Queues
from gateway.core.spool import Spool

if TYPE_CHECKING:
    from gateway.metrics import Metrics

#: Takes a prepared change into use; it must not fail (everything that can is in `prepare`).
Commit = Callable[[], None]


class Reconfigurable(Protocol):
    """A part of a running listener that a reload rebuilds (TLS, authentication).

    A reload is all or nothing: every part prepares first (reads its files,
    builds its objects, raises `gateway.config.ConfigError` naming the key and
    the reason to refuse the whole reload), and only when all are ready are the
    commits called, one after the other, with no await in between."""

    async def prepare(self, config: Config) -> Commit: ...


@dataclass(slots=True, eq=False)
class GatewayContext:
    """Shared by every listener. Front-ends write jobs into ``spool`` and read
    status from it; they never talk to a backend (only ``dispatcher`` does).
    ``config`` changes on reload (see the module doc)."""

    config: Config
    spool: Spool
    queues: Queues
    dispatcher: Dispatcher
    hostname: str
    metrics: Metrics | None = None  # always set by the app; optional for tests
    #: Registered by the listeners as they start; called by `gateway.reload`.
    reconfigurables: list[Reconfigurable] = field(default_factory=list)
