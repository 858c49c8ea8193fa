"""Running the gateway's own converter programs as the runner does (a
separate process, ``sys.executable -m gateway.convert.NAME``), with a
deadline and their peak memory, and reading their output with independent
tools (poppler-utils, Ghostscript). Helpers of test_texttopdf, test_rastertopdf,
test_imagetopdf and test_pdftopdf."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

DEADLINE = 120.0  # seconds, for any one program


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str
    peak_rss_kib: int
    cpu_seconds: float


#: Runs the program as its own child and writes that child's rusage to a file.
#: Why: a process forked from pytest inherits pytest's high-water RSS (Linux keeps
#: it across exec), so measuring the program as pytest's child would report the
#: suite's size; a small launcher in between reports the program's own.
_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as fh:
    fh.write(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
code = os.waitstatus_to_exitcode(status)
os._exit(code if code >= 0 else 128 - code)
"""


def run_program(
    name: str, *arguments: str | Path, deadline: float = DEADLINE, cwd: Path | None = None
) -> Finished:
    """``python -m gateway.convert.<name> ARGS`` (in `cwd`, as the runner
    runs it in the job's folder); killed after `deadline` seconds (the test
    then fails on its return code)."""
    argv = [sys.executable, "-m", f"gateway.convert.{name}", *map(str, arguments)]
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r") as usage,
    ):
        launcher = [sys.executable, "-S", "-c", _LAUNCHER, usage.name, *argv]
        process = subprocess.Popen(
            launcher,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            start_new_session=True,
        )
        timer = threading.Timer(deadline, lambda: os.killpg(process.pid, signal.SIGKILL))
        timer.start()
        try:
            returncode = process.wait()
        finally:
            timer.cancel()
        peak, cpu = [*usage.read().split(), "0", "0"][:2]
        out.seek(0)
        err.seek(0)
        return Finished(returncode, out.read().decode(), err.read().decode(), int(peak), float(cpu))


def succeeded(result: Finished) -> int:
    """The page count a successful run reports (``pages=N``, its last line)."""
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"pages=\d+", last), result.stdout
    return int(last.removeprefix("pages="))


def failed(result: Finished) -> str:
    """The one line a failed run writes to standard error."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def tool(*argv: str | Path) -> str:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, check=True, timeout=DEADLINE
    ).stdout


def pdfinfo(path: Path, page: int | None = None) -> dict[str, str]:
    """pdfinfo's fields (with ``-f/-l``, the page's own size line)."""
    argv: list[str | Path] = ["pdfinfo"]
    if page is not None:
        argv += ["-f", str(page), "-l", str(page)]
    fields = {}
    for line in tool(*argv, path).splitlines():
        key, _, value = line.partition(":")
        fields[re.sub(r"Page +\d+ +", "Page ", key.strip())] = value.strip()
    return fields


def page_size(path: Path, page: int = 1) -> tuple[float, float]:
    text = pdfinfo(path, page)["Page size"]
    match = re.match(r"([\d.]+) x ([\d.]+) pts", text)
    assert match is not None, text
    return float(match.group(1)), float(match.group(2))


def page_count(path: Path) -> int:
    return int(pdfinfo(path)["Pages"])


def pdftotext(path: Path, *options: str, page: int | None = None) -> str:
    argv: list[str | Path] = ["pdftotext", *options]
    if page is not None:
        argv += ["-f", str(page), "-l", str(page)]
    return tool(*argv, path, "-")


def render(path: Path, page: int, resolution: int, folder: Path) -> Image.Image:
    """One page rendered by poppler's pdftoppm, in gray."""
    prefix = folder / f"render-{page}"
    tool(
        "pdftoppm",
        "-gray",
        "-r",
        str(resolution),
        "-f",
        str(page),
        "-l",
        str(page),
        "-singlefile",
        path,
        prefix,
    )
    with Image.open(f"{prefix}.pgm") as image:
        return image.convert("L").copy()


def ink_box(image: Image.Image, threshold: int = 200) -> tuple[int, int, int, int] | None:
    """The bounding box (left, top, right, bottom) of what is darker than
    `threshold`, None on a blank page."""
    mask = image.point(lambda v: 255 if v < threshold else 0)
    return mask.getbbox()


def writes_only_its_output(name: str, source: Path, folder: Path, *options: str) -> None:
    """Run `name` in an empty job folder holding only its input: afterwards
    the folder holds the input and OUTPUT, nothing else."""
    folder.mkdir()
    job_input = folder / "document-1"
    job_input.write_bytes(source.read_bytes())
    succeeded(run_program(name, job_input.name, "print-1", *options, cwd=folder))
    assert sorted(p.name for p in folder.iterdir()) == ["document-1", "print-1"]
