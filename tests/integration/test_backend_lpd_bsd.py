"""The lpd:// backend against a real BSD lpd (Debian lpr; tests/peers/bsdlpd.py).

BSD lpd deletes a job's files once printed, so the first test holds the
print filter, reads the control and data files BSD stored while the job is
active, then releases the filter: the job prints, leaves BSD's queue and
the gateway job completes."""

from __future__ import annotations

import trio

from gateway.core.job import JobState
from gateway.core.spool import Spool
from gateway.lpd.client import LpdClient
from gateway.lpd.controlfile import parse
from gateway.lpd.status import parse_status
from tests.helpers import spool_job, wait_for_state
from tests.integration.test_backend_lpd_lprng import HOST, forwarding, wait_until
from tests.peers.bsdlpd import bsd_lpd


async def test_job_stored_by_bsd_lpd_then_printed_and_completed(spool: Spool) -> None:
    first = b"Quarterly figures\n" * 3000
    second = b"%PDF-1.4\n" + bytes(range(256)) * 20
    with trio.fail_after(90):
        async with bsd_lpd(held=True) as peer, forwarding(spool, peer.uri()):
            job = await spool_job(
                spool,
                [
                    (first, "text/plain", "figures.txt"),
                    (second, "application/pdf", "slides.pdf"),
                ],
                queue="office",
                attributes={
                    "job-name": "Quarterly report",
                    "requesting-user-name": "alice",
                    "copies": 2,
                    "job-sheets": "standard",
                },
            )
            # Active at BSD (its filter holds): the files are in its spool.
            await wait_until(spool, job.id, lambda j: "is printing" in j.state_message)
            (cf_path,) = peer.spool.glob("cf*")
            cf = parse(cf_path.read_bytes())
            stored = {p.name: p.read_bytes() for p in peer.spool.glob("df*")}
            peer.release()
            done = await wait_for_state(spool, job.id, JobState.COMPLETED)
            printed = peer.printed()
    number = int(done.backend_job_id or "0")
    df_a, df_b = f"dfA{number:03d}{HOST}", f"dfB{number:03d}{HOST}"
    assert cf.host == HOST
    assert cf.user == "alice"
    assert cf.job_name == "Quarterly report"
    assert cf.banner_user == "alice"
    assert [(r.letter, r.data_file, r.document_name) for r in cf.print_requests] == [
        ("f", df_a, "figures.txt"),
        ("f", df_a, "figures.txt"),
        ("l", df_b, "slides.pdf"),
        ("l", df_b, "slides.pdf"),
    ]
    assert stored == {df_a: first, df_b: second}
    assert printed.count(first) == 2 and printed.count(second) == 2


async def test_cancel_on_gateway_removes_the_job_from_bsd_lpd(spool: Spool) -> None:
    with trio.fail_after(60):
        # timeout=3: a remove that reaches BSD while its printer daemon is
        # still starting can hang until the connection times out; the
        # dispatcher then retries the cancel, which goes through.
        async with bsd_lpd(held=True) as peer, forwarding(spool, peer.uri(), {"timeout": 3}):
            job = await spool_job(spool, queue="office")
            forwarded = await wait_until(spool, job.id, lambda j: j.backend_job_id is not None)
            client = LpdClient("127.0.0.1", peer.port, timeout=10)
            listed = parse_status(await client.queue_state("lp"))
            assert [j.job_number for j in listed.jobs] == [int(forwarded.backend_job_id or "0")]
            await spool.cancel(job.id)
            await wait_until(spool, job.id, lambda j: not j.cancel_requested)
            after = parse_status(await client.queue_state("lp"))
            leftovers = list(peer.spool.glob("[cd]f*"))
    assert after.jobs == ()
    assert leftovers == []
    assert spool.get(job.id).state == JobState.CANCELED  # type: ignore[union-attr]


async def test_reserved_source_port_is_accepted(spool: Spool) -> None:
    with trio.fail_after(60):
        async with bsd_lpd() as peer, forwarding(spool, peer.uri(query="reserve=rfc1179")):
            job = await spool_job(
                spool, [(b"from port 721-731\n", "text/plain", "r.txt")], queue="office"
            )
            await wait_for_state(spool, job.id, JobState.COMPLETED)
            printed = peer.printed()
    assert b"from port 721-731\n" in printed
