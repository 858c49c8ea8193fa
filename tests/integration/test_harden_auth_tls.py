"""TLS for every listener: a warning for a plain listener beside ipp.client_ca,
ipp.require_tls, and refused handshakes in the log (once a minute per address)."""

from __future__ import annotations

import re
import socket
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from gateway import app, config, privileges
from gateway.app import Running, StartupError
from gateway.ipp import Operation, StatusCode
from tests.integration.test_ipp_auth import _ca_and_client
from tests.ipp_harness import post, printer_uri, request, running_gateway, tls_context, url
from tests.lpd_harness import STEP, LogWatch

REFUSED = "gateway_tls_handshakes_refused_total"
PLAIN_WARNING = r"ipp\.client_ca is set, but these plain listeners serve clients without"


def make_config(tmp_path: Path, ipp: dict[str, Any], **sections: Any) -> config.Config:
    return config.from_mapping(
        {
            "gateway": {"spool_dir": str(tmp_path / "spool")},
            "lpd": {"listen": []},
            "ipp": {"tls_listen": ["127.0.0.1:0"], **ipp},
            "queues": {"lp": {"backend": (tmp_path / "out").as_uri()}},
            **sections,
        }
    )


def refused_count(running: Running, listener: str) -> float:
    metrics = running.context.metrics
    assert metrics is not None
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if sample.name == REFUSED and sample.labels == {"listener": listener}:
                return sample.value
    return 0.0


async def tls_attempt(address: tuple[str, int], context: ssl.SSLContext) -> bytes:
    """Connect with TLS, ask for /metrics, read until the server closes: what came
    back (b"" when the server refused the handshake). The server has logged by then."""
    received = b""
    with trio.fail_after(STEP):
        tcp = await trio.open_tcp_stream(*address)
        stream = trio.SSLStream(tcp, context, server_hostname="localhost", https_compatible=True)
        try:
            await stream.send_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            while chunk := await stream.receive_some(65536):
                received += chunk
        except trio.BrokenResourceError:
            pass
        finally:
            await trio.aclose_forcefully(stream)
    return received


async def plain_attempt(address: tuple[str, int]) -> bytes:
    """Plain HTTP to `address`; what came back before the server closed."""
    with trio.fail_after(STEP):
        stream = await trio.open_tcp_stream(*address)
        await stream.send_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        received = b""
        try:
            while chunk := await stream.receive_some(65536):
                received += chunk
        except trio.BrokenResourceError:
            pass
        await stream.aclose()
    return received


async def test_a_plain_listener_beside_client_ca_is_named_at_start(tmp_path: Path) -> None:
    ca, _, _ = _ca_and_client(tmp_path)
    cfg = make_config(tmp_path, {"listen": ["127.0.0.1:0"], "client_ca": str(ca)})
    with LogWatch() as logs, trio.fail_after(60):
        async with running_gateway(cfg) as running:
            host, port = running.ipp[0]
    warnings = [line for line in logs.lines if re.search(PLAIN_WARNING, line)]
    assert len(warnings) == 1
    assert f"IPP on {host}:{port}" in warnings[0] and "ipp.require_tls" in warnings[0]
    # Without client_ca nothing is promised, so nothing is said.
    with LogWatch() as logs, trio.fail_after(60):
        async with running_gateway(make_config(tmp_path, {"listen": ["127.0.0.1:0"]})):
            pass
    assert not logs.find(PLAIN_WARNING)


