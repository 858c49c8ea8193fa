"""`gateway.netlimits.accept` against a real EMFILE: the process's open-file limit
is set so that no descriptor is left, and accept(2) really fails."""

from __future__ import annotations

import errno
import logging
import os
import resource
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import pytest
import trio

from gateway import netlimits

log = logging.getLogger("test.netlimits")


@contextmanager
def no_descriptor_left(spare: int = 3) -> Iterator[list[int]]:
    """Fill every free descriptor below the highest open one, open `spare` more
    above it, and hold the open-file limit just above the last: yields the filler
    descriptors (at least `spare`; closing one lets one more be made)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    top = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    fillers: list[int] = []
    try:
        while not fillers or fillers[-1] < top + spare:
            fillers.append(os.open("/dev/null", os.O_RDONLY))
        resource.setrlimit(resource.RLIMIT_NOFILE, (fillers[-1] + 1, hard))
        yield fillers
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        for fd in fillers:
            os.close(fd)


async def test_accept_backs_off_on_emfile_with_one_warning_and_no_traceback(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger=log.name)
    monkeypatch.setattr(netlimits, "_troubles", {})
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]
    clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
    accepted: list[trio.SocketStream] = []
    freed = 0
    with trio.fail_after(10):
        with no_descriptor_left() as fillers:

            def exhausted() -> None:  # what a listener does: free a descriptor
                nonlocal freed
                os.close(fillers.pop())
                freed += 1

            for _ in range(3):
                accepted.append(await netlimits.accept(listener, "test", log, exhausted))
        for stream in accepted:
            await stream.aclose()
        await listener.aclose()
    for client in clients:
        client.close()
    assert freed == 3  # each accept hit EMFILE first
    lines = [r for r in caplog.records if r.name == log.name]
    assert [r.levelno for r in lines] == [logging.WARNING]
    assert "EMFILE" in lines[0].getMessage() and lines[0].exc_info is None


async def test_after_a_quiet_time_accepting_again_is_logged(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger=log.name)
    monkeypatch.setattr(netlimits, "_troubles", {})
    monkeypatch.setattr(netlimits, "QUIET", 0.0)
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    with trio.fail_after(10):
        with no_descriptor_left() as fillers:
            stream = await netlimits.accept(listener, "test", log, lambda: os.close(fillers.pop()))
        await stream.aclose()
        await listener.aclose()
    client.close()
    messages = [r.getMessage() for r in caplog.records if r.name == log.name]
    assert len(messages) == 2
    assert "cannot accept connections: EMFILE" in messages[0]
    assert "accepting connections again (1 accepts failed" in messages[1]


async def test_other_accept_errors_are_raised() -> None:
    class Broken:
        async def accept(self) -> trio.SocketStream:
            raise OSError(errno.EINVAL, "Invalid argument")

    with pytest.raises(OSError, match="Invalid argument"):
        await netlimits.accept(cast(trio.SocketListener, Broken()), "test", log)
