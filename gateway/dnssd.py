"""DNS-SD / mDNS advertisement of every queue, so clients find them by themselves.

What is advertised follows what IPP Everywhere, AirPrint and CUPS clients
read (Bonjour Printing 1.2, PWG 5100.14): for each queue one ``_ipp._tcp``
service (and ``_ipps._tcp`` when the TLS listener is on) with the TXT keys
txtvers, qtotal, rp, ty, adminurl, note, pdl, UUID, TLS, Color, Duplex, URF,
kind and product, plus an ``_printer._tcp`` service naming the LPD port.

mDNS itself is python-zeroconf's job (name conflicts are resolved by it: a
taken name becomes "name (2)"); this module only decides the records.
`adverts` is pure, so the records are tested without a network.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ifaddr
import trio
from zeroconf import IPVersion, ServiceInfo, Zeroconf

log = logging.getLogger("gateway.dnssd")

MAX_NAME = 63  # DNS label
DOMAIN = "local."


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """What the records of one queue are made from."""

    name: str
    info: str
    location: str
    make_and_model: str
    uuid: str  # printer-uuid without "urn:uuid:"
    formats: Sequence[str]
    color: bool | None = None
    duplex: bool | None = None
    urf: str | None = None  # urf-supported values joined by ",", when image/urf is taken


@dataclass(frozen=True, slots=True)
class Advert:
    """One DNS-SD service instance."""

    service_type: str  # "_ipp._tcp.local."
    instance: str  # "Office @ gw"
    port: int
    txt: dict[str, str]
    subtypes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.instance}.{self.service_type}"


def instance_name(queue: QueueInfo, hostname: str) -> str:
    """The service instance name: printer-info, else "queue @ host" (as CUPS does)."""
    base = queue.info or f"{queue.name} @ {hostname.split('.', maxsplit=1)[0]}"
    encoded = base.encode("utf-8")[:MAX_NAME]
    return encoded.decode("utf-8", "ignore")


def adverts(
    queues: Sequence[QueueInfo],
    hostname: str,
    *,
    ipp_port: int | None,
    ipps_port: int | None,
    lpd_port: int | None,
) -> list[Advert]:
    """Every service instance for these queues and listener ports."""
    result: list[Advert] = []
    for queue in queues:
        instance = instance_name(queue, hostname)
        web_port = ipp_port or ipps_port
        txt = {
            "txtvers": "1",
            "qtotal": "1",
            "rp": f"printers/{queue.name}",
            "ty": queue.make_and_model or f"lpd-ipp-gateway {queue.name}",
            "note": queue.location,
            "pdl": ",".join(queue.formats),
            "UUID": queue.uuid,
            "kind": "document",
            "product": "(lpd-ipp-gateway)",
            "priority": "50",
        }
        if web_port is not None:
            scheme = "http" if ipp_port else "https"
            txt["adminurl"] = f"{scheme}://{hostname}:{web_port}/printers/{queue.name}"
        if ipps_port is not None:
            txt["TLS"] = "1.2"
        if queue.color is not None:
            txt["Color"] = "T" if queue.color else "F"
        if queue.duplex is not None:
            txt["Duplex"] = "T" if queue.duplex else "F"
        if queue.urf:
            txt["URF"] = queue.urf
        if ipp_port is not None:
            result.append(
                Advert(f"_ipp._tcp.{DOMAIN}", instance, ipp_port, dict(txt), subtypes=("_print",))
            )
        if ipps_port is not None:
            result.append(
                Advert(f"_ipps._tcp.{DOMAIN}", instance, ipps_port, dict(txt), subtypes=("_print",))
            )
        if lpd_port is not None:
            lpd_txt = {
                "txtvers": "1",
                "qtotal": "1",
                "rp": queue.name,
                "ty": txt["ty"],
                "note": queue.location,
                "pdl": txt["pdl"],
                "UUID": queue.uuid,
                "product": txt["product"],
            }
            result.append(Advert(f"_printer._tcp.{DOMAIN}", instance, lpd_port, lpd_txt))
    return result


class Advertiser:
    """Registers adverts with python-zeroconf (its own thread) and withdraws them."""

    def __init__(self, hostname: str, interfaces: Sequence[str] = ()) -> None:
        self.hostname = hostname.split(".", maxsplit=1)[0] or "lpd-ipp-gateway"
        self._interfaces = list(interfaces)
        self._zeroconf: Zeroconf | None = None
        self._registered: list[ServiceInfo] = []

    def _addresses(self) -> list[bytes]:
        wanted = self._interfaces or [
            ip.ip
            for adapter in ifaddr.get_adapters()
            for ip in adapter.ips
            if isinstance(ip.ip, str)
        ]
        return [socket.inet_aton(a) for a in wanted if ":" not in a]

    def _start(self, items: Sequence[Advert]) -> list[str]:
        if self._interfaces:
            zc = Zeroconf(interfaces=self._interfaces, ip_version=IPVersion.V4Only)
        else:
            zc = Zeroconf(ip_version=IPVersion.V4Only)
        self._zeroconf = zc
        names = []
        for advert in items:
            info = ServiceInfo(
                advert.service_type,
                advert.name,
                addresses=self._addresses(),
                port=advert.port,
                properties=advert.txt,
                # Our own host record, so we never contend with avahi for the
                # machine's name.
                server=f"{self.hostname}-lpd-ipp-gateway.{DOMAIN}",
            )
            zc.register_service(info, allow_name_change=True)
            self._registered.append(info)
            names.append(info.name)
        return names

    async def start(self, items: Sequence[Advert]) -> list[str]:
        """Register every advert; returns the names finally used (after renames)."""
        return await trio.to_thread.run_sync(self._start, items)

    def _stop(self) -> None:
        zc, self._zeroconf = self._zeroconf, None
        if zc is None:
            return
        try:
            zc.unregister_all_services()
        finally:
            zc.close()
            self._registered.clear()

    async def stop(self) -> None:
        """Send goodbyes for every advert and close."""
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(self._stop)


async def advertise(
    make: Callable[[], list[Advert]],
    hostname: str,
    interfaces: Sequence[str] = (),
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Advertise until cancelled, then withdraw (nursery start protocol)."""
    advertiser = Advertiser(hostname, interfaces)
    try:
        try:
            names = await advertiser.start(make())
        except OSError as exc:
            log.warning("DNS-SD: cannot advertise (%s); queues are not announced", exc)
            task_status.started([])
            await trio.sleep_forever()
        for name in names:
            log.info("DNS-SD: advertising %s", name.removesuffix("." + DOMAIN))
        task_status.started(names)
        await trio.sleep_forever()
    finally:
        await advertiser.stop()


__all__ = ["Advert", "Advertiser", "QueueInfo", "advertise", "adverts"]
