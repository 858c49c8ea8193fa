"""Every use of hypercorn beyond its public API, in one place.

Why: hypercorn's trio server reads a connection at most 64 KiB at a time (the
module constant ``hypercorn.trio.tcp_server.MAX_RECV``, read on every
``receive_some``; no `Config` setting exists), and each read costs one pass
through h11 and one ASGI message: most of the time a large document takes.
Reads of up to `RECEIVE_SIZE` (allocated only while data is waiting) take a
quarter of the passes. `raise_receive_size` sets the constant; it does nothing
harmful if a hypercorn release drops it, and
``tests/unit/ipp_server/test_hypercorn_hooks.py`` fails when one renames it or
stops reading it, so an upgrade cannot lose the speed-up unnoticed.

Everything else (serving the sockets gateway.app bound, TLS, HTTP/2) goes
through the public ``hypercorn.trio.serve`` and ``hypercorn.config.Config``
(see `serving`).
"""

from __future__ import annotations

from hypercorn.trio import tcp_server

RECEIVE_SIZE = 256 * 1024
"""The most bytes hypercorn reads from a connection at once, once raised."""


def raise_receive_size(size: int = RECEIVE_SIZE) -> None:
    """Let hypercorn read up to `size` bytes at a time (never less than its own limit)."""
    if getattr(tcp_server, "MAX_RECV", 0) < size:
        tcp_server.MAX_RECV = size
