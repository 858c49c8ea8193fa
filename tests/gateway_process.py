"""Run the real `lpd-ipp-gateway` command in a subprocess and read its log.

Readiness and progress are taken from the gateway's own log lines (it says
which addresses it bound and every job event), so tests never sleep to wait.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tests import pgcluster

READY = re.compile(r" INFO spool in ")
LISTEN = re.compile(r"listening for (LPD|IPPS?) on (\S+):(\d+)$")


def _store_args(args: Sequence[str], cwd: Path | None) -> list[str]:
    """GATEWAY_TEST_STORE=postgresql: ``--store`` with the database of the
    gateway's spool folder (``--spool-dir``, else its ``--config``), so that a
    restarted gateway finds its jobs again (tests/pgcluster.py)."""
    if pgcluster.selected_store() != "postgresql" or "--store" in args:
        return []
    args = list(args)
    key = None
    if "--spool-dir" in args[:-1]:
        key = Path(cwd or ".") / args[args.index("--spool-dir") + 1]
    elif "--config" in args[:-1]:
        from gateway import config

        try:
            loaded = config.load(Path(cwd or ".") / args[args.index("--config") + 1])
        except (config.ConfigError, OSError):
            return []  # the gateway will say what is wrong with it
        if loaded.spool.store:
            return []
        key = loaded.spool_dir
    dsn = pgcluster.database_for(key) if key is not None else pgcluster.create_database()
    return ["--store", dsn]


class GatewayProcess:
    """``python -m gateway serve ARGS`` with its stderr captured line by line."""

    def __init__(self, args: Sequence[str], *, cwd: Path | None = None) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        args = [*args, *_store_args(args, cwd)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
        )
        self.lines: list[str] = []
        self._buffer = b""
        self.ports: dict[str, list[int]] = {"LPD": [], "IPP": [], "IPPS": []}

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = 20.0) -> re.Match[str]:
        """Read log lines until one matches ``pattern``; fail after ``timeout`` seconds."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        for line in self.lines:
            match = regex.search(line)
            if match:
                return match
        deadline = time.monotonic() + timeout
        assert self.proc.stderr is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stderr, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no log line matching {regex.pattern!r}:\n" + self.log)
                if not sel.select(left):
                    continue
                chunk = os.read(self.proc.stderr.fileno(), 65536)
                if not chunk:
                    raise AssertionError(
                        f"gateway exited ({self.proc.wait()}) before {regex.pattern!r}:\n"
                        + self.log
                    )
                self._buffer += chunk
                *complete, self._buffer = self._buffer.split(b"\n")
                found: re.Match[str] | None = None
                for raw in complete:  # keep every line of the chunk, for the next wait_for
                    line = raw.decode("utf-8", "replace")
                    self.lines.append(line)
                    listen = LISTEN.search(line)
                    if listen:
                        self.ports[listen.group(1)].append(int(listen.group(3)))
                    found = found or regex.search(line)
                if found:
                    return found

    def ready(self, timeout: float = 20.0) -> GatewayProcess:
        self.wait_for(READY, timeout)
        return self

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def finish(self, timeout: float = 20.0) -> tuple[int, str]:
        """Wait for exit; return the exit code and the whole stderr."""
        _, rest = self.proc.communicate(timeout=timeout)
        text = self._buffer.decode("utf-8", "replace") + rest.decode("utf-8", "replace")
        self.lines.extend(line for line in text.split("\n") if line)
        return self.proc.returncode, self.log

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=20)

    def __enter__(self) -> GatewayProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


async def start_gateway(config: Path, timeout: float = 60.0) -> GatewayProcess:
    """``serve --config CONFIG --log-level info``, once it says it is ready (from a
    trio test: the blocking wait runs in a thread)."""
    import trio

    def run() -> GatewayProcess:
        return GatewayProcess(["--config", str(config), "--log-level", "info"]).ready(timeout)

    return await trio.to_thread.run_sync(run)


async def stop_gateway(gateway: GatewayProcess, timeout: float = 60.0) -> None:
    """SIGTERM and wait for the orderly exit (0)."""
    import trio

    gateway.signal(signal.SIGTERM)
    code, log = await trio.to_thread.run_sync(gateway.finish, timeout)
    assert code == 0, log


async def drain_log(gw: GatewayProcess) -> None:
    """Keep reading a gateway's log until it exits (its stderr pipe must never fill
    up while a test waits on another gateway); run it in a nursery."""
    import trio

    def read() -> None:
        try:
            gw.wait_for(r"(?!)", timeout=3600)
        except (AssertionError, TimeoutError, OSError, ValueError):
            return

    await trio.to_thread.run_sync(read, abandon_on_cancel=True)


async def log_line(gateway: GatewayProcess, pattern: str, timeout: float = 60.0) -> str:
    """The first log line of `gateway` matching `pattern` (within `timeout`), from
    a trio test: the blocking read runs in a thread."""
    import trio

    match = await trio.to_thread.run_sync(gateway.wait_for, pattern, timeout)
    return match.group(0)


def run_cli(args: Sequence[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run ``python -m gateway ARGS`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
