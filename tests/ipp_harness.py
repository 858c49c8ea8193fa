"""Helpers for the IPP front-end tests: an in-process gateway, IPP requests over
httpx, and ipptool runs.

Rules (tests/conftest.py): loopback only, port 0, a deadline on every I/O test,
no sleeps as synchronisation (poll the server with IPP requests in a bounded
loop, or wait on the spool listener).
"""

from __future__ import annotations

import contextlib
import functools
import re
import shutil
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import trio

from gateway import app, config
from gateway.ipp import DelimiterTag, Message, Operation, decode, encode

IPPTOOL_TESTS = Path("/usr/share/cups/ipptool")
#: CUPS's sample documents, in the shared/ folder beside this checkout (as CI lays it out).
IPPTOOL_FILES = Path(__file__).resolve().parents[2] / "shared" / "ipptool-files"


def gateway_config(
    tmp_path: Path,
    *,
    queues: Mapping[str, Mapping[str, Any]] | None = None,
    ipp: Mapping[str, Any] | None = None,
    gateway: Mapping[str, Any] | None = None,
) -> config.Config:
    """A config with a file-backend queue ``lp`` (output in tmp_path/out), IPP and
    IPPS on loopback port 0 and no LPD listener."""
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return config.from_mapping(
        {
            "gateway": {"spool_dir": str(tmp_path / "spool"), **(gateway or {})},
            "lpd": {"listen": []},
            "ipp": {"listen": ["127.0.0.1:0"], "tls_listen": ["127.0.0.1:0"], **(ipp or {})},
            "queues": dict(queues) if queues is not None else {"lp": {"backend": out.as_uri()}},
        }
    )


@contextlib.asynccontextmanager
async def running_gateway(cfg: config.Config) -> AsyncIterator[app.Running]:
    """Run the gateway in this trio run until the block ends."""
    async with trio.open_nursery() as nursery:
        running: app.Running = await nursery.start(
            functools.partial(app.run, cfg, handle_signals=False)
        )
        try:
            yield running
        finally:
            nursery.cancel_scope.cancel()


def url(running: app.Running, path: str = "/ipp/print", *, tls: bool = False) -> str:
    host, port = running.ipps[0] if tls else running.ipp[0]
    return f"{'https' if tls else 'http'}://{host}:{port}{path}"


def printer_uri(running: app.Running, path: str = "/ipp/print", *, tls: bool = False) -> str:
    host, port = running.ipps[0] if tls else running.ipp[0]
    return f"{'ipps' if tls else 'ipp'}://{host}:{port}{path}"


def tls_context() -> ssl.SSLContext:
    """A client context that accepts the gateway's self-signed certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def request(
    operation: Operation,
    uri: str,
    *,
    user: str | None = "alice",
    request_id: int = 1,
    version: tuple[int, int] = (2, 0),
) -> Message:
    """A request with charset, language, printer-uri and requesting-user-name."""
    return Message.request(
        operation,
        request_id,
        version=version,
        printer_uri=uri,
        requesting_user_name=user,
    )


@dataclass
class Answer:
    """An IPP response and the HTTP response it came in."""

    http: httpx.Response
    message: Message

    @property
    def status(self) -> int:
        return self.message.operation_id_or_status

    def jobs(self) -> list[Any]:
        return self.message.groups_of(DelimiterTag.JOB_ATTRIBUTES)

    @property
    def job(self) -> Any:
        return self.message.group(DelimiterTag.JOB_ATTRIBUTES)

    @property
    def printer(self) -> Any:
        return self.message.group(DelimiterTag.PRINTER_ATTRIBUTES)


async def post(
    client: httpx.AsyncClient, target: str, message: Message | bytes, data: Any = b""
) -> Answer:
    """POST an IPP request (plus document data: bytes or an async iterator)."""
    head = message if isinstance(message, bytes) else encode(message)
    if isinstance(data, bytes):
        content: Any = head + data
    else:

        async def stream() -> AsyncIterator[bytes]:
            yield head
            async for chunk in data:
                yield chunk

        content = stream()
    response = await client.post(
        target, content=content, headers={"Content-Type": "application/ipp"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/ipp"
    message_out, _ = decode(response.content)
    return Answer(response, message_out)


# --------------------------------------------------------------------------
# ipptool

SUMMARY = re.compile(r"\[(PASS|FAIL|SKIP)\]\s*$", re.MULTILINE)


@dataclass(frozen=True)
class IpptoolResult:
    """Counts of one ipptool run and its output."""

    passed: int
    failed: int
    skipped: int
    returncode: int
    output: str


def ipptool_workdir(tmp_path: Path) -> Path:
    """A folder with the conformance .test files and the documents they print
    (FILE paths in .test files resolve relative to the test file)."""
    work = tmp_path / "ipptool"
    work.mkdir(exist_ok=True)
    for test in IPPTOOL_TESTS.glob("*.test"):
        shutil.copy(test, work / test.name)
    for document in IPPTOOL_FILES.iterdir():
        shutil.copy(document, work / document.name)
    return work


def parse_ipptool(output: str, returncode: int) -> IpptoolResult:
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    for match in SUMMARY.finditer(output):
        counts[match.group(1)] += 1
    return IpptoolResult(counts["PASS"], counts["FAIL"], counts["SKIP"], returncode, output)


#: The suite's own ipptool test files (system, INFRA, notifications ...).
SUITE_TESTS = Path(__file__).parent / "integration" / "ipptool"


async def ipptool_test(
    uri: str,
    test: str,
    work: Path,
    defines: Mapping[str, str] | None = None,
    document: Path | None = None,
    *,
    timeout: float = 60.0,
) -> IpptoolResult:
    """``ipptool -t [-d NAME=VALUE]... [-f FILE] URI TEST``, TEST one of the suite's
    files (copied into `work`), within `timeout` seconds."""
    from tests.peers import require

    # No -T: ipptool 2.4 with a timeout set stops sending the password it was given.
    argv = [str(require("ipptool")), "-t"]
    for name, value in (defines or {}).items():
        argv += ["-d", f"{name}={value}"]
    if document is not None:
        argv += ["-f", str(document)]
    shutil.copy(SUITE_TESTS / test, work / test)
    with trio.fail_after(timeout):
        result = await trio.run_process(
            [*argv, uri, test], cwd=work, capture_stdout=True, capture_stderr=True, check=False
        )
    text = result.stdout.decode("utf-8", "replace") + result.stderr.decode("utf-8", "replace")
    return parse_ipptool(text, result.returncode)


def all_passed(result: IpptoolResult, count: int) -> None:
    """Fail with ipptool's output unless all `count` tests of the file passed."""
    assert result.failed == 0 and result.returncode == 0, result.output
    assert result.passed == count, result.output


async def run_ipptool(
    ipptool: Path, work: Path, uri: str, suite: str, version: str
) -> IpptoolResult:
    """``ipptool -t -I -V VERSION -f testfile.pdf URI SUITE`` in `work`."""
    result = await trio.run_process(
        [str(ipptool), "-t", "-I", "-V", version, "-f", "testfile.pdf", uri, suite],
        cwd=work,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    text = result.stdout.decode("utf-8", "replace") + result.stderr.decode("utf-8", "replace")
    return parse_ipptool(text, result.returncode)


async def ipptool_file(
    running: app.Running, path: str, work: Path, test: str = "print.test"
) -> None:
    """Run ``ipptool -t URI TEST`` in `work` against the printer at `path`; fail the
    test with ipptool's output unless every test in the file passed."""
    from tests.peers import require

    result = await trio.run_process(
        [str(require("ipptool")), "-t", printer_uri(running, path), test],
        cwd=work,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
