"""The IPP front-end's limits, piece by piece: the connection table (caps and
eviction), the body pace (deadlines and minimum rate), clipping names and text,
the password checks (concurrency, back-off, cache), and the open-file limit."""

from __future__ import annotations

import resource
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from gateway import netlimits, privileges
from gateway.ipp import Message, Operation, ValueTag
from gateway.ipp.attributes import Collection
from gateway.ipp.server import auth
from gateway.ipp.server.asgi import NAME_MAX, TEXT_MAX, clip_strings
from gateway.ipp.server.auth import PasswordChecks, PasswordFile, Verdict, set_password
from gateway.ipp.server.connections import Connection, ConnectionTable, TimedStream, source_of
from gateway.ipp.server.intake import BodyPace, BodyReader, RequestTimeout
from gateway.ipp.values import NameWithLanguage

# --------------------------------------------------------------------------
# ConnectionTable


def test_source_of_folds_ipv4_mapped_addresses() -> None:
    assert source_of("::ffff:10.0.0.7") == "10.0.0.7"
    assert source_of("2001:db8::1") == "2001:db8::1"
    assert source_of("10.0.0.7") == "10.0.0.7"


async def test_per_source_cap_evicts_that_sources_idlest_else_refuses() -> None:
    table = ConnectionTable(max_total=10, per_source=2)
    first = table.admit(("10.0.0.1", 1))
    second = table.admit(("10.0.0.1", 2))
    assert isinstance(first, Connection) and isinstance(second, Connection)
    assert table.request_started(("10.0.0.1", 2))  # the second one is busy
    third = table.admit(("10.0.0.1", 3))  # the first (idle) makes room
    assert isinstance(third, Connection)
    assert first.scope.cancel_called and not second.scope.cancel_called
    assert table.request_started(("10.0.0.1", 3))
    refused = table.admit(("10.0.0.1", 4))  # none idle now
    assert isinstance(refused, str) and "ipp.max_connections_per_source" in refused
    assert isinstance(table.admit(("10.0.0.2", 1)), Connection)  # others are not affected


async def test_requests_per_source_are_capped() -> None:
    table = ConnectionTable(max_total=10, per_source=2)
    client = ("10.0.0.1", 1)
    assert table.request_started(client) and table.request_started(client)
    assert not table.request_started(client)  # HTTP/2 streams count too
    table.request_ended(client)
    assert table.request_started(client)


async def test_at_the_total_cap_the_idlest_is_closed_to_make_room() -> None:
    table = ConnectionTable(max_total=2, per_source=10)
    connections = []
    for port in (1, 2):
        await table.reserve()
        connection = table.admit(("10.0.0.1", port))
        assert isinstance(connection, Connection)
        connections.append(connection)
    assert table.request_started(("10.0.0.1", 1))  # busy; the other one is idle
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(table.reserve)
            await trio.testing.wait_all_tasks_blocked()
            assert connections[1].scope.cancel_called
            assert not connections[0].scope.cancel_called
            table.release(connections[1])  # its task ends
    assert table.slots == 2


async def test_at_the_total_cap_with_none_idle_newcomers_wait() -> None:
    table = ConnectionTable(max_total=1, per_source=10)
    await table.reserve()
    connection = table.admit(("10.0.0.1", 1))
    assert isinstance(connection, Connection)
    assert table.request_started(("10.0.0.1", 1))
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(table.reserve)
            await trio.testing.wait_all_tasks_blocked()
            assert not connection.scope.cancel_called  # busy: never closed
            table.request_ended(("10.0.0.1", 1))  # now idle: closed for the newcomer
            await trio.testing.wait_all_tasks_blocked()
            assert connection.scope.cancel_called
            table.release(connection)


# --------------------------------------------------------------------------
# BodyPace


def trickle(count: int, every: float, size: int) -> Any:
    """An ASGI receive that gives `size` bytes every `every` seconds, `count` times."""
    sent = 0

    async def receive() -> MutableMapping[str, Any]:
        nonlocal sent
        await trio.sleep(every)
        sent += 1
        return {"type": "http.request", "body": b"x" * size, "more_body": sent < count}

    return receive


async def read_all(reader: BodyReader) -> int:
    return sum([len(chunk) async for chunk in reader.chunks()])


async def test_a_body_slower_than_the_minimum_rate_times_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pace = BodyPace.starting_now(60.0, 0.0, min_rate=100, window=10.0)
    reader = BodyReader(trickle(1000, 1.0, 50), b"", True, pace)
    start = trio.current_time()
    with pytest.raises(RequestTimeout, match="slower than 100 bytes/s"):
        await read_all(reader)
    assert trio.current_time() - start == pytest.approx(10.0)


