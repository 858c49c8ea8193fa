"""The status pages: ``GET /`` and ``GET /printers/NAME``, like CUPS's web interface.

Read-only. The page is complete HTML rendered here (every value escaped:
job names and user names come from clients) and refreshes its tables from
``/status.json`` (or ``/printers/NAME/status.json``) with a small script of
its own at ``/static/status.js``; nothing is loaded from anywhere else, and
the Content-Security-Policy says so to the browser.

`StatusPages` is an ASGI app for GET and HEAD; the IPP server hands it every
request that is not IPP. ``/metrics`` is served here too.

A fleet of 2,000 queues: the index shows one page of `PAGE_SIZE` queues
(``/?page=2``), optionally those whose name contains a text (``/?q=office``,
not case-sensitive), the queues that need a look first (stopped, with a
reason other than ``none``), then those with jobs, then the others, each
group in configuration order. Only the shown page is rendered, and its
refresh asks ``/status.json`` for the same page. ``/status.json`` without
``q`` or ``page`` still lists every queue, in configuration order, with the
same few summary fields per queue (a client of it sees what it always saw);
with either it answers that page and a ``page`` object (number, pages,
per_page, matched, total, q). A spool that cannot commit (full disk, I/O
error) concerns every queue: it is shown above the tables
(``spool_problem`` in the JSON).

Who sees what follows the IPP front-end's rule, from the core
(`gateway.core.policy`): when the gateway authenticates IPP users (``ipp.auth``
or a queue's ``auth``), every page but the script and stylesheet needs a user
name and password (HTTP Basic, the IPP password file, checked by the IPP
listener's own `SignIn`), accepted over https only: over plain http the pages
answer 403, over https without a right password 401 with a Basic challenge.
A signed-in user then sees the details (owner, name, origin, size, message)
of the jobs `AccessPolicy.may_see` lets them see, their own, and of every job
if an operator; of the others only id, queue, state and times, as Get-Jobs
shows them; backends are shown to operators only. ``/metrics`` carries no job
or user names, and any signed-in user may read it.
"""

from __future__ import annotations

import html
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

from gateway import __version__
from gateway.core.context import GatewayContext
from gateway.core.job import Job
from gateway.core.policy import AccessPolicy, Requester
from gateway.core.queues import Queue
from gateway.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from gateway.throttle import Throttle
from gateway.web.health import health, health_text
from gateway.web.static import SCRIPT, STYLE

log = logging.getLogger("gateway.web")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

