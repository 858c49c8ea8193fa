"""Convert one document for its printer: sniff, route, run, spool.

`Converter.convert` is what the conversion stage (gateway/core/conversion.py)
calls for each document:

1. The format goes by the bytes when the client's label says nothing
   (`gateway.convert.sniff.declared_or_sniffed`).
2. `gateway.convert.tools.route` plans the steps to a format the printer
   takes, with a pdftopdf pass when job options must be applied here. No
   route: `ConversionError` naming the format and what the printer takes.
   Nothing to do: None, and the original goes as it is.
3. Each step runs as a limited process (`gateway.convert.sandbox`) in a
   scratch folder of its own inside the work folder (the job's spool
   folder), at most ``max_concurrent`` conversions at once.
4. The last step's output is written in the scratch folder (its temporary
   name), its pages counted, its bytes hashed in a worker thread, the file
   fsync'ed, and only then renamed to ``<stem>.<ext>`` and the folder
   fsync'ed: a crash leaves either no file or a whole one. The scratch
   folder goes, whatever happened (success, failure, cancellation).

Nothing here reads a document into the event loop's memory: converters
stream files to files, and hashing reads 1 MiB at a time in a thread.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import trio

from gateway.config import ConvertConfig
from gateway.convert.chains import Step
from gateway.convert.formats import EXTENSIONS, OCTET_STREAM, PDF, URF, base
from gateway.convert.options import RenderOptions
from gateway.convert.raster import count_pages
from gateway.convert.sandbox import ConversionError, Limits, meaningful_line, run_limited
from gateway.convert.sniff import declared_or_sniffed
from gateway.convert.tools import (
    LAYOUT_TOOLS,
    RASTER_FORMATS,
    Route,
    command,
    parse_pdfinfo_pages,
    parse_reported_pages,
    pdfinfo,
    route,
)

__all__ = ["ConversionError", "Converted", "Converter"]

log = logging.getLogger("gateway.convert")

HASH_CHUNK: Final = 1024 * 1024
#: A stem names the output file: the gateway chooses it, never a client.
_STEM: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Converted:
    """A document converted for its printer."""

    path: Path  # the final output file, in workdir, fsync'ed
    format: str
    size: int
    sha256: str
    pages: int | None
    applied: frozenset[str]  # job attributes the conversion applied


class Converter:
    """Runs conversions, at most ``max_concurrent`` (default: the cores) at once."""

    def __init__(self, settings: ConvertConfig) -> None:
        self.settings = settings
        self.limits = Limits.from_config(settings)
        self.limiter = trio.CapacityLimiter(settings.max_concurrent or os.cpu_count() or 1)

    async def convert(
        self,
        source: Path,
        declared_format: str,
        accepted: Sequence[str] | None,
        options: RenderOptions,
        workdir: Path,
        stem: str,
    ) -> Converted | None:
        """The document at `source` made printable for a printer that takes
        `accepted` (None: anything, as a folder does), written in `workdir` as
        ``<stem>.<ext>``; None when it goes as it is. Raises `ConversionError`."""
        if accepted is None:
            return None
        if not _STEM.match(stem):
            raise ValueError(f"{stem!r} is not a file stem the gateway chose")
        fmt = await trio.to_thread.run_sync(declared_or_sniffed, source, declared_format)
        planned = route(fmt, accepted, options)
        if planned is None:
            raise ConversionError(_unprintable(fmt, accepted), kind="unsupported")
        if not planned.steps:
            return None
        absolute_source = Path(await trio.Path(source).absolute())
        absolute_workdir = Path(await trio.Path(workdir).absolute())
        async with self.limiter:
            converted = await self._run(planned, absolute_source, options, absolute_workdir, stem)
        # The path as the caller named its folder (relative stays relative).
        return replace(converted, path=workdir / converted.path.name)

    async def _run(
        self, planned: Route, source: Path, options: RenderOptions, workdir: Path, stem: str
    ) -> Converted:
        start = trio.current_time()
        final = workdir / f"{stem}.{EXTENSIONS.get(planned.target, 'bin')}"
        scratch = workdir / f".{stem}.convert"
        await trio.to_thread.run_sync(_fresh_folder, scratch)
        try:
            produced, pages = await self._steps(planned, source, options, scratch)
            if pages is None and planned.target in RASTER_FORMATS:
                pages = await trio.to_thread.run_sync(count_pages, produced)
            if pages == 0:
                raise ConversionError("the document has no pages to print", kind="failed")
            if planned.target == URF and pages is not None:
                await trio.to_thread.run_sync(_set_urf_page_count, produced, pages)
            size, digest = await trio.to_thread.run_sync(_publish, produced, final)
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(shutil.rmtree, scratch, True)
        log.info(
            "converted %s to %s in %.2fs (%s): %d bytes, %s pages",
            planned.source,
            planned.target,
            trio.current_time() - start,
            describe(planned.steps),
            size,
            "?" if pages is None else pages,
        )
        return Converted(final, planned.target, size, digest, pages, planned.applied)

    async def _steps(
        self, planned: Route, source: Path, options: RenderOptions, scratch: Path
    ) -> tuple[Path, int | None]:
        """Run every step; the last output and its pages (None: not known yet)."""
        current = source
        pages: int | None = None
        layout_done = False
        for index, step in enumerate(planned.steps):
            output = scratch / f"step-{index + 1}.{EXTENSIONS.get(step.target, 'bin')}"
            cmd = command(
                step,
                options,
                current,
                output,
                font=self.settings.text_font,
                layout_done=layout_done,
            )
            finished = await run_limited(
                cmd.argv, cwd=scratch, stdin=None, stdout=None, limits=self.limits, name=cmd.name
            )
            if not await trio.to_thread.run_sync(output.exists):
                # Ghostscript exits 0 on a PDF it cannot open; it says why.
                line = meaningful_line(f"{finished.stdout}\n{finished.stderr}", scratch)
                if line:
                    raise ConversionError(
                        f"{cmd.name} could not read the document: {line}", kind="failed"
                    )
                raise ConversionError(
                    f"{cmd.name} found no pages to print in the document", kind="failed"
                )
            if cmd.reports_pages:
                pages = parse_reported_pages(finished.stdout)
            elif pages is None and step.source == PDF:
                pages = await self._pdf_pages(current, scratch)
            if step.target == PDF and not cmd.reports_pages:
                pages = await self._pdf_pages(output, scratch)
            layout_done = layout_done or step.tool in LAYOUT_TOOLS
            current = output
        return current, pages

    async def _pdf_pages(self, path: Path, scratch: Path) -> int | None:
        """A PDF's page count by pdfinfo (None when poppler cannot read it: the
        document may still print, Ghostscript repairs more than poppler)."""
        cmd = pdfinfo(path)
        try:
            finished = await run_limited(
                cmd.argv, cwd=scratch, stdin=None, stdout=None, limits=self.limits, name=cmd.name
            )
        except ConversionError as exc:
            log.debug("no page count for %s: %s", path.name, exc.reason)
            return None
        return parse_pdfinfo_pages(finished.stdout)


def _unprintable(fmt: str, accepted: Sequence[str]) -> str:
    takes = ", ".join(dict.fromkeys(base(a) for a in accepted if base(a) != OCTET_STREAM))
    what = (
        "this document (its format is not one the gateway recognises)"
        if base(fmt) == OCTET_STREAM
        else base(fmt)
    )
    return f"cannot print {what} on this printer, which takes {takes or 'no known format'}"


def _fresh_folder(path: Path) -> None:
    """An empty scratch folder (one left by a crash is emptied first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o700)


def _set_urf_page_count(path: Path, pages: int) -> None:
    """Ghostscript's urf device leaves the file header's page count 0
    (unknown); some printers want it, and it is known now."""
    with path.open("r+b") as fh:
        head = fh.read(12)
        if head[:8] == b"UNIRAST\x00" and head[8:12] == b"\x00\x00\x00\x00":
            fh.seek(8)
            fh.write(struct.pack(">I", pages))


def _publish(produced: Path, final: Path) -> tuple[int, str]:
    """Hash and fsync the output, then rename it into place and fsync the
    folder; its size and SHA-256 (blocking: run in a worker thread)."""
    digest = hashlib.sha256()
    size = 0
    with produced.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
        os.fsync(fh.fileno())
    # The scratch folder is the temporary name: one rename puts the whole
    # file in place, on the same file system.
    os.replace(produced, final)
    folder = os.open(final.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return size, digest.hexdigest()


def describe(steps: Sequence[Step]) -> str:
    """``gs-pwg`` or ``texttopdf > pdftopdf > gs-pwg``, for logs."""
    return " > ".join(step.tool for step in steps)
