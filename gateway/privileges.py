"""Listening sockets from systemd, and dropping root after binding.

Two ways to serve the privileged ports 515 and 631 without running as root:

- systemd socket activation (``conf/lpd-ipp-gateway-*.socket``): systemd
  binds the ports and passes the sockets (``LISTEN_FDS``, ``LISTEN_PID``,
  ``LISTEN_FDNAMES`` as in sd_listen_fds(3)); a socket named ``lpd``, ``ipp``
  or ``ipps`` replaces that listener's configured addresses.
- Started as root with ``[gateway] user = "..."``: the gateway binds every
  socket, makes the spool folder the user's, then gives up root for good
  (supplementary groups, gid, uid; in that order) before it reads a byte
  from the network.

It also raises the open-file limit (`raise_open_file_limit`): every connection
costs a descriptor, and the default soft limit (often 1024) is far below the
connection caps of both listeners together.
"""

from __future__ import annotations

import grp
import os
import pwd
import resource
import socket
from collections.abc import Mapping
from pathlib import Path

SD_LISTEN_FDS_START = 3
KINDS = ("lpd", "ipp", "ipps")
#: The most descriptors asked for when the hard limit is unlimited.
MAX_OPEN_FILES = 1 << 20


class PrivilegeError(Exception):
    """Cannot take inherited sockets or drop privileges; the message says why."""


def inherited_sockets(
    environ: Mapping[str, str] | None = None, pid: int | None = None
) -> dict[str, list[socket.socket]]:
    """Sockets passed by systemd, by name (``lpd``, ``ipp``, ``ipps``); empty without any."""
    env = os.environ if environ is None else environ
    if env.get("LISTEN_PID") != str(os.getpid() if pid is None else pid):
        return {}
    try:
        count = int(env.get("LISTEN_FDS", "0"))
    except ValueError:
        raise PrivilegeError(f"LISTEN_FDS={env.get('LISTEN_FDS')!r} is not a number") from None
    names = env.get("LISTEN_FDNAMES", "").split(":") if env.get("LISTEN_FDNAMES") else []
    found: dict[str, list[socket.socket]] = {}
    for index in range(count):
        fd = SD_LISTEN_FDS_START + index
        name = names[index] if index < len(names) else ""
        if name not in KINDS:
            raise PrivilegeError(
                f"systemd passed socket {index + 1} named {name!r}; name each socket unit's "
                f"socket with FileDescriptorName= lpd, ipp or ipps"
            )
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        found.setdefault(name, []).append(sock)
    for key in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(key, None)
    return found


def drop_to(user: str, group: str | None, spool_dir: Path) -> None:
    """Give up root for ``user`` (and ``group``, else the user's group) for good."""
    if os.geteuid() != 0:
        return
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise PrivilegeError(f"gateway.user: no such user {user!r}") from None
    gid = entry.pw_gid
    if group:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise PrivilegeError(f"gateway.group: no such group {group!r}") from None
    spool_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
    for path in [spool_dir, *spool_dir.rglob("*")]:
        os.chown(path, entry.pw_uid, gid, follow_symlinks=False)
    os.setgroups([])
    os.setgid(gid)
    os.setuid(entry.pw_uid)
    if os.getuid() == 0 or os.geteuid() == 0:
        raise PrivilegeError(f"could not drop root privileges for {user!r}")


def raise_open_file_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; (before, after).

    Needs no privilege. Where the hard limit is unlimited, asks for
    `MAX_OPEN_FILES` (the kernel refuses more than ``fs.nr_open``); if that is
    refused the limit stays as it was.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = MAX_OPEN_FILES if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft, soft
        return soft, target
    return soft, soft
