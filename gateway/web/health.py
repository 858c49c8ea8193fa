"""``/health.json`` and ``/health``: may this gateway serve, and which queues it forwards.

Why: behind a load balancer (HAProxy, a DNS round-robin with checks), several
gateways share one PostgreSQL job store (README, "Several instances"); the
balancer must stop sending clients to one that cannot reach the store (it would
only answer "busy"), and an operator wants to see which gateway forwards which
queue (`gateway.core.leases`). The answer is HTTP 200 while the gateway can take
jobs, 503 while its shared store is unreachable. A single gateway (SQLite) holds
every queue and answers 200.

Served by `gateway.web.status.StatusPages`, under the same access policy as
``/status.json``.
"""

from __future__ import annotations

import time
from typing import Any

from gateway.core.context import GatewayContext


def health(context: GatewayContext) -> tuple[int, dict[str, Any]]:
    """(HTTP status, the JSON document) of this gateway now."""
    spool = context.spool
    leases = context.dispatcher.leases
    names = [q.name for q in context.queues]
    data: dict[str, Any] = {"store": "postgresql" if spool.shared else "sqlite"}
    if leases is None:
        data |= {
            "instance": context.hostname,
            "store_reachable": True,
            "store_problem": None,
            "queues_held": {name: None for name in names},
            "queues_not_held": [],
        }
    else:
        now = time.monotonic()
        held = leases.held()
        data |= {
            "instance": leases.me,
            "store_reachable": leases.problem is None,
            "store_problem": leases.problem,
            "lease_time": leases.lease_time,
            "queues_held": {
                name: {"epoch": h.epoch, "expires_in": round(h.until - now, 3)}
                for name, h in sorted(held.items())
                if name in context.queues
            },
            "queues_not_held": [name for name in names if name not in held],
        }
    data["spool_problem"] = spool.commit_failure
    return (200 if data["store_reachable"] else 503), data


def health_text(data: dict[str, Any]) -> str:
    """The plain-text form (``/health``): one line per fact."""
    lines = [
        f"instance {data['instance']}",
        f"store {data['store']} {'reachable' if data['store_reachable'] else 'UNREACHABLE'}",
    ]
    if data["store_problem"]:
        lines.append(f"problem {data['store_problem']}")
    for name, lease in data["queues_held"].items():
        lines.append(
            f"holds {name}"
            + (f" epoch {lease['epoch']} expires in {lease['expires_in']:.1f}s" if lease else "")
        )
    lines.extend(f"not-held {name}" for name in data["queues_not_held"])
    return "\n".join(lines) + "\n"


__all__ = ["health", "health_text"]
