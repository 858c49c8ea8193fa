"""RenderOptions from job attributes and printer attributes: a real IPP
Everywhere printer's (ippeveprinter's, recorded), an LPD printer's (none),
and printers that lack one capability or another."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.convert.options import RenderOptions, render_options
from gateway.ipp.attributes import Attribute
from gateway.ipp.tags import ValueTag
from gateway.ipp.values import RangeOfInteger, Resolution

from .support import ippeveprinter_attributes

DEFAULTS: dict[str, Any] = {
    "default_media": "iso_a4_210x297mm",
    "title": "report.txt",
    "user": "alice",
    "pretty": False,
}


def options(job: dict[str, Any], printer: dict[str, Any], **kwargs: Any) -> RenderOptions:
    return render_options(job, {}, printer, **{**DEFAULTS, **kwargs})


EVE = ippeveprinter_attributes()


def eve_with(**changes: Attribute | None) -> dict[str, Attribute]:
    """ippeveprinter's attributes with some replaced (None: removed)."""
    printer = dict(EVE)
    for name, attribute in changes.items():
        key = name.replace("_", "-")
        if attribute is None:
            printer.pop(key, None)
        else:
            printer[key] = attribute
    return printer


def test_the_recorded_printer_is_what_the_tests_assume() -> None:
    assert EVE["pwg-raster-document-resolution-supported"].python_values == [
        Resolution(300, 300),
        Resolution(600, 600),
    ]
    assert EVE["pwg-raster-document-type-supported"].python_values == [
        "black_1",
        "sgray_8",
        "srgb_8",
        "srgb_16",
    ]
    assert EVE["pwg-raster-document-sheet-back"].python_values == ["rotated"]
    assert "DM3" in EVE["urf-supported"].python_values
    assert EVE["copies-supported"].python_values == [RangeOfInteger(1, 999)]
    assert EVE["page-ranges-supported"].python_values == [True]
    assert "number-up-supported" not in EVE


def test_nothing_asked_of_an_ipp_everywhere_printer() -> None:
    got = options({}, EVE)
    assert got.media == "na_letter_8.5x11in"  # its media-default
    assert got.resolution == (300, 300)
    assert got.pwg_raster_type == "srgb_8"  # print-color-mode-default auto, a color printer
    assert got.color
    assert got.urf_resolution == (600, 600)  # RS600 is all it offers in URF
    assert got.urf_type == "SRGB24"
    assert got.sides == "one-sided"
    assert got.sheet_back == "rotated"
    assert got.urf_sheet_back == "rotated"  # DM3
    assert got.copies == 1
    assert got.applied == frozenset()
    assert got.title == "report.txt"
    assert got.user == "alice"


@pytest.mark.parametrize(
    ("quality", "expected"), [(3, (300, 300)), (4, (300, 300)), (5, (600, 600)), (None, (300, 300))]
)
def test_print_quality_picks_the_resolution(quality: int | None, expected: tuple[int, int]) -> None:
    job = {} if quality is None else {"print-quality": quality}
    assert options(job, EVE).resolution == expected


def test_normal_quality_takes_the_resolution_nearest_300() -> None:
    printer = eve_with(
        pwg_raster_document_resolution_supported=Attribute.of(
            "pwg-raster-document-resolution-supported",
            ValueTag.RESOLUTION,
            Resolution(180, 180),
            Resolution(360, 360),
            Resolution(720, 720),
        )
    )
    assert options({}, printer).resolution == (360, 360)
    assert options({"print-quality": 3}, printer).resolution == (180, 180)
    assert options({"print-quality": 5}, printer).resolution == (720, 720)
    # A printer-resolution the job asks for, when offered, wins.
    assert options({"printer-resolution": [720, 720, 3]}, printer).resolution == (720, 720)
    assert options({"printer-resolution": [1200, 1200, 3]}, printer).resolution == (360, 360)


def test_dots_per_centimetre() -> None:
    printer = eve_with(
        pwg_raster_document_resolution_supported=Attribute.of(
            "pwg-raster-document-resolution-supported",
            ValueTag.RESOLUTION,
            Resolution(118, 118, 4),
            Resolution(236, 236, 4),
        )
    )
    assert options({}, printer).resolution == (300, 300)
    assert options({"print-quality": 5}, printer).resolution == (599, 599)