SHOWN_JOBS = 200
#: Queues on one page of the index.
PAGE_SIZE = 50
#: Longest name filter kept (queue names are at most 127 characters).
MAX_FILTER = 127
HTML = "text/html; charset=utf-8"
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
#: Served to anyone: they hold no data.
STATIC: dict[str, tuple[bytes, str]] = {
    "/static/status.css": (STYLE.encode(), "text/css; charset=utf-8"),
    "/static/status.js": (SCRIPT.encode(), "text/javascript; charset=utf-8"),
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _when(stamp: float | None) -> str:
    if not stamp:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def job_row(job: Job, *, details: bool = True) -> dict[str, Any]:
    """One job as the page shows it (also the JSON the refresh reads); without
    `details`, only what anyone may see of it (id, queue, state, times)."""
    row: dict[str, Any] = {
        "id": job.id,
        "queue": job.queue,
        "owner": "",
        "name": "",
        "origin": "",
        "size": None,
        "pages": None,
        "state": job.state.keyword,
        "created": _when(job.created),
        "completed": _when(job.completed),
        "backend_job": "",
        "message": "",
    }
    if details:
        row.update(
            owner=job.user,
            name=job.name,
            origin=job.origin.frontend.value.upper()
            + (f" from {job.origin.peer}" if job.origin.peer else ""),
            size=job.size,
            pages=job.pages,
            backend_job=job.backend_job_id or "",
            message=job.state_message,
        )
    return row


@dataclass(frozen=True, slots=True)
class Listing:
    """Which queues the index shows: those whose name contains `text` (not
    case-sensitive), page `page` (from 1) of `PAGE_SIZE`; `page` None: every
    queue in configuration order (``/status.json`` asked without parameters)."""

    text: str = ""
    page: int | None = 1

    @classmethod
    def of(cls, query_string: bytes, *, paged: bool = True) -> Listing:
        """From ``?q=TEXT&page=N``; without either, `paged` says whether to page."""
        try:
            params = parse_qs(query_string.decode("latin-1"), max_num_fields=8)
        except ValueError:  # too many fields: none of them is looked at
            params = {}
        text = params.get("q", [""])[0].strip()[:MAX_FILTER]
        number = params.get("page", [""])[0]
        if not (paged or text or number):
            return cls(page=None)
        digits = number.isascii() and number.isdigit()
        return cls(text, int(number[:6]) if digits else 1)

    def link(self, page: int) -> str:
        """The index's address for another page of the same listing."""
        query = {"q": self.text} if self.text else {}
        return "/?" + urlencode({**query, "page": page})


def needs_look(queue: Queue, active: int) -> int:
    """Where a queue goes in the index: 0 stopped or with a reason, 1 with jobs, 2 the rest."""
    state = queue.state()
    if state.state == "stopped" or state.reasons != ("none",):
        return 0
    return 1 if active else 2


@dataclass(frozen=True, slots=True)
class SignIn:
    """How the pages check a password: the IPP listener's own HTTP Basic check."""

    challenge: str  # the WWW-Authenticate value of a 401
    credentials: Callable[[str], tuple[str, str] | None]  # Authorization -> (user, password)
    verify: Callable[[str, str, str], Awaitable[bool]]  # (client address, user, password)


class Refused(Exception):
    """The request may not see the pages: answer `status` (401 or 403) with `text`."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


class StatusPages:
    """ASGI app for the read-only pages and ``/metrics``."""

    def __init__(self, context: GatewayContext, sign_in: SignIn | None = None) -> None:
        self.context = context
        self.sign_in = sign_in
        self.policy = AccessPolicy.of(context.config)
        self._log_refusal = Throttle()

    def snapshot(
        self,
        queue: str | None = None,
        viewer: Requester | None = None,
        listing: Listing | None = None,
    ) -> dict[str, Any]:
        """Queues (one, every one, or `listing`'s page of them) and their most
        recent jobs, newest first, as `viewer` may see them (None: everything,
        for a gateway that does not authenticate)."""
        operator = viewer is None or viewer.operator or not self.policy.authenticates
        page: dict[str, Any] | None = None
        if queue is not None:
            one = self.context.queues.get(queue)
            shown: Sequence[Queue] = [one] if one is not None else []
            jobs = list(self.context.spool.jobs(queue))[-SHOWN_JOBS:][::-1]
        else:
            listing = listing or Listing(page=None)
            matched = self._matching(listing.text)
            shown, page = self._listed(listing, matched)
            jobs = self._newest_jobs({q.name for q in matched} if listing.text else None)
        spool = self.context.spool
        data: dict[str, Any] = {
            "time": _when(time.time()),
            "queues": [self._queue_row(q, operator) for q in shown],
            "jobs": [
                job_row(j, details=viewer is None or self.policy.may_see(viewer, j)) for j in jobs
            ],
            "spool_problem": spool.commit_failure,
        }
        if page is not None:
            data["page"] = page
        return data

    def _matching(self, text: str) -> list[Queue]:
        """The queues whose name contains `text` (not case-sensitive), in configuration order."""
        folded = text.casefold()
        return [q for q in self.context.queues if folded in q.name.casefold()]

    def _listed(
        self, listing: Listing, matched: list[Queue]
    ) -> tuple[Sequence[Queue], dict[str, Any] | None]:
        """The queues of `listing`'s page, and the page's description (None: not paged)."""
        if listing.page is None:
            return matched, None
        count = self.context.spool.active_count
        ranked = sorted(matched, key=lambda q: needs_look(q, count(q.name)))
        pages = max(1, -(-len(ranked) // PAGE_SIZE))
        number = min(max(1, listing.page), pages)
        start = (number - 1) * PAGE_SIZE
        return ranked[start : start + PAGE_SIZE], {
            "number": number,
            "pages": pages,
            "per_page": PAGE_SIZE,
            "first": start + 1 if ranked else 0,
            "matched": len(ranked),
            "total": len(self.context.queues),
            "q": listing.text,
        }

    def _newest_jobs(self, queues: set[str] | None) -> list[Job]:
        """The `SHOWN_JOBS` newest jobs, newest first, of `queues` (None: of all)."""
        jobs = list(self.context.spool.jobs())
        jobs.reverse()
        if queues is None:
            return jobs[:SHOWN_JOBS]
        newest: list[Job] = []
        for job in jobs:
            if job.queue in queues:
                newest.append(job)
                if len(newest) == SHOWN_JOBS:
                    break
        return newest

    def _queue_row(self, q: Queue, operator: bool) -> dict[str, Any]:
        state = q.state()
        return {
            "name": q.name,
            "backend": q.backend.uri if operator else "",
            "state": state.state,
            "reasons": list(state.reasons),
            "message": state.message,
            "accepting": q.is_accepting,
            "jobs": self.context.spool.active_count(q.name),
        }

    def page(
        self,
        queue: str | None = None,
        viewer: Requester | None = None,
        listing: Listing | None = None,
    ) -> str:
        """The whole HTML page (every value escaped); the index shows `listing`'s page."""
        listing = listing or Listing()
        data = self.snapshot(queue, viewer, listing)
        e = html.escape
        title = f"Queue {queue}" if queue else "Print gateway"
        if queue:
            source = f"/printers/{queue}/status.json"
        else:
            source = "/status.json" + listing.link(data["page"]["number"])[1:]
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
                f'<td class="num">{"" if j["size"] is None else j["size"]}</td>'
                f'<td class="num">{"" if j["pages"] is None else j["pages"]}</td>'
                f'<td class="state-{e(j["state"])}">{e(j["state"])}</td>'
                f"<td>{e(j['created'])}</td><td>{e(j['completed'])}</td>"
                f"<td>{e(j['backend_job'])}</td><td>{e(j['message'])}</td>"
                "</tr>"
                for j in data["jobs"]
            )
            or '<tr><td colspan="12" class="muted">none</td></tr>'
        )
        problem = data["spool_problem"]
        alert = (
            f'<p class="alert" id="problem">The spool cannot commit: {e(problem)}. '
            "New jobs are refused until it can.</p>"
            if problem
            else '<p class="alert" id="problem" hidden></p>'
        )
        pager = "" if queue else self._pager(listing, data["page"])
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
{alert}
{pager}<h2>Queues</h2>
<table>
<thead><tr><th>Queue</th><th>Backend</th><th>State</th><th>Reasons</th>
<th>Accepting</th><th>Active jobs</th></tr></thead>
<tbody id="queues">{queue_rows}</tbody>
</table>
<h2>Jobs</h2>
<table>
<thead><tr><th>Id</th><th>Queue</th><th>Owner</th><th>Name</th><th>Origin</th>
<th>Size</th><th>Pages</th><th>State</th><th>Created</th><th>Ended</th><th>Backend job</th>
<th>Message</th></tr></thead>
<tbody id="jobs">{job_rows}</tbody>
</table>
<footer>Read-only. IPP printers: ipp://HOST:PORT/printers/NAME.</footer>
</body>
</html>
"""

    @staticmethod
    def _pager(listing: Listing, page: dict[str, Any]) -> str:
        """The filter form and the page links of the index."""
        e = html.escape
        number, pages = page["number"], page["pages"]
        last = page["first"] + PAGE_SIZE - 1 if number < pages else page["matched"]
        count = f"{page['first']}-{last} of {page['matched']}" if page["matched"] else "none"
        if listing.text:
            count += f" matching &ldquo;{e(listing.text)}&rdquo; ({page['total']} in all)"
        steps = [("first", 1), ("previous", number - 1), ("next", number + 1), ("last", pages)]
        links = " ".join(
            f'<a href="{e(listing.link(to))}">{rel}</a>'
            if 1 <= to <= pages and to != number
            else f'<span class="muted">{rel}</span>'
            for rel, to in steps
        )
        return f"""<form class="filter" method="get" action="/">
