"""Accepting connections when the process runs out of file descriptors.

Why: ``accept(2)`` fails with EMFILE (this process's open-file limit), ENFILE
(the system's), ENOMEM or ENOBUFS when the machine is overloaded, and the
connection stays in the kernel's backlog. Retrying at once spins; giving up
stops the listener; logging each failure with a traceback (as
``trio.serve_listeners`` does) fills the log. `accept` instead backs off
(0.1 s doubling up to 1 s), writes one warning line when the trouble starts
(per listener name, and again only after `QUIET` seconds without it) and one
info line when accepting works again after such a quiet time, and before each
retry lets the caller free descriptors (`Exhausted`, e.g. close its longest
idle connections).

`connection_budget` keeps descriptors for everything else: a listener that
may hold every descriptor leaves none for the spool's files. `source_of` is the
address a per-address cap counts.

Neutral on purpose: both listeners use it.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import resource
from collections.abc import Callable
from dataclasses import dataclass

import trio

#: accept(2) errors that mean "overloaded, try again later", not "broken".
CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})

FIRST_DELAY = 0.1
MAX_DELAY = 1.0
QUIET = 60.0
"""Seconds without a capacity error after which the trouble is over."""

#: Descriptors `connection_budget` keeps for the rest of the process.
RESERVED_DESCRIPTORS = 64

Exhausted = Callable[[], object]
"""Called before each retry after a capacity error (its result is ignored)."""


@dataclass(slots=True)
class _Trouble:
    since: float
    last: float
    failures: int = 0


_troubles: dict[str, _Trouble] = {}  # by listener name


async def accept(
    listener: trio.SocketListener,
    what: str,
    log: logging.Logger,
    on_exhausted: Exhausted | None = None,
) -> trio.SocketStream:
    """The next connection of `listener`, backing off while accept(2) fails for
    lack of descriptors or memory; `what` names the listener in the log lines.
    Other errors are raised as they are."""
    delay = FIRST_DELAY
    while True:
        try:
            stream = await listener.accept()
        except OSError as exc:
            if exc.errno not in CAPACITY_ERRNOS:
                raise
            _failed(what, log, exc.errno)
            if on_exhausted is not None:
                on_exhausted()
            await trio.sleep(delay)
            delay = min(MAX_DELAY, delay * 2)
            continue
        trouble = _troubles.get(what)
        if trouble is not None and trio.current_time() - trouble.last >= QUIET:
            del _troubles[what]
            log.info(
                "%s: accepting connections again (%d accepts failed for lack of "
                "descriptors or memory)",
                what,
                trouble.failures,
            )
        return stream


def _failed(what: str, log: logging.Logger, code: int) -> None:
    now = trio.current_time()
    trouble = _troubles.get(what)
    if trouble is None or now - trouble.last >= QUIET:
        trouble = _troubles[what] = _Trouble(now, now)
        log.warning(
            "%s: cannot accept connections: %s (%s); retrying every %gs to %gs",
            what,
            errno.errorcode.get(code, str(code)),
            os.strerror(code),
            FIRST_DELAY,
            MAX_DELAY,
        )
    trouble.last = now
    trouble.failures += 1


def source_of(host: str) -> str:
    """The address a per-source cap counts: an IPv4-mapped IPv6 address
    (``::ffff:10.0.0.7``) as IPv4, a scope (``%eth0``) dropped."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def connection_budget(wanted: int, share: float = 0.5) -> int:
    """At most `wanted` connections, and at most `share` of the descriptors the
    open-file limit leaves after `RESERVED_DESCRIPTORS` (never fewer than 16)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return min(wanted, max(16, int((soft - RESERVED_DESCRIPTORS) * share)))


__all__ = ["CAPACITY_ERRNOS", "Exhausted", "accept", "connection_budget", "source_of"]
