"""IPP over HTTP, as a client of real printers (used by the ipp:// backend).

HTTP itself (HTTP/1.1 and HTTP/2 by ALPN, TLS, connection pooling) is httpx's
job; this module only frames IPP: it encodes the request, streams the
document after it from an async iterator (never whole in memory, with an
exact Content-Length because some printers refuse chunked uploads), reads a
bounded response body and decodes it with our strict parser.

It also owns the IPP version fallback (RFC 8011 section 4.1.8, CUPS's
backend/ipp.c): a printer that answers server-error-version-not-supported,
or HTTP 400, to a 2.0 request is asked again with 1.1, then 1.0, and the
version that worked is kept for the next requests.

For a command-line client (``lpd-ipp-gateway admin``) it also carries
credentials the backend does not use: a bearer token sent with every request
(RFC 6750), HTTP Basic credentials that may be set after a 401 answer
(`IppClient.set_credentials`, once a person typed the password), and the TLS
verification a client picks (`tls_verify`: the system's CAs, a CA file, or
none for a gateway's self-signed certificate).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from gateway import __version__
from gateway.ipp.encoder import encode
from gateway.ipp.errors import IppDecodeError
from gateway.ipp.message import Message
from gateway.ipp.parser import MessageParser
from gateway.ipp.status import StatusCode

VERSIONS: tuple[tuple[int, int], ...] = ((2, 0), (1, 1), (1, 0))
MAX_RESPONSE = 16 * 1024 * 1024
USER_AGENT = f"lpd-ipp-gateway/{__version__} IPP/2.0"

DocumentFactory = Callable[[], AsyncIterator[bytes]]


class IppClientError(Exception):
    """The exchange failed below IPP: connection, TLS, HTTP or a broken response."""

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status


class IppConnectError(IppClientError):
    """The printer could not be reached (refused, reset, timed out, DNS)."""


class IppAuthRequired(IppClientError):
    """HTTP 401: the printer wants credentials."""

    def __init__(self, message: str, *, challenge: str = "") -> None:
        super().__init__(message, http_status=401)
        self.challenge = challenge


def http_url(uri: str) -> str:
    """``ipp://host/path`` -> ``http://host:631/path``; ``ipps`` -> ``https`` (RFC 7472)."""
    parts = urlsplit(uri)
    scheme = {"ipp": "http", "ipps": "https", "http": "http", "https": "https"}[parts.scheme]
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port or 631
    return urlunsplit((scheme, f"{host}:{port}", parts.path or "/", parts.query, ""))


def tls_verify(ca_file: Path | None = None, *, insecure: bool = False) -> ssl.SSLContext | bool:
    """What `IppClient` checks a server's certificate against: the system's CAs
    (True), the CAs in `ca_file` (PEM), or nothing at all with `insecure` (a
    gateway's own self-signed certificate, on a network one trusts).
    OSError / ssl.SSLError when `ca_file` cannot be read."""
    if insecure:
        return False
    if ca_file is None:
        return True
    return ssl.create_default_context(cafile=str(ca_file))


@dataclass(frozen=True, slots=True)
class Response:
    """A decoded IPP response and the HTTP version it came over."""

    message: Message
    http_version: str

    @property
    def status(self) -> int:
        return self.message.operation_id_or_status

    @property
    def ok(self) -> bool:
        return self.status < 0x0100


class IppClient:
    """Sends IPP requests to one printer URI."""

    def __init__(
        self,
        uri: str,
        *,
        verify: ssl.SSLContext | bool = True,
        auth: tuple[str, str] | None = None,
        token: str | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 30.0,
        http2: bool = True,
    ) -> None:
        self.uri = uri
        self.url = http_url(uri)
        self.version: tuple[int, int] = VERSIONS[0]
        self._auth = auth
        self._token = token
        self._client = httpx.AsyncClient(
            verify=verify,
            http2=http2,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            headers={"User-Agent": USER_AGENT},
        )
        self._request_id = 0

    @property
    def has_credentials(self) -> bool:
        """Whether a user and password (or a bearer token) will be sent."""
        return self._auth is not None or self._token is not None

    def set_credentials(self, user: str, password: str) -> None:
        """HTTP Basic credentials for requests sent with ``use_auth`` from now on
        (a password asked for after a 401)."""
        self._auth = (user, password)

    def next_request_id(self) -> int:
        self._request_id = self._request_id % 0x7FFFFFFF + 1
        return self._request_id

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(
        self,
        build: Callable[[tuple[int, int], int], Message],
        document: DocumentFactory | None = None,
        document_size: int = 0,
        *,
        use_auth: bool = False,
    ) -> Response:
        """Send ``build(version, request_id)`` (plus a document) with version fallback.

        ``document`` is a factory so that a fallback can send the document again.
        """
        while True:
            request = build(self.version, self.next_request_id())
            try:
                response = await self._exchange(request, document, document_size, use_auth)
            except IppClientError as exc:
                if exc.http_status == 400 and self._downgrade():
                    continue
                raise
            if (
                response.status == StatusCode.SERVER_ERROR_VERSION_NOT_SUPPORTED
                and self._downgrade()
            ):
                continue
            return response

    def _downgrade(self) -> bool:
        index = VERSIONS.index(self.version)
        if index + 1 >= len(VERSIONS):
            return False
        self.version = VERSIONS[index + 1]
        return True

    async def _exchange(
        self,
        request: Message,
        document: DocumentFactory | None,
        document_size: int,
        use_auth: bool,
    ) -> Response:
        header = encode(request)

        async def body() -> AsyncIterator[bytes]:
            yield header
            if document is not None:
                async for chunk in document():
                    yield chunk

        headers = {
            "Content-Type": "application/ipp",
            "Content-Length": str(len(header) + document_size),
        }
        auth = httpx.BasicAuth(*self._auth) if use_auth and self._auth else None
        if auth is None and self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            async with self._client.stream(
                "POST", self.url, content=body(), headers=headers, auth=auth
            ) as http:
                if http.status_code == 401:
                    raise IppAuthRequired(
                        f"{self.uri} asks for authentication",
                        challenge=http.headers.get("WWW-Authenticate", ""),
                    )
                if http.status_code != 200:
                    raise IppClientError(
                        f"{self.uri} answered HTTP {http.status_code} {http.reason_phrase}",
                        http_status=http.status_code,
                    )
                parser = MessageParser()
                size = 0
                message = None
                async for chunk in http.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_RESPONSE:
                        raise IppClientError(
                            f"{self.uri} sent a response over {MAX_RESPONSE} bytes"
                        )
                    if message is None:
                        message = parser.feed(chunk)
                if message is None:
                    message = parser.close()
                return Response(message, http.http_version)
        except IppDecodeError as exc:
            raise IppClientError(f"{self.uri} sent a malformed IPP response: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise IppConnectError(f"{self.uri} did not answer in time") from exc
        except httpx.ConnectError as exc:
            raise IppConnectError(f"cannot connect to {self.uri}: {_reason(exc)}") from exc
        except httpx.TransportError as exc:
            raise IppConnectError(f"connection to {self.uri} failed: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    """The first non-empty text of `exc` and its causes (httpx's TLS errors have
    none themselves: the ssl error that says why is their cause)."""
    cause: BaseException | None = exc
    while cause is not None:
        text = str(cause)
        if text:
            return text
        cause = cause.__cause__ or cause.__context__
    return type(exc).__name__