@pytest.mark.parametrize(
    ("mode", "pwg", "urf", "color"),
    [
        ("color", "srgb_8", "SRGB24", True),
        ("auto", "srgb_8", "SRGB24", True),
        ("monochrome", "sgray_8", "W8", False),
        ("process-monochrome", "sgray_8", "W8", False),
        ("bi-level", "black_1", "W8", False),
    ],
)
def test_print_color_mode_picks_the_raster_type(mode: str, pwg: str, urf: str, color: bool) -> None:
    got = options({"print-color-mode": mode}, EVE)
    assert (got.pwg_raster_type, got.urf_type, got.color) == (pwg, urf, color)


def test_a_gray_printer_gets_gray_whatever_is_asked() -> None:
    printer = eve_with(
        pwg_raster_document_type_supported=Attribute.of(
            "pwg-raster-document-type-supported", ValueTag.KEYWORD, "black_1", "sgray_8"
        ),
        print_color_mode_supported=Attribute.of(
            "print-color-mode-supported", ValueTag.KEYWORD, "monochrome"
        ),
        urf_supported=Attribute.of("urf-supported", ValueTag.KEYWORD, "V1.4", "W8", "RS300"),
    )
    got = options({"print-color-mode": "color"}, printer)
    assert (got.pwg_raster_type, got.urf_type, got.color) == ("sgray_8", "W8", False)
    assert got.urf_resolution == (300, 300)
    assert got.urf_sheet_back == "normal"  # no DMn


def test_two_sided_and_the_back_side() -> None:
    got = options({"sides": "two-sided-short-edge"}, EVE)
    assert got.sides == "two-sided-short-edge"
    assert got.duplex and got.tumble
    assert got.sheet_back == "rotated"
    simplex = eve_with(
        sides_supported=Attribute.of("sides-supported", ValueTag.KEYWORD, "one-sided")
    )
    assert options({"sides": "two-sided-long-edge"}, simplex).sides == "one-sided"


def test_what_the_printer_does_itself_is_not_applied() -> None:
    job = {"copies": 3, "page-ranges": [[1, 2], [5, 5]], "orientation-requested": 4}
    got = options(job, EVE)
    assert got.applied == frozenset()
    assert got.copies == 1
    assert got.page_ranges == ((1, 2), (5, 5))
    assert got.orientation == 4


def test_what_the_printer_cannot_do_is_applied() -> None:
    printer = eve_with(
        copies_supported=Attribute.of(
            "copies-supported", ValueTag.RANGE_OF_INTEGER, RangeOfInteger(1, 1)
        ),
        page_ranges_supported=Attribute.of("page-ranges-supported", ValueTag.BOOLEAN, False),
        orientation_requested_supported=Attribute.of(
            "orientation-requested-supported", ValueTag.ENUM, 3, 4
        ),
        number_up_supported=Attribute.of("number-up-supported", ValueTag.INTEGER, 1, 2, 4),
        print_scaling_supported=Attribute.of(
            "print-scaling-supported", ValueTag.KEYWORD, "auto", "fit"
        ),
    )
    job = {
        "copies": 3,
        "page-ranges": [2, 3],
        "orientation-requested": 5,
        "number-up": 6,
        "print-scaling": "fill",
    }
    got = options(job, printer)
    assert got.applied == frozenset(
        {"copies", "page-ranges", "orientation-requested", "number-up", "print-scaling"}
    )
    assert got.copies == 3
    assert got.page_ranges == ((2, 3),)
    assert got.page_ranges_text == "2-3"
    assert got.orientation_name == "reverse-landscape"
    assert got.number_up == 6
    assert got.print_scaling == "fill"
    assert got.needs_pdf_pass
    # The values it lists are left to it.
    supported = options(
        {"orientation-requested": 4, "number-up": 4, "print-scaling": "fit"}, printer
    )
    assert supported.applied == frozenset()


def test_number_up_supported_as_a_range() -> None:
    printer = eve_with(
        number_up_supported=Attribute.of(
            "number-up-supported", ValueTag.RANGE_OF_INTEGER, RangeOfInteger(1, 16)
        )
    )
    assert options({"number-up": 9}, printer).applied == frozenset()
    assert options({"number-up": 32}, printer).applied == frozenset({"number-up"})


