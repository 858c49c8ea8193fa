"""Run one converter process with limits, off the event loop.

Converters parse what strangers send: an endless PostScript loop, a
PostScript ``file`` operator reaching for /etc/passwd, a PDF whose streams
inflate to gigabytes. Each one therefore runs as its own process (never in
the gateway's event loop) under limits set between fork and exec:

- wall time (the gateway kills the whole process group when it passes),
  CPU seconds (``RLIMIT_CPU``: SIGXCPU, then SIGKILL), address space
  (``RLIMIT_AS``), output size (``RLIMIT_FSIZE``: SIGXFSZ, or EFBIG in a
  program that ignores the signal), no core files, few open files, and a
  higher niceness;
- its own session and process group, so a time limit or a cancelled trio
  task kills everything it started;
- no network: a new, empty network namespace (``unshare(CLONE_NEWNET)`` as
  root, ``CLONE_NEWUSER | CLONE_NEWNET`` otherwise where the kernel allows
  unprivileged user namespaces). When neither works the gateway says so once
  in its log and goes on without;
- a minimal environment (PATH, LANG, HOME and TMPDIR in its work folder).

Its stdout and stderr are kept bounded (the last `TAIL_BYTES`). A failure
raises `ConversionError`, whose `reason` is one line a user can read in
job-state-message: which tool, what happened, and never a traceback or a
path outside the job's folder.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

import trio

from gateway.config import ConvertConfig

log = logging.getLogger("gateway.convert")

#: What is kept of a converter's stdout and of its stderr.
TAIL_BYTES: Final = 8192
#: RLIMIT_FSIZE when the caller sets none: the largest file a converter may write.
DEFAULT_OUTPUT_SIZE: Final = 4 * 1024**3
#: RLIMIT_NOFILE: a converter reads a few fonts and writes one file.
OPEN_FILES: Final = 64
#: Seconds between SIGXCPU (soft RLIMIT_CPU) and SIGKILL (hard limit).
CPU_GRACE: Final = 5
#: The longest reason, in characters (job-state-message is text(MAX)).
MAX_REASON: Final = 300
#: PATH of a converter: system programs only.
SAFE_PATH: Final = "/usr/local/bin:/usr/bin:/bin"

#: The folder that holds the gateway package, for its own converters' imports.
_PACKAGE_ROOT: Final = str(Path(__file__).resolve().parents[2])

CLONE_NEWUSER: Final = 0x10000000
CLONE_NEWNET: Final = 0x40000000


class ConversionError(Exception):
    """A document could not be converted; `reason` is one readable line.

    `kind` says what happened, for logs, metrics and tests: ``time``, ``cpu``,
    ``memory``, ``size`` (a limit was hit), ``failed`` (the tool refused the
    document), ``crashed``, ``unsupported`` (no conversion leads to a format
    the printer takes) or ``start`` (the tool could not be started).
    """

    def __init__(self, reason: str, *, kind: str = "failed") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits of one converter process."""

    wall_time: float = 300.0  # seconds, measured by the gateway
    cpu_time: float = 240.0  # CPU seconds (RLIMIT_CPU)
    memory: int = 1024**3  # bytes of address space (RLIMIT_AS)
    output_size: int = DEFAULT_OUTPUT_SIZE  # bytes per file written (RLIMIT_FSIZE)
    open_files: int = OPEN_FILES  # RLIMIT_NOFILE
    nice: int = 10  # added to the gateway's niceness

    @classmethod
    def from_config(
        cls, settings: ConvertConfig, *, output_size: int = DEFAULT_OUTPUT_SIZE
    ) -> Limits:
        return cls(
            wall_time=settings.time_limit,
            cpu_time=settings.cpu_limit,
            memory=settings.memory_limit,
            output_size=output_size,
            nice=settings.nice,
        )


@dataclass(frozen=True, slots=True)
class Finished:
    """A converter that exited 0."""

    returncode: int
    elapsed: float  # wall-clock seconds
    stdout: str  # the tail of its stdout ("" when stdout went to a file)
    stderr: str  # the tail of its stderr
    isolated: bool  # it ran in its own, empty network namespace

    @property
    def last_line(self) -> str:
        """The last non-empty line it printed on stdout."""
        lines = [line.strip() for line in self.stdout.splitlines() if line.strip()]
        return lines[-1] if lines else ""


