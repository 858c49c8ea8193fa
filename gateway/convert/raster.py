"""PWG Raster (PWG 5102.4) and Apple URF ("unirast") codec.

What phones and IPP Everywhere clients send is raster: PWG Raster, and URF
from iOS. Both carry pages as rows of pixels in one compression scheme;
only their headers differ.

PWG Raster
    The sync word ``RaS2``, then per page a 1796-byte big-endian header (the
    CUPS version 2 page header with the fields PWG 5102.4 section 4.3 keeps;
    the others are reserved and zero), then the page's compressed lines.
URF
    ``UNIRAST\\0`` and a 32-bit page count (0 when the writer did not know
    it: Ghostscript writes 0), then per page a 32-byte header: bits per pixel,
    colour space code, duplex, print quality, media type, media position,
    width, height, resolution.

Compression, both formats
    Each line group starts with a line repeat byte N: the line that follows
    stands for N + 1 identical lines. The line is a sequence of runs, in
    pixels (a pixel is ``ceil(bits_per_pixel / 8)`` bytes): a byte C in
    0..127 repeats the next pixel C + 1 times; C in 129..255 is followed by
    257 - C literal pixels; C = 128 fills the rest of the line with white
    (0xFF in additive colour spaces, 0x00 in subtractive ones, as CUPS's
    reader does).

Sans-I/O in the sense that matters here: nothing in this module opens a
file or blocks on anything but the binary file object handed to it, and
decoding never holds more than one line and one read buffer; a page of any
size is decoded in the memory of one line.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, Literal, TypeAlias

__all__ = [
    "PWG_SYNC",
    "URF_MAGIC",
    "ColorSpace",
    "PwgPageHeader",
    "RasterError",
    "RasterPage",
    "RasterReader",
    "RasterWriter",
    "UrfColorSpace",
    "UrfDuplex",
    "UrfPageHeader",
    "count_pages",
    "detect",
    "encode_line",
]

PWG_SYNC: Final = b"RaS2"
URF_MAGIC: Final = b"UNIRAST\x00"
PWG_HEADER_SIZE: Final = 1796
URF_HEADER_SIZE: Final = 32

#: Bounds that keep one line and one page within reason: a line of at most
#: 16 MiB (as ipptransform's XFORM_MAX_RASTER) and sides of at most 1,000,000
#: pixels (a 100 m roll at 254 dpi).
MAX_BYTES_PER_LINE: Final = 16 * 1024 * 1024
MAX_SIDE: Final = 1_000_000

RasterFormat: TypeAlias = Literal["pwg", "urf"]


class RasterError(ValueError):
    """The data is not PWG Raster or URF, or breaks the format."""


class ColorSpace(enum.IntEnum):
    """cupsColorSpace / PWG 5102.4 ColorSpace values (the ones a page can use)."""

    W = 0  # device gray, 0 = black
    RGB = 1
    RGBA = 2
    K = 3  # black, 0 = white
    CMY = 4
    YMC = 5
    CMYK = 6
    CIELAB = 16
    SW = 18  # sGray
    SRGB = 19
    ADOBERGB = 20
    DEVICE1 = 48
    DEVICE2 = 49
    DEVICE3 = 50
    DEVICE4 = 51
    DEVICE5 = 52
    DEVICE6 = 53
    DEVICE7 = 54
    DEVICE8 = 55
    DEVICE9 = 56
    DEVICE10 = 57
    DEVICE11 = 58
    DEVICE12 = 59
    DEVICE13 = 60
    DEVICE14 = 61
    DEVICE15 = 62


#: Colour spaces where more is lighter: the white a 128 run fills with is 0xFF.
ADDITIVE: Final = frozenset(
    {
        ColorSpace.W,
        ColorSpace.RGB,
        ColorSpace.RGBA,
        ColorSpace.SW,
        ColorSpace.SRGB,
        ColorSpace.ADOBERGB,
    }
)


class UrfColorSpace(enum.IntEnum):
    """The colour space byte of a URF page header."""

    SGRAY = 0
    SRGB = 1
    CIELAB = 2
    ADOBERGB = 3
    W = 4
    RGB = 5
    CMYK = 6


_URF_TO_PWG: Final = {
    UrfColorSpace.SGRAY: ColorSpace.SW,
    UrfColorSpace.SRGB: ColorSpace.SRGB,
    UrfColorSpace.CIELAB: ColorSpace.CIELAB,
    UrfColorSpace.ADOBERGB: ColorSpace.ADOBERGB,
    UrfColorSpace.W: ColorSpace.W,
    UrfColorSpace.RGB: ColorSpace.RGB,
    UrfColorSpace.CMYK: ColorSpace.CMYK,
}

_URF_COLORS: Final = {
    UrfColorSpace.SGRAY: 1,
    UrfColorSpace.SRGB: 3,
    UrfColorSpace.CIELAB: 3,
    UrfColorSpace.ADOBERGB: 3,
    UrfColorSpace.W: 1,
    UrfColorSpace.RGB: 3,
    UrfColorSpace.CMYK: 4,
}


class UrfDuplex(enum.IntEnum):
    """The duplex byte of a URF page header."""

    SIMPLEX = 1
    SHORT_EDGE = 2  # tumble
    LONG_EDGE = 3


def _colors_of(space: ColorSpace) -> int:
    if space in (ColorSpace.W, ColorSpace.K, ColorSpace.SW) or space == ColorSpace.DEVICE1:
        return 1
    if space in (ColorSpace.RGBA, ColorSpace.CMYK):
        return 4
    if space >= ColorSpace.DEVICE1:
        return int(space) - int(ColorSpace.DEVICE1) + 1
    return 3


def _check_geometry(width: int, height: int, bits_per_pixel: int, bytes_per_line: int) -> None:
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise RasterError(f"a page of {width}x{height} pixels is not one a printer prints")
    if bits_per_pixel not in (1, 2, 4, 8, 16, 24, 32, 40, 48, 64):
        raise RasterError(f"{bits_per_pixel} bits per pixel is not a raster pixel size")
    if bytes_per_line != (width * bits_per_pixel + 7) // 8:
        raise RasterError(
            f"{bytes_per_line} bytes per line do not hold {width} pixels of {bits_per_pixel} bits"
        )
    if bytes_per_line > MAX_BYTES_PER_LINE:
        raise RasterError(f"a line of {bytes_per_line} bytes is larger than a printer's")


@dataclass(frozen=True, slots=True)
class PwgPageHeader:
    """A PWG 5102.4 page header: the fields section 4.3 names, in its order.

    Strings are the NUL-padded 64-byte fields, decoded; ``page_size`` is in
    points, ``hw_resolution`` in dots per inch. Reserved fields are not kept:
    the encoder writes them as zero, as the specification asks.
    """

    width: int
    height: int
    bits_per_color: int = 8
    bits_per_pixel: int = 8
    color_space: ColorSpace = ColorSpace.SW
    hw_resolution: tuple[int, int] = (300, 300)
    page_size: tuple[int, int] = (0, 0)
    num_colors: int = 0  # 0: derived from color_space
    bytes_per_line: int = 0  # 0: derived from width and bits_per_pixel
    media_color: str = ""
    media_type: str = ""
    print_content_optimize: str = ""
    cut_media: int = 0
    duplex: bool = False
    insert_sheet: int = 0
    jog: int = 0
    leading_edge: int = 0
    media_position: int = 0
    media_weight_metric: int = 0
    num_copies: int = 0
    orientation: int = 0
    tumble: bool = False
    color_order: int = 0
    total_page_count: int = 0
    cross_feed_transform: int = 1
    feed_transform: int = 1
    image_box: tuple[int, int, int, int] = (0, 0, 0, 0)  # left, top, right, bottom
    alternate_primary: int = 0
    print_quality: int = 0
    vendor_identifier: int = 0
    vendor_data: bytes = b""
    rendering_intent: str = ""
    page_size_name: str = ""
    media_class: str = "PwgRaster"

    def __post_init__(self) -> None:
        if not self.num_colors:
            object.__setattr__(self, "num_colors", _colors_of(self.color_space))
        if not self.bytes_per_line:
            object.__setattr__(self, "bytes_per_line", (self.width * self.bits_per_pixel + 7) // 8)
        if self.page_size == (0, 0) and all(self.hw_resolution):
            object.__setattr__(
                self,
                "page_size",
                (
                    round(self.width * 72 / self.hw_resolution[0]),
                    round(self.height * 72 / self.hw_resolution[1]),
                ),
            )
        _check_geometry(self.width, self.height, self.bits_per_pixel, self.bytes_per_line)
        if self.color_order != 0:
            raise RasterError("only chunky pixels (ColorOrder 0) are PWG Raster")
        if self.bits_per_color * self.num_colors != self.bits_per_pixel:
            raise RasterError(
                f"{self.num_colors} colours of {self.bits_per_color} bits are not "
                f"{self.bits_per_pixel} bits per pixel"
            )
        if min(self.hw_resolution) <= 0:
            raise RasterError(f"{self.hw_resolution} is not a resolution")
        if len(self.vendor_data) > _VENDOR_DATA_SIZE:
            raise RasterError(f"vendor data is longer than {_VENDOR_DATA_SIZE} bytes")

    @property
    def resolution(self) -> tuple[int, int]:
        """Dots per inch, across and down."""
        return self.hw_resolution

    @property
    def pwg_color_space(self) -> ColorSpace:
        """The colour space in PWG / CUPS numbering."""
        return self.color_space

    @property
    def page_size_points(self) -> tuple[float, float]:
        """The page size in points, from the pixels and the resolution (the
        integer PageSize field rounds; the pixels do not)."""
        return (
            self.width * 72.0 / self.hw_resolution[0],
            self.height * 72.0 / self.hw_resolution[1],
        )

    def pack(self) -> bytes:
        """The 1796 bytes of this header."""
        return _PWG.pack(
            _fixed(self.media_class),
            _fixed(self.media_color),
            _fixed(self.media_type),
            _fixed(self.print_content_optimize),
            self.cut_media,
            int(self.duplex),
            *self.hw_resolution,
            self.insert_sheet,
            self.jog,
            self.leading_edge,
            self.media_position,
            self.media_weight_metric,
            self.num_copies,
            self.orientation,
            *self.page_size,
            int(self.tumble),
            self.width,
            self.height,
            self.bits_per_color,
            self.bits_per_pixel,
            self.bytes_per_line,
            int(self.color_space),
            self.num_colors,
            self.total_page_count,
            self.cross_feed_transform,
            self.feed_transform,
            *self.image_box,
            self.alternate_primary,
            self.print_quality,
            self.vendor_identifier,
            len(self.vendor_data),
            self.vendor_data,
            _fixed(self.rendering_intent),
            _fixed(self.page_size_name),
        )

    @classmethod
    def unpack(cls, data: bytes) -> PwgPageHeader:
        """Parse 1796 header bytes; RasterError if they are not a page header."""
        if len(data) != PWG_HEADER_SIZE:
            raise RasterError("the file ends inside a PWG Raster page header")
        f = _PWG.unpack(data)
        try:
            space = ColorSpace(f[23])
        except ValueError:
            raise RasterError(f"{f[23]} is not a PWG Raster colour space") from None
        vendor_length = f[35]
        if vendor_length > _VENDOR_DATA_SIZE:
            raise RasterError(f"VendorLength {vendor_length} is longer than the VendorData field")
        return cls(
            media_class=_text(f[0]),
            media_color=_text(f[1]),
            media_type=_text(f[2]),
            print_content_optimize=_text(f[3]),
            cut_media=f[4],
            duplex=bool(f[5]),
            hw_resolution=(f[6], f[7]),
            insert_sheet=f[8],
            jog=f[9],
            leading_edge=f[10],
            media_position=f[11],
            media_weight_metric=f[12],
            num_copies=f[13],
            orientation=f[14],
            page_size=(f[15], f[16]),
            tumble=bool(f[17]),
            width=f[18],
            height=f[19],
            bits_per_color=f[20],
            bits_per_pixel=f[21],
            bytes_per_line=f[22],
            color_order=_color_order(data),
            color_space=space,
            num_colors=f[24],
            total_page_count=f[25],
            cross_feed_transform=f[26],
            feed_transform=f[27],
            image_box=(f[28], f[29], f[30], f[31]),
            alternate_primary=f[32],
            print_quality=f[33],
            vendor_identifier=f[34],
            vendor_data=f[36][:vendor_length],
            rendering_intent=_text(f[37]),
            page_size_name=_text(f[38]),
        )


_VENDOR_DATA_SIZE: Final = 1088

#: PWG 5102.4 table 4.3 as a struct: "x" runs are the reserved fields. The
#: ColorOrder field (offset 396) is read separately (`_color_order`) so that
#: the field order of the tuple stays that of the dataclass.
_PWG: Final = struct.Struct(
    ">64s64s64s64s"  # MediaClass ("PwgRaster"), MediaColor, MediaType, PrintContentOptimize
    "12x"  # reserved (AdvanceDistance, AdvanceMedia, Collate)
    "II"  # CutMedia, Duplex
    "II"  # HWResolution
    "16x"  # reserved (ImagingBoundingBox)
    "III"  # InsertSheet, Jog, LeadingEdge
    "12x"  # reserved (Margins, ManualFeed)
    "II"  # MediaPosition, MediaWeightMetric
    "8x"  # reserved (MirrorPrint, NegativePrint)
    "II"  # NumCopies, Orientation
    "4x"  # reserved (OutputFaceUp)
    "II"  # PageSize
    "8x"  # reserved (Separations, TraySwitch)
    "III"  # Tumble, Width, Height
    "4x"  # reserved (cupsMediaType)
    "III"  # BitsPerColor, BitsPerPixel, BytesPerLine
    "4x"  # ColorOrder, read by _color_order
    "I"  # ColorSpace
    "16x"  # reserved (cupsCompression, RowCount, RowFeed, RowStep)
    "I"  # NumColors
    "28x"  # reserved (BorderlessScalingFactor, cupsPageSize, cupsImagingBBox)
    "I"  # TotalPageCount
    "ii"  # CrossFeedTransform, FeedTransform
    "IIII"  # ImageBoxLeft, ImageBoxTop, ImageBoxRight, ImageBoxBottom
    "II"  # AlternatePrimary, PrintQuality
    "20x"  # reserved
    "II"  # VendorIdentifier, VendorLength
    "1088s"  # VendorData
    "64x"  # reserved (cupsMarkerType)
    "64s64s"  # RenderingIntent, PageSizeName
)
assert _PWG.size == PWG_HEADER_SIZE
_COLOR_ORDER_AT: Final = 396


def _color_order(data: bytes) -> int:
    value: int = struct.unpack_from(">I", data, _COLOR_ORDER_AT)[0]
    return value


def _fixed(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 63:
        raise RasterError(f"{text!r} is longer than a 64-byte header string")
    return raw


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class UrfPageHeader:
    """A URF page header (32 bytes: unirast as cups/raster-stream.c reads it)."""

    width: int
    height: int
    bits_per_pixel: int = 24
    color_space: UrfColorSpace = UrfColorSpace.SRGB
    resolution_dpi: int = 300
    duplex: UrfDuplex = UrfDuplex.SIMPLEX
    quality: int = 0  # print-quality: 3 draft, 4 normal, 5 high, 0 unset
    media_type: int = 0  # index into the unirast media types (0 = auto)
    media_position: int = 0

    def __post_init__(self) -> None:
        _check_geometry(self.width, self.height, self.bits_per_pixel, self.bytes_per_line)
        if self.bits_per_pixel not in (1, 8, 24, 32, 48, 64):
            raise RasterError(f"{self.bits_per_pixel} bits per pixel is not a URF pixel size")
        if self.bits_per_pixel > 1 and self.bits_per_pixel % self.num_colors:
            raise RasterError(
                f"{self.bits_per_pixel} bits per pixel do not divide into {self.num_colors} colours"
            )
        if self.resolution_dpi <= 0:
            raise RasterError(f"{self.resolution_dpi} dpi is not a resolution")

    @property
    def num_colors(self) -> int:
        return 1 if self.bits_per_pixel == 1 else _URF_COLORS[self.color_space]

    @property
    def bits_per_color(self) -> int:
        return self.bits_per_pixel // self.num_colors

    @property
    def bytes_per_line(self) -> int:
        return (self.width * self.bits_per_pixel + 7) // 8

    @property
    def resolution(self) -> tuple[int, int]:
        return (self.resolution_dpi, self.resolution_dpi)

    @property
    def pwg_color_space(self) -> ColorSpace:
        """The colour space in PWG numbering. One-bit URF (Ghostscript's
        ``urf`` device) marks black with 1, so it is K whatever its byte says."""
        if self.bits_per_pixel == 1:
            return ColorSpace.K
        return _URF_TO_PWG[self.color_space]

    @property
    def page_size_points(self) -> tuple[float, float]:
        return (self.width * 72.0 / self.resolution_dpi, self.height * 72.0 / self.resolution_dpi)

    def pack(self) -> bytes:
        header = bytearray(URF_HEADER_SIZE)
        header[0] = self.bits_per_pixel
        header[1] = int(self.color_space)
        header[2] = int(self.duplex)
        header[3] = self.quality
        header[4] = self.media_type
        header[5] = self.media_position
        struct.pack_into(">III", header, 12, self.width, self.height, self.resolution_dpi)
        return bytes(header)

    @classmethod
    def unpack(cls, data: bytes) -> UrfPageHeader:
        if len(data) != URF_HEADER_SIZE:
            raise RasterError("the file ends inside a URF page header")
        width, height, dpi = struct.unpack_from(">III", data, 12)
        try:
            space = UrfColorSpace(data[1])
        except ValueError:
            raise RasterError(f"{data[1]} is not a URF colour space") from None
        try:
            duplex = UrfDuplex(data[2])
        except ValueError:
            duplex = UrfDuplex.SIMPLEX  # 0: writers that leave it unset
        return cls(
            width=width,
            height=height,
            bits_per_pixel=data[0],
            color_space=space,
            resolution_dpi=dpi,
            duplex=duplex,
            quality=data[3],
            media_type=data[4],
            media_position=data[5],
        )


PageHeader: TypeAlias = PwgPageHeader | UrfPageHeader


def detect(head: bytes) -> RasterFormat | None:
    """ "pwg" or "urf" by the first bytes of a file, None for anything else."""
    if head.startswith(PWG_SYNC):
        return "pwg"
    if head.startswith(URF_MAGIC):
        return "urf"
    return None


def _fill_byte(header: PageHeader) -> int:
    return 0xFF if header.pwg_color_space in ADDITIVE else 0x00


class _Input:
    """A read buffer over the stream, so that runs are parsed from memory
    without one read call per byte."""

    __slots__ = ("_buf", "_pos", "_stream")

    CHUNK: Final = 256 * 1024

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._buf = b""
        self._pos = 0

    def take(self, size: int) -> bytes:
        """Exactly `size` bytes; RasterError at the end of the file."""
        end = self._pos + size
        if end > len(self._buf):
            self._fill(size)
            end = self._pos + size
            if end > len(self._buf):
                raise RasterError("the file ends inside a page")
        data = self._buf[self._pos : end]
        self._pos = end
        return data

    def take_or_none(self, size: int) -> bytes | None:
        """`size` bytes, fewer at the end of the file, None right at its end."""
        if self._pos + size > len(self._buf):
            self._fill(size)
            if self._pos == len(self._buf):
                return None
        data = self._buf[self._pos : self._pos + size]
        self._pos += len(data)
        return data

    def _fill(self, size: int) -> None:
        rest = self._buf[self._pos :]
        want = max(self.CHUNK, size - len(rest))
        chunks = [rest]
        have = len(rest)
        while have < size:
            chunk = self._stream.read(want)
            if not chunk:
                break
            chunks.append(chunk)
            have += len(chunk)
        self._buf = b"".join(chunks)
        self._pos = 0

    def buffer(self, need: int) -> tuple[bytes, int]:
        """The buffer and position, with at least `need` bytes after it when
        the file has them (fewer at its end)."""
        if self._pos + need > len(self._buf):
            self._fill(need)
        return self._buf, self._pos

    def advance(self, pos: int) -> None:
        self._pos = pos


def _decode_line(src: _Input, bytes_per_line: int, bpp: int, fill: int, keep: bool) -> bytes:
    """One line of runs. With `keep` False the pixels are only skipped (for
    counting pages): the runs must still be read to find where the line ends."""
    out = bytearray() if keep else None
    done = 0
    # At most one code byte per pixel plus the pixel bytes: asking for that much
    # buffer up front lets the loop below index the buffer without checks.
    need = bytes_per_line + bytes_per_line // bpp + 1
    buf, pos = src.buffer(need)
    end = len(buf)
    while done < bytes_per_line:
        if pos >= end:
            src.advance(pos)
            buf, pos = src.buffer(need)
            end = len(buf)
            if pos >= end:
                raise RasterError("the file ends inside a line")
        code = buf[pos]
        pos += 1
        if code == 128:
            if out is not None:
                out += bytes((fill,)) * (bytes_per_line - done)
            done = bytes_per_line
            break
        if code > 128:
            size = (257 - code) * bpp
            if done + size > bytes_per_line:
                raise RasterError("a run of pixels passes the end of its line")
            if pos + size > end:
                src.advance(pos)
                data = src.take(size)
                buf, pos = src.buffer(need)
                end = len(buf)
            else:
                data = buf[pos : pos + size]
                pos += size
            if out is not None:
                out += data
        else:
            count = code + 1
            if done + count * bpp > bytes_per_line:
                raise RasterError("a run of pixels passes the end of its line")
            if pos + bpp > end:
                src.advance(pos)
                data = src.take(bpp)
                buf, pos = src.buffer(need)
                end = len(buf)
            else:
                data = buf[pos : pos + bpp]
                pos += bpp
            if out is not None:
                out += data * count
            size = count * bpp
        done += size
    src.advance(pos)
    return bytes(out) if out is not None else b""


class RasterPage:
    """One page: its header and, once, its lines."""

    def __init__(self, reader: RasterReader, header: PageHeader) -> None:
        self.header = header
        self._reader = reader
        self._left = header.height
        self._started = False

    def lines(self) -> Iterator[bytes]:
        """The page's lines, top to bottom, each ``bytes_per_line`` long. The
        memory used is one line, whatever the size of the page."""
        if self._started:
            raise RasterError("the lines of a page can be read once")
        self._started = True
        return self._lines(keep=True)

    def _lines(self, *, keep: bool) -> Iterator[bytes]:
        header = self.header
        bpp = max(1, header.bits_per_pixel // 8)
        fill = _fill_byte(header)
        src = self._reader._input
        while self._left > 0:
            repeat = src.take(1)[0] + 1
            if repeat > self._left:
                raise RasterError("a line repeat passes the end of its page")
            line = _decode_line(src, header.bytes_per_line, bpp, fill, keep)
            self._left -= repeat
            for _ in range(repeat):
                yield line

    def skip(self) -> None:
        """Read past the lines not read yet (decoding them, keeping nothing)."""
        self._started = True
        header = self.header
        bpp = max(1, header.bits_per_pixel // 8)
        src = self._reader._input
        while self._left > 0:
            repeat = src.take(1)[0] + 1
            if repeat > self._left:
                raise RasterError("a line repeat passes the end of its page")
            _decode_line(src, header.bytes_per_line, bpp, 0, keep=False)
            self._left -= repeat


class RasterReader:
    """Reads PWG Raster or URF from a binary file object, page by page.

    ``pages()`` yields each page once its header is read; the page's lines
    must be read (or are skipped) before the next page is.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._input = _Input(stream)
        buf, pos = self._input.buffer(len(URF_MAGIC) + 4)
        head = buf[pos : pos + len(URF_MAGIC) + 4]
        #: The page count a URF file header states (0: not stated, or PWG).
        self.declared_pages = 0
        if head.startswith(PWG_SYNC):
            self.format: RasterFormat = "pwg"
            self._input.advance(pos + len(PWG_SYNC))
        elif head.startswith(URF_MAGIC[:4]):
            if len(head) < 12 or not head.startswith(URF_MAGIC):
                raise RasterError("the file starts like URF but has no UNIRAST header")
            self.format = "urf"
            self.declared_pages = struct.unpack(">I", head[8:12])[0]
            self._input.advance(pos + 12)
        else:
            raise RasterError("the file is neither PWG Raster (RaS2) nor URF (UNIRAST)")

    def pages(self) -> Iterator[RasterPage]:
        size = PWG_HEADER_SIZE if self.format == "pwg" else URF_HEADER_SIZE
        unpack = PwgPageHeader.unpack if self.format == "pwg" else UrfPageHeader.unpack
        while True:
            data = self._input.take_or_none(size)
            if data is None:
                return
            if len(data) < size:
                raise RasterError("the file ends inside a page header")
            page = RasterPage(self, unpack(data))
            yield page
            page.skip()


