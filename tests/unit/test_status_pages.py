"""The read-only status pages escape client text and serve no external assets."""

from __future__ import annotations

import json
import re
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
from gateway.web.status import StatusPages
from tests.helpers import spool_job

EVIL = '<script>alert("x")</script>'


def make_context(spool: Spool, tmp_path: Path) -> GatewayContext:
    out = (tmp_path / "out").as_uri()
    queues = Queues([Queue(config.QueueConfig("lp", out), FileBackend(out))])
    cfg = config.from_mapping({"gateway": {"spool_dir": str(tmp_path)}})
    return GatewayContext(
        cfg, spool, queues, Dispatcher(spool, queues), "gw.test", metrics=Metrics(spool, queues)
    )


async def get(
    app: StatusPages, path: str, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    await app({"type": "http", "method": method, "path": path}, receive, send)
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
