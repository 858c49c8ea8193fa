"""IPP Everywhere printer attributes of a queue (everywhere.py, printer_attributes.py):
what each kind of backend offers, from its report, the queue's configuration or
the defaults, and what is shared between queues."""

from __future__ import annotations

import struct
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

import pytest

from gateway.backends.base import Capabilities
from gateway.backends.lpd import LpdBackend, LpdSettings
from gateway.config import QueueConfig
from gateway.convert.media import media_size_hmm
from gateway.core.queues import Queue
from gateway.ipp import Attribute, Collection, Resolution, ValueTag
from gateway.ipp.attributes import Group
from gateway.ipp.encoder import encode_group
from gateway.ipp.operations import Operation
from gateway.ipp.parser import decode
from gateway.ipp.server.everywhere import (
    FILE,
    IPP,
    LPD,
    PROFILE_NAMES,
    add_everywhere,
    backend_kind,
    paper_max,
    profile_of,
)
from gateway.ipp.server.icons import ICON_PATHS, SIZES, icon_png
from gateway.ipp.server.printer_attributes import (
    Listener,
    PrinterDescription,
    ipp_features,
    uri_attributes,
    web_attributes,
)
from gateway.ipp.tags import DelimiterTag
from gateway.ipp.values import OutOfBand

PS_TEXT = ("application/postscript", "text/plain")
STARTED = time.time()  # one gateway start for every description here


class FakeBackend:
    """A backend that reports `caps` (the IPP front-end asks nothing else)."""

    def __init__(self, uri: str, caps: Capabilities) -> None:
        self.uri = uri
        self.caps = caps

    def capabilities(self) -> Capabilities:
        return self.caps


def description(
    uri: str, caps: Capabilities, name: str = "office", **config: Any
) -> PrinterDescription:
    queue = Queue(QueueConfig(name, uri, **config), FakeBackend(uri, caps))  # type: ignore[arg-type]
    return PrinterDescription(
        queue,
        printer_uuid=uuid.uuid4(),
        started=STARTED,
        multiple_operation_timeout=300,
        operations=list(Operation),
        default_media="iso_a4_210x297mm",
    )


def group(desc: PrinterDescription) -> Group:
    """The static attributes as a client decodes them (encoded, then parsed back)."""
    raw = b"".join(desc.static().values())
    head = bytes((2, 0, 0, 0, 0, 0, 0, 1, DelimiterTag.PRINTER_ATTRIBUTES))
    message, _ = decode(head + raw + bytes((DelimiterTag.END_OF_ATTRIBUTES,)))
    found = message.group(DelimiterTag.PRINTER_ATTRIBUTES)
    assert found is not None
    return found


def values(g: Group, name: str) -> list[Any]:
    assert name in g, f"{name} missing"
    return g.values(name)


def test_a_folder_takes_everything_in_colour_and_two_sided(tmp_path: Path) -> None:
    g = group(description(tmp_path.as_uri(), Capabilities(document_formats=None)))
    formats = values(g, "document-format-supported")
    for fmt in ("application/pdf", "image/pwg-raster", "image/urf", "image/jpeg"):
        assert fmt in formats
    assert formats[-1] == "application/octet-stream"
    assert values(g, "ipp-features-supported")[0] == "ipp-everywhere"
    assert values(g, "color-supported") == [True]
    assert "color" in values(g, "print-color-mode-supported")
    assert "two-sided-long-edge" in values(g, "sides-supported")
    assert values(g, "pwg-raster-document-type-supported") == ["sgray_8", "srgb_8"]
    assert values(g, "pwg-raster-document-resolution-supported") == [
        Resolution(300, 300),
        Resolution(600, 600),
    ]
    assert {"SRGB24", "DM1", "W8", "V1.4"} <= set(values(g, "urf-supported"))
    assert values(g, "media-bottom-margin-supported") == [0]
    assert values(g, "preferred-attributes-supported") == [False]
    assert {"document-number", "pages"} <= set(values(g, "overrides-supported"))
    assert values(g, "print-rendering-intent-supported") == ["auto"]


def test_media_col_database_has_the_sizes_of_the_media_names(tmp_path: Path) -> None:
    g = group(description(tmp_path.as_uri(), Capabilities()))
    names = values(g, "media-supported")
    database: list[Collection] = values(g, "media-col-database")
    assert [c.value("media-size-name") for c in database] == names
    for col in database:
        size = col.value("media-size")
        assert isinstance(size, Collection)
        name = col.value("media-size-name")
        assert isinstance(name, str)
        assert (size.value("x-dimension"), size.value("y-dimension")) == media_size_hmm(name)
    ready: list[Collection] = values(g, "media-col-ready")
    assert [c.value("media-size-name") for c in ready] == values(g, "media-ready")
    assert values(g, "media-default") == ["iso_a4_210x297mm"]
    assert values(g, "media-source-supported") and values(g, "media-type-supported")


