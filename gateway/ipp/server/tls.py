"""The certificate of the ``ipps`` listener, and its refused handshakes.

Why: RFC 7472 ``ipps://`` is TLS from the first byte, so the TLS listener
needs a certificate before it can answer anyone. A configured certificate
(``ipp.certificate`` / ``ipp.private_key``) is used as is. Without one the
gateway makes a self-signed certificate with `cryptography` and keeps it in
the spool folder (``tls/ipps-cert.pem``, ``tls/ipps-key.pem``), so clients
that pinned it on first use (CUPS keeps a trust store per host) see the same
one after a restart.

A handshake the gateway refuses (no client certificate or one not from
``ipp.client_ca``, plain HTTP sent to the TLS port, an old TLS version, no
handshake in time) would otherwise vanish without a word: `HandshakeRefusals`
does each TLS listener's handshakes and says why one failed, in one line per
client address per minute (the next line says how many were held back), and
counts every one in ``gateway_tls_handshakes_refused_total``.

With mutual TLS the handshake also proves who the client is: the verified
client certificate of each open connection is kept in `ClientCertificates`
(by the connection's addresses, which the ASGI scope carries too; an entry
goes when its connection's stream does), and `certificate_user` reads the
user it names (subject commonName, or e-mail address) for `auth`.

A reload (SIGHUP) may bring a new certificate, key or client CA: the
listeners hold a `ReloadableContext`, whose every new connection is made by
the context in force when it is accepted, so connections already open keep
the one they shook hands with and new ones get the new one.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import socket
import ssl
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.throttle import Throttle

from .auth import user_name

if TYPE_CHECKING:
    from gateway.metrics import Metrics

log = logging.getLogger("gateway.ipp")

TLS_DIR = "tls"
CERT_FILE = "ipps-cert.pem"
KEY_FILE = "ipps-key.pem"
VALIDITY_DAYS = 10 * 365
RENEW_BEFORE = datetime.timedelta(days=30)


@dataclass(frozen=True, slots=True)
class CertificatePair:
    """Paths of a PEM certificate (chain) and its PEM private key."""

    certificate: Path
    private_key: Path
    generated: bool = False


def certificate_for(
    spool_dir: Path,
    hostname: str,
    certificate: Path | None = None,
    private_key: Path | None = None,
) -> CertificatePair:
    """The configured pair, else the self-signed pair in the spool (made if missing,
    expired or about to expire)."""
    if certificate is not None:
        return CertificatePair(certificate, private_key or certificate)
    folder = spool_dir / TLS_DIR
    cert_path, key_path = folder / CERT_FILE, folder / KEY_FILE
    if _usable(cert_path, key_path):
        return CertificatePair(cert_path, key_path)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert_pem, key_pem = self_signed(hostname)
    write_private(key_path, key_pem)
    write_private(cert_path, cert_pem, mode=0o644)
    log.info("made a self-signed certificate for ipps in %s", cert_path)
    return CertificatePair(cert_path, key_path, generated=True)


class ReloadableContext(ssl.SSLContext):
    """The TLS context a listener holds: each new connection (`wrap_bio`, which
    `trio.SSLStream` calls) is made by `current`, which a reload replaces.

    Why not change the context in place: OpenSSL can add a client CA to a
    context but not take one away, and a certificate loaded into a context in
    use races the handshakes of other threads; a whole new context, swapped in
    one assignment, has neither problem."""

    current: ssl.SSLContext

    def __new__(cls, current: ssl.SSLContext) -> ReloadableContext:
        context = super().__new__(cls, ssl.PROTOCOL_TLS_SERVER)
        context.current = current
        return context

    def __init__(self, current: ssl.SSLContext) -> None:
        # ssl.SSLContext has no __init__ of its own to call; `__new__` did the work.
        pass

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        return self.current.wrap_bio(
            incoming,
            outgoing,
            server_side=server_side,
            server_hostname=server_hostname,
            session=session,
        )


def _usable(cert_path: Path, key_path: Path) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return False
    now = datetime.datetime.now(datetime.UTC)
    return cert.not_valid_after_utc - now > RENEW_BEFORE


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def self_signed(hostname: str) -> tuple[bytes, bytes]:
    """A new P-256 key and a self-signed certificate for `hostname`, ``localhost``
    and the loopback addresses, as PEM bytes (certificate, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for name in dict.fromkeys([hostname, socket.getfqdn(), "localhost"]):
        if name:
            names.append(x509.DNSName(name))
    for address in ("127.0.0.1", "::1"):
        names.append(x509.IPAddress(ipaddress.ip_address(address)))
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, hostname or "localhost"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lpd-ipp-gateway"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALIDITY_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert_pem, key_pem


#: OpenSSL's reason for a failed handshake -> what the log line says.
HANDSHAKE_REASONS = {
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "no client certificate (ipp.client_ca)",
    "CERTIFICATE_VERIFY_FAILED": "client certificate not accepted (ipp.client_ca)",
    "HTTP_REQUEST": "plain HTTP sent to the TLS port",
    "WRONG_VERSION_NUMBER": "not TLS, or a TLS version below 1.2",
    "UNSUPPORTED_PROTOCOL": "a TLS version below 1.2",
    "NO_SHARED_CIPHER": "no cipher in common",
    "TLSV1_ALERT_UNKNOWN_CA": "the client does not trust the gateway's certificate",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the client does not trust the gateway's certificate",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the client does not trust the gateway's certificate",
}


def refusal_reason(exc: BaseException) -> str | None:
    """Why a TLS handshake failed, for a person; None when the client just went away."""
    cause = exc.__cause__ or exc.__context__
    if not isinstance(cause, ssl.SSLError):
        return None
    reason = str(getattr(cause, "reason", None) or "")
    if isinstance(cause, ssl.SSLCertVerificationError) and cause.verify_message:
        return f"{HANDSHAKE_REASONS['CERTIFICATE_VERIFY_FAILED']}: {cause.verify_message}"
    return HANDSHAKE_REASONS.get(reason) or reason.lower().replace("_", " ") or str(cause)


Address = tuple[str, int]
"""One end of a connection as hypercorn puts it in the ASGI scope: (address, port)."""


def _address(raw: Any) -> Address:
    return (str(raw[0]), int(raw[1]))


class ClientCertificates:
    """The verified client certificates of the open TLS connections.

    Why: hypercorn puts no TLS details in the ASGI scope, but it does put the
    connection's two addresses (``client``, ``server``), which no other open
    TCP connection shares. The handshake (`HandshakeRefusals`) records the
    certificate under them; an entry lives as long as its connection's
    `trio.SSLStream` (a weak reference), so a later connection from the same
    address and port, which does its own handshake first, never sees it.
    """

    def __init__(self) -> None:
        self._open: dict[tuple[Address, Address], tuple[weakref.ref[Any], x509.Certificate]] = {}

    def __len__(self) -> int:
        return len(self._open)

    def record(self, stream: trio.SSLStream[Any]) -> None:
        """Keep the peer certificate of `stream` (after its handshake), if it
        sent one and the handshake verified it."""
        if stream.context.verify_mode == ssl.CERT_NONE:
            return
        try:
            der = stream.getpeercert(binary_form=True)
            sock = stream.transport_stream.socket
            key = (_address(sock.getpeername()), _address(sock.getsockname()))
        except (AttributeError, OSError, ssl.SSLError):
            return
        if not der:
            return
        try:
            certificate = x509.load_der_x509_certificate(der)
        except ValueError:
            return
        open_ = self._open

        def gone(ref: weakref.ref[Any]) -> None:
            if key in open_ and open_[key][0] is ref:
                del open_[key]

        self._open[key] = (weakref.ref(stream, gone), certificate)

    def lookup(self, client: Any, server: Any) -> x509.Certificate | None:
        """The certificate of the open connection between `client` and `server`
        (ASGI scope values), or None."""
        if not client or not server:
            return None
        entry = self._open.get((_address(client), _address(server)))
        if entry is None or entry[0]() is None:
            return None
        return entry[1]


#: Every TLS listener's handshakes record here; the IPP app reads it.
CLIENT_CERTIFICATES = ClientCertificates()


def certificate_user(certificate: x509.Certificate, mode: str) -> str | None:
    """The user a verified client certificate names (``oauth.client_certificate_user``):
    ``cn`` the subject commonName, ``email`` the subjectAltName rfc822Name (else
    the subject emailAddress), ``off`` none; cleaned by `auth.user_name`."""
    values: list[str] = []
    if mode == "cn":
        values = [
            _text(a.value) for a in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        ]
    elif mode == "email":
        try:
            names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            values = list(names.value.get_values_for_type(x509.RFC822Name))
        except x509.ExtensionNotFound:
            pass
        values += [
            _text(a.value)
            for a in certificate.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)
        ]
    for value in values:
        name = user_name(value)
        if name:
            return name
    return None


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


