"""The IPP front-end over real HTTP/1.1: transport rules, bad input, streaming
documents, multi-document jobs, queries and the operator operations."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import trio

from gateway.app import Running
from gateway.core.job import JobState
from gateway.ipp import DelimiterTag, Operation, StatusCode, ValueTag, decode, encode
from gateway.ipp.server.handlers import HANDLERS
from gateway.ipp.server.request import IppRequest, IppResponse, IppService
from tests.helpers import wait_for_state
from tests.ipp_harness import (
    Answer,
    gateway_config,
    post,
    printer_uri,
    request,
    running_gateway,
    tls_context,
    url,
)

S = StatusCode


async def chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def print_job(
    client: httpx.AsyncClient,
    running: Running,
    data: bytes | AsyncIterator[bytes] = b"hello\n",
    *,
    fmt: str = "text/plain",
    compression: str | None = None,
    user: str = "alice",
    job_group: dict[str, tuple[int, object]] | None = None,
    fidelity: bool | None = None,
) -> Answer:
    message = request(Operation.PRINT_JOB, printer_uri(running), user=user)
    message.operation.add_name("job-name", "test")
    if fidelity is not None:
        message.operation.add_boolean("ipp-attribute-fidelity", fidelity)
    message.operation.add_mime_media_type("document-format", fmt)
    if compression is not None:
        message.operation.add_keyword("compression", compression)
    if job_group:
        group = message.add_group(DelimiterTag.JOB_ATTRIBUTES)
        for name, (tag, value) in job_group.items():
            group.add(name, tag, value)
    return await post(client, url(running), message, data)


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_gateway(gateway_config(tmp_path)) as running:
        yield running


async def test_host_header_is_checked(gateway: Running) -> None:
    message = request(Operation.GET_PRINTER_ATTRIBUTES, printer_uri(gateway))

    body = encode(message)
    with trio.fail_after(10):
        async with httpx.AsyncClient() as client:
            for host, expected in [
                ("evil.example.com", 400),
                ("localhost:631", 200),
                ("127.0.0.1", 200),
                ("[::1]:631", 200),
            ]:
                response = await client.post(
                    url(gateway),
                    content=body,
                    headers={"Content-Type": "application/ipp", "Host": host},
                )
                assert response.status_code == expected, host


async def test_allowed_hosts_from_the_config(tmp_path: Path) -> None:
    cfg = gateway_config(tmp_path, ipp={"allowed_hosts": ["print.example.com"]})
    with trio.fail_after(10):
        async with running_gateway(cfg) as running, httpx.AsyncClient() as client:
            message = request(Operation.GET_PRINTER_ATTRIBUTES, printer_uri(running))
            message.operation.add_keyword("requested-attributes", "printer-uri-supported")

            response = await client.post(
                url(running),
                content=encode(message),
                headers={"Content-Type": "application/ipp", "Host": "print.example.com:631"},
            )
            assert response.status_code == 200

            answer, _ = decode(response.content)
            uris = answer.get(DelimiterTag.PRINTER_ATTRIBUTES, "printer-uri-supported")
            assert uris is not None
            port, tls_port = running.ipp[0][1], running.ipps[0][1]
            assert uris.python_values == [
                f"ipp://print.example.com:{port}/ipp/print",
                f"ipps://print.example.com:{tls_port}/ipp/print",
            ]


async def test_unparseable_request_gets_http_400_and_no_traceback(gateway: Running) -> None:
    with trio.fail_after(10):
        async with httpx.AsyncClient() as client:
            for body in [b"\x02\x00\x00\x0b\x00\x00\x00\x01\x01\x47\xff", b"xx"]:
                response = await client.post(
                    url(gateway),
                    content=body,
                    headers={"Content-Type": "application/ipp"},
                )
                assert response.status_code == 400
                assert b"Traceback" not in response.content
            response = await client.post(
                url(gateway),
                content=b"hello",
                headers={"Content-Type": "text/plain"},
            )
            assert response.status_code == 400


async def test_internal_error_answers_server_error_without_details(
    gateway: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def boom(service: IppService, req: IppRequest) -> IppResponse:
        raise RuntimeError("secret detail")

    monkeypatch.setitem(HANDLERS, Operation.IDENTIFY_PRINTER, boom)
    with trio.fail_after(10):
        async with httpx.AsyncClient() as client:
            answer = await post(
                client,
                url(gateway),
                request(Operation.IDENTIFY_PRINTER, printer_uri(gateway)),
            )
    assert answer.status == S.SERVER_ERROR_INTERNAL_ERROR
    assert answer.message.request_id == 1
    assert answer.message.operation.value("status-message") == "internal error"
    assert b"secret" not in answer.http.content
    assert b"Traceback" not in answer.http.content


async def test_unknown_operation_and_unknown_printer(gateway: Running) -> None:
    with trio.fail_after(10):
        async with httpx.AsyncClient() as client:
            answer = await post(
                client,
                url(gateway),
                request(Operation.CUPS_GET_PPD, printer_uri(gateway)),
            )
            assert answer.status == S.SERVER_ERROR_OPERATION_NOT_SUPPORTED
            answer = await post(
                client,
                url(gateway),
                request(
                    Operation.GET_PRINTER_ATTRIBUTES,
                    printer_uri(gateway, "/printers/nope"),
                ),
            )
            assert answer.status == S.CLIENT_ERROR_NOT_FOUND


@pytest.mark.parametrize("compression", ["none", "gzip", "deflate", "zlib-wrapped-deflate"])
async def test_streamed_document_is_decompressed_into_the_spool(
    tmp_path: Path, gateway: Running, compression: str
) -> None:
    document = bytes(range(256)) * 40_000  # 10 MB
    if compression == "gzip":
        wire = gzip.compress(document)
    elif compression == "deflate":
        packer = zlib.compressobj(wbits=-15)
        wire = packer.compress(document) + packer.flush()
    elif compression == "zlib-wrapped-deflate":
        wire = zlib.compress(document)
    else:
        wire = document
    keyword = "deflate" if compression.endswith("deflate") else compression
    with trio.fail_after(30):
        async with httpx.AsyncClient() as client:
            answer = await print_job(
                client, gateway, chunks(wire, 7919), fmt="application/octet-stream",
                compression=keyword,
            )  # fmt: skip
            assert answer.status == S.SUCCESSFUL_OK, answer.message
            job_id = answer.job.value("job-id")
            spool = gateway.context.spool
            await wait_for_state(spool, job_id, JobState.COMPLETED)
    assert (tmp_path / "out" / f"job-{job_id}-1.bin").read_bytes() == document


@pytest.mark.parametrize(
    ("compression", "wire", "status"),
    [
        ("gzip", b"\x1f\x8b\x08\x00garbage", S.CLIENT_ERROR_COMPRESSION_ERROR),
        ("gzip", gzip.compress(b"x" * 100_000)[:-20], S.CLIENT_ERROR_COMPRESSION_ERROR),
        ("deflate", b"\xff\xff\xff", S.CLIENT_ERROR_COMPRESSION_ERROR),
        ("compress", b"whatever", S.CLIENT_ERROR_COMPRESSION_NOT_SUPPORTED),
    ],
)
async def test_bad_compression(
    gateway: Running, compression: str, wire: bytes, status: StatusCode
) -> None:
    with trio.fail_after(10):
        async with httpx.AsyncClient() as client:
            answer = await print_job(client, gateway, wire, compression=compression)
    assert answer.status == status
    assert list(gateway.context.spool.jobs()) == []


async def test_document_format_not_supported(gateway: Running) -> None:
    with trio.fail_after(10):
        async with httpx.AsyncClient() as client:
            answer = await print_job(client, gateway, b"<html/>", fmt="text/html")
    assert answer.status == S.CLIENT_ERROR_DOCUMENT_FORMAT_NOT_SUPPORTED
    unsupported = answer.message.group(DelimiterTag.UNSUPPORTED_ATTRIBUTES)
    assert unsupported is not None and unsupported.value("document-format") == "text/html"


async def test_unsupported_job_attributes_and_fidelity(gateway: Running) -> None:

    group = {
        "x-unknown": (ValueTag.KEYWORD, "yes"),
        "media": (ValueTag.KEYWORD, "na_foolscap_8.5x13in"),
    }
    with trio.fail_after(10):
        async with httpx.AsyncClient() as client:
            answer = await print_job(client, gateway, job_group=group, fidelity=True)
            assert answer.status == S.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED
            unsupported = answer.message.group(DelimiterTag.UNSUPPORTED_ATTRIBUTES)
            assert unsupported is not None
            assert unsupported.names() == ["x-unknown", "media"]
            assert unsupported["x-unknown"].tag == ValueTag.UNSUPPORTED
            answer = await print_job(client, gateway, job_group=group, fidelity=False)
            assert answer.status == S.SUCCESSFUL_OK_IGNORED_OR_SUBSTITUTED_ATTRIBUTES
            job = gateway.context.spool.get(answer.job.value("job-id"))
            assert "media" not in job.attributes and "x-unknown" not in job.attributes


async def test_limits_give_busy_and_too_large(tmp_path: Path) -> None:
    cfg = gateway_config(tmp_path, gateway={})

    small = replace(cfg, limits=replace(cfg.limits, max_job_size=1000, min_free_space=0))
    full = replace(cfg, limits=replace(cfg.limits, min_free_space=2**62))
    with trio.fail_after(20):
        async with running_gateway(small) as running, httpx.AsyncClient() as client:
            answer = await print_job(client, running, chunks(b"x" * 5000, 100))
            assert answer.status == S.CLIENT_ERROR_REQUEST_ENTITY_TOO_LARGE
            answer = await print_job(client, running, b"x" * 999)
            assert answer.status == S.SUCCESSFUL_OK
        async with running_gateway(full) as running, httpx.AsyncClient() as client:
            answer = await print_job(client, running, b"x" * 10)
            assert answer.status == S.SERVER_ERROR_BUSY


async def test_create_job_send_document_close_job(tmp_path: Path, gateway: Running) -> None:
    uri = printer_uri(gateway)
    target = url(gateway)
    spool = gateway.context.spool
    with trio.fail_after(20):
        async with httpx.AsyncClient() as client:
            create = request(Operation.CREATE_JOB, uri)
            create.operation.add_name("job-name", "two docs")
            answer = await post(client, target, create)
            assert answer.status == S.SUCCESSFUL_OK
            job_id = answer.job.value("job-id")
            assert answer.job.value("job-state") == JobState.PENDING

            for n, (data, last) in enumerate([(b"first\n", False), (b"%PDF-second", False)]):
                send = request(Operation.SEND_DOCUMENT, uri, request_id=2 + n)
                send.operation.add_integer("job-id", job_id)
                send.operation.add_mime_media_type(
                    "document-format", "text/plain" if n == 0 else "application/pdf"
                )
                send.operation.add_name("document-name", f"doc{n + 1}")
                send.operation.add_boolean("last-document", last)
                answer = await post(client, target, send, data)
                assert answer.status == S.SUCCESSFUL_OK, answer.message
            assert spool.get(job_id).incoming

            # Get-Documents sees both.
            docs = request(Operation.GET_DOCUMENTS, uri, request_id=9)
            docs.operation.add_integer("job-id", job_id)
            docs.operation.add_keyword("requested-attributes", "all")
            answer = await post(client, target, docs)
            groups = answer.message.groups_of(DelimiterTag.DOCUMENT_ATTRIBUTES)
            assert [g.value("document-name") for g in groups] == ["doc1", "doc2"]

            close = request(Operation.CLOSE_JOB, uri, request_id=10)
            close.operation.add_integer("job-id", job_id)
            answer = await post(client, target, close)
            assert answer.status == S.SUCCESSFUL_OK
            await wait_for_state(spool, job_id, JobState.COMPLETED)

            late = request(Operation.SEND_DOCUMENT, uri, request_id=11)
            late.operation.add_integer("job-id", job_id)
            late.operation.add_boolean("last-document", True)
            answer = await post(client, target, late, b"too late")
            assert answer.status == S.CLIENT_ERROR_NOT_POSSIBLE
    sidecar = json.loads((tmp_path / "out" / f"job-{job_id}.json").read_text())
    assert [d["file"] for d in sidecar["documents"]] == [
        f"job-{job_id}-1.txt",
        f"job-{job_id}-2.pdf",
    ]
    assert (tmp_path / "out" / f"job-{job_id}-2.pdf").read_bytes() == b"%PDF-second"


async def test_get_jobs_filters_and_attribute_groups(gateway: Running) -> None:
    uri = printer_uri(gateway)
    target = url(gateway)
    spool = gateway.context.spool

    with trio.fail_after(20):
        async with httpx.AsyncClient() as client:
            ids = []
            for user in ["alice", "bob", "alice"]:
                answer = await print_job(
                    client,
                    gateway,
                    user=user,
                    job_group={"job-hold-until": (ValueTag.KEYWORD, "indefinite")},
                )
                ids.append(answer.job.value("job-id"))
            assert all(spool.get(i).state == JobState.PENDING_HELD for i in ids)

            async def get_jobs(**ops: object) -> list[dict[str, object]]:
                message = request(Operation.GET_JOBS, uri, user=str(ops.pop("user", "alice")))
                for key, value in ops.items():
                    name = key.replace("_", "-")
                    if isinstance(value, bool):
                        message.operation.add_boolean(name, value)
                    elif isinstance(value, int):
                        message.operation.add_integer(name, value)
                    elif isinstance(value, list):
                        message.operation.add_keyword(name, *value)
                    else:
                        message.operation.add_keyword(name, str(value))
                answer = await post(client, target, message)
                assert answer.status == S.SUCCESSFUL_OK
                return [{a.name: a.value for a in g} for g in answer.jobs()]

            default = await get_jobs()
            assert [sorted(j) for j in default] == [["job-id", "job-uri"]] * 3
            assert [j["job-id"] for j in await get_jobs(my_jobs=True)] == [ids[0], ids[2]]
            assert [j["job-id"] for j in await get_jobs(limit=1, first_index=2)] == [ids[1]]
            assert await get_jobs(which_jobs="completed") == []
            assert len(await get_jobs(which_jobs="pending-held")) == 3
            template = await get_jobs(requested_attributes=["job-template"])
            assert template[0]["job-hold-until"] == "indefinite"
            assert "job-state" not in template[0]
            description = await get_jobs(requested_attributes=["job-description"])
            assert description[0]["job-state"] == JobState.PENDING_HELD
            assert description[0]["job-originating-user-name"] == "alice"
            assert "job-hold-until" not in description[0]

            release = request(Operation.RELEASE_JOB, uri)
            release.operation.add_integer("job-id", ids[1])
            answer = await post(client, target, release)
            assert answer.status == S.SUCCESSFUL_OK
            await wait_for_state(spool, ids[1], JobState.COMPLETED)
            completed = await get_jobs(which_jobs="completed", requested_attributes=["all"])
            assert [j["job-id"] for j in completed] == [ids[1]]
            assert completed[0]["job-originating-user-name"] == "bob"

            cancel_mine = request(Operation.CANCEL_MY_JOBS, uri, user="alice")
            answer = await post(client, target, cancel_mine)
            assert answer.status == S.SUCCESSFUL_OK
            assert spool.get(ids[0]).state == JobState.CANCELED
            assert spool.get(ids[2]).state == JobState.CANCELED


async def test_set_job_attributes_holds_and_releases(gateway: Running) -> None:

    uri = printer_uri(gateway)
    target = url(gateway)
    spool = gateway.context.spool
    with trio.fail_after(20):
        async with httpx.AsyncClient() as client:
            answer = await print_job(
                client, gateway, job_group={"job-hold-until": (ValueTag.KEYWORD, "indefinite")}
            )
            job_id = answer.job.value("job-id")
            message = request(Operation.SET_JOB_ATTRIBUTES, uri)
            message.operation.add_integer("job-id", job_id)
            message.add_group(DelimiterTag.JOB_ATTRIBUTES).add_keyword("media", "iso_a4_210x297mm")
            answer = await post(client, target, message)
            assert answer.status == S.CLIENT_ERROR_ATTRIBUTES_NOT_SETTABLE

            message = request(Operation.SET_JOB_ATTRIBUTES, uri)
            message.operation.add_integer("job-id", job_id)
            group = message.add_group(DelimiterTag.JOB_ATTRIBUTES)
            group.add_name("job-name", "renamed").add_keyword("job-hold-until", "no-hold")
            answer = await post(client, target, message)
            assert answer.status == S.SUCCESSFUL_OK
            job = await wait_for_state(spool, job_id, JobState.COMPLETED)
            assert job.attributes["job-name"] == "renamed"


async def test_printer_attributes_uuid_state_and_certificate_survive_restart(
    tmp_path: Path,
) -> None:
    cfg = gateway_config(tmp_path)
    seen = []
    with trio.fail_after(30):
        for round_ in range(2):
            async with (
                running_gateway(cfg) as running,
                httpx.AsyncClient(verify=tls_context()) as client,
            ):
                message = request(Operation.GET_PRINTER_ATTRIBUTES, printer_uri(running, tls=True))
                message.operation.add_keyword(
                    "requested-attributes", "printer-uuid", "printer-state", "printer-name"
                )
                answer = await post(client, url(running, tls=True), message)
                printer = answer.printer
                assert printer.names() == ["printer-name", "printer-uuid", "printer-state"]
                # Pause-Printer lasts across the restart.
                assert printer.value("printer-state") == (3 if round_ == 0 else 5)
                seen.append(
                    (
                        printer.value("printer-uuid"),
                        (tmp_path / "spool/tls/ipps-cert.pem").read_bytes(),
                    )
                )
                # Pause-Printer (allowed from loopback) shows in printer-state.
                pause = request(Operation.PAUSE_PRINTER, printer_uri(running))
                assert (await post(client, url(running), pause)).status == S.SUCCESSFUL_OK
                answer = await post(client, url(running, tls=True), message)
                assert answer.printer.value("printer-state") == 5
    assert seen[0] == seen[1]
    assert str(seen[0][0]).startswith("urn:uuid:")


async def test_subscription_and_get_notifications(gateway: Running) -> None:
    uri = printer_uri(gateway)
    target = url(gateway)
    spool = gateway.context.spool
    with trio.fail_after(20):
        async with httpx.AsyncClient() as client:
            create = request(Operation.CREATE_PRINTER_SUBSCRIPTIONS, uri)
            sub = create.add_group(DelimiterTag.SUBSCRIPTION_ATTRIBUTES)
            sub.add_keyword("notify-pull-method", "ippget")
            sub.add_keyword("notify-events", "job-created", "job-completed")
            answer = await post(client, target, create)
            assert answer.status == S.SUCCESSFUL_OK
            sub_id = answer.message.value(
                DelimiterTag.SUBSCRIPTION_ATTRIBUTES, "notify-subscription-id"
            )
            printed = await print_job(client, gateway)
            job_id = printed.job.value("job-id")
            await wait_for_state(spool, job_id, JobState.COMPLETED)
            get = request(Operation.GET_NOTIFICATIONS, uri)
            get.operation.add_integer("notify-subscription-ids", sub_id)
            answer = await post(client, target, get)
            assert answer.status == S.SUCCESSFUL_OK
            events = answer.message.groups_of(DelimiterTag.EVENT_NOTIFICATION_ATTRIBUTES)
            assert [
                (e.value("notify-subscribed-event"), e.value("notify-job-id")) for e in events
            ] == [
                ("job-created", job_id),
                ("job-completed", job_id),
            ]


async def test_routing_by_printer_uri_path_and_status_page(tmp_path: Path) -> None:
    out2 = tmp_path / "out2"
    cfg = gateway_config(
        tmp_path,
        queues={
            "lp": {"backend": (tmp_path / "out").as_uri()},
            "other": {"backend": out2.as_uri(), "location": "2nd floor"},
        },
    )
    with trio.fail_after(20):
        async with running_gateway(cfg) as running, httpx.AsyncClient() as client:
            # The HTTP path does not matter; the printer-uri's path does, whatever its host.
            message = request(Operation.PRINT_JOB, "ipp://elsewhere.example/printers/other")
            answer = await post(client, url(running, "/ipp/print"), message, b"to other\n")
            assert answer.status == S.SUCCESSFUL_OK
            job_id = answer.job.value("job-id")
            job = await wait_for_state(running.context.spool, job_id, JobState.COMPLETED)
            assert job.queue == "other"
            assert answer.job.value("job-uri") == printer_uri(running, f"/jobs/{job_id}")

            gpa = request(Operation.GET_PRINTER_ATTRIBUTES, printer_uri(running, "/printers/other"))
            gpa.operation.add_keyword(
                "requested-attributes", "printer-name", "printer-location", "printer-more-info"
            )
            answer = await post(client, url(running), gpa)
            assert answer.printer.value("printer-name") == "other"
            assert answer.printer.value("printer-location") == "2nd floor"
            more_info = str(answer.printer.value("printer-more-info"))
            assert more_info == url(running, "/printers/other")
            assert (await client.get(more_info)).status_code == 200

            # Anything but POST goes to the status pages (after the Host check).
            page = await client.get(url(running, "/printers/other"))
            assert page.status_code == 200 and "other" in page.text
            assert (await client.get(url(running, "/printers/none"))).status_code == 404
            evil = await client.get(url(running, "/"), headers={"Host": "evil.example"})
            assert evil.status_code == 400
    assert (out2 / f"job-{job_id}-1.bin").read_bytes() == b"to other\n"


async def _raw_exchange(port: int, data: bytes, *, close_after_send: bool = False) -> bytes:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(data)
        if close_after_send:
            return b""
        received = b""
        while b"\r\n\r\n" not in received or not received.split(b"\r\n\r\n", 1)[1]:
            chunk = await stream.receive_some(65536)
            if not chunk:
                break
            received += chunk
        return received


async def test_expect_continue_http10_and_client_gone(gateway: Running) -> None:
    port = gateway.ipp[0][1]
    body = encode(request(Operation.PRINT_JOB, printer_uri(gateway))) + b"document"
    head = "POST /ipp/print HTTP/{} \r\nHost: localhost\r\nContent-Type: application/ipp\r\n"
    with trio.fail_after(20):
        # HTTP/1.1 with Expect: 100-continue (what CUPS always sends).
        expect = head.format("1.1").replace(" \r\n", "\r\n", 1)
        expect += f"Expect: 100-continue\r\nContent-Length: {len(body)}\r\n\r\n"
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(expect.encode())
            assert (await stream.receive_some(1024)).startswith(b"HTTP/1.1 100")
            await stream.send_all(body)
            reply = await stream.receive_some(65536)
        assert reply.startswith(b"HTTP/1.1 200") and b"application/ipp" in reply

        # HTTP/1.0 with Content-Length.
        old = head.format("1.0").replace(" \r\n", "\r\n", 1)
        old += f"Content-Length: {len(body)}\r\n\r\n"
        reply = await _raw_exchange(port, old.encode() + body)
        assert reply.startswith(b"HTTP/1.0 200") or reply.startswith(b"HTTP/1.1 200")

        # A client that goes away in the middle of its document leaves nothing behind.
        gone = head.format("1.1").replace(" \r\n", "\r\n", 1)
        gone += "Content-Length: 10000000\r\n\r\n"
        before = len(list(gateway.context.spool.jobs()))
        await _raw_exchange(port, gone.encode() + body + b"x" * 100_000, close_after_send=True)
        spool_jobs = gateway.context.spool.root / "jobs"
        for _ in range(200):  # bounded poll: the server notices the disconnect
            folders = [p for p in spool_jobs.iterdir() if not any(p.glob("doc-*[0-9]"))]
            if not folders:
                break
            await trio.sleep(0.05)
        assert len(list(gateway.context.spool.jobs())) == before
        assert not [p for p in spool_jobs.iterdir() if list(p.glob("*.part"))]


async def test_cancel_right_after_print_is_answered_and_the_gateway_survives(
    gateway: Running,
) -> None:
    """Cancel-Job landing while the dispatcher hands the job to its backend
    (ipp-1.1.test tests 22-23 do exactly this) gets ok or not-possible."""
    uri = printer_uri(gateway)
    with trio.fail_after(60):
        async with httpx.AsyncClient() as client:
            for _ in range(20):
                printed = await print_job(client, gateway, b"%!PS\n" * 2000)
                cancel = request(Operation.CANCEL_JOB, uri)
                cancel.operation.add_integer("job-id", printed.job.value("job-id"))
                answer = await post(client, url(gateway), cancel)
                assert answer.status in (S.SUCCESSFUL_OK, S.CLIENT_ERROR_NOT_POSSIBLE)
            gpa = request(Operation.GET_PRINTER_ATTRIBUTES, uri)
            assert (await post(client, url(gateway), gpa)).status == S.SUCCESSFUL_OK
    states = {job.state for job in gateway.context.spool.jobs()}
    assert states <= {JobState.CANCELED, JobState.COMPLETED}


async def test_requests_beyond_max_connections_get_503(tmp_path: Path) -> None:
    cfg = gateway_config(tmp_path, ipp={"max_connections": 1, "idle_timeout": 4})
    with trio.fail_after(20):
        async with running_gateway(cfg) as running, httpx.AsyncClient() as client:
            port = running.ipp[0][1]
            head = encode(request(Operation.PRINT_JOB, printer_uri(running)))
            slow = await trio.open_tcp_stream("127.0.0.1", port)
            async with slow:
                await slow.send_all(
                    b"POST /ipp/print HTTP/1.1\r\nHost: localhost\r\n"
                    b"Content-Type: application/ipp\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(head) + 10, head)
                )
                # The one slot is taken by the unfinished Print-Job above: the
                # next request waits idle_timeout / 2 (2 s) for it, then gets 503.
                gpa = request(Operation.GET_PRINTER_ATTRIBUTES, printer_uri(running))
                response = await client.post(
                    url(running), content=encode(gpa), headers={"Content-Type": "application/ipp"}
                )
                assert response.status_code == 503
                # The slow client is still within its idle timeout (4 s).
                await slow.send_all(b"0123456789")
                reply = await slow.receive_some(65536)
                assert reply.startswith(b"HTTP/1.1 200")
            answer = await post(client, url(running), gpa)
            assert answer.status == S.SUCCESSFUL_OK


async def test_printer_attributes_answers_follow_jobs_hosts_and_requests(
    gateway: Running,
) -> None:
    """Get-Printer-Attributes answers are reused within a second, but never
    across a change of queued jobs, of the Host the client used or of the
    attributes it asked for."""

    async def ask(client: httpx.AsyncClient, *names: str, host: str | None = None) -> Answer:
        message = request(Operation.GET_PRINTER_ATTRIBUTES, printer_uri(gateway))
        message.operation.add_keyword("requested-attributes", *names)
        target = url(gateway)
        if host is not None:
            target = target.replace("127.0.0.1", host)
        return await post(client, target, message)

    with trio.fail_after(30):
        async with httpx.AsyncClient() as client:
            await post(client, url(gateway), request(Operation.PAUSE_PRINTER, printer_uri(gateway)))
            before = await ask(client, "queued-job-count", "printer-uri-supported")
            again = await ask(client, "queued-job-count", "printer-uri-supported")
            assert before.printer.value("queued-job-count") == 0
            assert again.printer.value("printer-uri-supported") == before.printer.value(
                "printer-uri-supported"
            )
            assert (await print_job(client, gateway)).status == S.SUCCESSFUL_OK
            after = await ask(client, "queued-job-count", "printer-uri-supported")
            assert after.printer.value("queued-job-count") == 1
            other_host = await ask(client, "printer-uri-supported", host="localhost")
            assert "//localhost:" in str(other_host.printer.value("printer-uri-supported"))
            fewer = await ask(client, "printer-name")
            assert fewer.printer.names() == ["printer-name"]
