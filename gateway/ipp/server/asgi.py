"""The ASGI application of the IPP listener: HTTP in, one IPP operation, HTTP out.

Why: hypercorn (see `serving`) speaks HTTP/1.1, HTTP/2 and TLS; this module adds
IPP on top. A request goes: Host allow-list (DNS-rebinding guard, HTTP 400
otherwise) -> anything but POST goes to the read-only status pages
(`gateway.web.status`) -> incremental `MessageParser` fed from ASGI
``receive()`` until end-of-attributes-tag (HTTP 400 if it cannot be framed) ->
RFC 8011 Appendix C checks (`check_request`) -> authentication (`auth`: a
password, a bearer token, a client certificate) -> the operation's handler
from the one table `handlers.HANDLERS`, which streams any document data
from the remaining body chunks straight into the spool. The
response is always ``Content-Type: application/ipp`` in an HTTP 200; a handler
that raises `OperationError` is answered with its status.

Bounds: at most ``ipp.max_connections`` requests are served at once (more
wait up to half of ``ipp.idle_timeout`` for a slot, then get HTTP 503), and at
most ``ipp.max_connections_per_source`` from one address (more get HTTP 503
at once; `connections` caps the connections themselves). The body is read
under one `intake.BodyPace` per request (``ipp.idle_timeout`` per read,
``ipp.request_timeout`` for the request, ``ipp.min_body_rate`` over
``ipp.body_rate_window``); a client too slow for it gets HTTP 408 and the
connection is closed, and whatever it was sending is discarded. Name and
text values are cut to their RFC 8011 limits (name 255 octets, text 1023, on a
UTF-8 character boundary) before anything reads them (`clip_strings`).
Password checks go through `auth.PasswordChecks` (bounded, with back-off:
HTTP 429 or 503 when refused); bearer tokens through `oauth.BearerTokens`
(HTTP 401 ``invalid_token``, 403 ``insufficient_scope``, 503 while the
authorization server's keys cannot be had). A 401 offers every scheme the
gateway takes: ``Bearer`` (with OAuth configured), then ``Basic`` (with a
password file).

No traceback reaches a client: the app boundary catches everything, logs one
line and answers server-error-internal-error.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import math
import socket
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trio

from gateway.core.spool import JobNotFound, NotPossible, SpoolError
from gateway.ipp.attributes import AttributeList, Collection, Value
from gateway.ipp.encoder import encode
from gateway.ipp.errors import IppDecodeError
from gateway.ipp.message import Message
from gateway.ipp.operations import Operation
from gateway.ipp.parser import MessageParser
from gateway.ipp.status import StatusCode
from gateway.ipp.tags import ValueTag
from gateway.ipp.validate import check_request
from gateway.throttle import Throttle
from gateway.web.status import SignIn, StatusPages

from . import auth, oauth
from .auth import Authenticated, PasswordChecks, PasswordFile, Verdict
from .connections import ConnectionTable, source_of
from .handlers import HANDLERS
from .icons import CONTENT_TYPE as ICON_CONTENT_TYPE
from .icons import icon_png
from .intake import BodyPace, BodyReader, ClientGone, RequestTimeout
from .oauth import BearerTokens, TokenError
from .request import IppRequest, IppResponse, IppService, OperationError, respond
from .tls import CLIENT_CERTIFICATES, certificate_user

log = logging.getLogger("gateway.ipp")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

IPP_CONTENT_TYPE = b"application/ipp"
#: status-message is at most 255 octets (RFC 8011 section 4.1.6.2).
MAX_STATUS_MESSAGE = 255
#: name(MAX) and text(MAX) in octets (RFC 8011 section 5.1.2, 5.1.3).
NAME_MAX = auth.NAME_MAX
TEXT_MAX = 1023
STRING_LIMITS = {
    ValueTag.NAME_WITHOUT_LANGUAGE: NAME_MAX,
    ValueTag.NAME_WITH_LANGUAGE: NAME_MAX,
    ValueTag.TEXT_WITHOUT_LANGUAGE: TEXT_MAX,
    ValueTag.TEXT_WITH_LANGUAGE: TEXT_MAX,
}


class HostAllowList:
    """Host header names the gateway answers to (reference/ipp.md section 2.1).

    Allowed: ``localhost`` (and ``*.localhost``), the machine's names (host name,
    FQDN, ``NAME.local``), any loopback address, the addresses of this machine,
    the local address the connection came in on, and the configured
    ``ipp.allowed_hosts`` (``*`` allows every name).
    """

    def __init__(self, hostname: str, configured: Iterable[str]) -> None:
        names = {"localhost", "localhost.localdomain"}
        for name in (hostname, socket.gethostname(), socket.getfqdn()):
            if name:
                names.add(name.lower())
                names.add(name.split(".", 1)[0].lower() + ".local")
        self.any = False
        for name in configured:
            if name == "*":
                self.any = True
            names.add(name.lower().rstrip("."))
        self.names = frozenset(names)
        self.addresses = frozenset(self._machine_addresses(hostname))

    @staticmethod
    def _machine_addresses(hostname: str) -> set[str]:
        found: set[str] = set()
        for name in {hostname, socket.gethostname()}:
            try:
                for info in socket.getaddrinfo(name, None):
                    found.add(str(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])))
            except (OSError, ValueError):
                continue
        return found

    def allows(self, host: str, local_address: str | None) -> bool:
        """Whether a Host header value (without the port) is acceptable."""
        if self.any:
            return True
        host = host.strip().lower().rstrip(".")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not host:
            return False
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return host in self.names or host.endswith(".localhost")
        if address.is_loopback or str(address) in self.addresses:
            return True
        if local_address is not None:
            try:
                return address == ipaddress.ip_address(local_address.split("%", 1)[0])
            except ValueError:
                return False
        return False


def split_host(value: str) -> str:
    """The host part of a Host header (``[v6]:port``, ``name:port``, ``name``)."""
    value = value.strip()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:
        return value.rsplit(":", 1)[0]
    return value


class IppApp:
    """The ASGI application of the IPP listener."""

    def __init__(
        self,
        service: IppService,
        allow: HostAllowList,
        *,
        tls_ports: Iterable[int],
        idle_timeout: float,
        connections: ConnectionTable | None = None,
    ) -> None:
        self.service = service
        self.allow = allow
        self.tls_ports = frozenset(tls_ports)
        self.idle_timeout = idle_timeout
        self.pages = StatusPages(
            service.context, SignIn(auth.CHALLENGE, auth.basic_credentials, self._page_password)
        )
        ipp = service.context.config.ipp
        # Caps requests being served (each holds at most one body chunk and one
        # spool write in memory); `connections` caps the connections.
        self.limiter = trio.CapacityLimiter(ipp.max_connections)
        self.connections = connections or ConnectionTable(
            ipp.max_open_connections, ipp.max_connections_per_source
        )
        self.auth_on = ipp.auth != "none" or any(
            q.config.auth not in ("", "none") for q in service.context.queues
        )
        self.operators = frozenset(ipp.operators)
        self.passwords = (
            PasswordChecks(PasswordFile(ipp.password_file)) if ipp.password_file else None
        )
        settings = service.context.config.oauth
        self.tokens = BearerTokens(settings) if settings.issuer else None
        # Mutual TLS: the handshake verified the certificate against client_ca.
        self.certificate_user = (
            settings.client_certificate_user if ipp.client_ca is not None else "off"
        )
        self.certificates = CLIENT_CERTIFICATES
        self._log_source = Throttle()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        state: dict[str, bool] = {"started": False}

        async def tracked_send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        client = scope.get("client")
        if not self.connections.request_started(client):
            held = self._log_source(f"requests {_source(scope)}")
            if held is not None:
                log.warning(
                    "ipp: %s: too many requests at once from this address "
                    "(ipp.max_connections_per_source)%s",
                    _peer(scope),
                    Throttle.more(held),
                )
            await _send_plain(tracked_send, 503, "too many requests, try again later\n")
            return
        try:
            await self._serve(scope, receive, tracked_send, state)
        finally:
            self.connections.request_ended(client)

    async def _serve(
        self, scope: Scope, receive: Receive, tracked_send: Send, state: dict[str, bool]
    ) -> None:
        try:
            # Wait for a slot at most half the idle timeout: an answer (503) then
            # still comes well before the client's own patience runs out.
            with trio.move_on_after(self.idle_timeout / 2) as waiting:
                await self.limiter.acquire()
            if waiting.cancelled_caught:
                log.warning("ipp: %s: too many requests at once", _peer(scope))
                await _send_plain(tracked_send, 503, "too many requests, try again later\n")
                return
            try:
                await self._http(scope, receive, tracked_send)
            finally:
                self.limiter.release()
        except RequestTimeout as exc:
            held = self._log_source(f"408 {_source(scope)}")
            if held is not None:
                log.warning("ipp: %s: %s; answered 408%s", _peer(scope), exc, Throttle.more(held))
            if not state["started"]:
                await _send_plain(tracked_send, 408, f"{exc}\n", close=_http1(scope))
        except ClientGone as exc:
            log.info("ipp: %s: %s", _peer(scope), exc)
        except Exception as exc:
            log.error("ipp: internal error answering %s: %r", _peer(scope), exc)  # noqa: TRY400
            log.debug("ipp: internal error", exc_info=True)
            if not state["started"]:
                body = _internal_error_body()
                await _send_ipp(tracked_send, body)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        server = scope.get("server") or (None, None)
        host_header = headers.get("host", "")
        host = split_host(host_header) if host_header else ""
        if host_header and not self.allow.allows(host, server[0]):
            await _send_plain(send, 400, f"Host {host!r} is not allowed\n")
            return
        if not host:
            host = str(server[0] or self.service.context.hostname)
        if scope["method"] in ("GET", "HEAD"):
            icon = icon_png(str(scope.get("path", "")))
            if icon is not None:  # printer-icons: to anyone, they hold no data
                await _send_icon(send, icon, head=scope["method"] == "HEAD")
                return
        if scope["method"] != "POST":
            await self.pages(scope, receive, send)  # status pages, /metrics; 405 otherwise
            return
        ipp = self.service.context.config.ipp
        pace = BodyPace.starting_now(
            self.idle_timeout, ipp.request_timeout, ipp.min_body_rate, ipp.body_rate_window
        )
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != IPP_CONTENT_TYPE.decode():
            await BodyReader(receive, b"", True, pace).drain()
            await _send_plain(send, 400, "Content-Type must be application/ipp\n")
            return
        port = int(server[1] or 0)
        scheme = "ipps" if scope.get("scheme") == "https" or port in self.tls_ports else "ipp"
        client = scope.get("client") or ("", 0)
        parsed = await self._read_message(receive, pace)
        if isinstance(parsed, int):
            await _send_plain(send, parsed, "bad IPP request\n")
            return
        if isinstance(parsed, IppResponse):
            await _send_ipp(send, parsed.encode())
            return
        message, body = parsed
        clipped = clip_strings(message)
        if clipped:
            log.debug("ipp: %s: %d name or text values cut to their limits", client[0], clipped)
        try:
            proved = await self._authenticate(scope, headers, scheme, body, send)
        except Refused:
            return
        operators = self.operators
        if proved is not None and proved.operator:
            # An operator by its token: one for this request, as ipp.operators are.
            operators = operators | {proved.user}
        request = IppRequest(
            message=message,
            body=body,
            peer=str(client[0]),
            host=host,
            scheme=scheme,
            port=port,
            user=proved.user if proved is not None else None,
            auth_on=self.auth_on,
            operators=operators,
        )
        try:
            response = await self.dispatch(request)
        except AuthRequired:
            await body.drain()
            await _send_challenge(send, self.challenges())
            return
        if not body.finished:
            await body.drain()
        with self.service.subscriptions.waits.answering():  # a stop waits for it (notify_wait)
            if response.data_file is not None:  # Fetch-Document (infra.py): streamed
                await _send_ipp_with_file(send, response.encode(), response.data_file)
            else:
                await _send_ipp(send, response.encode())

    async def _authenticate(
        self, scope: Scope, headers: dict[str, str], scheme: str, body: BodyReader, send: Send
    ) -> Authenticated | None:
        """Who the request proves to be (see `auth`: a password, else a bearer
        token, else a client certificate; over ipps only), None if it proves
        nothing; `Refused` once it has answered wrong credentials."""
        if scheme != "ipps":
            return None
        authorization = headers.get("authorization", "")
        credentials = auth.basic_credentials(authorization)
        if credentials is not None and self.passwords is not None:
            verdict = await self.passwords.check(_source(scope), *credentials)
            if verdict is not Verdict.OK:
                await self._refuse_credentials(scope, send, body, verdict, credentials[0])
                raise Refused
            return Authenticated(credentials[0], "basic")
        token = oauth.bearer_token(authorization) if self.tokens is not None else None
        if token is not None and self.tokens is not None:
            try:
                found = await self.tokens.validate(token, lambda aud: self.names_us(scope, aud))
            except TokenError as exc:
                await self._refuse_token(scope, send, body, exc)
                raise Refused from None
            return Authenticated(found.name, "oauth", operator=found.operator)
        if self.certificate_user != "off":
            certificate = self.certificates.lookup(scope.get("client"), scope.get("server"))
            name = certificate_user(certificate, self.certificate_user) if certificate else None
            if name:
                return Authenticated(name, "certificate")
        return None

    def names_us(self, scope: Scope, audience: str) -> bool:
        """Whether a token audience is one of this gateway's printer URIs (the
        rule while ``oauth.audience`` is empty): ``ipp`` or ``ipps``, a host name
        the gateway answers to (`HostAllowList`), one of its IPP ports (631 if
        none is given), and the path of one of its printers."""
        try:
            parts = urlsplit(audience)
            port = parts.port or 631
        except ValueError:
            return False
        if parts.scheme not in ("ipp", "ipps") or not parts.hostname:
            return False
        if port not in {lst.port for lst in self.service.listeners}:
            return False
        server = scope.get("server") or (None, None)
        if not self.allow.allows(parts.hostname, server[0]):
            return False
        return self.service.queue_for_path(parts.path or "/") is not None

    def challenges(self, error: TokenError | None = None) -> list[str]:
        """The WWW-Authenticate values of a 401 (or 403): Bearer with OAuth
        configured (with `error` when a token was refused), Basic with a
        password file (or when nothing else is configured)."""
        found = [self.tokens.challenge(error)] if self.tokens is not None else []
        if self.passwords is not None or not found:
            found.append(auth.CHALLENGE)
        return found

    async def _refuse_token(
        self, scope: Scope, send: Send, body: BodyReader, error: TokenError
    ) -> None:
        """Answer a request whose bearer token was refused: 401 or 403 with the
        RFC 6750 challenge (after reading the body), 503 (closing) when the keys
        to check it with cannot be had."""
        held = self._log_source(f"token {_source(scope)}")
        if held is not None:
            log.warning(
                "ipp: %s: bearer token refused: %s%s",
                _peer(scope),
                error.description,
                Throttle.more(held),
            )
        if error.status == 503:
            await _send_plain(
                send,
                503,
                f"{error.description}, try again later\n",
                close=_http1(scope),
                retry_after=math.ceil(oauth.MIN_REFETCH),
            )
            return
        await body.drain()
        await _send_challenge(send, self.challenges(error), status=error.status)

    async def _page_password(self, peer: str, user: str, password: str) -> bool:
        """The status pages' password check: IPP's own, with its limits."""
        checks = self.passwords
        return checks is not None and (
            await checks.check(source_of(peer), user, password) is Verdict.OK
        )

    async def _refuse_credentials(
        self, scope: Scope, send: Send, body: BodyReader, verdict: Verdict, user: str
    ) -> None:
        """Answer a request whose password was wrong (401, after reading the body so
        the client can read the challenge) or not checked (429, 503; closing)."""
        peer = _peer(scope)
        shown = user if len(user) <= 64 else user[:64] + "..."
        if verdict is Verdict.WRONG:
            held = self._log_source(f"401 {_source(scope)}")
            if held is not None:
                log.warning(
                    "ipp: %s: wrong user name or password for %r%s",
                    peer,
                    shown,
                    Throttle.more(held),
                )
            await body.drain()
            await _send_challenge(send, self.challenges())
            return
        assert self.passwords is not None
        if verdict is Verdict.BLOCKED:
            wait = math.ceil(self.passwords.retry_after(_source(scope)))
            text, status = f"too many wrong passwords; try again in {wait}s\n", 429
        else:
            wait, status = 1, 503
            text = "too many password checks at once, try again later\n"
            held = self._log_source(f"checks {_source(scope)}")
            if held is not None:
                log.warning(
                    "ipp: %s: too many password checks waiting; answered 503%s",
                    peer,
                    Throttle.more(held),
                )
        await _send_plain(send, status, text, close=_http1(scope), retry_after=wait)

    async def _read_message(
        self, receive: Receive, pace: BodyPace
    ) -> tuple[Message, BodyReader] | IppResponse | int:
        """Feed the parser until end-of-attributes-tag: the message and the rest of the
        body, an IPP error response, or an HTTP status for unframeable bytes."""
        parser = MessageParser()
        reader = BodyReader(receive, b"", True, pace)
        try:
            while True:
                chunk = await reader.next_chunk()
                message = parser.feed(chunk) if chunk else None
                if message is not None:
                    rest = BodyReader(receive, parser.tail, not reader.finished, pace)
                    return message, rest
                if reader.finished:
                    parser.close()
        except IppDecodeError as exc:
            log.info("ipp: undecodable request: %s", exc)
            await reader.drain()
            if exc.status is None:
                return exc.http_status or 400
            response = Message.response(
                None,
                exc.status,
                status_message=exc.message[:MAX_STATUS_MESSAGE],
                version=exc.version or (1, 1),
                request_id=exc.request_id or 0,
            )
            return IppResponse(response)

    async def dispatch(self, request: IppRequest) -> IppResponse:
        """Check the request (RFC 8011 Appendix C order) and run its operation."""
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "ipp: %s op=0x%04x printer-uri=%s job-id=%s",
                request.peer,
                request.message.operation_id_or_status,
                request.operation.value("printer-uri") or request.operation.value("job-uri"),
                request.operation.value("job-id"),
            )
        problem = check_request(request.message)
        if problem is not None:
            return respond(request, problem.status, problem.message)
        try:
            operation = Operation(request.message.operation_id_or_status)
            handler = HANDLERS[operation]
        except (ValueError, KeyError):
            return respond(
                request,
                StatusCode.SERVER_ERROR_OPERATION_NOT_SUPPORTED,
                f"operation 0x{request.message.operation_id_or_status:04x} is not supported",
            )
        if request.user is None and self.auth_on:
            policy = self.service.policy(self.service.request_queue(request))
            if auth.needs_user(policy, operation):
                if request.scheme == "ipps":
                    raise AuthRequired
                tls = [lst.port for lst in self.service.listeners if lst.scheme == "ipps"]
                what = "a user name and password"
                if self.tokens is not None:
                    what = (
                        "an OAuth token" if self.passwords is None else what + " or an OAuth token"
                    )
                return respond(
                    request,
                    StatusCode.CLIENT_ERROR_NOT_AUTHENTICATED,
                    f"this printer needs {what}, accepted over ipps:// only"
                    + (f" (port {tls[0]})" if tls else ""),
                )
        try:
            return await handler(self.service, request)
        except OperationError as error:
            return respond(
                request, error.status, error.message[:MAX_STATUS_MESSAGE], error.unsupported
            )
        except ClientGone:
            raise
        except Exception as exc:
            op = Operation(request.message.operation_id_or_status).ipp_name
            if isinstance(exc, SpoolError) and not isinstance(exc, (JobNotFound, NotPossible)):
                # A commit failed (the shared store is unreachable): try again later.
                log.warning("ipp: %s from %s: spool busy: %s", op, request.peer, exc)
                message = str(exc)[:MAX_STATUS_MESSAGE]
                return respond(request, StatusCode.SERVER_ERROR_BUSY, message)
            log.error("ipp: internal error in %s from %s: %r", op, request.peer, exc)  # noqa: TRY400
            log.debug("ipp: internal error", exc_info=True)
            return respond(request, StatusCode.SERVER_ERROR_INTERNAL_ERROR, "internal error")


def clip_strings(attributes: Message | AttributeList) -> int:
    """Cut every name and text value (in collections too) to its RFC 8011
    limit, on a UTF-8 character boundary; how many were cut."""
    lists: list[AttributeList] = (
        list(attributes.groups) if isinstance(attributes, Message) else [attributes]
    )
    cut = 0
    for group in lists:
        for attribute in group:
            for index, value in enumerate(attribute.values):
                if isinstance(value.value, Collection):
                    cut += clip_strings(value.value)
                    continue
                limit = STRING_LIMITS.get(value.tag)  # type: ignore[call-overload]
                if limit is None:
                    continue
                text = str(getattr(value.value, "text", value.value))
                data = text.encode("utf-8")
                if len(data) <= limit:
                    continue
                short = data[:limit].decode("utf-8", "ignore")
                new = (
                    short
                    if isinstance(value.value, str)
                    else dataclasses.replace(value.value, text=short)  # type: ignore[type-var]
                )
                attribute.values[index] = Value(value.tag, new)
                cut += 1
    return cut


class AuthRequired(Exception):
    """The operation needs an authenticated user and none was given (HTTP 401)."""


class Refused(Exception):
    """The request's credentials were refused, and it has been answered."""


