"""Benchmark: one large IPP Print-Job into a gateway subprocess.

Run from the repository root (not collected by pytest)::

    python tests/bench/bench_ipp_print_job.py               # 1 GiB, temp dir in /tmp
    python tests/bench/bench_ipp_print_job.py --size 4GiB --dir /var/tmp
    python tests/bench/bench_ipp_print_job.py --tls         # over ipps://

It starts ``python -m gateway serve`` with a fresh spool in a temporary folder
and a file-backend queue, then sends one Print-Job whose document (``--size``
bytes, generated on the fly, never stored by the client) follows the IPP
attributes in a chunked HTTP/1.1 body. The response comes only after the
document is fsync'ed and the job committed. It reports the throughput (MB/s,
from the first body byte to the response) and the gateway's peak RSS (VmHWM
from /proc/PID/status; target under 64 MiB), then checks the sha256 the file
backend's sidecar records. Needs about ``--size`` of free disk (checked
first); the temporary folder is deleted afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import socket
import ssl
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import size_argument, vm_hwm
from tests.gateway_process import GatewayProcess

TARGET_RSS = 64 * 1024 * 1024
CHUNK = 256 * 1024


def attribute(tag: int, name: str, value: bytes) -> bytes:
    raw = name.encode()
    return struct.pack(">BH", tag, len(raw)) + raw + struct.pack(">H", len(value)) + value


def print_job_header(uri: str) -> bytes:
    """A Print-Job request (IPP/2.0) up to end-of-attributes-tag."""
    return (
        struct.pack(">BBHi", 2, 0, 0x0002, 1)
        + b"\x01"
        + attribute(0x47, "attributes-charset", b"utf-8")
        + attribute(0x48, "attributes-natural-language", b"en")
        + attribute(0x45, "printer-uri", uri.encode())
        + attribute(0x42, "requesting-user-name", b"bench")
        + attribute(0x42, "job-name", b"1 GiB benchmark")
        + attribute(0x49, "document-format", b"application/octet-stream")
        + b"\x03"
    )


def document(size: int) -> Iterator[bytes]:
    """`size` bytes of varied data in CHUNK pieces, made on the fly."""
    block = hashlib.shake_256(b"lpd-ipp-gateway").digest(CHUNK)
    counter = 0
    sent = 0
    while sent < size:
        n = min(CHUNK, size - sent)
        piece = struct.pack(">Q", counter) + block[8:n] if n > 8 else block[:n]
        counter += 1
        sent += n
        yield piece


def run(size: int, folder: Path, tls: bool) -> int:
    spool, out = folder / "spool", folder / "out"
    config = folder / "gateway.toml"
    config.write_text(
        f'[gateway]\nspool_dir = "{spool}"\n[lpd]\nlisten = []\n'
        f'[ipp]\nlisten = ["127.0.0.1:0"]\ntls_listen = ["127.0.0.1:0"]\n'
        f'[queues.lp]\nbackend = "{out.as_uri()}"\n'
    )
    with GatewayProcess(["--config", str(config), "--log-level", "info"]) as gateway:
        gateway.ready()
        port = gateway.ports["IPPS" if tls else "IPP"][0]
        scheme = "ipps" if tls else "ipp"
        head = print_job_header(f"{scheme}://127.0.0.1:{port}/ipp/print")
        raw = socket.create_connection(("127.0.0.1", port))
        sock: socket.socket = raw
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(raw)
        sock.sendall(
            b"POST /ipp/print HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/ipp\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        digest = hashlib.sha256()
        start = time.monotonic()
        sock.sendall(b"%x\r\n%s\r\n" % (len(head), head))
        for piece in document(size):
            digest.update(piece)
            sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
        response = b""
        while b"\r\n\r\n" not in response:
            data = sock.recv(65536)
            if not data:
                raise SystemExit(f"connection closed; got {response!r}")
            response += data
        elapsed = time.monotonic() - start
        header, body = response.split(b"\r\n\r\n", 1)
        status_line = header.split(b"\r\n", 1)[0].decode()
        length = int(header.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        while len(body) < length:
            data = sock.recv(65536)
            if not data:
                break
            body += data
        ipp_status = struct.unpack(">H", body[2:4])[0]
        sock.close()
        match = gateway.wait_for(r"job (\d+) completed", timeout=120)
        job_id = int(match.group(1))
        peak = vm_hwm(gateway.proc.pid)
        sidecar = json.loads((out / f"job-{job_id}.json").read_text())
        stored = sidecar["documents"][0]
    ok = (
        status_line.split()[1:2] == ["200"]
        and ipp_status == 0
        and stored["size"] == size
        and stored["sha256"] == digest.hexdigest()
    )
    mb = size / 1e6
    print(f"transport:        {'ipps (TLS)' if tls else 'ipp'} HTTP/1.1 chunked")
    print(f"document:         {size} bytes ({size / 1024**3:.2f} GiB)")
    print(f"response:         {status_line}, IPP status 0x{ipp_status:04x}")
    print(f"time to response: {elapsed:.2f} s")
    print(f"throughput:       {mb / elapsed:.1f} MB/s")
    print(f"gateway peak RSS: {peak / 1024**2:.1f} MiB (VmHWM; target < 64 MiB)")
    print(f"stored document:  size and sha256 {'match' if ok else 'DO NOT MATCH'}")
    return 0 if ok and peak < TARGET_RSS else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--size", type=size_argument, default=1024**3, help="document size (1GiB)")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--tls", action="store_true", help="send over the ipps listener")
    args = parser.parse_args()
    free = shutil.disk_usage(args.dir).free
    if free < args.size + 256 * 1024**2:
        print(f"not enough free space in {args.dir}: {free} bytes", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="bench-ipp-", dir=args.dir))
    try:
        return run(args.size, folder, args.tls)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
