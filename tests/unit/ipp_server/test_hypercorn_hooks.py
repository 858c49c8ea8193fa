"""What `gateway.ipp.server.hypercorn_hooks` relies on in hypercorn is still there.

These fail when a hypercorn release renames or stops reading what the hook sets,
so an upgrade cannot silently lose the larger reads.
"""

from __future__ import annotations

import inspect

from hypercorn.trio import tcp_server

from gateway.ipp.server.hypercorn_hooks import RECEIVE_SIZE, raise_receive_size


def test_hypercorn_has_the_receive_size_constant() -> None:
    assert isinstance(tcp_server.MAX_RECV, int)
    assert tcp_server.MAX_RECV >= 2**16


def test_hypercorn_reads_the_constant_at_each_receive() -> None:
    """The override reaches hypercorn only if it looks the name up when it reads
    (not a copy taken at import, not a Config setting)."""
    readers = [
        fn
        for _, fn in inspect.getmembers(tcp_server.TCPServer, inspect.isfunction)
        if "receive_some" in fn.__code__.co_names
    ]
    assert readers, "hypercorn's TCPServer no longer calls receive_some"
    assert all("MAX_RECV" in fn.__code__.co_names for fn in readers)


def test_the_override_takes_effect() -> None:
    raise_receive_size()
    assert tcp_server.MAX_RECV == RECEIVE_SIZE
    raise_receive_size(2**16)  # never lowers it
    assert tcp_server.MAX_RECV == RECEIVE_SIZE
