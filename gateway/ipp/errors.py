"""Exceptions of the IPP codec, each carrying what a server should answer.

Why: like h11's ``RemoteProtocolError`` / ``LocalProtocolError``, a decode
failure tells the server its wire consequence, so the ASGI app never has to
guess. Exactly one of `IppDecodeError.status` and `IppDecodeError.http_status`
is set:

* ``http_status=400`` (status None): the bytes cannot be framed into a
  message (truncated, bad lengths, wrong fixed sizes, tags where none may
  be, broken collection structure, nesting too deep, a value over the
  32767-byte limit). Every reference server answers a bare HTTP 400 with no
  IPP body (reference/ipp.md section 1.9).
* ``status=StatusCode.CLIENT_ERROR_BAD_REQUEST``: the message frames, but a
  value is not valid for its syntax (text/name not UTF-8, keyword or other
  US-ASCII syntax with bad characters, boolean not 0/1, bad dateTime fields,
  rangeOfInteger lower > upper, short extension value).
* ``status=StatusCode.CLIENT_ERROR_CHARSET_NOT_SUPPORTED``: attributes-charset
  is neither ``utf-8`` nor ``us-ascii``.
* ``status=StatusCode.CLIENT_ERROR_REQUEST_ENTITY_TOO_LARGE``: a configured
  limit on total header bytes, attributes or values was exceeded.

When the 8-byte header was read, `version` and `request_id` are set so the
server can answer with an IPP response that echoes them.
"""

from __future__ import annotations

from .status import StatusCode


class IppError(Exception):
    """Base class of every exception raised by `gateway.ipp`."""


class IppDecodeError(IppError):
    """The peer sent bytes that are not an acceptable IPP message (remote error)."""

    def __init__(
        self,
        message: str,
        *,
        status: StatusCode | None = None,
        http_status: int | None = None,
        offset: int = 0,
        version: tuple[int, int] | None = None,
        request_id: int | None = None,
    ) -> None:
        if (status is None) == (http_status is None):
            raise ValueError("exactly one of status and http_status must be given")
        super().__init__(message)
        self.message = message
        self.status = status
        self.http_status = http_status
        self.offset = offset
        self.version = version
        self.request_id = request_id

    def __str__(self) -> str:
        what = f"HTTP {self.http_status}" if self.status is None else self.status.keyword
        return f"{self.message} (at byte {self.offset}; answer {what})"


class IppEncodeError(IppError, ValueError):
    """The caller built a value or message that cannot be encoded (local error)."""


class IppUsageError(IppError, RuntimeError):
    """The caller drove the parser wrongly, e.g. fed it after the message ended."""