def test_an_lpd_postscript_printer_is_monochrome_and_one_sided_until_configured() -> None:
    caps = LpdBackend("lpd://printer/lp", {}, hostname="gw").capabilities()
    assert caps.document_formats == PS_TEXT
    g = group(description("lpd://printer/lp", caps))
    formats = values(g, "document-format-supported")
    assert formats[:2] == list(PS_TEXT)  # what the printer takes first, then conversions
    assert {"application/pdf", "image/pwg-raster", "image/urf", "image/jpeg"} <= set(formats)
    assert values(g, "document-format-preferred") == ["application/postscript"]
    assert values(g, "color-supported") == [False]
    assert values(g, "print-color-mode-supported") == ["auto", "monochrome"]
    assert values(g, "sides-supported") == ["one-sided"]
    assert values(g, "pwg-raster-document-type-supported") == ["sgray_8"]
    urf = values(g, "urf-supported")
    assert "SRGB24" not in urf and "DM1" not in urf
    assert values(g, "media-left-margin-supported") == [635]
    supplies, descriptions = values(g, "printer-supply"), values(g, "printer-supply-description")
    assert len(supplies) == len(descriptions) == 1
    assert b"level=-2" in supplies[0]  # unknown, not empty
    assert values(g, "printer-geo-location") == [OutOfBand.UNKNOWN]


def test_the_queue_configuration_describes_an_lpd_printer() -> None:
    caps = Capabilities(document_formats=PS_TEXT)
    desc = description(
        "lpd://printer/lp",
        caps,
        media=("iso_a4_210x297mm", "iso_a3_297x420mm"),
        media_default="iso_a3_297x420mm",
        color=True,
        duplex=True,
        organization="Example Ltd",
        organizational_unit="Finance",
        geo_location="geo:52.52,13.405",
    )
    g = group(desc)
    assert values(g, "media-supported") == ["iso_a4_210x297mm", "iso_a3_297x420mm"]
    assert values(g, "media-default") == ["iso_a3_297x420mm"]
    assert values(g, "color-supported") == [True]
    assert "two-sided-short-edge" in values(g, "sides-supported")
    assert {"SRGB24", "DM1"} <= set(values(g, "urf-supported"))
    assert values(g, "printer-organization") == ["Example Ltd"]
    assert values(g, "printer-organizational-unit") == ["Finance"]
    assert values(g, "printer-geo-location") == ["geo:52.52,13.405"]
    assert desc.supported_values("sides") >= {"two-sided-long-edge"}
    profile = profile_of(
        desc.queue.config, caps, kind=backend_kind("lpd://printer/lp"), default_media="x"
    )
    assert paper_max(profile) == "tabloid-A3"


def test_an_ipp_printer_reports_its_own_values_over_the_defaults() -> None:
    media = Attribute.of("media-supported", ValueTag.KEYWORD, "na_letter_8.5x11in")
    reported = {
        "media-supported": media,
        "media-default": Attribute.of("media-default", ValueTag.KEYWORD, "na_letter_8.5x11in"),
        "sides-supported": Attribute.of(
            "sides-supported", ValueTag.KEYWORD, "one-sided", "two-sided-long-edge"
        ),
        "color-supported": Attribute.of("color-supported", ValueTag.BOOLEAN, False),
        "urf-supported": Attribute.of("urf-supported", ValueTag.KEYWORD, "V1.4", "RS600"),
        "printer-supply": Attribute.of(
            "printer-supply", ValueTag.OCTET_STRING, b"index=1;type=toner;level=40;"
        ),
        "printer-supply-description": Attribute.of(
            "printer-supply-description", ValueTag.TEXT, "Black toner"
        ),
    }
    caps = Capabilities(document_formats=("application/pdf",), printer_attributes=reported)
    g = group(description("ipp://printer/ipp/print", caps))
    formats = values(g, "document-format-supported")
    assert formats[0] == "application/pdf" and "image/pwg-raster" in formats
    assert values(g, "media-supported") == ["na_letter_8.5x11in"]
    assert values(g, "media-default") == ["na_letter_8.5x11in"]
    assert values(g, "sides-supported") == ["one-sided", "two-sided-long-edge"]
    assert values(g, "color-supported") == [False]
    # The printer takes no Apple raster: urf-supported says what the gateway takes.
    assert "urf-supported" in PROFILE_NAMES and "RS300-600" in values(g, "urf-supported")
    assert "DM1" in values(g, "urf-supported")  # it can print two-sided
    assert values(g, "printer-supply-description") == ["Black toner"]
    # Job template the printer does not report: its single default.
    assert values(g, "number-up-supported") == [1]


