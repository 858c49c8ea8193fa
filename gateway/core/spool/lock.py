"""One gateway per spool folder: an exclusive lock on ``<spool>/lock``.

Why: two gateways on one folder would each take the other's half-received
uploads for leftovers of a crash (the start-up sweep deletes every job folder
no record names) and would hand out the same job ids. So `Spool.open` takes
this lock before it reads or sweeps anything, and holds it for the life of the
process; a second gateway stops at once with one line naming the folder and
the process that holds it.

How: ``flock(LOCK_EX | LOCK_NB)`` on a file in the folder. The kernel drops the
lock when the process ends, however it ends (SIGKILL included), so a crash
never leaves a stale lock behind. The holder writes its pid into the file, for
the message only. The descriptor is close-on-exec, so converter processes do
not inherit the lock.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from typing import Final

from .errors import SpoolError

LOCK_FILE: Final = "lock"


class SpoolLocked(SpoolError):
    """Another process holds the spool folder's lock (the message says which)."""


class SpoolLock:
    """The held lock of one spool folder (`acquire`), released by `release`."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, root: Path) -> SpoolLock:
        """Lock ``root`` (blocking I/O, never waits for the lock): raises
        `SpoolLocked` when another process holds it, `OSError` when the file
        cannot be opened."""
        path = root / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            who = f"process {holder}" if holder else "another process"
            raise SpoolLocked(
                f"the spool folder {root} is in use by {who} (another gateway?): "
                "stop it, or pass --spool-dir with a folder of this gateway's own"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError:
            os.close(fd)
            raise
        return cls(path, fd)

    def release(self) -> None:
        """Give the lock up (closing the file does). Idempotent."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


__all__ = ["LOCK_FILE", "SpoolLock", "SpoolLocked"]
