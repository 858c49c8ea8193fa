"""The Infrastructure Printer role (PWG 5100.18) of the real gateway, asked by CUPS's
ipptool directly, one test file per proxy operation (tests/integration/ipptool/
infra-*.test), over ipps:// with HTTP Basic: a proxy user in ``[infra]
proxy_users``, a user who is not one, a user who prints.

What the files check: the required attributes (client-error-bad-request without
output-device-uuid, job-id, document-number), a wrong output-device-uuid, a job
already fetched by another device (client-error-not-fetchable, 0x0420), a
document number out of range (client-error-not-found), the answers' attributes;
here besides: the document bytes Fetch-Document streams, lpq and Get-Jobs showing
the job processing and then completed as the device reports it, and the output
devices and the job's owner surviving a restart.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import trio

from gateway.ipp import Operation, StatusCode, ValueTag
from gateway.ipp.encoder import encode
from gateway.ipp.message import Message
from gateway.ipp.parser import decode
from gateway.ipp.server.auth import set_password
from tests.gateway_process import GatewayProcess
from tests.gateway_process import log_line as wait_for
from tests.gateway_process import start_gateway as start
from tests.gateway_process import stop_gateway as stop
from tests.ipp_harness import all_passed as passed
from tests.ipp_harness import ipptool_test as ipptool
from tests.lpd_peers import endpoint, lprng

pytestmark = pytest.mark.peer

STEP = 60.0  # one ipptool run, one start or stop of the gateway

DEVICE = "urn:uuid:6b3c1d9e-0f43-4a5b-9c1e-2d7f00000001"
OTHER = "urn:uuid:6b3c1d9e-0f43-4a5b-9c1e-2d7f00000002"
STRANGER = "urn:uuid:6b3c1d9e-0f43-4a5b-9c1e-2d7f000000ff"
PASSWORDS = {"proxy": "fetch-it", "alice": "wonder", "bob": "builder"}


def write_config(tmp_path: Path) -> Path:
    """One Infrastructure Printer queue ``cloud``; LPD and IPP on loopback port 0,
    IPPS beside; Basic authentication for jobs; ``proxy`` is the proxy user."""
    passwords = tmp_path / "passwd"
    for user, password in PASSWORDS.items():
        set_password(passwords, user, password)
    path = tmp_path / "gateway.toml"
    path.write_text(
        f"""
[gateway]
spool_dir = "{tmp_path / "spool"}"

[lpd]
listen = ["127.0.0.1:0"]

[ipp]
listen = ["127.0.0.1:0"]
tls_listen = ["127.0.0.1:0"]
auth = "jobs"
password_file = "{passwords}"

[infra]
proxy_users = ["proxy"]