def count_pages(path: Path) -> int:
    """The number of pages in a raster file, reading it through once without
    keeping any pixels (the runs must be decoded to find where a page ends)."""
    with path.open("rb") as stream:
        reader = RasterReader(stream)
        pages = 0
        for page in reader.pages():
            page.skip()
            pages += 1
        return pages


def encode_line(line: bytes, bpp: int) -> bytes:
    """The runs of one line (without its line repeat byte), `bpp` bytes a
    pixel: repeats of 2 to 128 pixels, literals of 2 to 128, one pixel as a
    repeat of 1. Code 128 is never written, so readers that take it as a
    129-pixel literal and those that take it as fill-to-white agree."""
    out = bytearray()
    pixels = len(line) // bpp
    start = 0
    while start < pixels:
        pixel = line[start * bpp : (start + 1) * bpp]
        run = 1
        while (
            start + run < pixels
            and run < 128
            and line[(start + run) * bpp : (start + run + 1) * bpp] == pixel
        ):
            run += 1
        if run > 1 or start + 1 == pixels:
            out.append(run - 1)
            out += pixel
            start += run
            continue
        literal = 1
        while start + literal < pixels and literal < 128:
            here = (start + literal) * bpp
            if (
                start + literal + 1 < pixels
                and line[here : here + bpp] == line[here + bpp : here + 2 * bpp]
            ):
                break
            literal += 1
        if literal == 1:
            out.append(0)
            out += pixel
        else:
            out.append(257 - literal)
            out += line[start * bpp : (start + literal) * bpp]
        start += literal
    return bytes(out)