@dataclass(slots=True)
class HandshakeRefusals:
    """The TLS handshakes of one listener (`label`: ipps, metrics), the refused
    ones, and the client certificates of the others (`certificates`)."""

    label: str
    timeout: float
    metrics: Metrics | None = None
    throttle: Throttle = field(default_factory=Throttle)
    certificates: ClientCertificates = field(default_factory=lambda: CLIENT_CERTIFICATES)

    async def handshake(self, stream: trio.SSLStream[Any], client: tuple[str, int]) -> bool:
        """Do `stream`'s handshake within `timeout`; False if it failed (logged, counted)."""
        try:
            with trio.fail_after(self.timeout):
                await stream.do_handshake()
        except trio.TooSlowError:
            reason: str | None = f"no TLS handshake within {self.timeout:g}s"
        except trio.BrokenResourceError as exc:
            reason = refusal_reason(exc)
        else:
            self.certificates.record(stream)
            return True
        if reason is None:
            log.debug("%s %s:%d: closed during the TLS handshake", self.label, *client)
            return False
        if self.metrics is not None:
            self.metrics.tls_refused.labels(self.label).inc()
        held = self.throttle(client[0])
        if held is not None:
            log.warning(
                "%s %s:%d: TLS handshake refused: %s%s",
                self.label,
                *client,
                reason,
                Throttle.more(held),
            )
        return False