async def run_limited(
    argv: Sequence[str],
    *,
    cwd: Path,
    stdin: Path | None,
    stdout: Path | None,
    limits: Limits,
    name: str | None = None,
) -> Finished:
    """Run `argv` in `cwd` under `limits` and wait for it.

    `stdin` is a file to read (None: /dev/null); `stdout` a file to write
    (None: captured, the tail kept in `Finished.stdout`). `name` names the
    tool in messages ("Ghostscript"); by default the program's file name.
    Cancelling the calling task kills the process group. Raises
    `ConversionError` unless the process exits 0.
    """
    tool = name or Path(argv[0]).name
    flags = await network_isolation()
    prepare = _child_setup(limits, flags)
    env = _environment(cwd)
    files: list[IO[bytes]] = []
    try:
        stdin_file = await _open(stdin, "rb") if stdin is not None else None
        if stdin_file is not None:
            files.append(stdin_file)
        stdout_file = await _open(stdout, "wb") if stdout is not None else None
        if stdout_file is not None:
            files.append(stdout_file)
        start = trio.current_time()
        try:
            process = await trio.lowlevel.open_process(
                list(argv),
                stdin=stdin_file if stdin_file is not None else subprocess.DEVNULL,
                stdout=stdout_file if stdout_file is not None else subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                start_new_session=True,
                preexec_fn=prepare,
                restore_signals=True,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise ConversionError(
                f"{tool} could not be started: {_scrub(str(exc), cwd)}", kind="start"
            ) from exc
    finally:
        for fh in files:
            fh.close()  # the child has its own copies now (or never started)
    out_tail = _Tail()
    err_tail = _Tail()
    exited = False
    try:
        with trio.move_on_after(limits.wall_time) as scope:
            async with trio.open_nursery() as nursery:
                if process.stdout is not None:
                    nursery.start_soon(_drain, process.stdout, out_tail)
                if process.stderr is not None:
                    nursery.start_soon(_drain, process.stderr, err_tail)
                await process.wait()
                exited = True
                # Anything it left behind holding the pipes goes with it.
                _kill_group(process.pid)
        timed_out = scope.cancelled_caught and not exited
    finally:
        # Whatever happened (exit, time limit, cancellation): nothing it
        # started outlives it.
        _kill_group(process.pid)
        with trio.CancelScope(shield=True):
            await process.wait()
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    await stream.aclose()
    elapsed = trio.current_time() - start
    returncode = process.returncode if process.returncode is not None else -signal.SIGKILL
    stdout_text = out_tail.text()
    stderr_text = err_tail.text()
    if timed_out:
        raise ConversionError(
            f"{tool} was stopped after its time limit of {limits.wall_time:g} s", kind="time"
        )
    if returncode != 0:
        raise _failure(tool, returncode, stdout_text, stderr_text, limits, cwd)
    return Finished(returncode, elapsed, stdout_text, stderr_text, isolated=flags != 0)


# ----------------------------------------------------------------------
# The child's side: limits, niceness, namespace (run between fork and exec)


def _child_setup(limits: Limits, flags: int) -> Callable[[], None]:
    """The preexec function: everything is computed here, in the parent, so
    the child only makes system calls."""
    cpu = max(1, int(limits.cpu_time + 0.999))
    wanted = (
        (resource.RLIMIT_CPU, cpu, cpu + CPU_GRACE),
        (resource.RLIMIT_AS, limits.memory, limits.memory),
        (resource.RLIMIT_FSIZE, limits.output_size, limits.output_size),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NOFILE, limits.open_files, limits.open_files),
    )
    settings = tuple((which, *_within_hard(which, soft, hard)) for which, soft, hard in wanted)
    nice = limits.nice
    unshare = _libc_unshare() if flags else None

    def prepare() -> None:
        if nice > 0:
            os.nice(nice)
        for which, soft, hard in settings:
            resource.setrlimit(which, (soft, hard))
        if unshare is not None and unshare(flags) != 0:
            raise OSError(ctypes.get_errno(), "cannot make a network namespace")

    return prepare


def _within_hard(which: int, soft: int, hard: int) -> tuple[int, int]:
    """A limit no higher than the gateway's own hard limit (which it cannot raise)."""
    _, current = resource.getrlimit(which)
    if current != resource.RLIM_INFINITY:
        hard = min(hard, current)
        soft = min(soft, hard)
    return soft, hard