class RasterWriter:
    """Writes PWG Raster or URF to a binary file object.

    For URF, the page count goes in the file header: pass it to the
    constructor (0 writes "unknown", as Ghostscript does).
    """

    def __init__(self, stream: BinaryIO, fmt: RasterFormat, page_count: int = 0) -> None:
        self._stream = stream
        self.format = fmt
        if fmt == "pwg":
            stream.write(PWG_SYNC)
        else:
            stream.write(URF_MAGIC + struct.pack(">I", page_count))

    def write_page(self, header: PageHeader, lines: Iterable[bytes]) -> None:
        """Write a page: its header, then `lines` (exactly ``header.height``
        of ``header.bytes_per_line`` bytes), identical neighbours folded into
        line repeats."""
        if self.format == "pwg" and not isinstance(header, PwgPageHeader):
            raise TypeError("a PWG Raster page needs a PwgPageHeader")
        if self.format == "urf" and not isinstance(header, UrfPageHeader):
            raise TypeError("a URF page needs a UrfPageHeader")
        self._stream.write(header.pack())
        bpp = max(1, header.bits_per_pixel // 8)
        count = 0
        previous: bytes | None = None
        repeat = 0
        for line in lines:
            if len(line) != header.bytes_per_line:
                raise RasterError(f"a line of {len(line)} bytes, not {header.bytes_per_line}")
            count += 1
            if line == previous and repeat < 256:
                repeat += 1
                continue
            if previous is not None:
                self._group(previous, repeat, bpp)
            previous, repeat = line, 1
        if previous is not None:
            self._group(previous, repeat, bpp)
        if count != header.height:
            raise RasterError(f"{count} lines written for a page {header.height} lines high")

    def _group(self, line: bytes, repeat: int, bpp: int) -> None:
        self._stream.write(bytes((repeat - 1,)) + encode_line(line, bpp))
