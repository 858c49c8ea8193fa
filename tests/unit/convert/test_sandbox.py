"""One converter process under limits: real processes, real limits, real
namespaces. Each test says what the child sees or what the gateway reports."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from gateway.config import ConvertConfig
from gateway.convert import sandbox
from gateway.convert.sandbox import (
    TAIL_BYTES,
    ConversionError,
    Limits,
    network_isolation,
    run_limited,
)

PYTHON = sys.executable


def python(code: str) -> list[str]:
    return [PYTHON, "-c", code]


@pytest.fixture
def work(job_folder: Path) -> Path:
    folder = job_folder / "work"
    folder.mkdir()
    return folder


def process_gone(pid: int) -> bool:
    """No such process, or only its zombie (a container's init may not reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


async def wait_gone(pid: int) -> None:
    """Until `pid` has exited: SIGKILL is delivered asynchronously, so a
    grandchild the gateway does not reap may take a moment to die. A pidfd
    becomes readable when the process exits."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        with trio.fail_after(10):
            await trio.lowlevel.wait_readable(fd)
    finally:
        os.close(fd)


async def test_a_converter_that_succeeds(work: Path) -> None:
    with trio.fail_after(30):
        done = await run_limited(
            python("import sys; print('hello'); print('pages=3'); sys.stderr.write('note\\n')"),
            cwd=work,
            stdin=None,
            stdout=None,
            limits=Limits(),
        )
    assert done.returncode == 0
    assert done.last_line == "pages=3"
    assert "hello" in done.stdout
    assert done.stderr == "note\n"
    assert done.elapsed > 0


async def test_stdin_and_stdout_files(work: Path) -> None:
    source = work / "in.txt"
    source.write_bytes(b"some bytes\n" * 1000)
    target = work / "out.txt"
    with trio.fail_after(30):
        done = await run_limited(
            ["cat"], cwd=work, stdin=source, stdout=target, limits=Limits(), name="cat"
        )
    assert target.read_bytes() == source.read_bytes()
    assert done.stdout == ""


async def test_what_the_child_sees(work: Path) -> None:
    """Environment, working folder, session, niceness and every limit, as the
    child itself reads them."""
    code = """
import json, os, resource
limits = {name: resource.getrlimit(getattr(resource, name)) for name in
          ("RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_CORE", "RLIMIT_NOFILE")}
print(json.dumps({"env": dict(os.environ), "cwd": os.getcwd(), "limits": limits,
                  "session_leader": os.getsid(0) == os.getpid(),
                  "group_leader": os.getpgid(0) == os.getpid(),
                  "nice": os.nice(0)}))
"""
    limits = Limits(cpu_time=7, memory=512 * 1024**2, output_size=3 * 1024**2, nice=5)
    with trio.fail_after(30):
        done = await run_limited(python(code), cwd=work, stdin=None, stdout=None, limits=limits)
    seen = json.loads(done.last_line)
    env = seen["env"]
    assert env["HOME"] == env["TMPDIR"] == str(work)
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert env["LANG"] == "C.UTF-8"
    assert set(env) <= {
        "PATH",
        "LANG",
        "LC_ALL",
        "HOME",
        "TMPDIR",
        "PYTHONPATH",
        "PYTHONSAFEPATH",
        "PYTHONDONTWRITEBYTECODE",
        "LC_CTYPE",  # Python's own C locale coercion may add it
    }
    assert seen["cwd"] == str(work)
    assert seen["session_leader"]
    assert seen["group_leader"]
    assert seen["nice"] == min(19, os.nice(0) + 5)
    got = {name: tuple(value) for name, value in seen["limits"].items()}
    assert got["RLIMIT_CPU"] == (7, 7 + sandbox.CPU_GRACE)
    assert got["RLIMIT_AS"] == (512 * 1024**2, 512 * 1024**2)
    assert got["RLIMIT_FSIZE"] == (3 * 1024**2, 3 * 1024**2)
    assert got["RLIMIT_CORE"] == (0, 0)
    assert got["RLIMIT_NOFILE"] == (sandbox.OPEN_FILES, sandbox.OPEN_FILES)


def test_limits_from_config() -> None:
    settings = ConvertConfig(time_limit=12.5, cpu_limit=9, memory_limit=2 * 1024**3, nice=3)
    limits = Limits.from_config(settings, output_size=5000)
    assert limits == Limits(
        wall_time=12.5, cpu_time=9, memory=2 * 1024**3, output_size=5000, nice=3
    )


async def test_wall_time_limit_kills_the_whole_group(work: Path) -> None:
    pids = work / "pids"
    # The shell starts a background sleep (which would outlive a plain kill of
    # the shell) and waits.
    argv = ["sh", "-c", f"sleep 300 & echo $! > {pids}; echo $$ >> {pids}; wait"]
    with trio.fail_after(30), pytest.raises(ConversionError) as caught:
        await run_limited(
            argv, cwd=work, stdin=None, stdout=None, limits=Limits(wall_time=1), name="Ghostscript"
        )
    assert caught.value.kind == "time"
    assert caught.value.reason == "Ghostscript was stopped after its time limit of 1 s"
    for pid in map(int, pids.read_text().split()):
        await wait_gone(pid)
        assert process_gone(pid), pid


async def test_cancellation_kills_the_whole_group(work: Path) -> None:
    fifo = work / "ready"
    os.mkfifo(fifo)
    argv = ["sh", "-c", f"sleep 300 & echo $! $$ > {fifo}; wait"]
    pids: list[int] = []
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            cancel = trio.CancelScope()

            async def converter() -> None:
                with cancel:
                    await run_limited(argv, cwd=work, stdin=None, stdout=None, limits=Limits())

            nursery.start_soon(converter)
            # Opening the FIFO for reading waits for the child to write it.
            line = await trio.to_thread.run_sync(fifo.read_text, abandon_on_cancel=True)
            pids.extend(map(int, line.split()))
            for pid in pids:
                assert not process_gone(pid)
            cancel.cancel()
        for pid in pids:
            await wait_gone(pid)
    for pid in pids:
        assert process_gone(pid), pid


async def test_cpu_limit(work: Path) -> None:
    with trio.fail_after(60), pytest.raises(ConversionError) as caught:
        await run_limited(
            python("while True: pass"),
            cwd=work,
            stdin=None,
            stdout=None,
            limits=Limits(cpu_time=1, wall_time=50),
            name="texttopdf",
        )
    assert caught.value.kind == "cpu"
    assert caught.value.reason == "texttopdf exceeded its CPU time limit of 1 s"


async def test_memory_limit(work: Path) -> None:
    with trio.fail_after(60), pytest.raises(ConversionError) as caught:
        await run_limited(
            python("x = bytearray(2 * 1024**3)"),
            cwd=work,
            stdin=None,
            stdout=None,
            limits=Limits(memory=256 * 1024**2),
            name="pdftopdf",
        )
    assert caught.value.kind == "memory"
    assert caught.value.reason == "pdftopdf ran out of memory (limit 256 MiB)"


async def test_output_size_limit_by_signal(work: Path) -> None:
    # dd does not ignore SIGXFSZ: the kernel kills it at the limit.
    argv = ["dd", "if=/dev/zero", f"of={work / 'big'}", "bs=1M", "count=20"]
    with trio.fail_after(60), pytest.raises(ConversionError) as caught:
        await run_limited(
            argv, cwd=work, stdin=None, stdout=None, limits=Limits(output_size=1024**2), name="dd"
        )
    assert caught.value.kind == "size"
    assert caught.value.reason == "dd's output passed its size limit of 1 MiB"
    assert (work / "big").stat().st_size <= 1024**2


async def test_output_size_limit_in_a_program_that_ignores_the_signal(work: Path) -> None:
    # Python ignores SIGXFSZ; its write fails with EFBIG instead.
    code = (
        "import signal\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "open('big', 'wb').write(bytes(8 * 1024**2))\n"
    )
    with trio.fail_after(60), pytest.raises(ConversionError) as caught:
        await run_limited(
            python(code),
            cwd=work,
            stdin=None,
            stdout=None,
            limits=Limits(output_size=1024**2),
            name="imagetopdf",
        )
    assert caught.value.kind == "size"
    assert caught.value.reason == "imagetopdf's output passed its size limit of 1 MiB"


async def test_a_failure_gives_one_readable_line_without_host_paths(work: Path) -> None:
    code = f"""
import sys
sys.stderr.write('Traceback (most recent call last):\\n')
sys.stderr.write('  File "/usr/lib/python3/dist-packages/thing.py", line 3, in f\\n')
sys.stderr.write('rastertopdf: cannot read /home/alice/secret/notes.pwg and {work}/step-1.pwg\\n')
sys.exit(1)
"""
    with trio.fail_after(30), pytest.raises(ConversionError) as caught:
        await run_limited(
            python(code), cwd=work, stdin=None, stdout=None, limits=Limits(), name="rastertopdf"
        )
    reason = caught.value.reason
    assert caught.value.kind == "failed"
    assert reason == (
        "rastertopdf could not read the document: cannot read notes.pwg and work/step-1.pwg"
    )
    assert "\n" not in reason
    assert "/home" not in reason
    assert str(work.parent) not in reason


async def test_a_crash(work: Path) -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    with trio.fail_after(30), pytest.raises(ConversionError) as caught:
        await run_limited(
            python(code), cwd=work, stdin=None, stdout=None, limits=Limits(), name="x"
        )
    assert caught.value.kind == "crashed"
    assert caught.value.reason == "x crashed (SIGSEGV)"


async def test_a_program_that_does_not_exist(work: Path) -> None:
    with trio.fail_after(30), pytest.raises(ConversionError) as caught:
        await run_limited(
            [str(work / "no-such-program")],
            cwd=work,
            stdin=None,
            stdout=None,
            limits=Limits(),
            name="gs",
        )
    assert caught.value.kind == "start"
    assert caught.value.reason.startswith("gs could not be started: ")
    assert str(work.parent) not in caught.value.reason


async def test_output_is_kept_bounded(work: Path) -> None:
    code = (
        "import sys\n"
        "for i in range(200000): sys.stderr.write(f'line {i}\\n')\n"
        "sys.stderr.write('the end\\n')\n"
        "sys.stdout.write('x' * 5000000 + '\\npages=1\\n')"
    )
    with trio.fail_after(60):
        done = await run_limited(python(code), cwd=work, stdin=None, stdout=None, limits=Limits())
    assert len(done.stderr.encode()) <= TAIL_BYTES
    assert done.stderr.endswith("line 199999\nthe end\n")
    assert len(done.stdout.encode()) <= TAIL_BYTES
    assert done.last_line == "pages=1"


async def test_no_network(work: Path) -> None:
    """A converter cannot reach even the host's loopback: it has its own
    network namespace, with no interface up."""
    flags = await network_isolation()
    if not flags:
        pytest.skip("this kernel allows neither network nor user namespaces")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    code = (
        "import socket, sys\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=5)\n"
        "except OSError as e:\n"
        "    print('refused', e.errno); sys.exit(3)\n"
        "print('connected')\n"
    )
    try:
        with trio.fail_after(30):
            # The same program outside the sandbox does connect: the test
            # would notice a listener that cannot be reached at all.
            outside = await trio.run_process(python(code), capture_stdout=True, check=False)
            assert outside.stdout == b"connected\n"
            listener.accept()[0].close()
            with pytest.raises(ConversionError) as caught:
                await run_limited(python(code), cwd=work, stdin=None, stdout=None, limits=Limits())
            assert caught.value.kind == "failed"
            assert "refused" in caught.value.reason
            done = await run_limited(
                ["cat", "/proc/net/dev"], cwd=work, stdin=None, stdout=None, limits=Limits()
            )
            assert done.isolated
            interfaces = [line.split(":")[0].strip() for line in done.stdout.splitlines()[2:]]
            assert interfaces == ["lo"]
        # Nothing reached the listener from inside.
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()


async def test_no_isolation_is_said_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, work: Path
) -> None:
    monkeypatch.setattr(sandbox, "_isolation", None)
    monkeypatch.setattr(sandbox, "_isolation_lock", None)
    monkeypatch.setattr(sandbox, "_probe_isolation", lambda: 0)
    caplog.set_level(logging.WARNING, logger="gateway.convert")
    with trio.fail_after(30):
        for _ in range(3):
            done = await run_limited(["true"], cwd=work, stdin=None, stdout=None, limits=Limits())
            assert not done.isolated
    warnings = [r for r in caplog.records if "without network isolation" in r.getMessage()]
    assert len(warnings) == 1


def test_probe_agrees_with_unshare_1() -> None:
    """The probe finds what util-linux's unshare(1) can do here: the network
    namespace alone as root, else with a user namespace, else nothing."""

    def works(*flags: str) -> bool:
        return subprocess.run(["unshare", *flags, "true"], check=False, timeout=30).returncode == 0

    if os.geteuid() == 0 and works("--net"):
        expected = sandbox.CLONE_NEWNET
    elif works("--user", "--net"):
        expected = sandbox.CLONE_NEWUSER | sandbox.CLONE_NEWNET
    else:
        expected = 0
    assert sandbox._probe_isolation() == expected


def test_probe_as_an_unprivileged_user(tmp_path: Path) -> None:
    """The probe run by a user that is not root: CLONE_NEWUSER | CLONE_NEWNET
    where the kernel allows unprivileged user namespaces (it does here)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged user")
    # Everything is imported first: the interpreter's own files may be where
    # the unprivileged user cannot read them.
    code = (
        "import os, sys, subprocess, shutil, ctypes\n"
        "from gateway.convert import sandbox\n"
        "sandbox._libc_unshare()\n"
        "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
        "print(sandbox._probe_isolation())\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(sandbox.__file__).parents[2])}
    result = subprocess.run(
        [PYTHON, "-c", code], capture_output=True, text=True, check=True, timeout=60, env=env
    )
    allowed = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "unshare", "-Un", "true"],
        check=False,
        timeout=30,
    ).returncode
    expected = sandbox.CLONE_NEWUSER | sandbox.CLONE_NEWNET if allowed == 0 else 0
    assert int(result.stdout.strip()) == expected


def test_signal_names() -> None:
    assert sandbox._signal_name(signal.SIGSEGV) == "SIGSEGV"
    assert sandbox._signal_name(200) == "signal 200"
    assert sandbox._size(1024**3) == "1 GiB"
    assert sandbox._size(1536 * 1024**2) == "1.5 GiB"
    assert sandbox._size(512) == "512 bytes"
