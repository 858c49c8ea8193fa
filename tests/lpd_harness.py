"""Helpers for LPD front-end tests: a gateway in-process, a raw LPD client,
and readers for what the file backend wrote.

Rules (tests/conftest.py): loopback only, port 0, a deadline on every I/O
step, no sleeps as synchronisation. Completion is awaited through the
spool's change listener (`tests.helpers.wait_for_state`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from gateway import app, config
from gateway.core.job import Job, JobState
from gateway.core.spool import Spool
from tests.helpers import wait_for_state

#: Deadline for one network step in these tests.
STEP = 10.0


def make_config(
    tmp: Path,
    *,
    lpd: Mapping[str, Any] | None = None,
    queues: Mapping[str, Any] | None = None,
    limits: Mapping[str, Any] | None = None,
    gateway: Mapping[str, Any] | None = None,
) -> config.Config:
    """A gateway with LPD on 127.0.0.1:0, no IPP, queue ``lp`` -> tmp/out."""
    data: dict[str, Any] = {
        "gateway": {"spool_dir": str(tmp / "spool"), **(gateway or {})},
        "lpd": {"listen": ["127.0.0.1:0"], **(lpd or {})},
        "ipp": {"listen": []},
        "queues": dict(queues)
        if queues is not None
        else {"lp": {"backend": (tmp / "out").as_uri()}},
    }
    if limits:
        data["limits"] = dict(limits)
    return config.from_mapping(data)


async def start_gateway(nursery: trio.Nursery, cfg: config.Config) -> app.Running:
    """Start the gateway in ``nursery``; returns once it accepts connections."""
    with trio.fail_after(STEP):
        running: app.Running = await nursery.start(
            functools.partial(app.run, cfg, handle_signals=False)
        )
    return running


@dataclass
class Gateway:
    """A started gateway: its LPD address, spool and file-backend folder."""

    running: app.Running
    out: Path

    @property
    def host(self) -> str:
        return self.running.lpd[0][0]

    @property
    def port(self) -> int:
        return self.running.lpd[0][1]

    @property
    def spool(self) -> Spool:
        return self.running.context.spool

    def jobs(self) -> list[Job]:
        return list(self.spool.jobs())

    async def completed(self, job_id: int) -> dict[str, Any]:
        """Wait until the job is delivered; return its sidecar JSON."""
        with trio.fail_after(STEP):
            await wait_for_state(self.spool, job_id, JobState.COMPLETED)
        return sidecar(self.out, job_id)

    async def connect(self) -> RawClient:
        with trio.fail_after(STEP):
            stream = await trio.open_tcp_stream(self.host, self.port)
        return RawClient(stream)


async def gateway(nursery: trio.Nursery, tmp: Path, **kwargs: Any) -> Gateway:
    """Start a gateway (see `make_config` for the keyword arguments)."""
    cfg = make_config(tmp, **kwargs)
    running = await start_gateway(nursery, cfg)
    return Gateway(running, tmp / "out")


def sidecar(out: Path, job_id: int) -> dict[str, Any]:
    """The file backend's ``job-<id>.json``."""
    data: dict[str, Any] = json.loads((out / f"job-{job_id}.json").read_text("utf-8"))
    return data


