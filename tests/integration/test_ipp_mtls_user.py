"""Mutual TLS names the user: the verified client certificate's subject
(``oauth.client_certificate_user``: cn, email, off) is the user of a request
that brings no password or token, whatever requesting-user-name claims.

Certificates are real, made by the test: `_ca_and_client` of test_ipp_auth
(CN=alice) and `client_certificates` here (other names, an e-mail address).
"""

from __future__ import annotations

import datetime
import gc
import ssl
from pathlib import Path
from typing import Any

import httpx
import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway import config
from gateway.app import Running
from gateway.ipp import DelimiterTag, Operation, StatusCode, ValueTag, decode, encode
from gateway.ipp.server.auth import set_password
from gateway.ipp.server.tls import ClientCertificates, HandshakeRefusals, certificate_user
from tests.integration.test_ipp_auth import _ca_and_client
from tests.ipp_harness import (
    post,
    printer_uri,
    request,
    running_gateway,
    tls_context,
    url,
)
from tests.oauth_server import make_server_tls


def client_certificates(
    folder: Path, subjects: dict[str, tuple[str, str | None]]
) -> tuple[Path, dict[str, tuple[Path, Path]]]:
    """A CA and, per entry ``label: (common name, e-mail address or None)``, a
    client certificate it signed (the address in subjectAltName); PEM files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test client CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    ca_path = folder / "client-ca.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    made: dict[str, tuple[Path, Path]] = {}
    for label, (cn, email) in subjects.items():
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        if email is not None:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        cert_path, key_path = folder / f"{label}-cert.pem", folder / f"{label}-key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        made[label] = (cert_path, key_path)
    return ca_path, made


def mtls_config(tmp_path: Path, ca: Path, **oauth: Any) -> config.Config:
    """ipps only, mutual TLS with `ca`, auth = "jobs" with bob's password, and
    the [oauth] settings `oauth` (client_certificate_user)."""
    out = tmp_path / "out"
    out.mkdir(parents=True, exist_ok=True)
    passwd = tmp_path / "passwd"
    set_password(passwd, "bob", "builder")
    return config.from_mapping(
        {
            "gateway": {"spool_dir": str(tmp_path / "spool")},
            "lpd": {"listen": []},
            "ipp": {
                "listen": [],
                "tls_listen": ["127.0.0.1:0"],
                "auth": "jobs",
                "password_file": str(passwd),
                "client_ca": str(ca),
            },
            "oauth": oauth,
            # Stopped, so jobs stay pending.
            "queues": {"lp": {"backend": out.as_uri(), "enabled": False}},
        }
    )


def client(cert: Path, key: Path, auth: tuple[str, str] | None = None) -> httpx.AsyncClient:
    context = tls_context()
    context.load_cert_chain(cert, key)
    return httpx.AsyncClient(verify=context, auth=auth)


async def print_as(running: Running, http: httpx.AsyncClient, claimed: str) -> httpx.Response:
    uri = printer_uri(running, "/printers/lp", tls=True)
    message = request(Operation.PRINT_JOB, uri, user=claimed)
    message.operation.add("document-format", ValueTag.MIME_MEDIA_TYPE, "text/plain")
    return await http.post(
        url(running, "/printers/lp", tls=True),
        content=encode(message) + b"from a certificate\n",
        headers={"Content-Type": "application/ipp"},
    )


async def job_user(running: Running, http: httpx.AsyncClient, response: httpx.Response) -> str:
    """job-originating-user-name of the job `response` created, as Get-Job-Attributes says."""
    assert response.status_code == 200, response.text
    created, _ = decode(response.content)
    assert created.operation_id_or_status == StatusCode.SUCCESSFUL_OK
    attributes = created.group(DelimiterTag.JOB_ATTRIBUTES)
    assert attributes is not None
    job_id = attributes.value("job-id")
    assert isinstance(job_id, int)
    uri = printer_uri(running, "/printers/lp", tls=True)
    get = request(Operation.GET_JOB_ATTRIBUTES, uri, user="mallory")
    get.operation.add("job-id", ValueTag.INTEGER, job_id)
    answer = await post(http, url(running, "/printers/lp", tls=True), get)
    job = running.context.spool.get(job_id)
    assert job is not None and job.origin.authenticated
    assert job.user == answer.job.value("job-originating-user-name")
    return str(job.user)


async def test_a_certificate_with_cn_alice_prints_as_alice(tmp_path: Path) -> None:
    ca, cert, key = _ca_and_client(tmp_path)  # CN=alice
    with trio.fail_after(60):
        async with running_gateway(mtls_config(tmp_path / "gw", ca)) as running:
            async with client(cert, key) as alice:
                # No password under auth = "jobs": the certificate is the user,
                # and requesting-user-name cannot say otherwise.
                answer = await print_as(running, alice, "mallory")
                assert await job_user(running, alice, answer) == "alice"
            # A password wins over the certificate (the first credential decides).
            async with client(cert, key, auth=("bob", "builder")) as bob:
                assert await job_user(running, bob, await print_as(running, bob, "alice")) == "bob"
            async with client(cert, key, auth=("bob", "wrong")) as wrong:
                assert (await print_as(running, wrong, "alice")).status_code == 401


async def test_email_and_off(tmp_path: Path) -> None:
    ca, certs = client_certificates(
        tmp_path / "certs",
        {"dave": ("Dave the Printer Admin", "dave@example.org"), "nomail": ("erin", None)},
    )
    with trio.fail_after(60):
        cfg = mtls_config(tmp_path / "email", ca, client_certificate_user="email")
        async with running_gateway(cfg) as running:
            async with client(*certs["dave"]) as dave:
                answer = await print_as(running, dave, "mallory")
                assert await job_user(running, dave, answer) == "dave@example.org"
            async with client(*certs["nomail"]) as erin:
                # No address in the certificate: no user, so a job needs a password.
                assert (await print_as(running, erin, "erin")).status_code == 401
        cfg = mtls_config(tmp_path / "off", ca, client_certificate_user="off")
        async with running_gateway(cfg) as running, client(*certs["dave"]) as dave:
            assert (await print_as(running, dave, "dave")).status_code == 401


def test_certificate_user_reads_cn_or_email(tmp_path: Path) -> None:
    _, certs = client_certificates(
        tmp_path, {"a": ("  alice\x07  ", "alice@example.org"), "b": ("bob", None)}
    )
    a = x509.load_pem_x509_certificate(certs["a"][0].read_bytes())
    b = x509.load_pem_x509_certificate(certs["b"][0].read_bytes())
    assert certificate_user(a, "cn") == "alice"  # cleaned like any user name
    assert certificate_user(a, "email") == "alice@example.org"
    assert certificate_user(a, "off") is None
    assert certificate_user(b, "cn") == "bob"
    assert certificate_user(b, "email") is None


async def test_a_connections_certificate_is_kept_while_it_is_open(tmp_path: Path) -> None:
    """The handshake records the verified certificate under the connection's two
    addresses (what the ASGI scope says); it goes when the connection's stream does."""
    ca, certs = client_certificates(tmp_path, {"alice": ("alice", None)})
    pair = make_server_tls(tmp_path / "server")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(pair.certificate, pair.key)
    server_context.load_verify_locations(ca)
    server_context.verify_mode = ssl.CERT_REQUIRED
    client_context = ssl.create_default_context(cafile=str(pair.ca))
    client_context.load_cert_chain(*certs["alice"])
    kept = ClientCertificates()
    refusals = HandshakeRefusals("ipps", 5.0, certificates=kept)
    with trio.fail_after(10):
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            client_stream = trio.SSLStream(
                await trio.open_tcp_stream("127.0.0.1", port),
                client_context,
                server_hostname="localhost",
            )
            nursery.start_soon(client_stream.do_handshake)
            accepted = await listeners[0].accept()
            server_stream = trio.SSLStream(accepted, server_context, server_side=True)
            peer = accepted.socket.getpeername()
            local = accepted.socket.getsockname()
            assert await refusals.handshake(server_stream, peer)
        found = kept.lookup(list(peer), local)  # the scope may hold lists
        assert found is not None and certificate_user(found, "cn") == "alice"
        assert kept.lookup(peer, ("127.0.0.1", port + 1)) is None
        await client_stream.aclose()
        await server_stream.aclose()
        await listeners[0].aclose()
    del server_stream, accepted
    gc.collect()
    assert kept.lookup(peer, local) is None and len(kept) == 0