<label>Queue name contains <input type="search" name="q" value="{e(listing.text)}"
 maxlength="{MAX_FILTER}"></label> <button type="submit">Show</button>
</form>
<p class="pager">Queues <span id="shown">{count}</span> &middot; page {number} of {pages}
 &middot; {links}</p>
<p class="sub">Stopped queues and queues with a reason first, then queues with jobs.</p>"""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            return
        method = scope.get("method", "GET")
        path = str(scope.get("path", "/"))
        if method not in ("GET", "HEAD"):
            await respond(
                send,
                405,
                b"only GET and HEAD here\n",
                TEXT,
                extra=[(b"allow", b"GET, HEAD")],
                head=False,
            )
            return
        head = method == "HEAD"
        if path in STATIC:
            body, ctype = STATIC[path]
            await respond(send, 200, body, ctype, head=head)
            return
        try:
            viewer = await self.viewer(scope)
        except Refused as refused:
            extra = (
                [(b"www-authenticate", self.sign_in.challenge.encode())]
                if (refused.status == 401 and self.sign_in is not None)
                else []
            )
            body = refused.text.encode()
            await respond(send, refused.status, body, TEXT, head=head, extra=extra)
            return
        status, body, ctype = self.route(path, viewer, bytes(scope.get("query_string") or b""))
        await respond(send, status, body, ctype, head=head)

    async def viewer(self, scope: Scope) -> Requester | None:
        """Who reads the page: None when the gateway does not authenticate users
        (everything is shown), else the signed-in user; `Refused` if nobody is."""
        if not self.policy.authenticates:
            return None
        client = scope.get("client") or ("", 0)
        peer = str(client[0])
        if scope.get("scheme") != "https":
            raise Refused(
                403,
                "these pages need a user name and password, accepted over https:// only "
                "(the ipps listener, ipp.tls_listen)\n",
            )
        if self.sign_in is None:
            raise Refused(403, "these pages need a password, and none can be checked here\n")
        headers = dict(scope.get("headers") or [])
        header = headers.get(b"authorization", b"").decode("latin-1")
        given = self.sign_in.credentials(header)
        if given is None:
            raise Refused(401, "authentication required\n")
        user, password = given
        if not await self.sign_in.verify(peer, user, password):
            held = self._log_refusal(peer)
            if held is not None:
                log.warning(
                    "status pages: %s: wrong user name or password for %r%s",
                    peer,
                    user[:64],
                    Throttle.more(held),
                )
            raise Refused(401, "authentication required\n")
        return self.policy.ipp_requester(user=user, claimed=None, peer=peer)

    def route(
        self, path: str, viewer: Requester | None = None, query: bytes = b""
    ) -> tuple[int, bytes, str]:
        """(status, body, content type) for a GET of ``path?query`` by `viewer`."""
        if path in ("/", "/printers", "/printers/"):
            return 200, self.page(None, viewer, Listing.of(query)).encode(), HTML
        if path == "/status.json":
            listing = Listing.of(query, paged=False)
            return 200, json.dumps(self.snapshot(None, viewer, listing)).encode(), JSON
        if path in ("/health.json", "/health"):  # gateway/web/health.py
            status, data = health(self.context)
            if path == "/health":
                return status, health_text(data).encode(), TEXT
            return status, json.dumps(data).encode(), JSON
        if path == "/metrics" and self.context.metrics is not None:
            return 200, self.context.metrics.render(), METRICS_CONTENT_TYPE
        if path.startswith("/printers/"):
            rest = path[len("/printers/") :].rstrip("/")
            name, _, tail = rest.partition("/")
            if self.context.queues.get(name) is not None:
                if tail == "":
                    return 200, self.page(name, viewer).encode(), HTML
                if tail == "status.json":
                    return 200, json.dumps(self.snapshot(name, viewer)).encode(), JSON
        return 404, b"not found\n", TEXT


async def respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    *,
    head: bool,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Send a whole response (nothing cached, nothing sniffed, nothing loaded from elsewhere)."""
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
