"""A test OAuth 2.0 authorization server: RFC 8414 metadata and a JWKS over
HTTPS on loopback, signing keys the test rotates, and tokens signed with them.

Keys, JWKs and signed tokens are made with PyJWT (the JOSE library the
gateway validates with) and `cryptography`; the server is a small ASGI app
under hypercorn's public ``serve``, over TLS with a certificate from a CA the
test makes (give the gateway that CA as ``oauth.ca_file``). The server counts
the requests it gets per path, so a test can see when the gateway fetched the
keys. Also here: the tokens an attacker would try (unsigned, HS256 with the
public key as the secret, a payload or a signature changed after signing).

Rules (tests/conftest.py): loopback only, port 0.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import hmac
import ipaddress
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

#: How long a test waits for the server thread to start or stop.
STARTUP = 20.0


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --------------------------------------------------------------------------
# TLS for the server


@dataclass(frozen=True)
class ServerTls:
    """A CA and a server certificate (for 127.0.0.1 and localhost) it signed."""

    ca: Path
    certificate: Path
    key: Path


def make_server_tls(folder: Path) -> ServerTls:
    """A fresh CA and a server certificate for the loopback names, as PEM files in `folder`."""
    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("test authorization server CA"))
        .issuer_name(name("test authorization server CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    tls = ServerTls(folder / "as-ca.pem", folder / "as-cert.pem", folder / "as-key.pem")
    tls.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    tls.certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tls.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return tls


# --------------------------------------------------------------------------
# Signing keys


@dataclass(frozen=True)
class SigningKey:
    """One key of the server: its id, JWS algorithm and private key."""

    kid: str
    alg: str
    private: Any

    @classmethod
    def new(cls, alg: str = "RS256") -> SigningKey:
        private: Any
        if alg.startswith(("RS", "PS")):
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif alg == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        elif alg == "ES384":
            private = ec.generate_private_key(ec.SECP384R1())
        elif alg == "EdDSA":
            private = ed25519.Ed25519PrivateKey.generate()
        else:
            raise ValueError(f"no key for {alg}")
        return cls(f"key-{secrets.token_hex(4)}", alg, private)

    def jwk(self, *, with_alg: bool = True) -> dict[str, Any]:
        """The public key as a JWK (RFC 7517), made by PyJWT."""
        algorithm = jwt.get_algorithm_by_name(self.alg)
        data: dict[str, Any] = dict(algorithm.to_jwk(self.private.public_key(), as_dict=True))
        data.update(kid=self.kid, use="sig")
        if with_alg:
            data["alg"] = self.alg
        return data

    def public_pem(self) -> bytes:
        return bytes(
            self.private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(
            claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **(headers or {})}
        )


# --------------------------------------------------------------------------
# The server


class Issuer:
    """The authorization server's state: its URL, published keys, and requests seen.

    `app` is its ASGI application: ``/.well-known/oauth-authorization-server``
    (RFC 8414) and ``/.well-known/openid-configuration`` name the issuer and
    ``/jwks``; ``/jwks`` lists the published keys (`published`), as a test set
    them (`rotate`).
    """

    def __init__(self, alg: str = "RS256") -> None:
        self.alg = alg
        self.url = ""  # https://127.0.0.1:PORT once serving
        self.current = SigningKey.new(alg)
        self.published: list[SigningKey] = [self.current]
        self.requests: Counter[str] = Counter()
        self.metadata_paths = {
            "/.well-known/oauth-authorization-server",
            "/.well-known/openid-configuration",
        }

    def rotate(self, *, keep_old: bool = False) -> SigningKey:
        """A new current key; the old one stays published only with `keep_old`."""
        self.current = SigningKey.new(self.alg)
        self.published = [*self.published, self.current] if keep_old else [self.current]
        return self.current

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.jwk() for key in self.published]}

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/jwks",
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "scopes_supported": ["print", "print:admin"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        }

    def claims(self, audience: str | list[str], **claims: Any) -> dict[str, Any]:
        """A token's claims: iss, aud, sub alice, scope print, iat now, exp in 5
        minutes, and `claims` over them (a value None removes the claim)."""
        now = int(time.time())
        base: dict[str, Any] = {
            "iss": self.url,
            "aud": audience,
            "sub": "alice",
            "scope": "print",
            "iat": now,
            "exp": now + 300,
            "jti": secrets.token_hex(8),
        }
        base.update(claims)
        return {k: v for k, v in base.items() if v is not None}

    def token(
        self, audience: str | list[str], *, key: SigningKey | None = None, **claims: Any
    ) -> str:
        """A token signed with `key` (the current key by default)."""
        return (key or self.current).sign(self.claims(audience, **claims))

    async def app(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = scope["path"]
        self.requests[path] += 1
        if path in self.metadata_paths:
            status, body = 200, self.metadata()
        elif path == "/jwks":
            status, body = 200, self.jwks()
        else:
            status, body = 404, {"error": "not found"}
        data = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})


def hypercorn_config(tls: ServerTls) -> HypercornConfig:
    config = HypercornConfig()
    config.bind = ["127.0.0.1:0"]
    config.certfile = str(tls.certificate)
    config.keyfile = str(tls.key)
    config.accesslog = None
    config.graceful_timeout = 1.0
    return config


@contextlib.asynccontextmanager
async def serving(issuer: Issuer, tls: ServerTls) -> AsyncIterator[Issuer]:
    """Serve `issuer` over HTTPS on loopback in this trio run until the block ends."""
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(serve, issuer.app, hypercorn_config(tls))
        issuer.url = binds[0]
        try:
            yield issuer
        finally:
            nursery.cancel_scope.cancel()


@contextlib.contextmanager
def serving_in_thread(issuer: Issuer, tls: ServerTls) -> Iterator[Issuer]:
    """Serve `issuer` from a thread of its own (its own trio run), so tests that
    share one server across trio runs (a module fixture) can use it."""
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def main() -> None:
        async with serving(issuer, tls):
            state["token"] = trio.lowlevel.current_trio_token()
            stop = trio.Event()
            state["stop"] = stop
            ready.set()
            await stop.wait()

    def run() -> None:
        try:
            trio.run(main)
        except BaseException as exc:  # shown by the test that waited for it
            state["error"] = exc
            ready.set()

    thread = threading.Thread(target=run, name="test-authorization-server", daemon=True)
    thread.start()
    if not ready.wait(STARTUP) or "error" in state:
        raise RuntimeError(f"the test authorization server did not start: {state.get('error')}")
    try:
        yield issuer
    finally:
        state["token"].run_sync_soon(state["stop"].set)  # thread-safe, from any thread
        thread.join(STARTUP)


# --------------------------------------------------------------------------
# Tokens an attacker would try


def unsigned(claims: dict[str, Any], kid: str | None = None) -> str:
    """``alg: none`` (RFC 7519 section 6): no signature at all."""
    header: dict[str, Any] = {"alg": "none", "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(claims).encode())
    return f"{head}.{body}."


def hs256_with_public_key(key: SigningKey, claims: dict[str, Any]) -> str:
    """The key-confusion attack: HS256 "signed" with the server's public key
    (its PEM, which anyone can fetch) as the HMAC secret."""
    header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    mac = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def tampered_payload(token: str, **changes: Any) -> str:
    """`token` with claims changed after signing (the signature kept)."""
    head, body, signature = token.split(".")
    claims = json.loads(b64url_decode(body))
    claims.update(changes)
    return f"{head}.{b64url(json.dumps(claims).encode())}.{signature}"


def tampered_signature(token: str) -> str:
    """`token` with one bit of its signature flipped."""
    head, body, signature = token.split(".")
    raw = bytearray(b64url_decode(signature))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{body}.{b64url(bytes(raw))}"
