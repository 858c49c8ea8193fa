"""IPP Basic authentication over TLS, ownership, privacy and mutual TLS."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import httpx
import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.ipp import Operation, StatusCode, ValueTag, encode
from gateway.ipp.server.auth import set_password
from tests.ipp_harness import (
    gateway_config,
    post,
    printer_uri,
    request,
    running_gateway,
    tls_context,
    url,
)


def auth_config(tmp_path: Path, **ipp: object) -> object:
    passwd = tmp_path / "passwd"
    for user, password in (("alice", "wonderland"), ("bob", "builder"), ("carol", "admin")):
        set_password(passwd, user, password)
    out = tmp_path / "out"
    return gateway_config(
        tmp_path,
        ipp={"auth": "jobs", "password_file": str(passwd), "operators": ["carol"], **ipp},
        # Stopped, so jobs stay pending and can be canceled.
        queues={"lp": {"backend": out.as_uri(), "enabled": False}},
    )


def print_job(uri: str, *, user: str = "mallory") -> bytes:
    message = request(Operation.PRINT_JOB, uri, user=user)
    message.operation.add("job-name", ValueTag.NAME, "secret plans")
    message.operation.add("document-format", ValueTag.MIME_MEDIA_TYPE, "text/plain")
    return encode(message) + b"top secret\n"


async def test_basic_auth_over_tls(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with running_gateway(auth_config(tmp_path)) as running:  # type: ignore[arg-type]
            uri = printer_uri(running, "/printers/lp", tls=True)
            target = url(running, "/printers/lp", tls=True)
            anonymous = httpx.AsyncClient(verify=tls_context())
            alice = httpx.AsyncClient(verify=tls_context(), auth=("alice", "wonderland"))
            bob = httpx.AsyncClient(verify=tls_context(), auth=("bob", "builder"))
            carol = httpx.AsyncClient(verify=tls_context(), auth=("carol", "admin"))
            async with anonymous, alice, bob, carol:
                # Printer attributes stay public under auth = "jobs".
                gpa = await post(anonymous, target, request(Operation.GET_PRINTER_ATTRIBUTES, uri))
                assert gpa.status == StatusCode.SUCCESSFUL_OK
                assert "basic" in gpa.printer.values("uri-authentication-supported")
                # A job needs a user: 401 with a Basic challenge, also for a wrong password.
                for client in (
                    anonymous,
                    httpx.AsyncClient(verify=tls_context(), auth=("alice", "wrong")),
                ):
                    answer = await client.post(
                        target, content=print_job(uri), headers={"Content-Type": "application/ipp"}
                    )
                    assert answer.status_code == 401
                    assert answer.headers["www-authenticate"].startswith("Basic realm=")
                # The authenticated user owns the job, whatever requesting-user-name says.
                created = await alice.post(
                    target,
                    content=print_job(uri, user="mallory"),
                    headers={"Content-Type": "application/ipp"},
                )
                assert created.status_code == 200
                job_id = running.context.spool.jobs().__next__().id
                job = running.context.spool.get(job_id)
                assert job is not None and job.user == "alice"
                # Bob sees that the job exists, not what it is, and may not cancel it.
                get = request(Operation.GET_JOB_ATTRIBUTES, uri, user="bob")
                get.operation.add("job-id", ValueTag.INTEGER, job_id)
                seen = await post(bob, target, get)
                assert seen.job.value("job-id") == job_id
                assert seen.job.get("job-name") is None
                assert seen.job.get("job-originating-user-name") is None
                cancel = request(Operation.CANCEL_JOB, uri, user="bob")
                cancel.operation.add("job-id", ValueTag.INTEGER, job_id)
                refused = await post(bob, target, cancel)
                assert refused.status == StatusCode.CLIENT_ERROR_NOT_AUTHORIZED
                # Alice sees everything; carol, an operator, may cancel it.
                mine = await post(alice, target, get)
                assert mine.job.value("job-name") == "secret plans"
                assert mine.job.value("job-originating-user-name") == "alice"
                done = await post(carol, target, cancel)
                assert done.status == StatusCode.SUCCESSFUL_OK


async def test_plain_listener_never_asks_for_a_password(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with running_gateway(auth_config(tmp_path)) as running:  # type: ignore[arg-type]
            uri = printer_uri(running, "/printers/lp")
            async with httpx.AsyncClient(auth=("alice", "wonderland")) as client:
                answer = await client.post(
                    url(running, "/printers/lp"),
                    content=print_job(uri),
                    headers={"Content-Type": "application/ipp"},
                )
    assert answer.status_code == 200  # no 401 challenge in clear text
    from gateway.ipp import decode

    message, _ = decode(answer.content)
    assert message.operation_id_or_status == StatusCode.CLIENT_ERROR_NOT_AUTHENTICATED
    assert running.context.spool.get(1) is None


def _ca_and_client(tmp_path: Path) -> tuple[Path, Path, Path]:
    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("test CA"))
        .issuer_name(name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("alice"))
        .issuer_name(name("test CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = tmp_path / "ca.pem", tmp_path / "c.pem", tmp_path / "k.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


async def test_mutual_tls_admits_only_clients_with_a_certificate(tmp_path: Path) -> None:
    ca, cert, key = _ca_and_client(tmp_path)
    cfg = gateway_config(tmp_path, ipp={"client_ca": str(ca)})
    with trio.fail_after(60):
        async with running_gateway(cfg) as running:
            uri = printer_uri(running, "/printers/lp", tls=True)
            target = url(running, "/printers/lp", tls=True)
            with_cert = tls_context()
            with_cert.load_cert_chain(cert, key)
            async with httpx.AsyncClient(verify=with_cert) as client:
                ok = await post(client, target, request(Operation.GET_PRINTER_ATTRIBUTES, uri))
                assert ok.status == StatusCode.SUCCESSFUL_OK
            async with httpx.AsyncClient(verify=tls_context()) as client:
                with pytest.raises(
                    (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError, ssl.SSLError)
                ):
                    await client.post(
                        target,
                        content=encode(request(Operation.GET_PRINTER_ATTRIBUTES, uri)),
                        headers={"Content-Type": "application/ipp"},
                    )


async def test_per_queue_policy(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    set_password(passwd, "alice", "wonderland")
    out = tmp_path / "out"
    cfg = gateway_config(
        tmp_path,
        ipp={"password_file": str(passwd)},
        queues={
            "lp": {"backend": out.as_uri()},
            "private": {"backend": out.as_uri(), "auth": "all"},
        },
    )
    with trio.fail_after(60):
        async with (
            running_gateway(cfg) as running,
            httpx.AsyncClient(verify=tls_context()) as client,
        ):
            public = printer_uri(running, "/printers/lp", tls=True)
            answer = await post(
                client,
                url(running, "/printers/lp", tls=True),
                request(Operation.GET_PRINTER_ATTRIBUTES, public),
            )
            assert answer.status == StatusCode.SUCCESSFUL_OK
            assert answer.printer.values("uri-authentication-supported") == [
                "requesting-user-name",
                "requesting-user-name",
            ]
            private = printer_uri(running, "/printers/private", tls=True)
            refused = await client.post(
                url(running, "/printers/private", tls=True),
                content=encode(request(Operation.GET_PRINTER_ATTRIBUTES, private)),
                headers={"Content-Type": "application/ipp"},
            )
            assert refused.status_code == 401
