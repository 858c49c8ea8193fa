"""The read-only status pages escape client text and serve no external assets."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway import config
from gateway.backends.file import FileBackend
from gateway.core.context import GatewayContext
from gateway.core.dispatcher import Dispatcher
from gateway.core.job import Frontend, Origin
from gateway.core.queues import Queue, Queues
from gateway.core.spool import Spool
from gateway.metrics import Metrics
from gateway.web.status import PAGE_SIZE, StatusPages
from tests.helpers import spool_job

EVIL = '<script>alert("x")</script>'


def make_context(spool: Spool, tmp_path: Path, names: Sequence[str] = ("lp",)) -> GatewayContext:
    out = (tmp_path / "out").as_uri()
    queues = Queues([Queue(config.QueueConfig(n, out), FileBackend(out)) for n in names])
    cfg = config.from_mapping({"gateway": {"spool_dir": str(tmp_path)}})
    return GatewayContext(
        cfg, spool, queues, Dispatcher(spool, queues), "gw.test", metrics=Metrics(spool, queues)
    )


async def get(
    app: StatusPages, path: str, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    path, _, query = path.partition("?")
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "query_string": query.encode()}
    await app(scope, receive, send)
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    return sent[0]["status"], headers, sent[1]["body"]


async def test_index_lists_queue_and_escaped_job(spool: Spool, tmp_path: Path) -> None:
    app = StatusPages(make_context(spool, tmp_path))
    job = await spool_job(
        spool,
        attributes={"job-name": EVIL, "requesting-user-name": '"><img src=x onerror=1>'},
        origin=Origin(Frontend.LPD, peer="10.1.2.3"),
    )
    status, headers, body = await get(app, "/")
    page = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert EVIL not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "<img" not in page
    assert f'<td class="num">{job.id}</td>' in page
    assert "LPD from 10.1.2.3" in page and "pending" in page
    assert '<a href="/printers/lp">lp</a>' in page
    # Nothing external: every src/href is a local path.
    for ref in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert ref.startswith("/"), ref
    assert "default-src 'none'" in headers["content-security-policy"]


async def test_json_and_queue_page(spool: Spool, tmp_path: Path) -> None:
    app = StatusPages(make_context(spool, tmp_path))
    job = await spool_job(spool, attributes={"job-name": EVIL})
    status, _, body = await get(app, "/printers/lp/status.json")
    data = json.loads(body)
    assert status == 200
    assert data["queues"][0]["name"] == "lp" and data["queues"][0]["state"] == "idle"
    assert data["jobs"][0]["id"] == job.id and data["jobs"][0]["name"] == EVIL
    status, _, body = await get(app, "/printers/lp")
    assert status == 200 and b"Queue lp" in body
    assert (await get(app, "/printers/nope"))[0] == 404
    assert (await get(app, "/static/status.js"))[1]["content-type"].startswith("text/javascript")


async def test_metrics_and_methods(spool: Spool, tmp_path: Path) -> None:
    app = StatusPages(make_context(spool, tmp_path))
    await spool_job(spool)
    status, _, body = await get(app, "/metrics")
    assert status == 200 and b'gateway_jobs_received_total{frontend="api",queue="lp"} 1.0' in body
    assert (await get(app, "/", "POST"))[0] == 405
    status, _, body = await get(app, "/", "HEAD")
    assert status == 200 and body == b""


FLEET = [f"q{i:04}" for i in range(2000)] + [f"office-{i}" for i in range(60)]
QUEUE_LINK = re.compile(r'<tr><td><a href="/printers/([^"]+)">')


async def fleet_pages(spool: Spool, tmp_path: Path) -> StatusPages:
    """2,060 queues: q1500 stopped by the operator, q0900 and office-42 with a job."""
    context = make_context(spool, tmp_path, FLEET)
    stopped = context.queues.get("q1500")
    assert stopped is not None
    stopped.enabled = False
    await spool_job(spool, queue="q0900")
    await spool_job(spool, queue="office-42")
    return StatusPages(context)


async def test_a_fleet_index_shows_one_page_problems_and_jobs_first(
    spool: Spool, tmp_path: Path
) -> None:
    app = await fleet_pages(spool, tmp_path)
    status, _, body = await get(app, "/")
    page = body.decode()
    shown = QUEUE_LINK.findall(page)
    assert status == 200 and len(shown) == PAGE_SIZE
    assert shown[:4] == ["q1500", "q0900", "office-42", "q0000"]  # then configuration order
    assert "page 1 of 42" in page and "1-50 of 2060" in page
    assert '<a href="/?page=2">next</a>' in page and '<a href="/?page=42">last</a>' in page
    assert 'data-source="/status.json?page=1"' in page
    # The next pages continue in the same order; past the last one, the last one.
    page2 = (await get(app, "/?page=2"))[2].decode()
    assert QUEUE_LINK.findall(page2)[0] == "q0047"
    last = (await get(app, "/?page=999"))[2].decode()
    assert QUEUE_LINK.findall(last) == FLEET[-10:] and "page 42 of 42" in last
    assert len(body) < 32_000  # one page's worth, whatever the size of the fleet


async def test_a_fleet_index_filters_by_name(spool: Spool, tmp_path: Path) -> None:
    app = await fleet_pages(spool, tmp_path)
    page = (await get(app, "/?q=OFFICE&page=2"))[2].decode()
    shown = QUEUE_LINK.findall(page)
    assert shown == [f"office-{i}" for i in range(50, 60)]  # office-42 went first
    assert "51-60 of 60 matching &ldquo;OFFICE&rdquo; (2060 in all)" in page
    assert '<a href="/?q=OFFICE&amp;page=1">previous</a>' in page
    assert 'value="OFFICE"' in page
    # Jobs of the matching queues only.
    assert ">office-42<" in page and ">q0900<" not in page
    # The filter is text, never markup; nothing matches it.
    evil = (await get(app, "/?q=" + EVIL))[2].decode()
    assert EVIL not in evil and "&lt;script&gt;" in evil and QUEUE_LINK.findall(evil) == []


async def test_status_json_lists_every_queue_unless_a_page_is_asked_for(
    spool: Spool, tmp_path: Path
) -> None:
    app = await fleet_pages(spool, tmp_path)
    data = json.loads((await get(app, "/status.json"))[2])
    assert [q["name"] for q in data["queues"]] == FLEET  # as before: all, configuration order
    assert "page" not in data and data["spool_problem"] is None
    assert set(data["queues"][0]) == {
        "name", "backend", "state", "reasons", "message", "accepting", "jobs"
    }  # fmt: skip
    data = json.loads((await get(app, "/status.json?q=office&page=2"))[2])
    assert [q["name"] for q in data["queues"]] == [f"office-{i}" for i in range(50, 60)]
    assert data["page"] == {
        "number": 2, "pages": 2, "per_page": 50, "first": 51, "matched": 60, "total": 2060,
        "q": "office",
    }  # fmt: skip
    assert [j["queue"] for j in data["jobs"]] == ["office-42"]


async def test_a_spool_that_cannot_commit_is_shown_above_the_tables(
    spool: Spool, tmp_path: Path
) -> None:
    app = StatusPages(make_context(spool, tmp_path))
    spool.commit_failure = "No space left on device"
    page = (await get(app, "/"))[2].decode()
    assert '<p class="alert" id="problem">The spool cannot commit: No space left' in page
    assert json.loads((await get(app, "/status.json"))[2])["spool_problem"].startswith("No space")
