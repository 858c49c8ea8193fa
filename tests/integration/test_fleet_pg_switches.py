"""A pause and a resume at one gateway act at the gateway that forwards the queue.

Gateway A holds queue lp's lease; Pause-Printer at B stops A forwarding (A hears
of it through the store), a job sent meanwhile waits, and Resume-Printer at B
makes A forward it at once: the resume wakes A's dispatcher, not only its copy of
the queue's switches.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import trio

from gateway.ipp import Message, Operation
from tests import fleet

WAKE = 5.0  # a resume elsewhere forwards here within this (the poll interval is 0.5 s)


async def printer_op(http: httpx.AsyncClient, port: int, operation: Operation) -> None:
    uri = f"ipp://127.0.0.1:{port}/printers/lp"
    request = Message.request(operation, 1, printer_uri=uri, requesting_user_name="root")
    answer = await fleet.ipp_request(http, port, request)
    assert answer.operation_id_or_status < 0x100, answer


async def test_resume_at_b_forwards_at_a_at_once(tmp_path: Path, pg_dsn: str) -> None:
    with trio.fail_after(120):
        a = await fleet.start(fleet.write_config(tmp_path, "gw-a", pg_dsn))
        await fleet.wait_log(a, r"fleet: gw-a holds queue lp")
        b = await fleet.start(fleet.write_config(tmp_path, "gw-b", pg_dsn))
        try:
            async with httpx.AsyncClient(timeout=20) as http:
                await printer_op(http, b.ports["IPP"][0], Operation.PAUSE_PRINTER)
                await fleet.wait_log(a, r"queue lp: switches changed by another gateway")
                status = await fleet.ipp_print(http, b.ports["IPP"][0], "waits", b"paused\n")
                assert status < 0x100
                # A took the job in memory (through the store) but does not forward it.
                await fleet.wait_log(b, r"job (\d+) received ")
                assert not fleet.completed_ids([a, b])
                assert fleet.delivered(tmp_path / "out") == {}

                resumed = time.monotonic()
                await printer_op(http, b.ports["IPP"][0], Operation.RESUME_PRINTER)
                line = await fleet.wait_log(a, r"job (\d+) completed ", timeout=WAKE)
                took = time.monotonic() - resumed
                job_id = int(re.search(r"job (\d+) completed", line).group(1))  # type: ignore[union-attr]
                assert job_id in fleet.delivered(tmp_path / "out")
                assert took < WAKE, took
        finally:
            a.kill()
            b.kill()
