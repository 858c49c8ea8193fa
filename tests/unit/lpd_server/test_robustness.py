"""Whatever a client sends, the server answers or hangs up cleanly: no
exception escapes `serve_stream`, nothing is logged as an internal error,
and no half-received job is left in the spool (hypothesis, memory streams)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core.spool import Spool
from gateway.lpd.server import serve_stream
from tests.lpd_harness import LogWatch
from tests.unit.lpd_server.test_connection import make_context

CF = b"Hclient\nPalice\nJjob\nfdfA001client\nldfB001client\nNa.txt\n"
PIECES = [
    b"\x02lp\n",
    b"\x02%d cfA001client\n" % len(CF),
    CF,
    b"\0",
    b"\x0312 dfA001client\n",
    b"hello world\n",
    b"\x030 dfB001client\n",
    b"\x01\n",
    b"\x03999999999999 dfB001client\n",
    b"\x02lp\n",
    b"\x03lp alice 1\n",
    b"\x04lp\n",
    b"\x05lp alice 1\n",
    b"\x05lp root all\n",
    b"\x01lp\n",
    b"\x06lp\n",
    b"\r\n",
    b"\x00",
    b"\x01",
]


async def run_session(wire: bytes, chunk: int, lenient: bool) -> tuple[bytes, LogWatch]:
    with tempfile.TemporaryDirectory() as tmp:
        spool = await Spool.open(Path(tmp) / "spool")
        try:
            context = make_context(Path(tmp), spool, idle_timeout="5s", lenient_byte_count=lenient)
            client, server = trio.testing.memory_stream_pair()
            reply = bytearray()
            with LogWatch() as logs, trio.fail_after(20):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(serve_stream, context, server, "192.0.2.9", 1000)
                    for i in range(0, len(wire), chunk):
                        try:
                            await client.send_all(wire[i : i + chunk])
                        except trio.BrokenResourceError:
                            break
                    try:
                        await client.send_eof()
                    except trio.BrokenResourceError:
                        pass
                    while data := await client.receive_some(65536):
                        reply += data
            # Only complete jobs are in the spool, each with its documents.
            for job in spool.jobs():
                assert job.documents
                for doc in job.documents:
                    assert (spool.root / doc.path).is_file()
            leftovers = {p.name for p in (spool.root / "jobs").iterdir()}
            assert len(leftovers) == len(list(spool.jobs()))
            return bytes(reply), logs
        finally:
            await spool.aclose()


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    pieces=st.lists(st.sampled_from(PIECES) | st.binary(max_size=40), max_size=14),
    chunk=st.sampled_from([1, 3, 7, 64, 4096]),
    lenient=st.booleans(),
)
async def test_no_input_breaks_the_server(pieces: list[bytes], chunk: int, lenient: bool) -> None:
    _, logs = await run_session(b"".join(pieces), chunk, lenient)
    assert not logs.find("internal error"), logs.lines
