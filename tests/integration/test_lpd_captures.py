"""Every session in rfc1179_captures/ replayed against the gateway.

The recorded client bytes are sent in order, connection by connection;
after each client exchange the gateway must answer what a correct server
answers (the recorder acked every step with ``\\0``). Print sessions must
then leave jobs in the file backend carrying the user, host, job name,
banner, document names, formats, copies and data the session carried
("expect" in each capture). Queue-state and remove sessions run against a
queue holding two known jobs, and the gateway's answer is checked for what
the request asked.

How the captures were made: rfc1179_captures/README.md and record-all.sh.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import trio

from gateway.core.job import Job, JobState
from gateway.lpd.status import parse_status
from tests.lpd_harness import Gateway, RawClient, control, document_bytes, gateway, sha256

CAPTURES = Path(__file__).resolve().parents[2] / "rfc1179_captures"


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


def sessions(kind: str) -> list[Any]:
    out = []
    for path in sorted(CAPTURES.glob("*.json")):
        data = load(path)
        expect_kind = data.get("expect", {}).get("kind", "")
        if expect_kind == kind or (kind == "queue" and expect_kind.startswith("queue")):
            out.append(pytest.param(data, id=path.stem))
    return out


def exchanges(data: dict[str, Any]) -> list[tuple[str, bytes]]:
    """Every exchange of every connection, in order."""
    return [(e["from"], base64.b64decode(e["data_b64"])) for e in data["exchanges"]]


def connections(data: dict[str, Any]) -> list[list[tuple[str, bytes]]]:
    """The exchanges split by connection (``conn``; one connection if absent)."""
    out: dict[int, list[tuple[str, bytes]]] = {}
    for e in data["exchanges"]:
        out.setdefault(int(e.get("conn", 0)), []).append(
            (e["from"], base64.b64decode(e["data_b64"]))
        )
    return [out[k] for k in sorted(out)]


class Nak(Exception):
    """The gateway refused a step (a non-zero ack where the recorder said 0)."""

    def __init__(self, index: int, reply: bytes) -> None:
        super().__init__(f"exchange {index}: NAK {reply!r}")
        self.reply = reply


async def replay(client: RawClient, steps: list[tuple[str, bytes]]) -> bytes:
    """Send one connection's client bytes in order; after each client
    exchange read as many bytes as the recorder answered and check them
    (a non-zero ack raises `Nak`). Returns what the gateway says after the
    client's last bytes and half-close."""
    for index, (side, payload) in enumerate(steps):
        if side == "client":
            await client.send(payload)
            continue
        if index == len(steps) - 1:
            await client.send_eof()  # the recorder answered this after the client's EOF
        got = await client.read(len(payload))
        if got != payload and got[:1] not in (b"", b"\0"):
            await client.send_eof()  # a real client gives up after a NAK
            raise Nak(index, got + await client.read_all())
        assert got == payload, f"exchange {index}: gateway sent {got!r}, expected {payload!r}"
    if steps[-1][0] == "client":
        await client.send_eof()
    return await client.read_all()


async def replay_all(gw: Gateway, data: dict[str, Any]) -> list[bytes]:
    """Replay every connection of a session, one after the other."""
    tails = []
    for steps in connections(data):
        client = await gw.connect()
        tails.append(await replay(client, steps))
        await client.aclose()
    return tails


def expected_jobs(expect: dict[str, Any]) -> list[tuple[str | None, list[dict[str, Any]]]]:
    """(job name, documents) per job the session should leave. A session of
    several jobs (``jobs``: N, ``job_names``) has one document per job."""
    count = int(expect.get("jobs", 1))
    documents: list[dict[str, Any]] = expect["documents"]
    if count == 1:
        return [(expect.get("job_name"), documents)]
    names = expect.get("job_names") or [None] * count
    assert len(documents) == count
    return [(names[i], [documents[i]]) for i in range(count)]


_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"%!PS", "application/postscript"),
    (b"\x1b%-12345X", "application/vnd.hp-PCL"),
    (b"\x1bE", "application/vnd.hp-PCL"),
)


def expected_format(letter: str, data: bytes) -> str:
    """RFC 2569 plus sniffing, as documented: ``o`` PostScript, ``d`` DVI,
    ``p``/``r`` text; ``f`` and ``l`` are sniffed (text / octet-stream
    otherwise)."""
    if letter == "o":
        return "application/postscript"
    if letter == "d":
        return "application/x-dvi"
    if letter in "pr":
        return "text/plain"
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    return "text/plain" if letter == "f" else "application/octet-stream"


def expected_name(name: str) -> str:
    """BSD lpr names stdin ``N `` (a blank): shown as "(standard input)"."""
    return name.strip() or "(standard input)"


