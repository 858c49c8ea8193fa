"""The machine's own limits, measured in the same run as the scenarios.

- loopback TCP: one connection over 127.0.0.1, a sender thread and a
  receiver thread, 256 KiB writes (MB/s, 10^6 bytes);
- sequential write with fsync: one file in the work folder (the same file
  system as every spool), 1 MiB writes, one fsync at the end (MB/s);
- small files: 1 KiB files each created, written, fsync'ed and closed, in
  one folder, one after the other (files/s). This is the floor under any
  server that makes a job durable before it answers.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

from tests.bench.common import MiB


def loopback_mbps(total: int) -> float:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    received = 0

    def receive() -> None:
        nonlocal received
        conn, _ = listener.accept()
        with conn:
            while True:
                data = conn.recv(1 << 20)
                if not data:
                    return
                received += len(data)

    thread = threading.Thread(target=receive)
    thread.start()
    block = b"x" * (256 * 1024)
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sent = 0
        while sent < total:
            sock.sendall(block)
            sent += len(block)
    thread.join()
    elapsed = time.perf_counter() - start
    listener.close()
    return received / elapsed / 1e6


def fsync_write_mbps(folder: Path, total: int) -> float:
    path = folder / "machine-seqwrite.bin"
    block = os.urandom(MiB)
    start = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        written = 0
        while written < total:
            written += os.write(fd, block)
        os.fsync(fd)
    finally:
        os.close(fd)
    elapsed = time.perf_counter() - start
    path.unlink()
    return written / elapsed / 1e6


def small_files_per_s(folder: Path, count: int) -> float:
    where = folder / "machine-small"
    where.mkdir()
    data = b"x" * 1024
    start = time.perf_counter()
    for i in range(count):
        fd = os.open(where / f"f{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
    elapsed = time.perf_counter() - start
    for i in range(count):
        (where / f"f{i}").unlink()
    where.rmdir()
    return count / elapsed