async def _send_challenge(send: Send, challenges: list[str], *, status: int = 401) -> None:
    """HTTP 401 (or 403) with one WWW-Authenticate field per challenge."""
    body = b"authentication required\n" if status == 401 else b"not allowed\n"
    headers = [(b"www-authenticate", challenge.encode("latin-1")) for challenge in challenges]
    headers += [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _peer(scope: Scope) -> str:
    client = scope.get("client") or ("-", 0)
    return str(client[0])


def _source(scope: Scope) -> str:
    return source_of(_peer(scope))


def _http1(scope: Scope) -> bool:
    """HTTP/1.x, where an answer can say the connection closes (not HTTP/2)."""
    return str(scope.get("http_version", "1.1")).startswith("1")


def _internal_error_body() -> bytes:
    response = Message.response(
        None,
        StatusCode.SERVER_ERROR_INTERNAL_ERROR,
        status_message="internal error",
        version=(1, 1),
        request_id=0,
    )
    return encode(response)


async def _send_ipp(send: Send, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", IPP_CONTENT_TYPE),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


#: Chunks of a spooled document sent after an IPP message (Fetch-Document).
FILE_CHUNK = 256 * 1024


async def _send_ipp_with_file(send: Send, body: bytes, path: Path) -> None:
    """An IPP message followed by a spooled file, streamed in `FILE_CHUNK` pieces
    (never whole in memory); the length is known, so Content-Length is sent."""
    async with await trio.open_file(path, "rb") as file:
        size = (await trio.Path(path).stat()).st_size
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", IPP_CONTENT_TYPE),
                    (b"content-length", str(len(body) + size).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": True})
        left = size
        while left > 0:
            chunk = await file.read(min(FILE_CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": left > 0})
        if left > 0:  # the file shrank: the length sent cannot be kept
            raise OSError(f"{path.name} ended {left} bytes early")


async def _send_icon(send: Send, png: bytes, *, head: bool) -> None:
    """A printer icon (gateway/ipp/server/icons.py), cacheable for a day."""
    headers = [
        (b"content-type", ICON_CONTENT_TYPE.encode()),
        (b"content-length", str(len(png)).encode()),
        (b"cache-control", b"public, max-age=86400"),
        (b"x-content-type-options", b"nosniff"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else png, "more_body": False})


async def _send_plain(
    send: Send, status: int, text: str, *, close: bool = False, retry_after: int = 0
) -> None:
    """A text/plain answer; with `close`, the connection closes after it (HTTP/1:
    the rest of the request body is not read)."""
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    if retry_after:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


__all__ = ["HostAllowList", "IppApp", "split_host"]
