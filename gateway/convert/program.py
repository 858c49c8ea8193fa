"""What every converter program of the gateway's own does the same way.

The runner (gateway/convert/runner.py) starts a converter as
``sys.executable -m gateway.convert.NAME INPUT OUTPUT [options]`` in the
job's spool folder and reads two things back: the exit status, and either
``pages=N`` as the last line of standard output (0) or one readable line on
standard error (1), which may end up in a job-state-message. So no
traceback ever reaches standard error, and a failed conversion leaves no
half-written OUTPUT behind to be mistaken for a finished one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["ConversionError", "run"]


class ConversionError(Exception):
    """The input cannot be converted; the message says why, in one line."""


def run(
    parser: argparse.ArgumentParser,
    convert: Callable[[argparse.Namespace], int],
    argv: Sequence[str] | None,
) -> int:
    """Parse `argv`, call `convert` (which returns the number of pages it
    wrote to ``args.output``) and report as the runner expects."""
    args = parser.parse_args(argv)
    output: Path | None = getattr(args, "output", None)
    try:
        pages = convert(args)
    except Exception as error:  # every failure becomes the one line the runner shows
        if output is not None:
            output.unlink(missing_ok=True)
        print(f"{parser.prog}: {_one_line(error)}", file=sys.stderr)
        return 1
    print(f"pages={pages}", flush=True)
    return 0


def _one_line(error: Exception) -> str:
    text = " ".join(str(error).split())
    if isinstance(error, ConversionError | ValueError) and text:
        return text
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}: {error.filename}" if error.filename else error.strerror
    if isinstance(error, MemoryError):
        return "the document needs more memory than a conversion may use"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
