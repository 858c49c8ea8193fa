"""DNS-SD records: the TXT keys clients read, and a real registration seen by
python-zeroconf's own browser on loopback."""

from __future__ import annotations

import threading

import trio
from zeroconf import IPVersion, ServiceBrowser, ServiceListener, Zeroconf

from gateway.dnssd import Advertiser, QueueInfo, adverts, instance_name

OFFICE = QueueInfo(
    name="office",
    info="Office printer",
    location="2nd floor",
    make_and_model="Example LaserJet",
    uuid="6f1e2a3b-0000-4000-8000-000000000001",
    formats=["application/pdf", "image/urf"],
    color=True,
    duplex=False,
    urf="W8,SRGB24,RS300",
)


def test_records_and_txt_keys() -> None:
    items = adverts([OFFICE], "gw.example", ipp_port=631, ipps_port=443, lpd_port=515)
    by_type = {a.service_type: a for a in items}
    assert set(by_type) == {"_ipp._tcp.local.", "_ipps._tcp.local.", "_printer._tcp.local."}
    txt = by_type["_ipp._tcp.local."].txt
    assert txt["txtvers"] == "1" and txt["qtotal"] == "1"
    assert txt["rp"] == "printers/office"
    assert txt["ty"] == "Example LaserJet"
    assert txt["note"] == "2nd floor"
    assert txt["pdl"] == "application/pdf,image/urf"
    assert txt["UUID"] == OFFICE.uuid
    assert txt["TLS"] == "1.2"
    assert txt["Color"] == "T" and txt["Duplex"] == "F"
    assert txt["URF"] == "W8,SRGB24,RS300"
    assert txt["adminurl"] == "http://gw.example:631/printers/office"
    assert txt["kind"] == "document" and txt["product"] == "(lpd-ipp-gateway)"
    assert by_type["_printer._tcp.local."].port == 515
    assert by_type["_printer._tcp.local."].txt["rp"] == "office"


def test_no_tls_no_ipps_and_unknown_capabilities_left_out() -> None:
    queue = QueueInfo("lp", "", "", "", "u", ["text/plain"])
    items = adverts([queue], "host.example", ipp_port=8631, ipps_port=None, lpd_port=None)
    (only,) = items
    assert only.service_type == "_ipp._tcp.local."
    assert "TLS" not in only.txt and "Color" not in only.txt and "URF" not in only.txt
    assert only.instance == "lp @ host"


def test_instance_names_fit_a_dns_label() -> None:
    long = QueueInfo("q", "Ä" * 60, "", "", "u", [])
    assert len(instance_name(long, "h").encode()) <= 63


class Collect(ServiceListener):
    def __init__(self) -> None:
        self.found: dict[str, dict[bytes, bytes | None]] = {}
        self.seen = threading.Event()

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        info = zc.get_service_info(type_, name, timeout=3000)
        if info is not None:
            self.found[name] = dict(info.properties)
            self.seen.set()

    def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.add_service(zc, type_, name)

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.found.pop(name, None)


async def test_registration_is_seen_on_loopback() -> None:
    queue = QueueInfo("dnssdtest", "Gateway DNS-SD test", "", "", "uuid-1", ["text/plain"])
    advertiser = Advertiser("gwtest", ["127.0.0.1"])
    with trio.fail_after(30):
        names = await advertiser.start(
            adverts([queue], "gwtest", ipp_port=18631, ipps_port=None, lpd_port=None)
        )
        try:
            browser_zc = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
            listener = Collect()
            browser = ServiceBrowser(browser_zc, "_ipp._tcp.local.", listener)
            try:
                found = await trio.to_thread.run_sync(listener.seen.wait, 10)
            finally:
                browser.cancel()
                browser_zc.close()
        finally:
            await advertiser.stop()
    assert found
    assert names[0] in listener.found
    assert listener.found[names[0]][b"rp"] == b"printers/dnssdtest"