async def test_require_tls_serves_every_listener_over_tls_with_the_certificate(
    tmp_path: Path,
) -> None:
    ca, cert, key = _ca_and_client(tmp_path)
    cfg = make_config(
        tmp_path,
        {"require_tls": True, "client_ca": str(ca)},
        metrics={"listen": ["127.0.0.1:0"]},
    )
    assert cfg.ipp.listen == ()  # the default *:631 is dropped
    with_cert = tls_context()
    with_cert.load_cert_chain(cert, key)
    with LogWatch() as logs, trio.fail_after(60):
        async with running_gateway(cfg) as running:
            assert running.ipp == [] and running.ipps and running.metrics
            uri = printer_uri(running, "/printers/lp", tls=True)
            async with httpx.AsyncClient(verify=with_cert) as http:
                ok = await post(
                    http,
                    url(running, "/printers/lp", tls=True),
                    request(Operation.GET_PRINTER_ATTRIBUTES, uri),
                )
                assert ok.status == StatusCode.SUCCESSFUL_OK
            # The metrics listener too: TLS, and the client certificate.
            answer = await tls_attempt(running.metrics[0], with_cert)
            assert answer.startswith(b"HTTP/1.1 200")
            assert b"gateway_jobs_received_total" in answer
            assert await tls_attempt(running.metrics[0], tls_context()) == b""
            assert not (await plain_attempt(running.metrics[0])).startswith(b"HTTP/1.1 200")
            assert refused_count(running, "metrics") == 2
    assert not logs.find(PLAIN_WARNING)
    assert logs.find(r"^metrics 127\.0\.0\.1:\d+: TLS handshake refused: no client certificate")


def test_require_tls_refuses_a_plain_listener_at_config_check(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError) as info:
        make_config(tmp_path, {"require_tls": True, "listen": ["127.0.0.1:0"]})
    assert str(info.value).startswith("<config>: ipp.listen: must be empty when ipp.require_tls")
    with pytest.raises(config.ConfigError, match=r"ipp\.tls_listen: needed when ipp\.require"):
        make_config(tmp_path, {"require_tls": True, "tls_listen": []})
    cfg = make_config(tmp_path, {"require_tls": True})
    with pytest.raises(config.ConfigError, match=r"^--ipp-listen: not allowed: .*require_tls"):
        config.apply_overrides(cfg, ipp_listen=[config.parse_listen("127.0.0.1:0")])


async def test_require_tls_refuses_a_plain_socket_from_systemd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = socket.socket()
    plain.bind(("127.0.0.1", 0))
    plain.listen()
    monkeypatch.setattr(privileges, "inherited_sockets", lambda: {"ipp": [plain]})
    try:
        with trio.fail_after(STEP), pytest.raises(StartupError, match=r"ipp\.require_tls is true"):
            await app.run(make_config(tmp_path, {"require_tls": True}), handle_signals=False)
    finally:
        plain.close()


async def test_refused_handshakes_one_line_a_minute_per_address(tmp_path: Path) -> None:
    ca, cert, key = _ca_and_client(tmp_path)
    cfg = make_config(tmp_path, {"listen": [], "client_ca": str(ca)})
    with LogWatch() as logs, trio.fail_after(60):
        async with running_gateway(cfg) as running:
            for _ in range(4):
                assert await tls_attempt(running.ipps[0], tls_context()) == b""
            await plain_attempt(running.ipps[0])  # counted, not logged again
            assert refused_count(running, "ipps") == 5
            with_cert = tls_context()
            with_cert.load_cert_chain(cert, key)
            answer = await tls_attempt(running.ipps[0], with_cert)
            assert answer.startswith(b"HTTP/1.1 200")
            assert refused_count(running, "ipps") == 5
    refused = [line for line in logs.lines if "TLS handshake refused" in line]
    assert len(refused) == 1, refused
    assert re.match(
        r"ipps 127\.0\.0\.1:\d+: TLS handshake refused: no client certificate", refused[0]
    )


async def test_plain_http_to_the_tls_port_is_said_so(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, {"listen": []})
    with LogWatch() as logs, trio.fail_after(60):
        async with running_gateway(cfg) as running:
            await plain_attempt(running.ipps[0])
            assert refused_count(running, "ipps") == 1
    assert logs.find(r"^ipps 127\.0\.0\.1:\d+: TLS handshake refused: plain HTTP sent to the TLS")
