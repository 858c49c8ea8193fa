"""Exceptions raised by the sans-I/O LPD codecs.

Modelled on h11: one base class, `LpdProtocolError`, and two concrete kinds.
`RemoteProtocolError` means the peer broke RFC 1179; `LocalProtocolError`
means the code driving the connection object misused the API. Each carries
the one-byte negative acknowledgement (NAK) a server should answer with and a
human-readable reason, so the I/O layer can reply without knowing why
parsing failed: ``sock.send(err.nak_bytes())`` then close.
"""

from __future__ import annotations

#: Ack byte values seen in the wild (reference/lpd.md 1.3).
ACK_OK = 0
NAK_FAIL = 1  # generic failure (BSD, cups-lpd, PPR; LPRng ACK_STOP_Q)
NAK_NO_SPACE = 2  # "no room in the spool" / LPRng ACK_RETRY: sender retries later
NAK_LPRNG_FAIL = 3  # LPRng ACK_FAIL


class LpdProtocolError(Exception):
    """Base class of every LPD codec error.

    ``nak`` is the byte value (1..255) a server should send, ``reason`` a
    short human-readable message (also ``str(error)``).
    """

    def __init__(self, reason: str, nak: int = NAK_FAIL) -> None:
        if type(self) is LpdProtocolError:
            raise TypeError("LpdProtocolError is abstract; raise a subclass")
        if not 1 <= nak <= 255:
            raise ValueError(f"a NAK byte must be 1..255, not {nak}")
        super().__init__(reason)
        self.reason = reason
        self.nak = nak

    def nak_bytes(self, *, with_reason: bool = False) -> bytes:
        """The bytes to answer with: the NAK byte, optionally followed by
        the reason and LF (LPRng style; other clients ignore the text)."""
        if not with_reason:
            return bytes([self.nak])
        text = self.reason.replace("\n", " ").replace("\r", " ")
        return bytes([self.nak]) + text.encode("utf-8", "replace") + b"\n"


class RemoteProtocolError(LpdProtocolError):
    """The peer sent something RFC 1179 (as practised) does not allow."""


class LocalProtocolError(LpdProtocolError):
    """The caller drove the connection object wrongly (e.g. acked twice)."""
