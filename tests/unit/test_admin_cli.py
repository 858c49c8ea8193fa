"""``lpd-ipp-gateway admin``: argument parsing, tables and JSON, and the exit
status of each class of failure.

The failures are produced by a small HTTP server on loopback (port 0) that
answers every request with one canned reply (an IPP status, an HTTP 401, 429
or 500, a malformed IPP body), so each class is met as the command meets it
over a socket; the real gateway is driven in
tests/integration/test_admin_command.py. Every I/O test has a deadline.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from gateway import cli
from gateway.admin import command, operations, render
from gateway.admin.errors import (
    EXIT_AUTH,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    AdminError,
    AuthFailed,
    Refused,
    Unreachable,
    UsageError,
)
from gateway.admin.session import Session, system_uri
from gateway.ipp.attributes import Group
from gateway.ipp.client import tls_verify
from gateway.ipp.encoder import encode
from gateway.ipp.message import Message
from gateway.ipp.operations import Operation
from gateway.ipp.parser import MessageParser
from gateway.ipp.server import tls
from gateway.ipp.status import StatusCode
from gateway.ipp.tags import DelimiterTag

DEADLINE = 10.0


def parse(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(["admin", *argv])


# --------------------------------------------------------------------------
# Parsing


def test_options_go_before_or_after_the_subcommand() -> None:
    before = parse("--server", "ipps://gw:8631", "--json", "--user", "ann", "queues")
    after = parse("queues", "--server", "ipps://gw:8631", "--json", "--user", "ann")
    for args in (before, after):
        assert args.admin_command == "queues"
        assert (args.server, args.json, args.user) == ("ipps://gw:8631", True, "ann")
    plain = parse("queues")
    assert (plain.server, plain.json, plain.insecure, plain.timeout) == (None, False, False, 30.0)


def test_add_takes_repeated_options_and_descriptions() -> None:
    args = parse(
        "add", "floor3", "lpd://p3/lp", "--option", "reserve=none", "--option", "timeout=30",
        "--info", "Third floor", "--location", "Building A", "--start",
    )  # fmt: skip
    assert (args.name, args.uri, args.start) == ("floor3", "lpd://p3/lp", True)
    assert args.option == ["reserve=none", "timeout=30"]
    assert (args.info, args.location) == ("Third floor", "Building A")


def test_job_subcommands_take_a_job_id() -> None:
    assert parse("move", "42", "office").job_id == 42
    assert parse("cancel", "7").job_id == 7
    jobs = parse("jobs", "office", "--completed")
    assert (jobs.name, jobs.completed, jobs.all) == ("office", True, False)
    assert parse("jobs").name is None


@pytest.mark.parametrize(
    "argv",
    [
        [],  # no sub-command
        ["bogus"],
        ["cancel", "seven"],
        ["cancel", "0"],
        ["move", "3"],
        ["jobs", "--all", "--completed"],
        ["add", "floor3"],
    ],
)
def test_usage_errors_exit_2_in_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse(*argv)
    assert exit_info.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lpd-ipp-gateway admin"), err


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse("--help")
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in command.SUBCOMMANDS:
        assert f"    {name} " in out, name


def test_server_uri_forms() -> None:
    assert system_uri("ipp://gw") == "ipp://gw/ipp/system"
    assert system_uri("ipps://gw:8631/") == "ipps://gw:8631/ipp/system"
    assert system_uri("ipp://[::1]:631/ipp/system") == "ipp://[::1]:631/ipp/system"
    for bad in ("http://gw/ipp/system", "gw:631", "ipp://gw:notaport"):
        with pytest.raises(UsageError):
            system_uri(bad)


def test_backend_options_need_an_equals_sign() -> None:
    assert operations.backend_options(["a=1", "b="]) == ["a=1", "b="]
    with pytest.raises(UsageError, match="key=value"):
        operations.backend_options(["reserve"])


# --------------------------------------------------------------------------
# Rendering


QUEUES = [
    {
        "name": "lp", "printer_id": 1, "state": "idle", "accepting": True, "jobs": 0,
        "backend": None, "location": "",
    },
    {
        "name": "floor3", "printer_id": 12, "state": "stopped", "accepting": False, "jobs": 140,
        "backend": "lpd://p3/lp", "location": "Floor 3",
    },
]  # fmt: skip


def test_queue_table_is_aligned() -> None:
    assert render.queues_text(QUEUES) == (
        "NAME    ID  STATE    ACCEPTING  JOBS  BACKEND      LOCATION\n"
        "lp       1  idle     yes           0  -            -\n"
        "floor3  12  stopped  no          140  lpd://p3/lp  Floor 3\n"
    )


def test_job_table_shows_size_pages_and_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()
    jobs = [
        {
            "id": 7, "queue": "lp", "user": "ann", "name": "report\nq3", "state": "pending",
            "k_octets": 12, "pages": None, "created": 1_700_000_000,
        }
    ]  # fmt: skip
    assert render.jobs_text(jobs) == (
        "ID  QUEUE  USER  NAME       STATE    SIZE  PAGES  CREATED\n"
        " 7  lp     ann   report q3  pending   12k      -  2023-11-14 22:13:20\n"
    )
    assert render.jobs_text([]) == "no jobs\n"


def test_action_lines() -> None:
    assert render.action_text({"operation": "pause", "queue": "lp"}) == "queue lp paused\n"
    assert render.action_text({"operation": "hold", "job": 3}) == "job 3 held\n"
    assert render.action_text({"operation": "move", "job": 3, "queue": "b"}) == (
        "job 3 moved to b\n"
    )
    added = {"operation": "add", "queue": "a", "printer_id": 4, "backend": "file:///x"}
    assert "stopped" in render.action_text(added)


def test_json_is_one_document() -> None:
    text = render.json_document({"queues": QUEUES})
    assert json.loads(text) == {"queues": QUEUES}
    assert text.endswith("}\n")


def test_rows_from_ipp_groups() -> None:
    printer = Group(DelimiterTag.PRINTER_ATTRIBUTES)
    printer.add_name("printer-name", "office")
    printer.add_integer("printer-id", 2)
    printer.add_enum("printer-state", 5)
    printer.add_keyword("printer-state-reasons", "paused")
    printer.add_boolean("printer-is-accepting-jobs", False)
    printer.add_integer("queued-job-count", 3)
    printer.add_text("printer-location", "Room 1")
    row = operations.queue_row(printer)
    assert row["name"] == "office" and row["printer_id"] == 2
    assert (row["state"], row["state_reasons"], row["accepting"]) == ("stopped", ["paused"], False)
    assert (row["jobs"], row["backend"], row["location"]) == (3, None, "Room 1")
    job = Group(DelimiterTag.JOB_ATTRIBUTES)
    job.add_integer("job-id", 9)
    job.add_uri("job-printer-uri", "ipp://gw:631/printers/office")
    job.add_enum("job-state", 4)
    job.add_integer("job-k-octets", 1)
    assert operations.job_row(job) | {} == {
        "id": 9, "queue": "office", "user": "", "name": "", "state": "pending-held",
        "state_reasons": [], "k_octets": 1, "pages": None, "created": None,
    }  # fmt: skip


# --------------------------------------------------------------------------
# Failures, over a socket


Reply = Callable[[Message], bytes]
authorizations: list[str] = []  # the Authorization header of each request seen


def http(status: int, body: bytes = b"", headers: str = "") -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{headers}"
    return head.encode() + b"Content-Type: application/ipp\r\n\r\n" + body


def ipp_status(status: StatusCode, message: str = "") -> Reply:
    def reply(request: Message) -> bytes:
        return http(200, encode(Message.response(request, status, status_message=message or None)))

    return reply


@asynccontextmanager
async def server(
    reply: Reply, tls: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[int, list[Message]]]:
    """An HTTP/1.1 server on 127.0.0.1 (over TLS with `tls`) that answers each IPP
    request with `reply`; the requests it saw (and their Authorization) are kept."""
    seen: list[Message] = []

    async def handle(stream: trio.abc.Stream) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive_some(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += await stream.receive_some(65536)
        parser = MessageParser()
        request = parser.feed(body) or parser.close()
        seen.append(request)
        authorizations.append(
            next(
                (
                    line.split(b":", 1)[1].strip().decode()
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"authorization:")
                ),
                "",
            )
        )
        await stream.send_all(reply(request))
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        serve = (
            partial(trio.serve_tcp, handle, 0, host="127.0.0.1")
            if tls is None
            else partial(trio.serve_ssl_over_tcp, handle, 0, tls, host="127.0.0.1")
        )
        listeners = await nursery.start(serve)
        listener = listeners[0]
        sock = listener.socket if tls is None else listener.transport_listener.socket
        yield sock.getsockname()[1], seen
        nursery.cancel_scope.cancel()


async def attempt(port: int, *argv: str, **session: Any) -> AdminError | None:
    args = parse(*argv)
    try:
        with trio.fail_after(DEADLINE):
            await command.run(Session(f"ipp://127.0.0.1:{port}", "ann", **session), args)
    except AdminError as exc:
        return exc
    return None


async def test_an_ipp_error_status_is_refused_with_its_keyword_and_message() -> None:
    reply = ipp_status(StatusCode.CLIENT_ERROR_FORBIDDEN, "operators only")
    async with server(reply) as (port, seen):
        error = await attempt(port, "pause", "office")
    assert isinstance(error, Refused) and error.exit_code == EXIT_REFUSED
    assert error.message == "client-error-forbidden: operators only"
    request = seen[0]
    assert request.operation_id == Operation.PAUSE_PRINTER
    names = [a.name for a in request.operation]
    assert names[:4] == [
        "attributes-charset", "attributes-natural-language", "printer-uri", "requesting-user-name",
    ]  # fmt: skip
    assert request.operation.value("printer-uri") == f"ipp://127.0.0.1:{port}/printers/office"


async def test_not_authenticated_is_an_authentication_failure() -> None:
    reply = ipp_status(StatusCode.CLIENT_ERROR_NOT_AUTHENTICATED, "use ipps")
    async with server(reply) as (port, _):
        error = await attempt(port, "jobs")
    assert isinstance(error, AuthFailed) and error.exit_code == EXIT_AUTH


@pytest.mark.parametrize("status", [401, 429])
async def test_http_401_and_429_are_authentication_failures(status: int) -> None:
    reply: Reply = lambda _: http(status, headers='WWW-Authenticate: Basic realm="x"\r\n')  # noqa: E731
    async with server(reply) as (port, _):
        error = await attempt(port, "queues")
    assert isinstance(error, AuthFailed) and error.exit_code == EXIT_AUTH


@pytest.mark.parametrize(
    "reply", [lambda _: http(500), lambda _: http(200, b"\x02\x00not ipp at all")]
)
async def test_http_errors_and_broken_ipp_are_unreachable(reply: Reply) -> None:
    async with server(reply) as (port, _):
        error = await attempt(port, "queues")
    assert isinstance(error, Unreachable) and error.exit_code == EXIT_UNREACHABLE


async def test_move_sends_cups_move_job_with_the_target() -> None:
    async with server(ipp_status(StatusCode.SUCCESSFUL_OK)) as (port, seen):
        assert await attempt(port, "move", "42", "office") is None
    request = seen[0]
    assert request.operation_id == Operation.CUPS_MOVE_JOB
    assert request.operation.value("job-uri") == f"ipp://127.0.0.1:{port}/jobs/42"
    assert request.operation.value("job-printer-uri") == f"ipp://127.0.0.1:{port}/printers/office"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_main(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = command.main(parse(*argv), stdout=out, stderr=err, env=env or {})
    return code, out.getvalue(), err.getvalue()


def test_main_cannot_connect_exits_3_with_one_line_and_a_json_document() -> None:
    code, out, err = run_main("--server", f"ipp://127.0.0.1:{closed_port()}", "queues", "--json")
    assert code == EXIT_UNREACHABLE
    assert err.count("\n") == 1 and "cannot connect" in err
    assert json.loads(out)["exit"] == EXIT_UNREACHABLE


def test_main_usage_errors_exit_2(tmp_path: Path) -> None:
    code, _, err = run_main("--server", "http://gw/", "queues")
    assert code == EXIT_USAGE and "ipp:// or ipps://" in err
    code, _, err = run_main("--password-file", str(tmp_path / "missing"), "queues")
    assert code == EXIT_USAGE and "cannot read the password file" in err
    code, _, err = run_main("--ca-file", str(tmp_path / "missing.pem"), "queues")
    assert code == EXIT_USAGE and "CA file" in err


def test_main_takes_the_server_from_the_environment() -> None:
    port = closed_port()
    code, _, err = run_main("queues", env={"LPD_IPP_GATEWAY_SERVER": f"ipp://127.0.0.1:{port}"})
    assert code == EXIT_UNREACHABLE and f"127.0.0.1:{port}" in err


def server_tls(tmp_path: Path) -> ssl.SSLContext:
    cert_pem, key_pem = tls.self_signed("localhost")
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


async def test_over_ipps_a_401_prompts_once_and_sends_basic_credentials(tmp_path: Path) -> None:
    asked: list[str] = []

    def reply(request: Message) -> bytes:
        if not authorizations[-1]:
            return http(401, headers='WWW-Authenticate: Basic realm="lpd-ipp-gateway"\r\n')
        return ipp_status(StatusCode.SUCCESSFUL_OK)(request)

    def prompt(text: str) -> str:
        asked.append(text)
        return "pa:ss"

    authorizations.clear()
    async with server(reply, server_tls(tmp_path)) as (port, _):
        args = parse("pause", "office")
        session = Session(
            f"ipps://127.0.0.1:{port}", "ann", verify=tls_verify(tmp_path / "cert.pem"),
            prompt=prompt,
        )  # fmt: skip
        with trio.fail_after(DEADLINE):
            await command.run(session, args)
    assert asked == ["password for ann: "]
    assert authorizations == ["", "Basic " + base64.b64encode(b"ann:pa:ss").decode()]


async def test_over_ipps_a_token_goes_with_every_request(tmp_path: Path) -> None:
    authorizations.clear()
    async with server(ipp_status(StatusCode.SUCCESSFUL_OK), server_tls(tmp_path)) as (port, _):
        session = Session(f"ipps://127.0.0.1:{port}", "ann", verify=False, token="t0ken")
        with trio.fail_after(DEADLINE):
            await command.run(session, parse("cancel", "5"))
    assert authorizations == ["Bearer t0ken"]


async def test_a_password_is_never_sent_over_plain_ipp() -> None:
    authorizations.clear()
    async with server(lambda _: http(401)) as (port, _):
        error = await attempt(port, "queues", password="secret", token="t0ken")
    assert isinstance(error, AuthFailed) and "ipps:// only" in error.message
    assert authorizations == [""]


async def test_an_untrusted_certificate_is_unreachable(tmp_path: Path) -> None:
    async with server(ipp_status(StatusCode.SUCCESSFUL_OK), server_tls(tmp_path)) as (port, _):
        session = Session(f"ipps://127.0.0.1:{port}", "ann")
        with trio.fail_after(DEADLINE), pytest.raises(Unreachable, match="CERTIFICATE_VERIFY"):
            await command.run(session, parse("queues"))
