"""DNS-SD TXT keys and subtypes of a queue, made from its IPP Everywhere profile
(the values its printer attributes show), as gateway.app makes them."""

from __future__ import annotations

from pathlib import Path

from gateway.backends.base import Capabilities
from gateway.config import QueueConfig
from gateway.dnssd import MAX_TXT, QueueInfo, adverts
from gateway.ipp.server.everywhere import FILE, LPD, paper_max, profile_of


def info_of(config: QueueConfig, caps: Capabilities, kind: str, air: str = "none") -> QueueInfo:
    """A QueueInfo as gateway.app's _adverts makes it."""
    profile = profile_of(config, caps, kind=kind, default_media="iso_a4_210x297mm")
    return QueueInfo(
        name=config.name,
        info=config.info,
        location=config.location,
        make_and_model=config.make_and_model,
        uuid="6f1e2a3b-0000-4000-8000-000000000001",
        formats=profile.pdl,
        color=profile.color,
        duplex=profile.duplex,
        urf=",".join(profile.urf) or None,
        kind=",".join(profile.kinds),
        paper_max=paper_max(profile),
        air=air,
    )


def ipp_advert(info: QueueInfo, **ports: int | None) -> tuple[dict[str, str], tuple[str, ...]]:
    items = adverts(
        [info],
        "gw.example",
        ipp_port=ports.get("ipp", 631),
        ipps_port=ports.get("ipps"),
        lpd_port=ports.get("lpd"),
    )
    (ipp,) = [a for a in items if a.service_type == "_ipp._tcp.local."]
    return ipp.txt, ipp.subtypes


def test_a_folder_queue_is_an_airprint_and_ipp_everywhere_printer(tmp_path: Path) -> None:
    txt, subtypes = ipp_advert(info_of(QueueConfig("lp", tmp_path.as_uri()), Capabilities(), FILE))
    assert subtypes == ("_print", "_universal")
    assert txt["Color"] == "T" and txt["Duplex"] == "T"
    pdl = txt["pdl"].split(",")
    assert {"application/pdf", "image/pwg-raster", "image/urf", "image/jpeg"} <= set(pdl)
    assert "application/octet-stream" not in pdl
    urf = txt["URF"].split(",")
    assert {"V1.4", "W8", "SRGB24", "DM1"} <= set(urf)
    assert txt["PaperMax"] == "legal-A4"
    assert txt["kind"] == "document,photo"  # 4x6 is among the default media
    assert txt["air"] == "none"
    assert "mopria-certified" not in txt


def test_an_lpd_queue_says_what_its_configuration_says() -> None:
    config = QueueConfig("mono", "lpd://printer/lp")
    txt, _ = ipp_advert(
        info_of(config, Capabilities(document_formats=("application/postscript",)), LPD)
    )
    assert txt["Color"] == "F" and txt["Duplex"] == "F"
    assert txt["pdl"].startswith("application/postscript,")
    assert "SRGB24" not in txt["URF"] and "DM1" not in txt["URF"]
    big = QueueConfig(
        "big",
        "lpd://printer/lp",
        media=("iso_a3_297x420mm", "iso_a4_210x297mm", "iso_dl_110x220mm"),
        color=True,
        duplex=True,
    )
    txt, _ = ipp_advert(info_of(big, Capabilities(document_formats=("application/pdf",)), LPD))
    assert txt["Color"] == "T" and txt["Duplex"] == "T"
    assert txt["PaperMax"] == "tabloid-A3"
    assert txt["kind"] == "document,envelope"


def test_air_says_a_password_is_needed_when_authentication_is_on(tmp_path: Path) -> None:
    config = QueueConfig("lp", tmp_path.as_uri())
    txt, _ = ipp_advert(info_of(config, Capabilities(), FILE, air="username,password"), ipps=443)
    assert txt["air"] == "username,password"
    assert txt["TLS"] == "1.2"


def test_every_txt_string_fits() -> None:
    many = [f"application/x-format-number-{n}" for n in range(40)]
    info = QueueInfo("q", "", "", "", "u", many, urf=",".join(f"X{n}" for n in range(200)))
    txt, subtypes = ipp_advert(info)
    for key, value in txt.items():
        assert len(f"{key}={value}".encode()) <= MAX_TXT
    assert all(v in many for v in txt["pdl"].split(","))
    assert subtypes == ("_print",)  # no image/urf among the formats: not AirPrint
