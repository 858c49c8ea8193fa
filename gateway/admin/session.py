"""One conversation with a gateway: requests out, answers or `AdminError` back.

Why: every sub-command sends IPP requests the same way (the target URI first,
then requesting-user-name, RFC 8011 section 4.1.5), needs the same
credentials and sorts the same failures into exit statuses; that lives here
once, on top of `gateway.ipp.client.IppClient`.

Credentials follow the gateway's rules (gateway/ipp/server/auth.py): they are
sent over ipps:// only, never in clear. A bearer token goes with every
request; a password is sent from the first request when known, else asked
for (`prompt`, on a terminal) when the server answers HTTP 401. A 401 to
credentials that were sent, a 429 (too many wrong passwords) and the IPP status
client-error-not-authenticated end the command with `AuthFailed`.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

from gateway.ipp.attributes import Attribute, Group
from gateway.ipp.client import IppAuthRequired, IppClient, IppClientError
from gateway.ipp.message import Message
from gateway.ipp.operations import Operation
from gateway.ipp.status import StatusCode
from gateway.ipp.tags import DelimiterTag

from .errors import AuthFailed, Refused, Unreachable, UsageError

DEFAULT_SERVER = "ipp://localhost:631/ipp/system"

Prompt = Callable[[str], str]


def system_uri(server: str) -> str:
    """The System's URI of ``--server``: a bare ``ipp://host[:port]`` means its
    ``/ipp/system``; `UsageError` for anything but an ipp:// or ipps:// URI."""
    parts = urlsplit(server)
    if parts.scheme not in ("ipp", "ipps") or not parts.hostname:
        raise UsageError(f"--server {server!r}: give an ipp:// or ipps:// URI")
    try:
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        raise UsageError(f"--server {server!r}: bad port") from None
    path = parts.path if parts.path not in ("", "/") else "/ipp/system"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class Session:
    """Sends requests to the gateway at `server` as `user`."""

    def __init__(
        self,
        server: str,
        user: str,
        *,
        verify: ssl.SSLContext | bool = True,
        password: str | None = None,
        token: str | None = None,
        prompt: Prompt | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.system_uri = system_uri(server)
        parts = urlsplit(self.system_uri)
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.user = user
        self.tls = parts.scheme == "ipps"
        self._prompt = prompt
        self._password_known = password is not None and self.tls
        self._client = IppClient(
            self.system_uri,
            verify=verify,
            auth=(user, password) if password is not None and self.tls else None,
            token=token if self.tls else None,
            timeout=timeout,
            connect_timeout=min(timeout, 10.0),
            http2=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def printer_uri(self, name: str) -> str:
        """The URI of queue `name` (``/printers/NAME``) on this server."""
        return f"{self.base}/printers/{name}"

    def job_uri(self, job_id: int) -> str:
        return f"{self.base}/jobs/{job_id}"

    @property
    def all_printers_uri(self) -> str:
        """``/``: the printer URI whose Get-Jobs lists every queue's jobs."""
        return f"{self.base}/"

    async def call(
        self,
        operation: Operation,
        target: Attribute,
        attributes: Sequence[Attribute] = (),
        groups: Sequence[Group] = (),
    ) -> Message:
        """Send `operation` to `target` (system-uri, printer-uri or job-uri) with
        more operation `attributes` and `groups`; the successful answer, else
        `Refused`, `AuthFailed` or `Unreachable`."""

        def build(version: tuple[int, int], request_id: int) -> Message:
            message = Message.request(operation, request_id, version=version)
            message.operation.append(target)
            message.operation.add_name("requesting-user-name", self.user)
            for attribute in attributes:
                message.operation.append(attribute)
            message.groups.extend(groups)
            return message

        use_auth = self._password_known
        while True:
            try:
                response = await self._client.send(build, use_auth=use_auth)
            except IppAuthRequired:
                if not self.tls:
                    raise AuthFailed(
                        f"{self.base} asks for a password, which is sent over ipps:// only"
                    ) from None
                if use_auth or self._client.has_credentials:
                    raise AuthFailed(
                        f"{self.base} refused the credentials of {self.user}"
                    ) from None
                if self._prompt is None:
                    raise AuthFailed(
                        f"{self.base} asks for the password of {self.user}: give "
                        "--password-file, LPD_IPP_GATEWAY_PASSWORD or run on a terminal"
                    ) from None
                self._client.set_credentials(self.user, self._prompt(f"password for {self.user}: "))
                use_auth = True
                continue
            except IppClientError as exc:
                if exc.http_status == 429:
                    raise AuthFailed(
                        f"{self.base} refuses this address for now after wrong passwords"
                    ) from None
                raise Unreachable(exc.message) from None
            break
        message = response.message
        status = message.operation_id_or_status
        text = text_of(message.value(DelimiterTag.OPERATION_ATTRIBUTES, "status-message"))
        if response.ok:
            return message
        keyword = _status_keyword(status)
        if status == StatusCode.CLIENT_ERROR_NOT_AUTHENTICATED:
            raise AuthFailed(f"{keyword}: {text}" if text else keyword)
        raise Refused(keyword, text)


def text_of(value: object) -> str:
    """The text of a name or text value, with or without language ('' for None)."""
    if value is None:
        return ""
    return str(getattr(value, "text", value))


def _status_keyword(status: int) -> str:
    try:
        return StatusCode(status).keyword
    except ValueError:
        return f"status 0x{status:04x}"
