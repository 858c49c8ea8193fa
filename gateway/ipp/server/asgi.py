"""The ASGI application of the IPP listener: HTTP in, one IPP operation, HTTP out.

Why: hypercorn (see `serving`) speaks HTTP/1.1, HTTP/2 and TLS; this module adds
IPP on top. A request goes: Host allow-list (DNS-rebinding guard, HTTP 400
otherwise) -> anything but POST goes to the read-only status pages
(`gateway.web.status`) -> incremental `MessageParser` fed from ASGI
``receive()`` until end-of-attributes-tag (HTTP 400 if it cannot be framed) ->
RFC 8011 Appendix C checks (`check_request`) -> authentication (`auth`) -> the
operation's handler from the one table `handlers.HANDLERS`, which streams any
document data from the remaining body chunks straight into the spool. The
response is always ``Content-Type: application/ipp`` in an HTTP 200; a handler
that raises `OperationError` is answered with its status.

Bounds: at most ``ipp.max_connections`` requests are served at once (more
wait up to half of ``ipp.idle_timeout`` for a slot, then get HTTP 503); every
read of the body has a deadline of ``ipp.idle_timeout``.

No traceback reaches a client: the app boundary catches everything, logs one
line and answers server-error-internal-error.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import trio

from gateway.ipp.encoder import encode
from gateway.ipp.errors import IppDecodeError
from gateway.ipp.message import Message
from gateway.ipp.operations import Operation
from gateway.ipp.parser import MessageParser
from gateway.ipp.status import StatusCode
from gateway.ipp.validate import check_request
from gateway.web.status import StatusPages

from . import auth
from .auth import PasswordFile
from .handlers import HANDLERS
from .intake import BodyReader, ClientGone
from .request import IppRequest, IppResponse, IppService, OperationError, respond

log = logging.getLogger("gateway.ipp")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

IPP_CONTENT_TYPE = b"application/ipp"
#: status-message is at most 255 octets (RFC 8011 section 4.1.6.2).
MAX_STATUS_MESSAGE = 255


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
    ) -> None:
        self.service = service
        self.allow = allow
        self.tls_ports = frozenset(tls_ports)
        self.idle_timeout = idle_timeout
        self.pages = StatusPages(service.context)
        # hypercorn has no cap on connections; this caps requests being served
        # (each holds at most one body chunk and one spool write in memory).
        self.limiter = trio.CapacityLimiter(service.context.config.ipp.max_connections)
        ipp = service.context.config.ipp
        self.auth_on = ipp.auth != "none" or any(
            q.config.auth not in ("", "none") for q in service.context.queues
        )
        self.operators = frozenset(ipp.operators)
        self.passwords = PasswordFile(ipp.password_file) if ipp.password_file else None
        self._verified: dict[str, float] = {}  # sha256(user:password) -> expiry

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
                metrics = self.service.context.metrics
                if metrics is None:
                    await self._http(scope, receive, tracked_send)
                else:
                    # hypercorn does not report connections; requests in progress are
                    # the IPP listener's open-connection figure.
                    with metrics.connection("ipp"):
                        await self._http(scope, receive, tracked_send)
            finally:
                self.limiter.release()
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
        if scope["method"] != "POST":
            await self.pages(scope, receive, send)  # status pages, /metrics; 405 otherwise
            return
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != IPP_CONTENT_TYPE.decode():
            await _drain(receive, self.idle_timeout)
            await _send_plain(send, 400, "Content-Type must be application/ipp\n")
            return
        port = int(server[1] or 0)
        scheme = "ipps" if scope.get("scheme") == "https" or port in self.tls_ports else "ipp"
        client = scope.get("client") or ("", 0)
        parsed = await self._read_message(receive)
        if isinstance(parsed, int):
            await _send_plain(send, parsed, "bad IPP request\n")
            return
        if isinstance(parsed, IppResponse):
            await _send_ipp(send, parsed.encode())
            return
        message, body = parsed
        user = None
        credentials = auth.basic_credentials(headers.get("authorization", ""))
        if credentials is not None and scheme == "ipps" and self.passwords is not None:
            user = await self._check(*credentials)
            if user is None:
                log.warning(
                    "ipp: %s: wrong user name or password for %r", client[0], credentials[0]
                )
                await body.drain()
                await _send_challenge(send)
                return
        request = IppRequest(
            message=message,
            body=body,
            peer=str(client[0]),
            host=host,
            scheme=scheme,
            port=port,
            user=user,
            auth_on=self.auth_on,
            operators=self.operators,
        )
        try:
            response = await self.dispatch(request)
        except AuthRequired:
            await body.drain()
            await _send_challenge(send)
            return
        if not body.finished:
            await body.drain()
        await _send_ipp(send, response.encode())

    async def _check(self, user: str, password: str) -> str | None:
        """The user when the password is right (scrypt runs in a thread; a right
        pair is remembered for a few minutes so each request does not pay it)."""
        key = hashlib.sha256(f"{user}\0{password}".encode()).hexdigest()
        now = trio.current_time()
        if self._verified.get(key, 0.0) > now:
            return user
        assert self.passwords is not None
        ok = await trio.to_thread.run_sync(self.passwords.verify, user, password)
        if not ok:
            return None
        if len(self._verified) > 1000:
            self._verified.clear()
        self._verified[key] = now + AUTH_CACHE_SECONDS
        return user

    async def _read_message(
        self, receive: Receive
    ) -> tuple[Message, BodyReader] | IppResponse | int:
        """Feed the parser until end-of-attributes-tag: the message and the rest of the
        body, an IPP error response, or an HTTP status for unframeable bytes."""
        parser = MessageParser()
        reader = BodyReader(receive, b"", True, self.idle_timeout)
        try:
            while True:
                chunk = await reader.next_chunk()
                message = parser.feed(chunk) if chunk else None
                if message is not None:
                    rest = BodyReader(receive, parser.tail, not reader.finished, self.idle_timeout)
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
                return respond(
                    request,
                    StatusCode.CLIENT_ERROR_NOT_AUTHENTICATED,
                    "this printer needs a user name and password, accepted over ipps:// only"
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
            log.error("ipp: internal error in %s from %s: %r", op, request.peer, exc)  # noqa: TRY400
            log.debug("ipp: internal error", exc_info=True)
            return respond(request, StatusCode.SERVER_ERROR_INTERNAL_ERROR, "internal error")


AUTH_CACHE_SECONDS = 300.0


class AuthRequired(Exception):
    """The operation needs an authenticated user and none was given (HTTP 401)."""


async def _send_challenge(send: Send) -> None:
    body = b"authentication required\n"
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"www-authenticate", auth.CHALLENGE.encode()),
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _peer(scope: Scope) -> str:
    client = scope.get("client") or ("-", 0)
    return str(client[0])


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


async def _send_plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _drain(receive: Receive, idle: float) -> None:
    await BodyReader(receive, b"", True, idle).drain()


__all__ = ["HostAllowList", "IppApp", "split_host"]
