"""The proxy's IPP exchanges with an Infrastructure Printer (PWG 5100.18).

Why not `gateway.ipp.client.IppClient`: its responses are read whole (bounded
at 16 MiB), and a Fetch-Document response is the IPP message followed by the
document, which may be gigabytes. Here a response is parsed incrementally; the
bytes after the end-of-attributes tag are handed to the caller as a stream
(`Upstream.fetch_document`), never held whole in memory.

Every exchange has a deadline (connect, each read, each write); credentials
are HTTP Basic or a bearer token (RFC 6750) and, by the configuration's rules,
only ever go over ipps://. Errors below IPP come out as `UpstreamError`, with
a message that names the URI without credentials.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from gateway import __version__
from gateway.ipp.client import http_url
from gateway.ipp.encoder import encode
from gateway.ipp.errors import IppDecodeError
from gateway.ipp.message import Message
from gateway.ipp.parser import MessageParser
from gateway.ipp.status import StatusCode
from gateway.ipp.tags import DelimiterTag

USER_AGENT = f"lpd-ipp-gateway/{__version__} IPP/2.0 (proxy)"
#: Seconds for a connection, and for each read or write of an exchange.
CONNECT_TIMEOUT = 30.0
IO_TIMEOUT = 60.0
#: How much data after an answer (other than Fetch-Document's) is read and
#: dropped so that its connection can be used again.
DRAIN_LIMIT = 64 * 1024

Build = Callable[[Message], None]


class UpstreamError(Exception):
    """The Infrastructure Printer could not be reached or answered below IPP."""


@dataclass(frozen=True, slots=True)
class Answer:
    """An IPP response of the Infrastructure Printer."""

    message: Message

    @property
    def status(self) -> int:
        return self.message.operation_id_or_status

    @property
    def ok(self) -> bool:
        return self.status < 0x0100

    @property
    def status_name(self) -> str:
        try:
            return StatusCode(self.status).name.lower().replace("_", "-")
        except ValueError:
            return f"status 0x{self.status:04x}"

    def operation(self, name: str) -> object:
        return self.message.value(DelimiterTag.OPERATION_ATTRIBUTES, name)


class Upstream:
    """Sends IPP requests to one Infrastructure Printer (or System Service) URI."""

    def __init__(
        self,
        uri: str,
        *,
        verify: ssl.SSLContext | bool = True,
        user: str = "",
        password: str | None = None,
        token: str | None = None,
        io_timeout: float = IO_TIMEOUT,
    ) -> None:
        self.uri = uri
        self.user = user or "proxy"
        self._auth = httpx.BasicAuth(user, password) if password is not None else None
        self._token = token
        self._client = httpx.AsyncClient(
            verify=verify,
            http2=False,
            timeout=httpx.Timeout(io_timeout, connect=CONNECT_TIMEOUT),
            headers={"User-Agent": USER_AGENT},
        )
        self._request_id = 0

    async def aclose(self) -> None:
        await self._client.aclose()

    def message(self, operation: int, uri: str | None = None, *, system: bool = False) -> Message:
        """A request for ``operation`` addressed to ``uri`` (else this one)."""
        self._request_id = self._request_id % 0x7FFFFFFF + 1
        message = Message.request(operation, self._request_id)
        target = uri or self.uri
        if system:
            message.operation.add_uri("system-uri", target)
        else:
            message.operation.add_uri("printer-uri", target)
        message.operation.add_name("requesting-user-name", self.user)
        return message

    async def call(self, request: Message, uri: str | None = None) -> Answer:
        """Send ``request`` to ``uri`` (else this one) and read its whole answer."""
        async with self._exchange(request, uri) as (answer, body):
            # Read to the end (nothing, normally): a response left half read
            # closes its connection, and a new TLS connection per request
            # churns the printer's per-address connection cap.
            left = DRAIN_LIMIT
            async for chunk in body:
                left -= len(chunk)
                if left < 0:
                    break  # not an IPP answer we use: let the connection go
            return answer

    @asynccontextmanager
    async def fetch_document(
        self, request: Message, uri: str | None = None
    ) -> AsyncIterator[tuple[Answer, AsyncIterator[bytes]]]:
        """Send a Fetch-Document ``request``: the answer and its document, streamed."""
        async with self._exchange(request, uri) as pair:
            yield pair

    @asynccontextmanager
    async def _exchange(
        self, request: Message, uri: str | None
    ) -> AsyncIterator[tuple[Answer, AsyncIterator[bytes]]]:
        target = uri or self.uri
        body = encode(request)
        headers = {"Content-Type": "application/ipp"}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            async with self._client.stream(
                "POST", http_url(target), content=body, headers=headers, auth=self._auth
            ) as http:
                if http.status_code != 200:
                    raise UpstreamError(
                        f"{shown_uri(target)} answered HTTP {http.status_code} {http.reason_phrase}"
                    )
                chunks = http.aiter_bytes()
                parser = MessageParser()
                message = None
                async for chunk in chunks:
                    message = parser.feed(chunk)
                    if message is not None:
                        break
                if message is None:
                    message = parser.close()
                tail = bytes(parser.tail)

                async def document() -> AsyncIterator[bytes]:
                    if tail:
                        yield tail
                    async for chunk in chunks:
                        yield chunk

                yield Answer(message), document()
        except IppDecodeError as exc:
            raise UpstreamError(
                f"{shown_uri(target)} sent a malformed IPP response: {exc}"
            ) from exc
        except httpx.TimeoutException as exc:
            raise UpstreamError(f"{shown_uri(target)} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(
                f"connection to {shown_uri(target)} failed: {_reason(exc)}"
            ) from exc


def shown_uri(uri: str) -> str:
    """``uri`` as logs and printer-state-message show it (no user or password)."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    authority, slash, path = rest.partition("/")
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"


def _reason(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if str(cause):
            return str(cause)
        cause = cause.__cause__ or cause.__context__
    return type(exc).__name__
