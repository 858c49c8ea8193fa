"""Benchmark: stream one large LPD job into a gateway subprocess.

Run from the repository root (not collected by pytest)::

    python tests/bench/bench_lpd_large.py                 # 5 GiB, temp dir in /tmp
    python tests/bench/bench_lpd_large.py --size 1GiB --dir /var/tmp

It starts ``python -m gateway serve`` with a fresh spool in a temporary
folder, sends one receive-job session (control file first, then one data
file of ``--size`` bytes generated on the fly, never stored by the client)
and waits for ack 2, which the gateway sends only after the bytes are
fsync'ed and the job is committed. It reports the throughput (MB/s, from
the data file's subcommand to ack 2) and the gateway's peak RSS (VmHWM from
/proc/PID/status). The job is then delivered by the file backend (a hard
link) and the sidecar's sha256 is checked against the client's. Needs
about ``--size`` of free disk (checked first); the temporary folder is
deleted afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import size_argument, vm_hwm

TARGET_RSS = 64 * 1024 * 1024
BLOCK = 1024 * 1024


class Log:
    """The gateway's stderr, read line by line as it comes."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        self.stream = proc.stderr
        self.lines: list[str] = []
        self._buffer = b""

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        regex = re.compile(pattern)
        seen = 0
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.stream, selectors.EVENT_READ)
            while True:
                for line in self.lines[seen:]:
                    match = regex.search(line)
                    if match:
                        return match
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no log line matching {pattern!r}")
                if not sel.select(left):
                    continue
                chunk = os.read(self.stream.fileno(), 65536)
                if not chunk:
                    raise RuntimeError("gateway exited:\n" + "\n".join(self.lines))
                self._buffer += chunk
                *complete, self._buffer = self._buffer.split(b"\n")
                self.lines += [c.decode(errors="replace") for c in complete]


def generate(block: bytes, size: int) -> Iterator[bytes]:
    """``size`` bytes: the random block again and again, each copy starting
    with its offset so that no two blocks are equal."""
    sent = 0
    while sent < size:
        n = min(len(block), size - sent)
        yield (sent.to_bytes(8, "little") + block[8:n]) if n >= 8 else block[:n]
        sent += n


def recv_ack(sock: socket.socket) -> int:
    data = sock.recv(1)
    if not data:
        raise RuntimeError("gateway closed instead of acknowledging")
    return data[0]


def sha256_rate() -> float:
    """MB/s of SHA-256 on one core: the spool hashes every byte it writes,
    so this bounds what one connection can reach."""
    block = os.urandom(BLOCK)
    digest = hashlib.sha256()
    start = time.perf_counter()
    for _ in range(256):
        digest.update(block)
    return 256 * BLOCK / (time.perf_counter() - start) / 1e6


def run(size: int, folder: Path) -> int:
    config = folder / "gateway.toml"
    config.write_text(
        f'[gateway]\nspool_dir = "{folder / "spool"}"\nlog_level = "info"\n'
        f'[lpd]\nlisten = ["127.0.0.1:0"]\njob_timeout = "2h"\n'
        f"[ipp]\nlisten = []\n"
        f'[queues.lp]\nbackend = "{(folder / "out").as_uri()}"\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        log = Log(proc)
        port = int(log.wait_for(r"listening for LPD on \S+:(\d+)$", 30).group(1))
        log.wait_for(r" INFO spool in ", 30)
        rss_idle = vm_hwm(proc.pid)

        block = os.urandom(BLOCK)
        digest = hashlib.sha256()
        cf = b"Hbench\nPbench\nJ5 GiB benchmark\nldfA001bench\nUdfA001bench\nNbig.bin\n"
        with socket.create_connection(("127.0.0.1", port), timeout=600) as sock:
            sock.sendall(b"\x02lp\n")
            assert recv_ack(sock) == 0
            sock.sendall(b"\x02%d cfA001bench\n" % len(cf))
            assert recv_ack(sock) == 0
            sock.sendall(cf + b"\0")
            assert recv_ack(sock) == 0
            start = time.monotonic()
            sock.sendall(b"\x03%d dfA001bench\n" % size)
            assert recv_ack(sock) == 0, "ack 1 refused (disk space?)"
            for chunk in generate(block, size):
                sock.sendall(chunk)
            sock.sendall(b"\0")
            ack = recv_ack(sock)
            elapsed = time.monotonic() - start
            assert ack == 0, f"ack 2 was {ack}"
        peak = vm_hwm(proc.pid)
        match = log.wait_for(r"job (\d+) completed", 600)
        for chunk in generate(block, size):  # after the timing: the client's digest
            digest.update(chunk)
        sidecar = json.loads((folder / "out" / f"job-{match.group(1)}.json").read_text())
        ok = sidecar["documents"][0]["sha256"] == digest.hexdigest()
        rate = size / elapsed / 1e6
        print(f"size            {size} bytes ({size / 1024**3:.2f} GiB)")
        print(f"time to ack 2   {elapsed:.1f} s")
        print(f"throughput      {rate:.0f} MB/s ({size / elapsed / 1024**2:.0f} MiB/s)")
        print(
            f"gateway VmHWM   {peak / 1024**2:.1f} MiB (idle {rss_idle / 1024**2:.1f} MiB; "
            f"target < {TARGET_RSS // 1024**2} MiB)"
        )
        print(f"sha256 check    {'ok' if ok else 'MISMATCH'}")
        print(f"SHA-256, 1 core {sha256_rate():.0f} MB/s (the spool hashes every byte: a ceiling)")
        print(
            f"load average    {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
            f"on {os.cpu_count()} CPUs"
        )
        return 0 if ok and peak < TARGET_RSS else 1
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=size_argument, default=5 * 1024**3)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    free = shutil.disk_usage(args.dir).free
    if free < args.size + 2 * 1024**3:
        print(f"not enough free space in {args.dir}: {free} bytes", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="bench-lpd-", dir=args.dir))
    try:
        return run(args.size, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