def _environment(cwd: Path) -> dict[str, str]:
    """What a converter sees of the environment: nothing of the gateway's."""
    return {
        "PATH": SAFE_PATH,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": str(cwd),
        "TMPDIR": str(cwd),
        # The gateway's own converters (python -m gateway.convert.<tool>):
        # its package, and never the work folder, on their import path.
        "PYTHONPATH": _PACKAGE_ROOT,
        "PYTHONSAFEPATH": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


_unshare_function: Callable[[int], int] | None = None


def _libc_unshare() -> Callable[[int], int]:
    global _unshare_function
    if _unshare_function is None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.unshare
        function.argtypes = [ctypes.c_int]
        function.restype = ctypes.c_int
        _unshare_function = function
    return _unshare_function


_isolation: int | None = None
_isolation_lock: trio.Lock | None = None


async def network_isolation() -> int:
    """The unshare(2) flags that give a converter an empty network namespace
    on this machine (0: none work; logged once). Found once, by trying."""
    global _isolation, _isolation_lock
    if _isolation is not None:
        return _isolation
    if _isolation_lock is None:
        _isolation_lock = trio.Lock()
    async with _isolation_lock:
        if _isolation is None:
            _isolation = await trio.to_thread.run_sync(_probe_isolation)
            if _isolation == 0:
                log.warning(
                    "converters run without network isolation: this kernel lets the "
                    "gateway make neither a network namespace nor a user namespace"
                )
            else:
                log.debug("converters run in their own network namespace (flags 0x%x)", _isolation)
    return _isolation


def _probe_isolation() -> int:
    """Try each way of making a network namespace in a throw-away child."""
    candidates = [CLONE_NEWNET] if os.geteuid() == 0 else []
    candidates.append(CLONE_NEWUSER | CLONE_NEWNET)
    program = shutil.which("true") or sys.executable
    argv = [program] if program != sys.executable else [program, "-c", "pass"]
    try:
        unshare = _libc_unshare()
    except (OSError, AttributeError):
        return 0
    for flags in candidates:

        def prepare(flags: int = flags) -> None:
            if unshare(flags) != 0:
                raise OSError(ctypes.get_errno(), "unshare")

        try:
            subprocess.run(argv, preexec_fn=prepare, check=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        return flags
    return 0


# ----------------------------------------------------------------------
# The gateway's side: pipes, killing, reasons


class _Tail:
    """The last `TAIL_BYTES` of a stream."""

    def __init__(self) -> None:
        self._data = bytearray()

    def add(self, chunk: bytes | bytearray) -> None:
        self._data += chunk
        if len(self._data) > 2 * TAIL_BYTES:
            del self._data[: len(self._data) - TAIL_BYTES]

    def text(self) -> str:
        return bytes(self._data[-TAIL_BYTES:]).decode("utf-8", "replace")


async def _drain(stream: trio.abc.ReceiveStream, tail: _Tail) -> None:
    while chunk := await stream.receive_some(65536):
        tail.add(chunk)


async def _open(path: Path, mode: str) -> IO[bytes]:
    def opener() -> IO[bytes]:
        return open(path, mode)  # closed by run_limited once the child has it

    return await trio.to_thread.run_sync(opener)


def _kill_group(pgid: int) -> None:
    """SIGKILL the converter's process group (its own session: only its processes)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


#: What tools print when an allocation fails (Ghostscript, Python, poppler, C++).
_OUT_OF_MEMORY = re.compile(
    r"VMerror|MemoryError|out of memory|Cannot allocate memory|bad_alloc|ENOMEM"
    r"|more memory than",
    re.I,
)
#: EFBIG: a program that ignores SIGXFSZ (Python does) sees its write fail.
_FILE_TOO_LARGE = re.compile(r"File too large|EFBIG|Errno 27\b|File size limit exceeded", re.I)
#: A shell between the gateway and the tool reports the signal in words.
_CPU_EXCEEDED = re.compile(r"CPU time limit exceeded", re.I)
#: Lines that say nothing about the document.
_NOISE = re.compile(
    r"^(?:INFO|DEBUG|DEBUG2|ATTR|PAGE|STATE):|Unrecoverable error, exit code"
    r"|^(?:Operand|Execution|Dictionary) stack:|^Current allocation mode"
    r"|^Last OS error|^Current file position|^VM status|^Traceback|^\s|^--",
)
#: Ghostscript's PostScript errors that deserve a word of explanation.
_GS_ERRORS = {
    "invalidfileaccess": "the document tried to open a file it may not read",
    "invalidaccess": "the document tried something -dSAFER does not allow",
    "undefined": "the document uses an operator or font Ghostscript does not know",
    "syntaxerror": "the document is not valid PostScript or PDF",
    "ioerror": "the document is cut short or damaged",
    "limitcheck": "the document passes one of Ghostscript's internal limits",
}


def _failure(
    tool: str, returncode: int, stdout: str, stderr: str, limits: Limits, cwd: Path
) -> ConversionError:
    """The one-line reason for a converter that did not exit 0."""
    output = f"{stdout}\n{stderr}"
    if returncode < 0:
        number = -returncode
        if number == signal.SIGXCPU:
            return ConversionError(
                f"{tool} exceeded its CPU time limit of {limits.cpu_time:g} s", kind="cpu"
            )
        if number == signal.SIGXFSZ:
            return ConversionError(
                f"{tool}'s output passed its size limit of {_size(limits.output_size)}",
                kind="size",
            )
        if _OUT_OF_MEMORY.search(output):
            return _out_of_memory(tool, limits)
        if number == signal.SIGKILL:
            return ConversionError(
                f"{tool} was killed by the system (out of memory or past its CPU time limit "
                f"of {limits.cpu_time:g} s)",
                kind="crashed",
            )
        return ConversionError(f"{tool} crashed ({_signal_name(number)})", kind="crashed")
    if _OUT_OF_MEMORY.search(output):
        return _out_of_memory(tool, limits)
    if _FILE_TOO_LARGE.search(output):
        return ConversionError(
            f"{tool}'s output passed its size limit of {_size(limits.output_size)}", kind="size"
        )
    if _CPU_EXCEEDED.search(output):
        return ConversionError(
            f"{tool} exceeded its CPU time limit of {limits.cpu_time:g} s", kind="cpu"
        )
    line = meaningful_line(output, cwd)
    # The gateway's own converters start their line with their name.
    line = line.removeprefix(f"{tool}:").strip()
    if not line:
        return ConversionError(f"{tool} failed (exit status {returncode})")
    return ConversionError(_clip(f"{tool} could not read the document: {line}"))


def _out_of_memory(tool: str, limits: Limits) -> ConversionError:
    return ConversionError(
        f"{tool} ran out of memory (limit {_size(limits.memory)})", kind="memory"
    )


def meaningful_line(output: str, cwd: Path) -> str:
    """The line of a tool's output that says what went wrong, fit for a user
    (see `_scrub`): Ghostscript's PostScript error (``Error: /name in ...``),
    else its first PDF complaint (``**** Error: ...``), else the last line
    that is not a progress message, a stack dump or a traceback frame."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    for line in lines:
        match = re.match(r"\s*Error:\s*/(\w+)\s*(.*)", line)
        if match is not None:
            name, rest = match.groups()
            text = f"/{name} {rest}".strip()
            why = _GS_ERRORS.get(name)
            return _scrub(f"{text} ({why})" if why else text, cwd)
    for line in lines:
        match = re.match(r"\s*\*+\s*Error:\s*(.+)", line)
        if match is not None:
            return _scrub(match.group(1).strip(), cwd)
    for line in reversed(lines):
        if not _NOISE.search(line):
            return _scrub(line.strip(), cwd)
    return ""


_PATH = re.compile(r"(?<![\w.])/(?:[^\s/()<>\[\]'\"]+/)+([^\s/()<>\[\]'\",;:]*)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _scrub(text: str, cwd: Path) -> str:
    """A line fit for a user: paths inside the job's folder relative to it,
    any other path cut to its last part, no control characters."""
    job_folder = os.path.dirname(os.path.abspath(cwd))
    text = text.replace(job_folder + os.sep, "").replace(job_folder, ".")
    text = _PATH.sub(lambda match: match.group(1) or "...", text)
    return _CONTROL.sub(" ", text).strip()


def _clip(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _size(size: int) -> str:
    """Bytes as a person reads them: ``1 GiB``, ``512 MiB``, ``3.5 GiB``."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"
