"""The document formats (MIME media types) the gateway sniffs and converts."""

from __future__ import annotations

PDF = "application/pdf"
POSTSCRIPT = "application/postscript"
TEXT = "text/plain"
PWG_RASTER = "image/pwg-raster"
URF = "image/urf"
JPEG = "image/jpeg"
PNG = "image/png"
PCL = "application/vnd.hp-pcl"
PCLXL = "application/vnd.hp-pclxl"
OCTET_STREAM = "application/octet-stream"

#: What the gateway can tell apart by content (`gateway.convert.sniff`).
KNOWN = (PDF, POSTSCRIPT, TEXT, PWG_RASTER, URF, JPEG, PNG, PCL, PCLXL)

#: File name extensions, for a backend that writes files.
EXTENSIONS = {
    PDF: "pdf",
    POSTSCRIPT: "ps",
    TEXT: "txt",
    PWG_RASTER: "pwg",
    URF: "urf",
    JPEG: "jpg",
    PNG: "png",
    PCL: "pcl",
    PCLXL: "pxl",
}


def base(mime: str) -> str:
    """A media type without its parameters, in lower case: ``text/plain;
    charset=utf-8`` -> ``text/plain``."""
    return mime.split(";", 1)[0].strip().lower()
