"""The conversion stage: documents made printable for the queue's printer before
the dispatcher hands a job to its backend.

Theory of operation
-------------------
For each document the stage asks the backend what its printer takes
(`Capabilities.document_formats`: the printer's own document-format-supported for
an IPP printer, the ``formats`` option of an LPD printer, None for a folder, which
keeps the original) and lets `gateway.convert` sniff, plan and run the converter
processes. The converted file is written and fsync'ed in the job's spool folder,
and recorded in the job (`Document.print_*`, pages) in a committed change before
anything is sent: a restart or a retry sends the same bytes without converting
again, and the original stays for Get-Documents, LPD forwarding and history.

What the backend gets is `printable(job)`: the job with each document replaced by
what the printer takes, and without the job template attributes the conversion
already applied (number-up, page-ranges, ...; copies made by the conversion leave
``copies`` = 1), so the printer does not apply them twice.

A document that cannot be converted (no chain leads to what the printer takes, or
a converter fails or passes a limit) raises `ConversionFailed`, whose reason the
dispatcher gives the aborted job as its job-state-message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gateway.backends.base import Capabilities, TransientBackendError
from gateway.config import ConvertConfig
from gateway.convert.formats import KNOWN, base
from gateway.convert.options import render_options
from gateway.convert.runner import ConversionError, Converted, Converter
from gateway.core.job import Document, Job
from gateway.core.spool import Spool
from gateway.core.translate import LPD_LETTER_ATTRIBUTE

log = logging.getLogger("gateway.convert")

#: Where the applied attributes are kept in a converted document's attributes.
APPLIED = "gateway-applied"


class ConversionFailed(Exception):
    """A document of the job cannot be made printable; ``reason`` is one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConversionStage:
    """Converts a job's documents for its queue's printer (see the module doc)."""

    def __init__(self, spool: Spool, settings: ConvertConfig) -> None:
        self.spool = spool
        self.settings = settings
        self.converter = Converter(settings)

    def needed(self, caps: Capabilities) -> bool:
        """Whether jobs for a printer with `caps` go through conversion at all."""
        return self.settings.enabled and caps.document_formats is not None

    async def prepare(self, job: Job, caps: Capabilities) -> Job:
        """The job with every document converted for a printer with `caps` (and
        recorded in the spool); the job itself when nothing is to be done."""
        accepted = caps.document_formats
        if not self.needed(caps) or accepted is None:
            return job
        documents = list(job.documents)
        changed = False
        for index, doc in enumerate(documents):
            if doc.print_path or doc.attributes.get(APPLIED) is not None:
                continue  # converted before a restart or a retry
            converted = await self._convert(job, doc, accepted, caps.printer_attributes)
            if converted is None:
                continue
            documents[index] = self._recorded(doc, converted)
            changed = True
        if not changed:
            return job
        return await self.spool.update(job.id, documents=tuple(documents))

    async def _convert(
        self, job: Job, doc: Document, accepted: Sequence[str], printer: Mapping[str, Any]
    ) -> Converted | None:
        source = self.spool.document_path(doc)
        letter = doc.attributes.get(LPD_LETTER_ATTRIBUTE)
        options = render_options(
            job.attributes,
            doc.attributes,
            printer,
            default_media=_media_default(printer) or self.settings.default_media,
            title=doc.name or job.name,
            user=job.user,
            pretty=letter == "p",
        )
        try:
            return await self.converter.convert(
                source,
                doc.format,
                accepted,
                options,
                source.parent,
                f"print-{doc.number}",
            )
        except ConversionError as exc:
            if exc.kind == "unsupported" and base(doc.format) not in KNOWN:
                # A format the gateway neither reads nor writes: raw bytes it cannot
                # tell (a printer's own language sent with LPD's l), or one of LPD's
                # own letters (c, g, n, t, v: the LPD printer's filters take them by
                # letter). They go as they are, as they did before conversion
                # existed, and the printer (or the IPP backend's format check) decides.
                log.info(
                    "job %d: document %d: %s is not a format the gateway converts; sent as it is",
                    job.id,
                    doc.number,
                    base(doc.format),
                )
                return None
            raise ConversionFailed(f"document {doc.number}: {exc.reason}") from None
        except OSError as exc:  # the spool's disk, not the document: try again later
            raise TransientBackendError(
                f"cannot write the converted document: {exc.strerror or exc}", reason="other"
            ) from None

    def _recorded(self, doc: Document, converted: Converted) -> Document:
        root = self.spool.document_path(doc).parent
        relative = Path(doc.path).parent / converted.path.relative_to(root)
        attributes = dict(doc.attributes)
        attributes[APPLIED] = sorted(converted.applied)
        return Document(
            number=doc.number,
            path=doc.path,
            format=doc.format,
            size=doc.size,
            sha256=doc.sha256,
            name=doc.name,
            attributes=attributes,
            print_path=str(relative),
            print_format=converted.format,
            print_size=converted.size,
            print_sha256=converted.sha256,
            pages=converted.pages,
        )


def _media_default(printer: Mapping[str, Any]) -> str:
    """The printer's own media-default (an IPP printer's), "" when it has none."""
    value = printer.get("media-default")
    raw = getattr(value, "python_values", value)
    if isinstance(raw, list | tuple):
        raw = raw[0] if raw else None
    return raw if isinstance(raw, str) and "_" in raw else ""


def printable(job: Job) -> Job:
    """What the backend sends: each document as the printer takes it, and the job
    without the template attributes a conversion applied (see the module doc)."""
    if not any(doc.print_path for doc in job.documents):
        return job
    applied: set[str] = set()
    for doc in job.documents:
        names = doc.attributes.get(APPLIED)
        if isinstance(names, list):
            applied.update(str(n) for n in names)
    attributes = {k: v for k, v in job.attributes.items() if k not in applied}
    if "copies" in applied:
        attributes["copies"] = 1
    documents = tuple(_for_printer(doc) for doc in job.documents)
    return job.evolve(attributes=attributes, documents=documents)


def _for_printer(doc: Document) -> Document:
    """A converted document as sent: its new format decides the LPD letter (the
    remembered one was for the original) and the gateway's own notes stay here."""
    if not doc.print_path:
        return doc
    sent = doc.for_printer
    kept = {k: v for k, v in sent.attributes.items() if k not in (APPLIED, LPD_LETTER_ATTRIBUTE)}
    return sent.evolve_attributes(kept)
