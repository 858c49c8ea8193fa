"""Greedy IPP requests: 32,000-byte names and texts are cut to their RFC 8011
limits on the way in, and ``limits.max_job_size`` bounds a job's documents
together (Create-Job with several Send-Documents)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

from gateway import config
from gateway.core.job import JobState
from gateway.ipp import DelimiterTag, Message, Operation, StatusCode, ValueTag
from gateway.ipp.values import NameWithLanguage
from tests.helpers import wait_for_state
from tests.integration.test_harden_ipp_slow import connect_from, print_job_head
from tests.ipp_harness import gateway_config, post, printer_uri, request, running_gateway, url

LONG = "é" * 16_000  # 32,000 octets


def job_id_of(answer_message: Message) -> int:
    job_id = answer_message.group(DelimiterTag.JOB_ATTRIBUTES).value("job-id")
    assert isinstance(job_id, int)
    return job_id


def fits(text: object, limit: int) -> bool:
    """`text` is a whole-character prefix of LONG of at most `limit` octets."""
    data = str(text).encode()
    return len(data) <= limit and len(data) >= limit - 3 and LONG.startswith(str(text))


async def test_long_names_and_texts_are_cut_on_the_way_in(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with trio.fail_after(30):
        async with running_gateway(gateway_config(tmp_path)) as running:
            uri = printer_uri(running)
            async with httpx.AsyncClient() as http:
                message = request(Operation.PRINT_JOB, uri, user=LONG)
                message.operation.add_name("job-name", NameWithLanguage(LONG, "fr"))
                message.operation.add_name("document-name", LONG)
                message.operation.add_name("job-originating-host-name", LONG)
                message.operation.add("document-format", ValueTag.MIME_MEDIA_TYPE, "text/plain")
                answer = await post(http, url(running), message, b"hello\n")
                assert answer.status == StatusCode.SUCCESSFUL_OK
                job_id = job_id_of(answer.message)
                job = await wait_for_state(running.context.spool, job_id, JobState.COMPLETED)

                # Create-Job, Send-Document and Set-Job-Attributes alike.
                create = request(Operation.CREATE_JOB, uri, user=LONG)
                create.operation.add_name("job-name", LONG)
                created = job_id_of((await post(http, url(running), create)).message)
                change = request(Operation.SET_JOB_ATTRIBUTES, uri, user=LONG)
                change.operation.add_integer("job-id", created)
                change.add_group(DelimiterTag.JOB_ATTRIBUTES).add_name("job-name", "x" + LONG)
                assert (await post(http, url(running), change)).status == StatusCode.SUCCESSFUL_OK
                send = request(Operation.SEND_DOCUMENT, uri, user=LONG)
                send.operation.add_integer("job-id", created)
                send.operation.add_boolean("last-document", True)
                send.operation.add_name("document-name", LONG)
                sent = await post(http, url(running), send, b"two\n")
                assert sent.status == StatusCode.SUCCESSFUL_OK  # the same (cut) owner
                second = await wait_for_state(running.context.spool, created, JobState.COMPLETED)
    assert fits(job.attributes["job-name"], 255)
    assert fits(job.user, 255)
    assert fits(job.attributes["requesting-user-name"], 255)
    assert fits(job.attributes["job-originating-host-name"], 255)
    assert fits(job.documents[0].name, 255)
    assert fits(second.attributes["job-name"], 255) is False  # it starts with "x"
    assert len(str(second.attributes["job-name"]).encode()) <= 255
    assert fits(second.documents[0].name, 255)
    sidecar = (tmp_path / "out" / f"job-{job_id}.json").read_bytes()
    assert fits(json.loads(sidecar)["job-name"], 255)
    assert len(sidecar) < 8000  # five names of 32,000 octets each were sent
    assert max(len(r.getMessage()) for r in caplog.records) < 2000


async def test_max_job_size_bounds_the_documents_of_a_job_together(tmp_path: Path) -> None:
    cfg = _with_limit(tmp_path, 100_000)
    with trio.fail_after(30):
        async with running_gateway(cfg) as running:
            uri = printer_uri(running)
            async with httpx.AsyncClient() as http:
                created = job_id_of(
                    (await post(http, url(running), request(Operation.CREATE_JOB, uri))).message
                )

                async def send(data: bytes, last: bool) -> int:
                    message = request(Operation.SEND_DOCUMENT, uri)
                    message.operation.add_integer("job-id", created)
                    message.operation.add_boolean("last-document", last)
                    return (await post(http, url(running), message, data)).status

                assert await send(b"a" * 60_000, False) == StatusCode.SUCCESSFUL_OK
                too_much = await send(b"b" * 60_000, False)
                assert too_much == StatusCode.CLIENT_ERROR_REQUEST_ENTITY_TOO_LARGE
                job = running.context.spool.get(created)
                assert job is not None and [d.size for d in job.documents] == [60_000]
                files = sorted(p.name for p in (cfg.spool_dir / "jobs").rglob("doc-*"))
                assert files == ["doc-1"]  # the refused one was discarded
                assert await send(b"c" * 40_000, True) == StatusCode.SUCCESSFUL_OK
                job = await wait_for_state(running.context.spool, created, JobState.COMPLETED)
    assert job.size == 100_000


async def test_one_send_document_at_a_time_per_job(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with running_gateway(_with_limit(tmp_path, 100_000)) as running:
            uri = printer_uri(running)
            async with httpx.AsyncClient() as http:
                created = job_id_of(
                    (await post(http, url(running), request(Operation.CREATE_JOB, uri))).message
                )
                # A Send-Document of 90 kB, under way: its head and 1 kB sent.
                slow = await connect_from("127.0.0.10", running.ipp[0][1])
                await slow.send_all(print_job_head(running, 90_000, job_id=created) + b"s" * 1000)
                await trio.testing.wait_all_tasks_blocked()  # it is being received
                second = request(Operation.SEND_DOCUMENT, uri)
                second.operation.add_integer("job-id", created)
                second.operation.add_boolean("last-document", True)
                answer = await post(http, url(running), second, b"t" * 1000)
                assert answer.status == StatusCode.CLIENT_ERROR_NOT_POSSIBLE
                assert "one after another" in str(answer.message.operation.value("status-message"))
                async with slow:
                    await slow.send_all(b"s" * 89_000)
                    assert (await slow.receive_some(4096)).startswith(b"HTTP/1.1 200")
            job = await wait_for_state(running.context.spool, created, JobState.COMPLETED)
    assert job.size == 90_000


def _with_limit(tmp_path: Path, size: int) -> config.Config:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return config.from_mapping(
        {
            "gateway": {"spool_dir": str(tmp_path / "spool")},
            "lpd": {"listen": []},
            "ipp": {"listen": ["127.0.0.1:0"]},
            "limits": {"max_job_size": size},
            "queues": {"lp": {"backend": out.as_uri()}},
        }
    )