def test_queues_with_the_same_profile_share_their_encoded_attributes(tmp_path: Path) -> None:
    caps = Capabilities()
    first = description(tmp_path.as_uri(), caps, name="a", organization="A")
    second = description(tmp_path.as_uri(), caps, name="b", organization="B")
    assert first.shared() is second.shared()
    assert values(group(first), "printer-organization") == ["A"]
    assert values(group(second), "printer-organization") == ["B"]
    third = description(tmp_path.as_uri(), caps, name="c", color=False)
    assert third.shared() is not first.shared()


def test_oauth_issuer_is_advertised_and_named_for_ipps(tmp_path: Path) -> None:
    backend = FakeBackend(tmp_path.as_uri(), Capabilities())
    queue = Queue(QueueConfig("lp", tmp_path.as_uri()), backend)  # type: ignore[arg-type]
    desc = PrinterDescription(
        queue,
        printer_uuid=uuid.uuid4(),
        started=time.time(),
        multiple_operation_timeout=300,
        operations=[Operation.PRINT_JOB],
        oauth_issuer="https://auth.example.com",
    )
    assert values(group(desc), "oauth-authorization-server-uri") == ["https://auth.example.com"]
    listeners = [Listener("ipp", 631), Listener("ipps", 443)]
    _, _, auth = uri_attributes(listeners, "gw", "/ipp/print", basic_auth=True, oauth=True)
    assert auth.python_values == ["requesting-user-name", "oauth"]
    _, _, auth = uri_attributes(listeners, "gw", "/ipp/print", basic_auth=True)
    assert auth.python_values == ["requesting-user-name", "basic"]


def test_features_follow_the_operations() -> None:
    assert ipp_features([Operation.PRINT_JOB]) == ("ipp-everywhere",)
    assert "document-object" in ipp_features(list(Operation))
    assert "subscription-object" in ipp_features(list(Operation))


def test_web_attributes_and_the_icons_they_name() -> None:
    more, supplies, icons = web_attributes("http://gw:631", "office")
    assert more.value == supplies.value == "http://gw:631/printers/office"
    assert icons.python_values == [f"http://gw:631{p}" for p in ICON_PATHS]
    for path, size in zip(ICON_PATHS, SIZES, strict=True):
        png = icon_png(path)
        assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
        assert (width, height, depth, colour) == (size, size, 8, 6)
        idat = png.index(b"IDAT")
        length = struct.unpack(">I", png[idat - 4 : idat])[0]
        assert len(zlib.decompress(png[idat + 4 : idat + 4 + length])) == (4 * size + 1) * size
    assert icon_png("/icons/other.png") is None


def test_backend_kinds() -> None:
    assert backend_kind("ipps://p/ipp/print") == IPP
    assert backend_kind("lpd://p/lp") == LPD
    assert backend_kind("file:///tmp/out") == FILE


def test_add_everywhere_alone_gives_the_required_pairs(tmp_path: Path) -> None:
    profile = profile_of(
        QueueConfig("q", tmp_path.as_uri()), Capabilities(), kind=FILE, default_media=""
    )
    g = Group(DelimiterTag.PRINTER_ATTRIBUTES)
    add_everywhere(g, profile)
    for name in ("media", "sides", "print-color-mode", "print-quality", "print-scaling"):
        assert f"{name}-default" in g and f"{name}-supported" in g
    out = bytearray()
    encode_group(out, g)  # every value encodes
    assert out


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("application/pdf", ("application/pdf",)),
        ("application/postscript, text/plain", PS_TEXT),
        (["application/vnd.hp-PCL"], ("application/vnd.hp-pcl",)),
    ],
)
def test_lpd_formats_option(value: object, expected: tuple[str, ...]) -> None:
    assert LpdSettings.parse({"formats": value}).formats == expected


@pytest.mark.parametrize("value", ["", "application/x-unknown", "text/plain,,image/gif"])
def test_lpd_formats_option_refuses_what_cannot_be_made(value: str) -> None:
    with pytest.raises(ValueError, match="formats="):
        LpdSettings.parse({"formats": value})
