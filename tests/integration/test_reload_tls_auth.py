"""Reload of what takes effect for new connections: a new certificate for ipps, a
new password file, a new operator list; an open TLS connection keeps its session."""

from __future__ import annotations

import dataclasses
import ssl
from pathlib import Path

import httpx
import trio

from gateway.config import Config
from gateway.ipp import Operation, StatusCode, ValueTag, encode
from gateway.ipp.server.auth import set_password
from gateway.ipp.server.tls import self_signed, write_private
from tests.ipp_harness import gateway_config, post, printer_uri, request, url
from tests.unit.test_reload import Gateway


def pair(folder: Path, name: str) -> tuple[Path, Path, bytes]:
    """A self-signed certificate and key in `folder`; the certificate's PEM."""
    cert_pem, key_pem = self_signed(f"{name}.example")
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    write_private(key, key_pem)
    write_private(cert, cert_pem, mode=0o644)
    return cert, key, cert_pem


def served_certificate(port: int) -> bytes:
    """The PEM of the certificate a new TLS connection to the gateway gets."""
    return ssl.get_server_certificate(("127.0.0.1", port)).encode()


def print_job(uri: str, user: str) -> bytes:
    message = request(Operation.PRINT_JOB, uri, user=user)
    message.operation.add("document-format", ValueTag.MIME_MEDIA_TYPE, "text/plain")
    return encode(message) + b"reload\n"


def trusting(*pems: bytes) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata="".join(p.decode() for p in pems))
    context.check_hostname = False
    return context


async def test_reload_takes_a_new_certificate_and_password_file_for_new_connections(
    tmp_path: Path,
) -> None:
    first_cert, first_key, first_pem = pair(tmp_path, "first")
    second_cert, second_key, second_pem = pair(tmp_path, "second")
    old_passwords, new_passwords = tmp_path / "passwd-old", tmp_path / "passwd-new"
    set_password(old_passwords, "alice", "old secret")
    set_password(new_passwords, "alice", "new secret")
    ipp = {
        "auth": "jobs",
        "password_file": str(old_passwords),
        "certificate": str(first_cert),
        "private_key": str(first_key),
    }
    first: Config = gateway_config(tmp_path, ipp=ipp)
    second = dataclasses.replace(
        first,
        ipp=dataclasses.replace(
            first.ipp,
            certificate=second_cert,
            private_key=second_key,
            password_file=new_passwords,
        ),
    )
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            gw = Gateway(first)
            running = await gw.start(nursery, first)
            port = running.ipps[0][1]
            uri = printer_uri(running, "/printers/lp", tls=True)
            target = url(running, "/printers/lp", tls=True)
            assert await trio.to_thread.run_sync(served_certificate, port) == first_pem
            # A connection opened before the reload, kept open across it.
            kept = httpx.AsyncClient(verify=trusting(first_pem), auth=("alice", "old secret"))
            async with kept:
                answer = await post(kept, target, print_job(uri, "alice"))
                assert answer.status == StatusCode.SUCCESSFUL_OK
                assert await gw.reload(second)
                assert await trio.to_thread.run_sync(served_certificate, port) == second_pem
                # The open connection keeps its TLS session; the password file is
                # the new one for every request from now on.
                refused = await kept.post(
                    target,
                    content=print_job(uri, "alice"),
                    headers={"content-type": "application/ipp"},
                )
                assert refused.status_code == 401
            fresh = httpx.AsyncClient(verify=trusting(second_pem), auth=("alice", "new secret"))
            async with fresh:
                answer = await post(fresh, target, print_job(uri, "alice"))
                assert answer.status == StatusCode.SUCCESSFUL_OK
            nursery.cancel_scope.cancel()