def document_bytes(out: Path, entry: Mapping[str, Any]) -> bytes:
    """The bytes of one document listed in a sidecar."""
    return (out / str(entry["file"])).read_bytes()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class RawClient:
    """A byte-level LPD client with a deadline on every step."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self._buffer = bytearray()

    async def send(self, data: bytes) -> None:
        with trio.fail_after(STEP):
            await self.stream.send_all(data)

    async def send_eof(self) -> None:
        with trio.fail_after(STEP):
            await self.stream.send_eof()

    async def read(self, n: int = 1) -> bytes:
        """Exactly ``n`` bytes, or fewer if the server closes first."""
        with trio.fail_after(STEP):
            while len(self._buffer) < n:
                chunk = await self.stream.receive_some(65536)
                if not chunk:
                    break
                self._buffer += chunk
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        return out

    async def read_line(self) -> bytes:
        """Bytes up to and including the next LF (or until the server closes)."""
        with trio.fail_after(STEP):
            while b"\n" not in self._buffer:
                chunk = await self.stream.receive_some(65536)
                if not chunk:
                    break
                self._buffer += chunk
        end = self._buffer.find(b"\n") + 1 or len(self._buffer)
        out = bytes(self._buffer[:end])
        del self._buffer[:end]
        return out

    async def ack(self) -> int | None:
        """One ack byte (``None`` if the server closed instead)."""
        data = await self.read(1)
        return data[0] if data else None

    async def read_all(self) -> bytes:
        """Everything until the server closes."""
        with trio.fail_after(STEP):
            while True:
                chunk = await self.stream.receive_some(65536)
                if not chunk:
                    break
                self._buffer += chunk
        out = bytes(self._buffer)
        self._buffer.clear()
        return out

    async def closed(self) -> bool:
        """Whether the server closes (EOF with nothing more to read)."""
        return await self.read_all() == b""

    async def aclose(self) -> None:
        await self.stream.aclose()

    # ---- RFC 1179 building blocks ----

    async def control_file(self, name: str, data: bytes) -> tuple[int | None, int | None]:
        """``\\2 len name``, the bytes and NUL; (ack 1, ack 2)."""
        await self.send(b"\x02%d %s\n" % (len(data), name.encode()))
        first = await self.ack()
        if first != 0:
            return first, None
        await self.send(data + b"\0")
        return first, await self.ack()

    async def data_file(self, name: str, data: bytes) -> tuple[int | None, int | None]:
        """``\\3 len name``, the bytes and NUL; (ack 1, ack 2)."""
        await self.send(b"\x03%d %s\n" % (len(data), name.encode()))
        first = await self.ack()
        if first != 0:
            return first, None
        await self.send(data + b"\0")
        return first, await self.ack()


def control(
    *,
    host: str = "client",
    user: str = "alice",
    job: str | None = "report",
    banner: bool = False,
    files: tuple[tuple[str, str, str | None], ...] = (("f", "dfA042client", "report.txt"),),
    extra: bytes = b"",
) -> bytes:
    """A BSD-style control file: H, P, [J], [L], then per file the print
    line, U and N (``files`` = (letter, data file, N or None))."""
    lines = [b"H" + host.encode(), b"P" + user.encode()]
    if job is not None:
        lines.append(b"J" + job.encode())
    if banner:
        lines.append(b"L" + user.encode())
    for letter, df, name in files:
        lines.append(letter.encode() + df.encode())
        lines.append(b"U" + df.encode())
        if name is not None:
            lines.append(b"N" + name.encode())
    return b"\n".join(lines) + b"\n" + extra


class LogWatch(logging.Handler):
    """Collects the gateway's log records and lets a test wait for one.

    Use as ``with LogWatch() as logs: ... await logs.wait_for(r"job \\d+ received")``.
    Records are emitted in the trio thread, so waking a trio.Event is safe.
    """

    def __init__(self, logger: str = "gateway") -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.times: list[float] = []  # trio clock at each line (nan outside trio)
        self._logger = logging.getLogger(logger)
        self._saved_level = self._logger.level
        self._changed = trio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            now = trio.current_time()
        except RuntimeError:
            now = float("nan")
        self.lines.append(record.getMessage())
        self.times.append(now)
        self._changed.set()

    def time_of(self, pattern: str) -> float:
        """The trio clock when the first line matching ``pattern`` was logged."""
        regex = re.compile(pattern)
        return next(t for line, t in zip(self.lines, self.times, strict=True) if regex.search(line))

    def __enter__(self) -> LogWatch:
        self._logger.addHandler(self)
        self._logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._saved_level)

    def find(self, pattern: str) -> str | None:
        regex = re.compile(pattern)
        return next((line for line in self.lines if regex.search(line)), None)

    async def wait_for(self, pattern: str, timeout: float = STEP) -> str:
        """The first line matching ``pattern``, waiting up to ``timeout`` s."""
        with trio.fail_after(timeout):
            while True:
                line = self.find(pattern)
                if line is not None:
                    return line
                self._changed = trio.Event()
                await self._changed.wait()
