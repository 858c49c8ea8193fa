"""Run the real LPD client programs (LPRng lpr/lpq/lprm, the CUPS lpd backend)
against a gateway under test.

LPRng's clients refuse to run when ``/etc/printcap`` is missing (its
``require_configfiles`` default), and Debian's lprng package normally creates
that file, whose default allows one copy only. As root (CI), each LPRng
command runs in a private mount namespace (``unshare --mount``) where a temporary folder with
``lpd.conf`` (``printcap_path`` pointing at an empty printcap inside it, and
``mc=10`` so ``lpr -#N`` works) is bind-mounted over ``/etc/lprng``. Nothing
outside that namespace changes.
Otherwise the test fails with the fix.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
import trio

from tests.peers import require

#: Deadline for one client program run.
CLIENT_TIMEOUT = 60.0


def _private_lprng_etc(tmp: Path) -> Path:
    etc = tmp / "lprng-etc"
    if not etc.exists():
        etc.mkdir()
        for name in ("lpd.conf", "lpd.perms"):
            source = Path("/etc/lprng") / name
            if source.is_file():
                shutil.copy(source, etc / name)
        (etc / "printcap").write_text("")
        with open(etc / "lpd.conf", "a", encoding="ascii") as fh:
            # mc: LPRng's default allows one copy (lpr -#2 fails); the capture
            # sandbox (rfc1179_captures/record-all.sh) sets 10 as well.
            fh.write("\nprintcap_path=/etc/lprng/printcap\nmc=10\n")
    return etc


def lprng_argv(program: str, args: Sequence[str], tmp: Path) -> list[str]:
    """The command line that runs LPRng ``program`` with ``args``."""
    binary = str(require(program))
    unshare = shutil.which("unshare")
    private = os.geteuid() == 0 and unshare is not None
    if not private and Path("/etc/printcap").exists():
        return [binary, *args]  # the system's configuration (lpr -#N may be refused)
    if not private or unshare is None:
        pytest.fail(
            "LPRng clients need /etc/printcap (Debian's lprng normally creates it): "
            "run 'sudo touch /etc/printcap'"
        )
    etc = _private_lprng_etc(tmp)
    script = (
        f"mount --bind {shlex.quote(str(etc))} /etc/lprng && exec {shlex.join([binary, *args])}"
    )
    return [unshare, "--mount", "--propagation", "private", "sh", "-c", script]


async def run(
    argv: Sequence[str],
    *,
    stdin: bytes = b"",
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a client program to completion within `CLIENT_TIMEOUT`."""
    with trio.fail_after(CLIENT_TIMEOUT):
        result: subprocess.CompletedProcess[bytes] = await trio.run_process(
            list(argv),
            stdin=stdin,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=dict(os.environ, **(env or {})),
            cwd=cwd,
        )
    return result


async def lprng(
    program: str, args: Sequence[str], tmp: Path, *, stdin: bytes = b"", cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run LPRng ``lpr``/``lpq``/``lprm``; fail the test with its output if
    it exits non-zero."""
    result = await run(lprng_argv(program, args, tmp), stdin=stdin, cwd=cwd)
    assert result.returncode == 0, (
        f"{program} {' '.join(args)} exited {result.returncode}:\n"
        f"{result.stdout.decode(errors='replace')}\n{result.stderr.decode(errors='replace')}"
    )
    return result


def endpoint(port: int, queue: str = "lp") -> str:
    """LPRng's ``queue@host%port`` for the gateway on 127.0.0.1."""
    return f"{queue}@127.0.0.1%{port}"


async def cups_lpd_backend(
    port: int,
    *,
    job_id: int,
    user: str,
    title: str,
    copies: int,
    file: Path,
    options: str = "",
    uri_options: str = "snmp=off",
    queue: str = "lp",
) -> subprocess.CompletedProcess[bytes]:
    """Run the real CUPS ``lpd`` backend as cupsd would:
    ``DEVICE_URI=lpd://127.0.0.1:PORT/lp argv: job-id user title copies options file``."""
    backend = str(require("lpd", "cups"))
    uri = f"lpd://127.0.0.1:{port}/{queue}" + (f"?{uri_options}" if uri_options else "")
    env = {"DEVICE_URI": uri, "CUPS_SERVERBIN": str(Path(backend).parent.parent)}
    return await run([backend, str(job_id), user, title, str(copies), options, str(file)], env=env)
