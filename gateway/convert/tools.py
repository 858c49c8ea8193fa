"""The command line of each conversion, and the route a document takes.

`route` turns the chain planner's answer (`gateway.convert.chains.plan`)
into the steps actually run: when the conversion must apply job options the
printer cannot (number-up, page-ranges, orientation, scaling, copies: see
`gateway.convert.options`), a ``pdftopdf`` step is put where the document is
PDF, just before the step that makes the printer's format (or last, when the
printer takes PDF, even the document's own PDF). When no route passes
through PDF, those options are left to the printer and not claimed as applied.

`command` gives the argv of one step:

- Ghostscript (``gs-*``) always runs with ``-dSAFER -dBATCH -dNOPAUSE
  -dQUIET`` and writes ``-sOutputFile=`` inside the work folder; raster and
  printer-language devices get the media size as a fixed page size and fit
  each page to it (``-dPDFFitPage`` / ``-dPSFitPage``), so a page of 200 by
  200 inches is rendered at the size of the paper, not at its own;
- the gateway's own converters run as ``python -P -m gateway.convert.<tool>``
  with ``--option=value`` arguments (a value that starts with ``-``, such as
  a job named "-x", stays a value).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from gateway.convert.chains import Step, plan
from gateway.convert.formats import PDF, POSTSCRIPT, PWG_RASTER, URF, base
from gateway.convert.media import media_size_points
from gateway.convert.options import APPLICABLE, RenderOptions

#: The step that applies job options to a PDF.
PDFTOPDF: Final = Step(PDF, PDF, "pdftopdf")

GHOSTSCRIPT: Final = "gs"
#: Flags of every Ghostscript run (-dSAFER: no file outside the document and
#: Ghostscript's own resources is opened; PostScript ``print`` goes to stderr).
GS_FLAGS: Final = ("-dSAFER", "-dBATCH", "-dNOPAUSE", "-dQUIET", "-sstdout=%stderr")

#: Each tool's name in messages to users.
TOOL_NAMES: Final = {
    "gs": "Ghostscript",
    "texttopdf": "texttopdf",
    "imagetopdf": "imagetopdf",
    "rastertopdf": "rastertopdf",
    "pdftopdf": "pdftopdf",
    "pdfinfo": "pdfinfo",
    "pdftops": "pdftops",
}
#: Steps that lay pages out themselves, and so apply orientation and
#: print-scaling as they go.
LAYOUT_TOOLS: Final = frozenset({"texttopdf", "imagetopdf"})

#: PWG raster type -> (cupsColorSpace, cupsBitsPerColor) of Ghostscript's
#: pwgraster device (CUPS raster.h numbering: 1 RGB, 3 K, 6 CMYK, 18 sGray,
#: 19 sRGB, 20 AdobeRGB).
PWG_COLOR_SPACES: Final = {
    "black_1": (3, 1),
    "black_8": (3, 8),
    "black_16": (3, 16),
    "sgray_8": (18, 8),
    "sgray_16": (18, 16),
    "srgb_8": (19, 8),
    "srgb_16": (19, 16),
    "adobe-rgb_8": (20, 8),
    "adobe-rgb_16": (20, 16),
    "rgb_8": (1, 8),
    "rgb_16": (1, 16),
    "cmyk_8": (6, 8),
    "cmyk_16": (6, 16),
}
#: URF type -> the same for Ghostscript 10.0's urf device, which is built on
#: the CUPS raster driver: 18/8 writes URF sGray 8-bit, 19/8 sRGB 24-bit.
URF_COLOR_SPACES: Final = {
    "W8": (18, 8),
    "DEVW8": (0, 8),
    "SRGB24": (19, 8),
    "ADOBERGB24": (20, 8),
    "DEVRGB24": (1, 8),
}
#: pwg-raster-document-sheet-back -> cupsBackSideOrientation of the CUPS driver.
BACK_SIDE: Final = {
    "normal": "Normal",
    "flipped": "Flipped",
    "rotated": "Rotated",
    "manual-tumble": "ManualTumble",
}
#: Resolutions the HP devices render at.
PCLXL_DPI: Final = (150, 300, 600, 1200)
PCL_DPI: Final = (300, 600)


@dataclass(frozen=True, slots=True)
class Route:
    """The steps a document goes through, and the job attributes they apply."""

    source: str
    steps: tuple[Step, ...]
    applied: frozenset[str]

    @property
    def target(self) -> str:
        return self.steps[-1].target if self.steps else self.source


@dataclass(frozen=True, slots=True)
class Command:
    """One converter process: its argv and its name in messages."""

    argv: tuple[str, ...]
    name: str
    reports_pages: bool  # it prints ``pages=N`` as its last stdout line


def route(source: str, accepted: Sequence[str], options: RenderOptions) -> Route | None:
    """The steps from `source` to a format in `accepted` (None: there is none).

    `options.applied` that need a PDF pass get one where the route passes
    through PDF (see the module doc). Text and image converters lay pages out
    in the requested orientation and scaling, so those count as applied when
    they run, and need no PDF pass of their own.
    """
    source = base(source)
    steps = plan(source, accepted)
    wanted = set(options.applied & APPLICABLE)
    through = _through_pdf(source, accepted) if wanted else None
    if through is not None:
        wanted -= _laid_out(options, through)
        if wanted:
            steps = through
    if steps is None:
        return None
    applied = _laid_out(options, steps)
    if PDFTOPDF in steps:
        applied |= wanted
    return Route(source, steps, frozenset(applied))


def _laid_out(options: RenderOptions, steps: Sequence[Step]) -> set[str]:
    """What the text and image converters among `steps` apply as they lay out:
    the orientation, and the scaling (an image is scaled to the sheet as asked;
    text is set on pages the size of the sheet, so there is nothing to scale)."""
    if not {step.tool for step in steps} & LAYOUT_TOOLS:
        return set()
    done: set[str] = set()
    if options.orientation not in (None, 3):
        done.add("orientation-requested")
    if options.print_scaling is not None:
        done.add("print-scaling")
    return done


def _through_pdf(source: str, accepted: Sequence[str]) -> tuple[Step, ...] | None:
    """source -> ... -> PDF, pdftopdf, PDF -> ... -> accepted."""
    to_pdf = () if source == PDF else plan(source, [PDF])
    from_pdf = plan(PDF, accepted)
    if to_pdf is None or from_pdf is None:
        return None
    return (*to_pdf, PDFTOPDF, *from_pdf)


def command(
    step: Step,
    options: RenderOptions,
    source: Path,
    output: Path,
    *,
    font: Path | None = None,
    layout_done: bool = False,
) -> Command:
    """The argv of `step` from `source` to `output` (both absolute, in the
    job's folder). `layout_done`: a text or image converter already laid the
    pages out (orientation, scaling), so pdftopdf does not do it again."""
    for path in (source, output):
        if not path.is_absolute():
            raise ValueError(f"{path} is not an absolute path")
    tool = step.tool
    if tool.startswith("gs-"):
        return Command(_ghostscript(step, options, source, output), TOOL_NAMES["gs"], False)
    if tool == "texttopdf":
        argv = _own(tool, source, output, _text_arguments(options, font))
    elif tool == "imagetopdf":
        argv = _own(tool, source, output, _image_arguments(options))
    elif tool == "rastertopdf":
        argv = _own(tool, source, output, [])
    elif tool == "pdftopdf":
        argv = _own(tool, source, output, _pdf_arguments(options, layout_done=layout_done))
    elif tool == "pdftops":
        return Command(_pdftops(options, source, output), TOOL_NAMES[tool], False)
    else:
        raise ValueError(f"no command for the tool {tool!r}")
    return Command(argv, TOOL_NAMES[tool], True)


def pdfinfo(path: Path) -> Command:
    """poppler's pdfinfo, for the page count of a PDF (``Pages:`` line)."""
    return Command(("pdfinfo", str(path)), TOOL_NAMES["pdfinfo"], False)


def parse_pdfinfo_pages(stdout: str) -> int | None:
    for line in stdout.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Pages" and value.strip().isdigit():
            return int(value.strip())
    return None


def parse_reported_pages(stdout: str) -> int | None:
    """The ``pages=N`` line the gateway's own converters end with."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    if lines and lines[-1].startswith("pages="):
        value = lines[-1].removeprefix("pages=")
        if value.isdigit():
            return int(value)
    return None


# ----------------------------------------------------------------------
# The gateway's own converters


def _own(tool: str, source: Path, output: Path, arguments: list[str]) -> tuple[str, ...]:
    return (
        sys.executable,
        "-P",
        "-m",
        f"gateway.convert.{tool}",
        str(source),
        str(output),
        *arguments,
    )


def _text_arguments(options: RenderOptions, font: Path | None) -> list[str]:
    arguments = [f"--media={options.media}"]
    if font is not None:
        arguments.append(f"--font={font}")
    if options.title:
        arguments.append(f"--title={options.title}")
    if options.user:
        arguments.append(f"--user={options.user}")
    if options.date:
        arguments.append(f"--date={options.date}")
    if options.header:
        arguments.append("--header")
    if options.text_width is not None:
        arguments.append(f"--width={options.text_width}")
    if options.text_indent is not None:
        arguments.append(f"--indent={options.text_indent}")
    orientation = _portrait_or_landscape(options)
    if orientation is not None:
        arguments.append(f"--orientation={orientation}")
    return arguments


def _image_arguments(options: RenderOptions) -> list[str]:
    arguments = [f"--media={options.media}"]
    if options.print_scaling is not None:
        arguments.append(f"--scaling={options.print_scaling}")
    orientation = _portrait_or_landscape(options)
    if orientation is not None:
        arguments.append(f"--orientation={orientation}")
    return arguments


def _portrait_or_landscape(options: RenderOptions) -> str | None:
    """Text and images are laid out portrait or landscape (the reverse
    orientations only turn a page the other way up)."""
    if options.orientation in (4, 5):
        return "landscape"
    if options.orientation in (3, 6):
        return "portrait"
    return None


def _pdf_arguments(options: RenderOptions, *, layout_done: bool) -> list[str]:
    applied = options.applied
    arguments: list[str] = []
    if "page-ranges" in applied and options.page_ranges:
        arguments.append(f"--page-ranges={options.page_ranges_text}")
    if "number-up" in applied and options.number_up > 1:
        arguments.append(f"--number-up={options.number_up}")
    orientation = options.orientation_name
    if "orientation-requested" in applied and orientation is not None and not layout_done:
        arguments.append(f"--orientation={orientation}")
    if "print-scaling" in applied and options.print_scaling is not None and not layout_done:
        arguments.append(f"--scaling={options.print_scaling}")
    if arguments:
        # N-up and scaling lay pages out on the sheet: they need its size.
        arguments.append(f"--media={options.media}")
    if "copies" in applied and options.copies > 1:
        arguments.append(f"--copies={options.copies}")
    return arguments


# ----------------------------------------------------------------------
# Ghostscript


def _ghostscript(step: Step, options: RenderOptions, source: Path, output: Path) -> tuple[str, ...]:
    device = _gs_device(step.tool, options)
    argv = [GHOSTSCRIPT, *GS_FLAGS, f"-sDEVICE={device[0]}", *device[1:]]
    if step.tool != "gs-pdf":
        argv += _page_size(step.source, options)
    argv.append(f"-sOutputFile={_gs_output(output)}")
    argv += ["-f", str(source)]
    return tuple(argv)


def _gs_device(tool: str, options: RenderOptions) -> list[str]:
    if tool == "gs-pdf":
        return ["pdfwrite", "-dAutoRotatePages=/None"]
    if tool == "gs-pwg":
        space, bits = PWG_COLOR_SPACES.get(options.pwg_raster_type, PWG_COLOR_SPACES["sgray_8"])
        return [
            "pwgraster",
            _resolution(options.resolution),
            f"-dcupsColorSpace={space}",
            f"-dcupsBitsPerColor={bits}",
            f"-scupsPageSizeName={options.media}",
            *_duplex(options, options.sheet_back),
        ]
    if tool == "gs-urf":
        space, bits = URF_COLOR_SPACES.get(options.urf_type, URF_COLOR_SPACES["W8"])
        return [
            "urf",
            _resolution(options.urf_resolution),
            f"-dcupsColorSpace={space}",
            f"-dcupsBitsPerColor={bits}",
            *_duplex(options, options.urf_sheet_back),
        ]
    if tool == "gs-pclxl":
        dpi = _nearest(options.resolution[0], PCLXL_DPI)
        flags = [f"-r{dpi}"]
        if options.duplex:
            flags.append("-dDuplex")
            if options.tumble:
                flags.append("-dTumble")
        return ["pxlcolor" if options.color else "pxlmono", *flags]
    if tool == "gs-pcl":
        dpi = _nearest(options.resolution[0], PCL_DPI)
        # ljet4d duplexes on the long edge only: a short-edge job prints
        # one-sided rather than with every back page upside down.
        long_edge = options.sides == "two-sided-long-edge"
        return ["ljet4d" if long_edge else "ljet4", f"-r{dpi}"]
    raise ValueError(f"no Ghostscript device for the tool {tool!r}")


def _duplex(options: RenderOptions, sheet_back: str) -> list[str]:
    if not options.duplex:
        return []
    flags = ["-dDuplex"]
    if options.tumble:
        flags.append("-dTumble")
    flags.append(f"-scupsBackSideOrientation={BACK_SIDE.get(sheet_back, 'Normal')}")
    return flags


def _pdftops(options: RenderOptions, source: Path, output: Path) -> tuple[str, ...]:
    """poppler's pdftops: level 3 PostScript on the job's media, each page fitted
    to it (shrunk or expanded, centred) unless the job asked print-scaling=none."""
    width, height = media_size_points(options.media)
    argv = ["pdftops", "-level3", "-paperw", f"{round(width)}", "-paperh", f"{round(height)}"]
    argv += ["-noshrink", "-nocenter"] if options.print_scaling == "none" else ["-expand"]
    if options.duplex:
        argv.append("-duplex")
    return (*argv, str(source), str(output))


def _page_size(source: str, options: RenderOptions) -> list[str]:
    """The media as a fixed page size, each page fitted to it (unless the job
    asked for print-scaling=none)."""
    width, height = media_size_points(options.media)
    flags = [
        f"-dDEVICEWIDTHPOINTS={width:.2f}",
        f"-dDEVICEHEIGHTPOINTS={height:.2f}",
        "-dFIXEDMEDIA",
    ]
    if options.print_scaling != "none":
        flags.append("-dPSFitPage" if base(source) == POSTSCRIPT else "-dPDFFitPage")
    return flags


def _resolution(dpi: tuple[int, int]) -> str:
    return f"-r{dpi[0]}x{dpi[1]}"


def _nearest(dpi: int, offered: tuple[int, ...]) -> int:
    return min(offered, key=lambda d: (abs(d - dpi), -d))


def _gs_output(path: Path) -> str:
    """An output file name as Ghostscript reads it: ``%`` starts a page-number
    template (``%d``), so a literal one is doubled."""
    return str(path).replace("%", "%%")


#: Raster outputs: their pages are counted in the file when no count is known.
RASTER_FORMATS: Final = frozenset({PWG_RASTER, URF})