def check_job(
    gw: Gateway,
    job: Job,
    side: dict[str, Any],
    expect: dict[str, Any],
    job_name: str | None,
    documents: list[dict[str, Any]],
) -> None:
    docs = side["documents"]
    # user
    assert side["requesting-user-name"] == expect["user"]
    assert job.origin.user == expect["user"]
    # host (the H line; none of the captures says localhost)
    assert side["job-originating-host-name"] == expect["host"]
    assert job.origin.host == expect["host"]
    # job name: J, or the first document's name when the client sent no J
    if job_name is None:
        job_name = expected_name(documents[0]["name"])
    assert side["job-name"] == job_name
    # banner
    assert side["job-sheets"] == ("standard" if expect["banner"] else "none")
    # copies, and their collation when several documents repeat
    assert side["copies"] == expect["copies"]
    if expect["copies"] > 1 and len(documents) > 1 and "collated" in expect:
        handling = "collated" if expect["collated"] else "uncollated"
        assert side["multiple-document-handling"] == f"separate-documents-{handling}-copies"
    # documents: names, formats, data
    assert len(docs) == len(documents)
    for doc, want in zip(docs, documents, strict=True):
        data = document_bytes(gw.out, doc)
        assert doc["document-name"] == expected_name(want["name"])
        assert doc["document-format"] == expected_format(want["format"], data)
        assert doc["size"] == want["size"]
        assert doc["sha256"] == want["sha256"] == sha256(data)
        assert want["copies"] == expect["copies"]


@pytest.mark.parametrize("data", sessions("print"))
async def test_print_session(nursery: trio.Nursery, tmp_path: Path, data: dict[str, Any]) -> None:
    expect = data["expect"]
    gw = await gateway(nursery, tmp_path)  # streams (Windows, CUPS) are taken by default
    for tail in await replay_all(gw, data):
        assert tail in (b"", b"\0"), tail  # an ack after EOF is allowed (LPRng lpr -k)
    wanted = expected_jobs(expect)
    jobs = gw.jobs()
    assert len(jobs) == len(wanted)
    for job, (job_name, documents) in zip(jobs, wanted, strict=True):
        side = await gw.completed(job.id)
        check_job(gw, job, side, expect, job_name, documents)


@pytest.mark.parametrize(
    "data", [p for p in sessions("print") if p.values[0]["expect"].get("stream")]
)
async def test_stream_session_strict_is_discarded(
    nursery: trio.Nursery, tmp_path: Path, data: dict[str, Any]
) -> None:
    """With ``lpd.strict_byte_count`` a file that ends without its NUL, or
    announces more than the spool can take, is not printed: the job is
    discarded and the client gets a NAK."""
    gw = await gateway(nursery, tmp_path, lpd={"strict_byte_count": True})
    try:
        [tail] = await replay_all(gw, data)
    except Nak as nak:
        tail = nak.reply
    assert tail[:1] in (b"\x01", b"\x02")
    assert gw.jobs() == []


# ---------------------------------------------------------------------------
# lpq and lprm sessions: a held queue with alice's job (client number 123,
# from this host) and bob's (124).


async def two_jobs(nursery: trio.Nursery, tmp_path: Path) -> Gateway:
    gw = await gateway(
        nursery,
        tmp_path,
        queues={"lp": {"backend": (tmp_path / "out").as_uri(), "enabled": False}},
    )
    client = await gw.connect()
    await client.send(b"\x02lp\n")
    assert await client.ack() == 0
    for user, number in (("alice", 123), ("bob", 124)):
        df = f"dfA{number}client"
        assert await client.control_file(
            f"cfA{number}client", control(user=user, files=(("f", df, f"{user}.txt"),))
        ) == (0, 0)
        assert await client.data_file(df, f"{user}'s text\n".encode()) == (0, 0)
    await client.aclose()
    return gw


@pytest.mark.parametrize("data", sessions("queue"))
async def test_queue_state_session(
    nursery: trio.Nursery, tmp_path: Path, data: dict[str, Any]
) -> None:
    expect = data["expect"]
    gw = await two_jobs(nursery, tmp_path)
    alice, bob = gw.jobs()
    client = await gw.connect()
    [(_, request)] = [e for e in exchanges(data) if e[0] == "client"]
    await client.send(request)
    text = await client.read_all()
    status = parse_status(text)
    shown = {(j.owner, j.job_number) for j in status.jobs}
    items = expect["list"]
    wanted = {("alice", alice.id), ("bob", bob.id)}
    if items:
        # by user name, and by the client's own number (123 is alice's job)
        wanted = {(o, n) for o, n in wanted if o in items or (o == "alice" and "123" in items)}
    assert shown == wanted, text
    assert status.printer_state == "stopped"  # the queue is disabled
    if expect["kind"] == "queue-long":
        assert b"[job " in text
    else:
        assert b"Total Size" in text


@pytest.mark.parametrize("data", sessions("remove"))
async def test_remove_session(nursery: trio.Nursery, tmp_path: Path, data: dict[str, Any]) -> None:
    expect = data["expect"]
    gw = await two_jobs(nursery, tmp_path)
    client = await gw.connect()
    [(_, request)] = [e for e in exchanges(data) if e[0] == "client"]
    await client.send(request)
    text = await client.read_all()
    states = {j.user: j.state for j in gw.jobs()}
    items, agent = expect["list"], expect["agent"]
    # agent root from 127.0.0.1 (a trusted host) may remove anything named;
    # alice may remove her own jobs.
    if "all" in items:
        removed = {"alice", "bob"} if agent == "root" else {agent}
    else:
        removed = {"alice"} if ("123" in items or "alice" in items) else set()
    assert {u for u, s in states.items() if s == JobState.CANCELED} == removed, text
    for user in removed:
        number = 123 if user == "alice" else 124
        assert f"cfA{number}client dequeued".encode() in text