async def test_a_fast_enough_body_with_pauses_passes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A pause shorter than the idle timeout is fine when the window's bytes are
    enough (a slow filter that then sends a whole page)."""
    pace = BodyPace.starting_now(60.0, 0.0, min_rate=100, window=10.0)
    reader = BodyReader(trickle(5, 8.0, 4000), b"", True, pace)
    assert await read_all(reader) == 20_000


async def test_the_request_deadline_and_the_idle_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pace = BodyPace.starting_now(60.0, 30.0, min_rate=0, window=0.0)
    with pytest.raises(RequestTimeout, match=r"ipp\.request_timeout"):
        await read_all(BodyReader(trickle(1000, 1.0, 10_000), b"", True, pace))
    pace = BodyPace.starting_now(5.0, 0.0, min_rate=10, window=60.0)
    with pytest.raises(RequestTimeout, match="no request data for 5s"):
        await read_all(BodyReader(trickle(1000, 6.0, 10_000), b"", True, pace))


# --------------------------------------------------------------------------
# clip_strings


def test_names_and_texts_are_cut_on_a_character_boundary() -> None:
    message = Message.request(Operation.PRINT_JOB, 1, printer_uri="ipp://h/ipp/print")
    message.operation.add_name("job-name", "é" * 200)  # 400 octets
    message.operation.add_name("requesting-user-name", NameWithLanguage("ü" * 300, "de"))
    message.operation.add_text("message", "€" * 1000)  # 3000 octets
    message.operation.add_name("document-name", "short")
    message.operation.add_keyword("compression", "none")
    media = Collection().add_name("media-key", "k" * 300)
    message.operation.add("media-col", ValueTag.BEG_COLLECTION, media)
    assert clip_strings(message) == 4
    assert message.operation.value("job-name") == "é" * (NAME_MAX // 2)
    user = message.operation.value("requesting-user-name")
    assert isinstance(user, NameWithLanguage) and user.text == "ü" * 127 and user.language == "de"
    assert message.operation.value("message") == "€" * (TEXT_MAX // 3)
    assert message.operation.value("document-name") == "short"
    collection = message.operation.value("media-col")
    assert isinstance(collection, Collection)
    assert collection.value("media-key") == "k" * NAME_MAX


# --------------------------------------------------------------------------
# PasswordChecks


@pytest.fixture
def checks(tmp_path: Path) -> PasswordChecks:
    path = tmp_path / "passwd"
    set_password(path, "alice", "wonderland")
    return PasswordChecks(PasswordFile(path))


async def test_wrong_passwords_from_one_address_are_refused_with_back_off(
    checks: PasswordChecks, autojump_clock: trio.testing.MockClock
) -> None:
    for _ in range(auth.FREE_FAILURES):
        assert await checks.check("10.0.0.9", "alice", "guess") is Verdict.WRONG
    assert await checks.check("10.0.0.9", "alice", "wonderland") is Verdict.BLOCKED
    assert checks.retry_after("10.0.0.9") == pytest.approx(1.0)
    assert await checks.check("10.0.0.8", "alice", "wonderland") is Verdict.OK  # elsewhere
    await trio.sleep(1.0)
    assert await checks.check("10.0.0.9", "alice", "guess") is Verdict.WRONG
    assert checks.retry_after("10.0.0.9") == pytest.approx(2.0)  # doubles


async def test_a_right_password_is_remembered_briefly(
    checks: PasswordChecks, autojump_clock: trio.testing.MockClock, monkeypatch: Any
) -> None:
    assert await checks.check("10.0.0.9", "alice", "wonderland") is Verdict.OK
    for _ in range(auth.FREE_FAILURES):
        await checks.check("10.0.0.9", "alice", "guess")
    verified: list[str] = []
    monkeypatch.setattr(checks.passwords, "verify", lambda u, p: verified.append(u) or True)
    # Blocked, but the pair checked a moment ago is still known: no scrypt.
    assert await checks.check("10.0.0.9", "alice", "wonderland") is Verdict.OK
    assert verified == []
    await trio.sleep(auth.CACHE_TTL + 1)
    assert await checks.check("10.0.0.8", "alice", "wonderland") is Verdict.OK
    assert verified == ["alice"]  # forgotten after CACHE_TTL: checked again


async def test_at_most_a_few_checks_run_at_once(checks: PasswordChecks, monkeypatch: Any) -> None:
    running = 0
    most = 0

    def verify(user: str, password: str) -> bool:
        nonlocal running, most
        running += 1
        most = max(most, running)
        trio.from_thread.run(trio.sleep, 0.01)  # overlapping checks, if allowed
        running -= 1
        return False

    monkeypatch.setattr(checks.passwords, "verify", verify)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            for n in range(40):
                nursery.start_soon(checks.check, f"10.0.1.{n}", "alice", "guess")
    assert most == auth.CHECK_CONCURRENCY


# --------------------------------------------------------------------------
# The open-file limit


def test_raise_open_file_limit_and_the_connection_budget() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, hard))
        assert netlimits.connection_budget(1024) == (200 - netlimits.RESERVED_DESCRIPTORS) // 2
        assert privileges.raise_open_file_limit() == (200, min(hard, privileges.MAX_OPEN_FILES))
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == min(hard, privileges.MAX_OPEN_FILES)
        before = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        assert privileges.raise_open_file_limit() == (before, before)  # already there
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# --------------------------------------------------------------------------
# TimedStream


async def test_a_client_that_does_not_read_is_cut_off() -> None:
    ours, theirs = trio.socket.socketpair()
    stream = TimedStream(trio.SocketStream(ours), timeout=0.5)
    with trio.fail_after(10):
        with pytest.raises(trio.BrokenResourceError, match="read nothing"):
            await stream.send_all(b"x" * 2**26)  # far more than the socket buffers hold
    await stream.aclose()
    theirs.close()
