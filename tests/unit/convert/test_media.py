"""PWG 5101.1 media names (gateway.convert.media), checked against the sizes
a real IPP Everywhere printer (CUPS's ippeveprinter) reports for its names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.convert.media import (
    MEDIA,
    hmm_to_points,
    media_name_for,
    media_size_hmm,
    media_size_points,
    points_to_hmm,
)
from tests.unit.convert.support import ippeveprinter_attributes


def _member(collection: object, name: str) -> object:
    for attribute in collection:  # type: ignore[attr-defined]
        if attribute.name == name:
            return attribute.values[0].value
    raise KeyError(name)


def _printer_sizes() -> dict[str, tuple[int, int]]:
    """media-size-name -> (x-dimension, y-dimension) from ippeveprinter's
    media-col-database (tests/fixtures/convert)."""
    sizes: dict[str, tuple[int, int]] = {}
    for value in ippeveprinter_attributes()["media-col-database"].values:
        entry = value.value
        size = _member(entry, "media-size")
        name = _member(entry, "media-size-name")
        x, y = _member(size, "x-dimension"), _member(size, "y-dimension")
        if isinstance(x, int) and isinstance(y, int) and isinstance(name, str):
            sizes[name] = (x, y)
    return sizes


def test_the_sizes_a_real_printer_gives_for_its_names() -> None:
    sizes = _printer_sizes()
    assert len(sizes) >= 5
    for name, size in sizes.items():
        assert media_size_hmm(name) == size, name
        assert media_name_for(*size) == name or media_size_hmm(media_name_for(*size)) == size


@pytest.mark.parametrize(
    ("name", "points"),
    [
        ("iso_a4_210x297mm", (595.28, 841.89)),
        ("na_letter_8.5x11in", (612.0, 792.0)),
        ("na_legal_8.5x14in", (612.0, 1008.0)),
        ("na_ledger_11x17in", (792.0, 1224.0)),
        ("na_index-4x6_4x6in", (288.0, 432.0)),
        ("om_small-photo_100x150mm", (283.46, 425.2)),
        ("jpn_hagaki_100x148mm", (283.46, 419.53)),
        ("na_number-10_4.125x9.5in", (296.99, 684.0)),  # 10477 hmm, as CUPS truncates
    ],
)
def test_points(name: str, points: tuple[float, float]) -> None:
    width, height = media_size_points(name)
    assert (round(width, 2), round(height, 2)) == points


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("a4", "iso_a4_210x297mm"),
        ("A4", "iso_a4_210x297mm"),
        ("iso-a4", "iso_a4_210x297mm"),
        ("iso_a4", "iso_a4_210x297mm"),
        ("letter", "na_letter_8.5x11in"),
        ("na-letter", "na_letter_8.5x11in"),
        ("tabloid", "na_ledger_11x17in"),
        ("4x6", "na_index-4x6_4x6in"),
        ("na-index-4x6", "na_index-4x6_4x6in"),
        ("com10", "na_number-10_4.125x9.5in"),
    ],
)
def test_names_clients_send_that_are_not_self_describing(alias: str, name: str) -> None:
    assert media_size_hmm(alias) == MEDIA[name]


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("custom_foo_100x200mm", (10000, 20000)),
        ("custom_min_3x5in", (7620, 12700)),
        ("oe_photo-l_3.5x5in", (8890, 12700)),
        ("roll_max_36x1200in", (91440, 3048000)),
        ("custom_105.5x148.25mm_105.5x148.25mm", (10550, 14825)),
    ],
)
def test_any_self_describing_name_parses(name: str, size: tuple[int, int]) -> None:
    assert media_size_hmm(name) == size


@pytest.mark.parametrize(
    "name",
    [
        "",
        "iso_a4_210x297",
        "iso_a4_210x297cm",
        "iso_a4_0x297mm",
        "iso a4 210x297mm",
        "x_1x2mm",
        "_a4_210x297mm",
        "iso_a4_210x297mm_",
        "custom_huge_1000000x2mm",
        "a4x",
        "letterhead",
    ],
)
def test_a_name_that_is_not_one_raises(name: str) -> None:
    with pytest.raises(ValueError):
        media_size_hmm(name)


def test_media_name_for_the_table_either_way_round_and_near() -> None:
    assert media_name_for(21000, 29700) == "iso_a4_210x297mm"
    assert media_name_for(29700, 21000) == "iso_a4_210x297mm"
    assert media_name_for(points_to_hmm(595), points_to_hmm(842)) == "iso_a4_210x297mm"
    assert media_name_for(21590, 27940) == "na_letter_8.5x11in"
    assert media_name_for(10160, 15240) == "na_index-4x6_4x6in"


def test_media_name_for_a_size_not_in_the_table() -> None:
    assert media_name_for(15240, 22860) == "custom_6x9in_6x9in"
    assert media_name_for(12345, 23456) == "custom_123.45x234.56mm_123.45x234.56mm"
    with pytest.raises(ValueError):
        media_name_for(0, 100)


@given(st.integers(1, 2_000_000), st.integers(1, 2_000_000))
def test_a_name_for_any_size_gives_that_size_back(x: int, y: int) -> None:
    name = media_name_for(x, y)
    width, height = media_size_hmm(name)
    if name.startswith("custom_"):
        assert (width, height) == (x, y)
    else:  # a table entry within half a millimetre, in either orientation
        assert max(abs(width - min(x, y)), abs(height - max(x, y))) <= 50


def test_points_and_hundredths_of_millimetres() -> None:
    assert hmm_to_points(2540) == 72.0
    assert points_to_hmm(72) == 2540
    for name, (width, height) in MEDIA.items():
        assert media_size_points(name) == (hmm_to_points(width), hmm_to_points(height))
        assert width <= height, name
