"""A gateway process whose log is read all the time, not only while a test waits on it.

Why: `GatewayProcess` reads a gateway's stderr only inside ``wait_for``. In the
INFRA tests two gateways log every step of every job while the test waits on
one of them; the other one's pipe fills (64 KiB) and its next log line blocks
its whole event loop, so it stops answering and the wait fails after its
deadline (seen with 100 jobs: A blocked in pipe_write while the test waited
for a line of B). Here a thread drains the pipe into ``lines`` as it comes,
and ``wait_for`` waits on those lines.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from tests.gateway_process import LISTEN, GatewayProcess


class DrainedGateway(GatewayProcess):
    """`GatewayProcess` with its stderr read by a thread (see the module doc)."""

    def __init__(self, args: Sequence[str], *, cwd: Path | None = None) -> None:
        super().__init__(args, cwd=cwd)
        self._seen = threading.Condition()
        self._eof = False
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # closed by __exit__
                chunk = b""
            with self._seen:
                if not chunk:
                    if self._buffer:
                        self.lines.append(self._buffer.decode("utf-8", "replace"))
                        self._buffer = b""
                    self._eof = True
                    self._seen.notify_all()
                    return
                self._buffer += chunk
                *complete, self._buffer = self._buffer.split(b"\n")
                for raw in complete:
                    line = raw.decode("utf-8", "replace")
                    self.lines.append(line)
                    listen = LISTEN.search(line)
                    if listen:
                        self.ports[listen.group(1)].append(int(listen.group(3)))
                self._seen.notify_all()

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = 20.0) -> re.Match[str]:
        """The first log line (since the start) matching ``pattern``; fail after
        ``timeout`` seconds, or when the gateway exits first."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        checked = 0
        with self._seen:
            while True:
                for line in self.lines[checked:]:
                    match = regex.search(line)
                    if match:
                        return match
                checked = len(self.lines)
                if self._eof:
                    raise AssertionError(
                        f"gateway exited ({self.proc.wait()}) before {regex.pattern!r}:\n"
                        + self.log
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no log line matching {regex.pattern!r}:\n" + self.log)
                self._seen.wait(left)

    def finish(self, timeout: float = 20.0) -> tuple[int, str]:
        """Wait for exit; return the exit code and the whole stderr."""
        self.proc.wait(timeout=timeout)
        self._pump.join(timeout)
        return self.proc.returncode, self.log
