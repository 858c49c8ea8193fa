"""The status pages: ``GET /`` and ``GET /printers/NAME``, like CUPS's web interface.

Read-only. The page is complete HTML rendered here (every value escaped:
job names and user names come from clients) and refreshes its tables from
``/status.json`` (or ``/printers/NAME/status.json``) with a small script of
its own at ``/static/status.js``; nothing is loaded from anywhere else, and
the Content-Security-Policy says so to the browser.

`StatusPages` is an ASGI app for GET and HEAD; the IPP server hands it every
request that is not IPP. ``/metrics`` is served here too.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from gateway import __version__
from gateway.core.context import GatewayContext
from gateway.core.job import Job
from gateway.web.static import SCRIPT, STYLE

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

SHOWN_JOBS = 200
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _when(stamp: float | None) -> str:
    if not stamp:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def job_row(job: Job) -> dict[str, Any]:
    """One job as the page shows it (also the JSON the refresh reads)."""
    return {
        "id": job.id,
        "queue": job.queue,
        "owner": job.user,
        "name": job.name,
        "origin": job.origin.frontend.value.upper()
        + (f" from {job.origin.peer}" if job.origin.peer else ""),
        "size": job.size,
        "state": job.state.keyword,
        "created": _when(job.created),
        "completed": _when(job.completed),
        "backend_job": job.backend_job_id or "",
        "message": job.state_message,
    }


class StatusPages:
    """ASGI app for the read-only pages and ``/metrics``."""

    def __init__(self, context: GatewayContext) -> None:
        self.context = context

    def snapshot(self, queue: str | None = None) -> dict[str, Any]:
        """Queues and their most recent jobs, newest first."""
        queues = []
        for q in self.context.queues:
            if queue is not None and q.name != queue:
                continue
            state = q.state()
            queues.append(
                {
                    "name": q.name,
                    "backend": q.backend.uri,
                    "state": state.state,
                    "reasons": list(state.reasons),
                    "message": state.message,
                    "accepting": q.is_accepting,
                    "jobs": self.context.spool.active_count(q.name),
                }
            )
        jobs = list(self.context.spool.jobs(queue))[-SHOWN_JOBS:]
        jobs.reverse()
        return {
            "time": _when(time.time()),
            "queues": queues,
            "jobs": [job_row(j) for j in jobs],
        }

    def page(self, queue: str | None = None) -> str:
        """The whole HTML page (every value escaped)."""
        data = self.snapshot(queue)
        e = html.escape
        title = f"Queue {queue}" if queue else "Print gateway"
        source = f"/printers/{queue}/status.json" if queue else "/status.json"
        queue_rows = (
            "".join(
                "<tr>"
                f'<td><a href="/printers/{e(q["name"])}">{e(q["name"])}</a></td>'
                f"<td>{e(q['backend'])}</td>"
                f'<td class="state-{e(q["state"])}">{e(q["state"])}</td>'
                f"<td>{e(', '.join(q['reasons']))}</td>"
                f"<td>{'yes' if q['accepting'] else 'no'}</td>"
                f'<td class="num">{q["jobs"]}</td>'
                "</tr>"
                for q in data["queues"]
            )
            or '<tr><td colspan="6" class="muted">none</td></tr>'
        )
        job_rows = (
            "".join(
                "<tr>"
                f'<td class="num">{j["id"]}</td>'
                f"<td>{e(j['queue'])}</td><td>{e(j['owner'])}</td><td>{e(j['name'])}</td>"
                f"<td>{e(j['origin'])}</td>"
                f'<td class="num">{j["size"]}</td>'
                f'<td class="state-{e(j["state"])}">{e(j["state"])}</td>'
                f"<td>{e(j['created'])}</td><td>{e(j['completed'])}</td>"
                f"<td>{e(j['backend_job'])}</td><td>{e(j['message'])}</td>"
                "</tr>"
                for j in data["jobs"]
            )
            or '<tr><td colspan="11" class="muted">none</td></tr>'
        )
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} - lpd-ipp-gateway</title>
<link rel="stylesheet" href="/static/status.css">
<script src="/static/status.js" defer></script>
</head>
<body data-source="{e(source)}">
<h1>{e(title)}</h1>
<p class="sub">lpd-ipp-gateway {e(__version__)} on {e(self.context.hostname)}
 &middot; updated <span id="updated">{e(data["time"])}</span>
 {'&middot; <a href="/">all queues</a>' if queue else ""}</p>
<h2>Queues</h2>
<table>
<thead><tr><th>Queue</th><th>Backend</th><th>State</th><th>Reasons</th>
<th>Accepting</th><th>Active jobs</th></tr></thead>
<tbody id="queues">{queue_rows}</tbody>
</table>
<h2>Jobs</h2>
<table>
<thead><tr><th>Id</th><th>Queue</th><th>Owner</th><th>Name</th><th>Origin</th>
<th>Size</th><th>State</th><th>Created</th><th>Ended</th><th>Backend job</th>
<th>Message</th></tr></thead>
<tbody id="jobs">{job_rows}</tbody>
</table>
<footer>Read-only. IPP printers: ipp://HOST:PORT/printers/NAME.</footer>
</body>
</html>
"""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            return
        method = scope.get("method", "GET")
        path = str(scope.get("path", "/"))
        if method not in ("GET", "HEAD"):
            await _respond(
                send,
                405,
                b"only GET and HEAD here\n",
                "text/plain; charset=utf-8",
                extra=[(b"allow", b"GET, HEAD")],
                head=False,
            )
            return
        head = method == "HEAD"
        status, body, ctype = self.route(path)
        await _respond(send, status, body, ctype, head=head)

    def route(self, path: str) -> tuple[int, bytes, str]:
        """(status, body, content type) for a GET of ``path``."""
        if path in ("/", "/printers", "/printers/"):
            return 200, self.page().encode(), "text/html; charset=utf-8"
        if path == "/status.json":
            return 200, json.dumps(self.snapshot()).encode(), "application/json"
        if path == "/static/status.css":
            return 200, STYLE.encode(), "text/css; charset=utf-8"
        if path == "/static/status.js":
            return 200, SCRIPT.encode(), "text/javascript; charset=utf-8"
        if path == "/metrics" and self.context.metrics is not None:
            return 200, self.context.metrics.render(), "text/plain; version=0.0.4; charset=utf-8"
        if path.startswith("/printers/"):
            rest = path[len("/printers/") :].rstrip("/")
            name, _, tail = rest.partition("/")
            if self.context.queues.get(name) is not None:
                if tail == "":
                    return 200, self.page(name).encode(), "text/html; charset=utf-8"
                if tail == "status.json":
                    return 200, json.dumps(self.snapshot(name)).encode(), "application/json"
        return 404, b"not found\n", "text/plain; charset=utf-8"


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    *,
    head: bool,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"content-security-policy", CSP.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