[queues.cloud]
infrastructure = true
info = "Held for proxies"
"""
    )
    return path


def uri(gateway: GatewayProcess, path: str = "/printers/cloud", *, user: str = "") -> str:
    if not user:
        return f"ipp://127.0.0.1:{gateway.ports['IPP'][0]}{path}"
    return f"ipps://{user}:{PASSWORDS[user]}@127.0.0.1:{gateway.ports['IPPS'][0]}{path}"


async def fetch_document(gateway: GatewayProcess, job_id: int) -> tuple[int, bytes]:
    """Fetch-Document as the proxy, by hand: its status and the bytes after the message."""
    message = Message.request(
        Operation.FETCH_DOCUMENT,
        7,
        printer_uri=uri(gateway).replace("ipp://", "ipps://"),
        requesting_user_name="proxy",
    )
    message.operation.add("output-device-uuid", ValueTag.URI, DEVICE)
    message.operation.add("job-id", ValueTag.INTEGER, job_id)
    message.operation.add("document-number", ValueTag.INTEGER, 1)
    target = f"https://127.0.0.1:{gateway.ports['IPPS'][0]}/printers/cloud"
    async with httpx.AsyncClient(verify=False, auth=("proxy", PASSWORDS["proxy"])) as http:
        with trio.fail_after(STEP):
            response = await http.post(
                target, content=encode(message), headers={"Content-Type": "application/ipp"}
            )
    assert response.status_code == 200, response.text
    answer, data = decode(response.content)
    return answer.operation_id_or_status, bytes(data)


async def lpq(gateway: GatewayProcess, tmp_path: Path) -> str:
    result = await lprng("lpq", ["-P", endpoint(gateway.ports["LPD"][0], "cloud")], tmp_path)
    return result.stdout.decode("utf-8", "replace")


async def test_proxy_operations_answer_as_pwg_5100_18_requires(tmp_path: Path) -> None:
    work = tmp_path / "ipptool"
    work.mkdir()
    body = b"infra-printer token 4711\n" + b"x" * 300_000 + b"\nend\n"
    document = tmp_path / "letter.txt"
    document.write_bytes(body)
    config = write_config(tmp_path)
    gateway = await start(config)
    try:
        printed = await ipptool(
            uri(gateway, user="alice"), "infra-print.test", work, None, document
        )
        passed(printed, 1)
        line = await wait_for(gateway, r"job (\d+) fetchable queue=cloud")
        job_id = line.split("job ", 1)[1].split()[0]
        ids = {"uuid": DEVICE, "other": OTHER, "job_id": job_id}
        printing = {**ids, "state": "5", "reason": "job-printing"}
        done = {**ids, "state": "9", "reason": "job-completed-successfully"}

        # Not a proxy: refused, authenticated or not.
        passed(
            await ipptool(
                uri(gateway, user="bob"), "infra-refused.test", work, {**ids, "forbidden": "1"}
            ),
            5,
        )
        passed(
            await ipptool(
                uri(gateway), "infra-refused.test", work, {**ids, "unauthenticated": "1"}
            ),
            5,
        )

        proxy = uri(gateway, user="proxy")
        system = uri(gateway, "/ipp/system", user="proxy")
        passed(await ipptool(system, "infra-register-output-device.test", work, ids), 2)
        passed(await ipptool(proxy, "infra-update-output-device-attributes.test", work, ids), 3)
        passed(
            await ipptool(
                proxy,
                "infra-get-output-device-attributes.test",
                work,
                {**ids, "stranger": STRANGER},
            ),
            3,
        )
        passed(await ipptool(proxy, "infra-fetch-job.test", work, ids), 5)
        passed(await ipptool(proxy, "infra-acknowledge-job.test", work, ids), 7)
        passed(await ipptool(proxy, "infra-fetch-document.test", work, ids), 5)
        status, data = await fetch_document(gateway, int(job_id))
        assert status == StatusCode.SUCCESSFUL_OK
        assert data == body  # streamed from the spool, byte for byte
        passed(await ipptool(proxy, "infra-acknowledge-document.test", work, ids), 3)
        passed(await ipptool(proxy, "infra-update-document-status.test", work, ids), 3)
        passed(await ipptool(proxy, "infra-update-active-jobs.test", work, ids), 2)

        # The job follows its device: processing, then completed, for lpq and Get-Jobs.
        passed(
            await ipptool(proxy, "infra-update-job-status.test", work, printing),
            4,
        )
        active = await lpq(gateway, tmp_path)
        assert re.search(rf"active\s+\[job 0*{job_id} ", active), active
        await stop(gateway)

        # A restart keeps the device, its attributes and its job.
        gateway = await start(config)
        proxy = uri(gateway, user="proxy")
        passed(
            await ipptool(
                proxy,
                "infra-get-output-device-attributes.test",
                work,
                {**ids, "stranger": STRANGER},
            ),
            3,
        )
        passed(
            await ipptool(proxy, "infra-update-job-status.test", work, done),
            4,
        )
        listing = await lpq(gateway, tmp_path)
        assert re.search(rf"^job {job_id} \(.*\) done$", listing, re.MULTILINE), listing
        passed(await ipptool(proxy, "infra-deregister-output-device.test", work, ids), 3)
    finally:
        if gateway.proc.poll() is None:
            await stop(gateway)


async def test_a_cancel_at_the_infrastructure_printer_reaches_the_device(tmp_path: Path) -> None:
    work = tmp_path / "ipptool"
    work.mkdir()
    document = tmp_path / "letter.txt"
    document.write_text("cancel me\n")
    gateway = await start(write_config(tmp_path))
    try:
        passed(
            await ipptool(uri(gateway, user="alice"), "infra-print.test", work, None, document), 1
        )
        line = await wait_for(gateway, r"job (\d+) fetchable queue=cloud")
        job_id = line.split("job ", 1)[1].split()[0]
        ids = {"uuid": DEVICE, "other": OTHER, "job_id": job_id}
        proxy = uri(gateway, user="proxy")
        passed(await ipptool(proxy, "infra-acknowledge-job.test", work, ids), 7)
        passed(await ipptool(uri(gateway, user="alice"), "infra-cancel-job.test", work, ids), 1)
        await wait_for(gateway, rf"job {job_id} canceled ")
        passed(await ipptool(proxy, "infra-canceled.test", work, ids), 4)
        passed(await ipptool(proxy, "infra-acknowledge-identify-printer.test", work, ids), 2)
        listing = await lpq(gateway, tmp_path)
        assert re.search(rf"^job {job_id} \(.*\) canceled", listing, re.MULTILINE), listing
        # A job sent by lpr is held for proxies just the same.
        await lprng(
            "lpr",
            [
                "-P",
                endpoint(gateway.ports["LPD"][0], "cloud"),
                "-J",
                "for-the-proxy",
                str(document),
            ],
            tmp_path,
        )
        line = await wait_for(gateway, rf"job (?!{job_id} )\d+ fetchable queue=cloud")
        lpr_job = line.split("job ", 1)[1].split()[0]
        ids = {**ids, "job_id": lpr_job, "uuid": OTHER}
        passed(await ipptool(proxy, "infra-fetch-job.test", work, ids), 5)
    finally:
        await stop(gateway)


async def test_a_job_is_converted_for_the_formats_its_devices_report(tmp_path: Path) -> None:
    """A device that prints PDF only and names no document-format-accepted in
    Fetch-Document (as ippsample's ippproxy does for a PDF printer) gets a text
    job sent by lpr as PDF: the dispatcher converted it before holding it."""
    work = tmp_path / "ipptool"
    work.mkdir()
    document = tmp_path / "memo.txt"
    document.write_text("a memo for the PDF-only printer\n")
    gateway = await start(write_config(tmp_path))
    try:
        ids = {"uuid": DEVICE}
        proxy = uri(gateway, user="proxy")
        passed(await ipptool(proxy, "infra-device-pdf-only.test", work, ids), 2)
        await lprng(
            "lpr", ["-P", endpoint(gateway.ports["LPD"][0], "cloud"), str(document)], tmp_path
        )
        line = await wait_for(gateway, r"job (\d+) fetchable queue=cloud")
        job_id = int(line.split("job ", 1)[1].split()[0])
        assert re.search(rf"job {job_id} converted ", gateway.log), gateway.log
        passed(
            await ipptool(
                proxy,
                "infra-acknowledge-job.test",
                work,
                {**ids, "other": OTHER, "job_id": str(job_id)},
            ),
            7,
        )
        status, data = await fetch_document(gateway, job_id)
        assert status == StatusCode.SUCCESSFUL_OK
        assert data.startswith(b"%PDF-"), data[:40]
    finally:
        await stop(gateway)
