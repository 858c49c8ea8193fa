"""Benchmark: LPD ingest with the SQLite store vs the PostgreSQL store (one gateway).

Run from the repository root (not collected by pytest)::

    python tests/bench/bench_store_ingest.py                  # both stores
    python tests/bench/bench_store_ingest.py --small 400 --large 10 --clients 8

For each store it starts ``python -m gateway serve`` (SQLite: a fresh spool
folder; PostgreSQL: a private server from tests/pgcluster.py and a fresh
database, ``--store``), then sends receive-job sessions over loopback and
counts a job when ack 2 of its data file arrives (sent only after the files
are fsync'ed and the transaction is committed): ``--small`` jobs of 1 KiB
from ``--clients`` concurrent clients (jobs/s), then ``--large`` jobs of
10 MiB one after the other (MB/s).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.gateway_process import GatewayProcess
from tests.pgcluster import PgCluster

MiB = 1024 * 1024


def _ack(sock: socket.socket) -> None:
    if sock.recv(1) != b"\0":
        raise RuntimeError("NAK")


def send_job(port: int, number: int, data: bytes) -> None:
    """One receive-job session: control file, then the data file (ack 2 = committed)."""
    name = f"{number % 1000:03d}bench"
    control = f"Hbench\nPbench\nldfA{name}\nNbench\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(b"\x02lp\n")
        _ack(sock)
        sock.sendall(f"\x02{len(control)} cfA{name}\n".encode())
        _ack(sock)
        sock.sendall(control + b"\0")
        _ack(sock)
        sock.sendall(f"\x03{len(data)} dfA{name}\n".encode())
        _ack(sock)
        view = memoryview(data)
        for at in range(0, len(data), 256 * 1024):
            sock.sendall(view[at : at + 256 * 1024])
        sock.sendall(b"\0")
        _ack(sock)


def run(store: str | None, spool: Path, small: int, large: int, clients: int) -> dict[str, float]:
    args = ["--spool-dir", str(spool), "--lpd-listen", "127.0.0.1:0", "--ipp-listen", "127.0.0.1:0"]
    args += ["--queue", f"lp=file://{spool / 'out'}"]
    if store:
        args += ["--store", store]
    os.environ["GATEWAY_TEST_STORE"] = "sqlite"  # the bench chooses the store itself
    gw = GatewayProcess(args)
    try:
        gw.ready(timeout=60)
        gw.wait_for("listening for LPD", timeout=60)
        port = gw.ports["LPD"][0]
        stderr = gw.proc.stderr
        assert stderr is not None
        threading.Thread(
            target=lambda: [None for _ in iter(lambda: stderr.read(65536), b"")], daemon=True
        ).start()  # keep the log pipe drained
        payload = os.urandom(1024)
        counter = iter(range(small))
        lock = threading.Lock()

        def client() -> None:
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                send_job(port, n, payload)

        start = time.monotonic()
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        small_rate = small / (time.monotonic() - start)
        big = os.urandom(10 * MiB)
        start = time.monotonic()
        for n in range(large):
            send_job(port, 500 + n, big)
        large_rate = large * 10 * MiB / 1e6 / (time.monotonic() - start)
        return {"small_jobs_per_s": small_rate, "large_mb_per_s": large_rate}
    finally:
        gw.proc.terminate()
        gw.proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=400)
    parser.add_argument("--large", type=int, default=10)
    parser.add_argument("--clients", type=int, default=8)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sqlite = run(None, root / "sqlite", opts.small, opts.large, opts.clients)
        cluster = PgCluster.start()
        try:
            dsn = cluster.create_database()
            pg = run(dsn, root / "pg", opts.small, opts.large, opts.clients)
        finally:
            cluster.stop()
    print(f"{'store':<12}{'1 KiB jobs/s':>16}{'10 MiB jobs MB/s':>20}")
    for name, result in (("sqlite", sqlite), ("postgresql", pg)):
        print(f"{name:<12}{result['small_jobs_per_s']:>16.1f}{result['large_mb_per_s']:>20.1f}")


if __name__ == "__main__":
    main()
