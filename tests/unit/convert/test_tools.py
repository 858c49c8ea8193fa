"""Routes and command lines: which steps a document takes, with which
arguments, and that Ghostscript takes those arguments (it is run here on each
device's argv, as the runner builds it)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import trio

from gateway.convert.chains import Step
from gateway.convert.formats import (
    JPEG,
    PCL,
    PCLXL,
    PDF,
    PNG,
    POSTSCRIPT,
    PWG_RASTER,
    TEXT,
    URF,
)
from gateway.convert.options import RenderOptions
from gateway.convert.sandbox import Limits, run_limited
from gateway.convert.sniff import sniff_file
from gateway.convert.tools import (
    GS_FLAGS,
    PDFTOPDF,
    command,
    parse_pdfinfo_pages,
    parse_reported_pages,
    route,
)

from .support import FIXTURES

A4 = RenderOptions(media="iso_a4_210x297mm")


def tools(source: str, accepted: list[str], options: RenderOptions = A4) -> list[str] | None:
    found = route(source, accepted, options)
    return None if found is None else [step.tool for step in found.steps]


def test_routes_without_options() -> None:
    assert tools(PDF, [PWG_RASTER]) == ["gs-pwg"]
    assert tools(PDF, [PDF, PWG_RASTER]) == []
    assert tools(POSTSCRIPT, [PDF, URF]) == ["gs-pdf"]
    assert tools(TEXT, [PWG_RASTER]) == ["texttopdf", "gs-pwg"]
    assert tools(JPEG, [JPEG, PDF]) == []
    assert tools(PNG, [POSTSCRIPT]) == ["imagetopdf", "pdftops"]
    assert tools(URF, [PWG_RASTER]) == ["rastertopdf", "gs-pwg"]
    assert tools(PDF, ["application/vnd.hp-PCL"]) == ["gs-pcl"]
    assert tools(PDF, [PCLXL, PCL]) == ["gs-pclxl"]
    assert tools("image/gif", [PDF]) is None
    assert tools(PDF, [JPEG]) is None


def test_a_pdf_pass_where_options_must_be_applied() -> None:
    nup = replace(A4, number_up=2, applied=frozenset({"number-up"}))
    found = route(PDF, [PWG_RASTER], nup)
    assert found is not None
    assert [s.tool for s in found.steps] == ["pdftopdf", "gs-pwg"]
    assert found.applied == frozenset({"number-up"})
    # The printer takes the document's own PDF, but cannot apply the option.
    assert tools(PDF, [PDF], nup) == ["pdftopdf"]
    assert tools(TEXT, [PWG_RASTER], nup) == ["texttopdf", "pdftopdf", "gs-pwg"]
    # PostScript for a PostScript printer: through PDF and back.
    assert tools(POSTSCRIPT, [POSTSCRIPT], nup) == ["gs-pdf", "pdftopdf", "pdftops"]
    assert tools(PWG_RASTER, [PWG_RASTER], nup) == ["rastertopdf", "pdftopdf", "gs-pwg"]


def test_options_no_route_can_apply_are_left_to_the_printer() -> None:
    copies = replace(A4, copies=3, applied=frozenset({"copies"}))
    found = route(JPEG, [JPEG], copies)
    assert found is not None
    assert found.steps == ()
    assert found.applied == frozenset()


def test_layout_tools_apply_orientation_and_scaling() -> None:
    landscape = replace(A4, orientation=4, print_scaling="fill")
    found = route(TEXT, [PDF], landscape)
    assert found is not None
    assert found.applied == frozenset({"orientation-requested", "print-scaling"})
    found = route(JPEG, [PDF], landscape)
    assert found is not None
    assert found.applied == frozenset({"orientation-requested", "print-scaling"})
    # Portrait is what every page is anyway.
    found = route(TEXT, [PDF], replace(A4, orientation=3))
    assert found is not None
    assert found.applied == frozenset()


def test_no_pdf_pass_for_what_the_layout_tools_apply() -> None:
    turned = replace(
        A4,
        orientation=4,
        print_scaling="fit",
        applied=frozenset({"orientation-requested", "print-scaling"}),
    )
    assert tools(TEXT, [PDF], turned) == ["texttopdf"]
    assert tools(PNG, [PWG_RASTER], turned) == ["imagetopdf", "gs-pwg"]
    found = route(PNG, [PWG_RASTER], turned)
    assert found is not None
    assert found.applied == frozenset({"orientation-requested", "print-scaling"})
    # A PDF needs the pass for the same options.
    assert tools(PDF, [PWG_RASTER], turned) == ["pdftopdf", "gs-pwg"]
    # Text to be turned and put two to a sheet: the pass does the N-up only.
    both = replace(turned, number_up=2, applied=turned.applied | {"number-up"})
    found = route(TEXT, [PDF], both)
    assert found is not None
    assert [s.tool for s in found.steps] == ["texttopdf", "pdftopdf"]
    assert found.applied == frozenset({"orientation-requested", "print-scaling", "number-up"})
    pass_argv = command(found.steps[1], both, SRC, OUT, layout_done=True).argv
    assert [a for a in pass_argv if a.startswith("--")] == [
        "--number-up=2",
        "--media=iso_a4_210x297mm",
    ]


SRC = Path("/spool/jobs/000001/document-1")
OUT = Path("/spool/jobs/000001/.print-1.convert/step-1.out")


def argv(tool: str, source: str, target: str, options: RenderOptions = A4) -> list[str]:
    return list(command(Step(source, target, tool), options, SRC, OUT).argv)


def test_ghostscript_always_safe_and_writes_only_its_output() -> None:
    for tool, target in (
        ("gs-pdf", PDF),
        ("gs-pwg", PWG_RASTER),
        ("gs-urf", URF),
        ("gs-pclxl", PCLXL),
        ("gs-pcl", PCL),
    ):
        line = argv(tool, PDF if tool != "gs-pdf" else POSTSCRIPT, target)
        assert line[0] == "gs"
        assert line[1 : 1 + len(GS_FLAGS)] == list(GS_FLAGS)
        assert "-dSAFER" in line and "-dBATCH" in line and "-dNOPAUSE" in line
        assert "-dQUIET" in line
        assert [a for a in line if a.startswith("-sOutputFile=")] == [f"-sOutputFile={OUT}"]
        assert line[-2:] == ["-f", str(SRC)]


def test_pwg_raster_argv() -> None:
    options = replace(
        A4,
        resolution=(600, 600),
        pwg_raster_type="srgb_8",
        sides="two-sided-short-edge",
        sheet_back="rotated",
    )
    line = argv("gs-pwg", PDF, PWG_RASTER, options)
    assert "-sDEVICE=pwgraster" in line
    assert "-r600x600" in line
    assert "-dcupsColorSpace=19" in line and "-dcupsBitsPerColor=8" in line
    assert "-scupsPageSizeName=iso_a4_210x297mm" in line
    assert "-dDEVICEWIDTHPOINTS=595.28" in line and "-dDEVICEHEIGHTPOINTS=841.89" in line
    assert "-dFIXEDMEDIA" in line and "-dPDFFitPage" in line
    assert "-dDuplex" in line and "-dTumble" in line
    assert "-scupsBackSideOrientation=Rotated" in line
    gray = argv("gs-pwg", PDF, PWG_RASTER, replace(A4, pwg_raster_type="black_1"))
    assert "-dcupsColorSpace=3" in gray and "-dcupsBitsPerColor=1" in gray
    assert "-dDuplex" not in gray


def test_page_fitting_by_source_and_print_scaling() -> None:
    assert "-dPSFitPage" in argv("gs-pwg", POSTSCRIPT, PWG_RASTER)
    assert "-dPDFFitPage" not in argv("gs-pwg", POSTSCRIPT, PWG_RASTER)
    none = argv("gs-pwg", PDF, PWG_RASTER, replace(A4, print_scaling="none"))
    assert "-dFIXEDMEDIA" in none
    assert "-dPDFFitPage" not in none
    # PostScript to PDF keeps the document's own page sizes.
    to_pdf = argv("gs-pdf", POSTSCRIPT, PDF)
    assert "-dFIXEDMEDIA" not in to_pdf
    assert "-dAutoRotatePages=/None" in to_pdf


def test_urf_pcl_and_pcl_xl_argv() -> None:
    urf = argv(
        "gs-urf",
        PDF,
        URF,
        replace(A4, urf_type="SRGB24", urf_resolution=(600, 600), sides="two-sided-long-edge"),
    )
    assert "-sDEVICE=urf" in urf and "-r600x600" in urf
    assert "-dcupsColorSpace=19" in urf
    assert "-dDuplex" in urf and "-dTumble" not in urf
    assert "-sDEVICE=pxlcolor" in argv("gs-pclxl", PDF, PCLXL, replace(A4, color=True))
    mono = argv("gs-pclxl", PDF, PCLXL, replace(A4, resolution=(1200, 1200)))
    assert "-sDEVICE=pxlmono" in mono and "-r1200" in mono
    assert "-sDEVICE=ljet4" in argv("gs-pcl", PDF, PCL)
    assert "-sDEVICE=ljet4d" in argv("gs-pcl", PDF, PCL, replace(A4, sides="two-sided-long-edge"))
    # ljet4d binds the long edge only: short edge prints one-sided.
    assert "-sDEVICE=ljet4" in argv("gs-pcl", PDF, PCL, replace(A4, sides="two-sided-short-edge"))
    assert "-r600" in argv("gs-pcl", PDF, PCL, replace(A4, resolution=(1200, 1200)))


def test_a_percent_sign_in_the_output_path_is_not_a_page_template() -> None:
    out = Path("/spool/100%d/step-1.pwg")
    line = command(Step(PDF, PWG_RASTER, "gs-pwg"), A4, SRC, out).argv
    assert "-sOutputFile=/spool/100%%d/step-1.pwg" in line


def test_paths_must_be_absolute() -> None:
    with pytest.raises(ValueError, match="absolute"):
        command(Step(PDF, PWG_RASTER, "gs-pwg"), A4, Path("doc.pdf"), OUT)


def test_own_converters_argv() -> None:
    text = replace(
        A4,
        title="-rf everything",
        user="--help",
        date="2026-12-02 10:00",
        header=True,
        text_width=132,
        text_indent=4,
        orientation=4,
    )
    cmd = command(Step(TEXT, PDF, "texttopdf"), text, SRC, OUT, font=Path("/fonts/mono.ttf"))
    assert cmd.name == "texttopdf"
    assert cmd.reports_pages
    assert list(cmd.argv[:4]) == [sys.executable, "-P", "-m", "gateway.convert.texttopdf"]
    assert list(cmd.argv[4:6]) == [str(SRC), str(OUT)]
    rest = list(cmd.argv[6:])
    assert rest == [
        "--media=iso_a4_210x297mm",
        "--font=/fonts/mono.ttf",
        "--title=-rf everything",
        "--user=--help",
        "--date=2026-12-02 10:00",
        "--header",
        "--width=132",
        "--indent=4",
        "--orientation=landscape",
    ]
    # What a client named its job stays a value for argparse.
    parser = argparse.ArgumentParser()
    for name in ("media", "font", "title", "user", "date", "width", "indent", "orientation"):
        parser.add_argument(f"--{name}")
    parser.add_argument("--header", action="store_true")
    parsed = parser.parse_args(rest)
    assert parsed.title == "-rf everything"
    assert parsed.user == "--help"
    image = command(Step(JPEG, PDF, "imagetopdf"), replace(A4, print_scaling="fill"), SRC, OUT)
    assert list(image.argv[6:]) == ["--media=iso_a4_210x297mm", "--scaling=fill"]
    raster = command(Step(PWG_RASTER, PDF, "rastertopdf"), A4, SRC, OUT)
    assert list(raster.argv[3:]) == ["gateway.convert.rastertopdf", str(SRC), str(OUT)]


def test_pdftopdf_argv() -> None:
    options = replace(
        A4,
        page_ranges=((1, 3), (7, 7)),
        number_up=4,
        orientation=6,
        print_scaling="fit",
        copies=2,
        applied=frozenset(
            {"page-ranges", "number-up", "orientation-requested", "print-scaling", "copies"}
        ),
    )
    cmd = command(PDFTOPDF, options, SRC, OUT)
    assert list(cmd.argv[6:]) == [
        "--page-ranges=1-3,7",
        "--number-up=4",
        "--orientation=reverse-portrait",
        "--scaling=fit",
        "--media=iso_a4_210x297mm",
        "--copies=2",
    ]
    # After texttopdf laid the pages out landscape, pdftopdf does not turn them.
    after_layout = command(PDFTOPDF, options, SRC, OUT, layout_done=True)
    assert "--orientation=reverse-portrait" not in after_layout.argv
    # Only what is applied is passed.
    copies_only = replace(A4, copies=2, number_up=4, applied=frozenset({"copies"}))
    assert list(command(PDFTOPDF, copies_only, SRC, OUT).argv[6:]) == ["--copies=2"]


def test_page_count_parsers() -> None:
    assert parse_reported_pages("progress\npages=12\n") == 12
    assert parse_reported_pages("pages=12\nsomething else\n") is None
    assert parse_reported_pages("") is None
    assert parse_pdfinfo_pages("Title: x\nPages:          8\nEncrypted: no\n") == 8
    assert parse_pdfinfo_pages("Title: x\n") is None


@pytest.mark.parametrize(
    ("tool", "target", "options"),
    [
        ("gs-pwg", PWG_RASTER, replace(A4, resolution=(150, 150), pwg_raster_type="sgray_8")),
        ("gs-pwg", PWG_RASTER, replace(A4, pwg_raster_type="black_1", sides="two-sided-long-edge")),
        ("gs-pwg", PWG_RASTER, replace(A4, pwg_raster_type="srgb_16", resolution=(100, 100))),
        ("gs-urf", URF, replace(A4, urf_type="SRGB24", urf_resolution=(150, 150))),
        ("gs-urf", URF, replace(A4, urf_type="W8", urf_resolution=(150, 150))),
        ("gs-pclxl", PCLXL, replace(A4, color=True, sides="two-sided-short-edge")),
        ("gs-pcl", PCL, replace(A4, sides="two-sided-long-edge")),
    ],
)
async def test_ghostscript_takes_each_argv(
    tool: str, target: str, options: RenderOptions, job_folder: Path
) -> None:
    """Every device line, run for real on a two-page PDF: Ghostscript accepts
    it and writes what the step says it makes."""
    work = job_folder / "work"
    work.mkdir()
    output = work / "out"
    cmd = command(Step(PDF, target, tool), options, FIXTURES / "two-pages.pdf", output)
    with trio.fail_after(60):
        await run_limited(
            cmd.argv, cwd=work, stdin=None, stdout=None, limits=Limits(), name=cmd.name
        )
    assert sniff_file(output) == target


async def test_pdftops_makes_postscript_on_the_media_with_every_page(job_folder: Path) -> None:
    work = job_folder / "work"
    work.mkdir()
    output = work / "out"
    cmd = command(Step(PDF, POSTSCRIPT, "pdftops"), A4, FIXTURES / "two-pages.pdf", output)
    assert cmd.argv[0] == "pdftops" and cmd.argv[-2:] == (
        str(FIXTURES / "two-pages.pdf"),
        str(output),
    )
    with trio.fail_after(60):
        await run_limited(
            cmd.argv, cwd=work, stdin=None, stdout=None, limits=Limits(), name=cmd.name
        )
    assert sniff_file(output) == POSTSCRIPT
    text = output.read_bytes()
    assert b"%%Pages: 2" in text and b"%%DocumentMedia:" in text
