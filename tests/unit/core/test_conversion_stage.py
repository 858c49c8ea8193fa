"""The conversion stage between the spool and a backend (gateway/core/conversion.py),
with a real spool and real converters: what it records, what the backend gets, and
which documents go as they are."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from gateway.backends.base import Capabilities
from gateway.config import ConvertConfig
from gateway.core.conversion import APPLIED, ConversionFailed, ConversionStage, printable
from gateway.core.spool import Spool
from gateway.core.translate import LPD_LETTER_ATTRIBUTE
from tests.helpers import spool_job

POSTSCRIPT_PRINTER = Capabilities(document_formats=("application/postscript",))
TEXT = b"first page\n\fsecond page\n"


async def test_text_is_converted_recorded_and_sent_instead_of_the_original(
    tmp_path: Path,
) -> None:
    spool = await Spool.open(tmp_path / "spool")
    try:
        job = await spool_job(spool, [(TEXT, "text/plain", "notes.txt")], attributes={"copies": 2})
        stage = ConversionStage(spool, ConvertConfig())
        with trio.fail_after(60):
            prepared = await stage.prepare(job, POSTSCRIPT_PRINTER)
        (doc,) = prepared.documents
        assert doc.format == "text/plain" and doc.path == job.documents[0].path
        assert doc.print_format == "application/postscript" and doc.pages == 2
        converted = spool.document_path(doc.for_printer)
        assert converted.read_bytes()[:4] == b"%!PS" and converted.stat().st_size == doc.print_size
        assert spool.get(job.id) == prepared  # recorded before anything is sent
        # A retry (or a restart) finds it converted and converts nothing again.
        assert await stage.prepare(prepared, POSTSCRIPT_PRINTER) is prepared
        sent = printable(prepared)
        assert sent.documents[0].format == "application/postscript"
        assert sent.documents[0].path == doc.print_path
        assert APPLIED not in sent.documents[0].attributes
        assert sent.attributes["copies"] == 2  # an LPD printer makes its copies itself
    finally:
        await spool.aclose()


async def test_lpd_letters_and_raw_bytes_go_as_they_are(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path / "spool")
    try:
        job = await spool_job(
            spool,
            [
                (b"troff input\n", "application/x-troff", "t.dat"),
                (b"\x00\x01binary printer language", "application/octet-stream", "raw"),
            ],
        )
        stage = ConversionStage(spool, ConvertConfig())
        with trio.fail_after(60):
            prepared = await stage.prepare(job, POSTSCRIPT_PRINTER)
        assert prepared is job and printable(prepared) is job
    finally:
        await spool.aclose()


async def test_a_known_format_with_no_way_to_the_printer_fails_with_a_reason(
    tmp_path: Path,
) -> None:
    spool = await Spool.open(tmp_path / "spool")
    try:
        job = await spool_job(spool, [(b"\x1bE PCL \x1bE", "application/vnd.hp-PCL", "p")])
        stage = ConversionStage(spool, ConvertConfig())
        with trio.fail_after(60), pytest.raises(ConversionFailed) as failed:
            await stage.prepare(job, POSTSCRIPT_PRINTER)
        assert failed.value.reason == (
            "document 1: cannot print application/vnd.hp-pcl on this printer, "
            "which takes application/postscript"
        )
    finally:
        await spool.aclose()


async def test_a_folder_keeps_the_original_and_conversion_can_be_off(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path / "spool")
    try:
        job = await spool_job(spool, [(TEXT, "text/plain", "n.txt")], attributes={"copies": 1})
        assert await ConversionStage(spool, ConvertConfig()).prepare(job, Capabilities()) is job
        off = ConversionStage(spool, ConvertConfig(enabled=False))
        assert await off.prepare(job, POSTSCRIPT_PRINTER) is job
    finally:
        await spool.aclose()


def test_a_converted_p_document_loses_its_remembered_letter() -> None:
    from gateway.core.job import Document, Frontend, Job, JobState, Origin

    doc = Document(
        1,
        "jobs/x/doc-1",
        "text/plain",
        10,
        "",
        attributes={LPD_LETTER_ATTRIBUTE: "p", APPLIED: ["number-up"]},
        print_path="jobs/x/print-1.pdf",
        print_format="application/pdf",
        print_size=99,
    )
    job = Job(
        1, "lp", JobState.PENDING, {"number-up": 2, "copies": 1}, (doc,), Origin(Frontend.LPD)
    )
    sent = printable(job)
    assert sent.documents[0].attributes == {}
    assert "number-up" not in sent.attributes and sent.documents[0].format == "application/pdf"