def test_an_lpd_printer() -> None:
    """An LPD printer (no printer attributes): the conversion does the layout,
    the control file the copies."""
    job = {"copies": 2, "number-up": 2, "page-ranges": [1, 1], "orientation-requested": 4}
    got = options(job, {})
    assert got.applied == frozenset({"number-up", "page-ranges", "orientation-requested"})
    assert got.copies == 1
    assert got.resolution == (300, 300)
    assert got.pwg_raster_type == "sgray_8"  # nothing known: gray prints everywhere
    assert not got.color
    assert options({"print-color-mode": "color"}, {}).pwg_raster_type == "srgb_8"
    assert options({"sides": "two-sided-long-edge"}, {}).sides == "two-sided-long-edge"


def test_printer_attributes_as_json_values() -> None:
    """The same decisions from attributes kept as JSON values (as a queue's
    configured capabilities are) as from IPP attributes."""
    printer = {
        "pwg-raster-document-resolution-supported": [[300, 300, 3], [600, 600, 3]],
        "pwg-raster-document-type-supported": ["sgray_8", "srgb_8"],
        "copies-supported": [1, 1],
        "number-up-supported": [1, 2],
        "sides-supported": ["one-sided", "two-sided-long-edge"],
        "urf-supported": ["V1.4", "W8", "SRGB24", "RS300-600", "DM2"],
        "print-color-mode-supported": ["auto", "color", "monochrome"],
    }
    got = options({"copies": 2, "number-up": 2, "print-quality": 5}, printer)
    assert got.applied == frozenset({"copies"})
    assert got.copies == 2
    assert got.resolution == (600, 600)
    assert got.urf_resolution == (600, 600)
    assert got.urf_sheet_back == "flipped"
    assert got.pwg_raster_type == "srgb_8"


def test_media_from_the_job() -> None:
    assert options({"media": "iso_a5_148x210mm"}, EVE).media == "iso_a5_148x210mm"
    assert options({"media": "a4"}, {}).media == "iso_a4_210x297mm"
    assert options({"media": "na-letter"}, {}).media == "na_letter_8.5x11in"
    media_col = {"media-size": {"x-dimension": 21000, "y-dimension": 29700}}
    assert options({"media-col": media_col}, EVE).media == "iso_a4_210x297mm"
    odd = {"media-size": {"x-dimension": 10000, "y-dimension": 20000}}
    assert options({"media-col": odd}, {}).media == "custom_100x200mm_100x200mm"
    named = {"media-size-name": "na_legal_8.5x14in"}
    assert options({"media-col": named}, {}).media == "na_legal_8.5x14in"
    # Nonsense falls back: the printer's default, then the configured one.
    assert options({"media": "tray-1"}, EVE).media == "na_letter_8.5x11in"
    assert options({"media": "../../etc/passwd"}, {}).media == "iso_a4_210x297mm"
    assert options({}, {}, default_media="na_letter_8.5x11in").media == "na_letter_8.5x11in"


def test_document_attributes_override_the_job() -> None:
    got = render_options(
        {"media": "iso_a4_210x297mm", "number-up": 2},
        {"media": "iso_a5_148x210mm", "number-up": 1},
        {},
        **DEFAULTS,
    )
    assert got.media == "iso_a5_148x210mm"
    assert got.number_up == 1
    assert got.applied == frozenset()


def test_text_options() -> None:
    got = render_options(
        {}, {}, {}, **{**DEFAULTS, "pretty": True}, width=132, indent=8, date="2026-12-02 10:00"
    )
    assert got.header
    assert (got.text_width, got.text_indent, got.date) == (132, 8, "2026-12-02 10:00")
    assert render_options({}, {}, {}, **DEFAULTS, width=0, indent=-1).text_width is None


@pytest.mark.parametrize(
    "job",
    [
        {"page-ranges": [[3, 1]]},
        {"page-ranges": [[0, 2]]},
        {"page-ranges": "1-3"},
        {"number-up": "two"},
        {"copies": -4},
        {"orientation-requested": 99},
        {"print-scaling": "stretch"},
        {"print-quality": "best"},
        {"printer-resolution": [0, 0, 3]},
        {"media-col": {"media-size": {"x-dimension": -1, "y-dimension": 5}}},
        {"sides": "three-sided"},
    ],
)
def test_nonsense_is_ignored(job: dict[str, Any]) -> None:
    got = options(job, EVE)
    assert got.applied == frozenset()
    assert got.copies == 1
    assert got.page_ranges == ()
    assert got.sides == "one-sided"


def test_page_ranges_are_merged_and_sorted() -> None:
    got = options({"page-ranges": [[5, 7], [1, 2], [3, 3], [6, 9]]}, {})
    assert got.page_ranges == ((1, 3), (5, 9))
    assert got.page_ranges_text == "1-3,5-9"
