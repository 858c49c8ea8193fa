"""The printer icon every queue shows (printer-icons, PWG 5100.13), drawn here.

Why: IPP Everywhere requires printer-icons, URIs of PNG images a client shows
beside the printer's name, at 48, 128 and 512 pixels (small, normal, large).
A gateway has no printer's picture to pass on (an IPP printer's own icon
URIs name an address its clients may not reach), so it serves one drawing of
its own: a sheet going into a printer, flat colours on a transparent ground,
drawn at each size from the same shapes in unit coordinates and written as
an 8-bit RGBA PNG (RFC 2083) with zlib, so nothing is read from disk and no
image library is needed. Each size is made once, on first use.

The IPP listener serves them at `ICON_PATHS` for GET and HEAD, to anyone
(they hold no data), with `icon_png`.
"""

from __future__ import annotations

import functools
import struct
import zlib
from typing import Final

#: Icon sizes in pixels, in printer-icons order (small, normal, large).
SIZES: Final = (48, 128, 512)

#: The paths of the icons on the IPP listener, in printer-icons order.
ICON_PATHS: Final = tuple(f"/icons/printer-{size}.png" for size in SIZES)

#: Content-Type of the icons.
CONTENT_TYPE: Final = "image/png"

Colour = tuple[int, int, int, int]

_PAPER: Final[Colour] = (250, 250, 250, 255)
_EDGE: Final[Colour] = (120, 120, 120, 255)
_BODY: Final[Colour] = (70, 78, 90, 255)
_TOP: Final[Colour] = (100, 110, 124, 255)
_SLOT: Final[Colour] = (30, 33, 38, 255)
_INK: Final[Colour] = (60, 110, 200, 255)
_LIGHT: Final[Colour] = (60, 190, 90, 255)

#: The drawing, back to front: (left, top, right, bottom) in units of the icon's
#: side, and the colour. Later shapes cover earlier ones.
_SHAPES: Final[tuple[tuple[tuple[float, float, float, float], Colour], ...]] = (
    ((0.24, 0.06, 0.76, 0.40), _EDGE),  # the sheet going in, with an edge
    ((0.26, 0.08, 0.74, 0.40), _PAPER),
    ((0.06, 0.34, 0.94, 0.50), _TOP),  # the printer
    ((0.06, 0.48, 0.94, 0.80), _BODY),
    ((0.18, 0.62, 0.82, 0.66), _SLOT),  # the output slot
    ((0.22, 0.64, 0.78, 0.94), _EDGE),  # the printed sheet coming out
    ((0.24, 0.64, 0.76, 0.92), _PAPER),
    ((0.30, 0.72, 0.70, 0.74), _INK),  # lines printed on it
    ((0.30, 0.78, 0.64, 0.80), _INK),
    ((0.30, 0.84, 0.68, 0.86), _INK),
    ((0.80, 0.52, 0.88, 0.57), _LIGHT),  # the ready light
)


def icon_png(path: str) -> bytes | None:
    """The PNG served at `path`, or None if `path` is not one of `ICON_PATHS`."""
    if path not in ICON_PATHS:
        return None
    return printer_icon(SIZES[ICON_PATHS.index(path)])


@functools.cache
def printer_icon(size: int) -> bytes:
    """The printer icon as a `size` x `size` RGBA PNG."""
    pixels = [bytearray(4 * size) for _ in range(size)]
    for (left, top, right, bottom), colour in _SHAPES:
        x0, x1 = round(left * size), max(round(right * size), round(left * size) + 1)
        y0, y1 = round(top * size), max(round(bottom * size), round(top * size) + 1)
        run = bytes(colour) * (x1 - x0)
        for row in pixels[y0:y1]:
            row[4 * x0 : 4 * x1] = run
    return encode_png(size, size, pixels)


def encode_png(width: int, height: int, rows: list[bytearray]) -> bytes:
    """An 8-bit RGBA PNG (RFC 2083) of `rows`, each ``4 * width`` bytes, top first."""
    raw = b"".join(b"\x00" + bytes(row) for row in rows)  # filter type 0 (none) per row
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8 bits, RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
