"""DNS-SD / mDNS advertisement of every queue, so clients find them by themselves.

What is advertised follows what IPP Everywhere, AirPrint, Mopria and CUPS
clients read (Bonjour Printing 1.2.1, PWG 5100.14): for each queue one
``_ipp._tcp`` service (and ``_ipps._tcp`` when the TLS listener is on) with
the TXT keys txtvers, qtotal, rp, ty, adminurl, note, priority, product, pdl,
UUID, TLS, Color, Duplex, Copies, URF, kind, PaperMax and air, plus an
``_printer._tcp`` service naming the LPD port. The values are the queue's IPP
Everywhere capabilities (gateway/ipp/server/everywhere.py: the same ones its
printer attributes show); ``mopria-certified`` is never sent, since no queue is
certified. Each IPP service is of the subtypes ``_print`` (an IPP Everywhere
printer, PWG 5100.14) and ``_universal`` (AirPrint: the queue takes Apple
raster and says so in URF).

mDNS itself is python-zeroconf's job (name conflicts are resolved by it: a
taken name becomes "name (2)"); this module only decides the records, which
queues are announced and how fast. `adverts` is pure, so the records are
tested without a network.

On a network with a fleet: ``[dnssd] queues`` (glob patterns, default ``["*"]``)
says which queues are announced, and the services are registered at most
``announce_per_second`` a second (default 20), each one's probes and
announcements running while the next ones start, so 2,000 queues do not hit
the link in one burst. The first second's worth is registered before the
gateway says it is ready, the rest in the background.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from gateway.config import DnssdConfig, name_matches

if TYPE_CHECKING:  # imported when DNS-SD is on: zeroconf costs ~60 ms at every start
    from zeroconf import ServiceInfo, Zeroconf

log = logging.getLogger("gateway.dnssd")

MAX_NAME = 63  # DNS label
#: The longest TXT string (RFC 6763 section 6.1): key, "=" and value in 255 bytes.
MAX_TXT = 255
DOMAIN = "local."
#: Subtypes of every IPP service: IPP Everywhere (PWG 5100.14 section 4.2.2), and
#: AirPrint's, when the queue takes Apple raster (image/urf with URF in the TXT).
EVERYWHERE_SUBTYPE = "_print"
AIRPRINT_SUBTYPE = "_universal"
#: Services registered per second by default (``[dnssd] announce_per_second``).
ANNOUNCE_PER_SECOND = 20.0


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
    kind: str = "document"  # printer-kind values joined by ","
    paper_max: str = ""  # PaperMax: <legal-A4, legal-A4, tabloid-A3, isoC-A2, >isoC-A2
    air: str = "none"  # what a client must send: none, or username,password


@dataclass(frozen=True, slots=True)
class Advert:
    """One DNS-SD service instance."""

    service_type: str  # "_ipp._tcp.local."
    instance: str  # "Office @ gw"
    port: int
    txt: dict[str, str]
    subtypes: tuple[str, ...] = ()
    queue: str = ""  # the queue it announces

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
            "pdl": _joined("pdl", queue.formats),
            "UUID": queue.uuid,
            "kind": queue.kind,
            "product": "(lpd-ipp-gateway)",
            "priority": "50",
            "Copies": "T",  # the gateway makes copies for a printer that cannot
            "air": queue.air,
        }
        if queue.paper_max:
            txt["PaperMax"] = queue.paper_max
        if web_port is not None:
            scheme = "http" if ipp_port else "https"
            txt["adminurl"] = f"{scheme}://{hostname}:{web_port}/printers/{queue.name}"
        if ipps_port is not None:
            txt["TLS"] = "1.2"
        if queue.color is not None:
            txt["Color"] = "T" if queue.color else "F"
        if queue.duplex is not None:
            txt["Duplex"] = "T" if queue.duplex else "F"
        subtypes: tuple[str, ...] = (EVERYWHERE_SUBTYPE,)
        if queue.urf:
            txt["URF"] = _joined("URF", queue.urf.split(","))
            if "image/urf" in queue.formats:
                subtypes += (AIRPRINT_SUBTYPE,)
        if ipp_port is not None:
            result.append(
                Advert(f"_ipp._tcp.{DOMAIN}", instance, ipp_port, dict(txt), subtypes, queue.name)
            )
        if ipps_port is not None:
            result.append(
                Advert(f"_ipps._tcp.{DOMAIN}", instance, ipps_port, dict(txt), subtypes, queue.name)
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
            result.append(
                Advert(f"_printer._tcp.{DOMAIN}", instance, lpd_port, lpd_txt, (), queue.name)
            )
    return result


def _joined(key: str, values: Sequence[str]) -> str:
    """`values` joined by commas, as many whole values as fit one TXT string."""
    room = MAX_TXT - len(key.encode()) - 1
    kept: list[str] = []
    for value in values:
        if len(",".join([*kept, value]).encode()) > room:
            break
        kept.append(value)
    return ",".join(kept)


def announced(items: Sequence[Advert], patterns: Sequence[str]) -> list[Advert]:
    """The adverts of the queues whose names match one of the glob `patterns`
    (``[dnssd] queues``; case-sensitive, like queue names)."""
    return [a for a in items if name_matches(a.queue, patterns)]


class Advertiser:
    """Registers adverts with python-zeroconf (its own thread) and withdraws them."""

    def __init__(self, hostname: str, interfaces: Sequence[str] = ()) -> None:
        self.hostname = hostname.split(".", maxsplit=1)[0] or "lpd-ipp-gateway"
        self._interfaces = list(interfaces)
        self._zeroconf: Zeroconf | None = None
        self._registered: list[ServiceInfo] = []

    def _addresses(self) -> list[bytes]:
        import ifaddr  # noqa: PLC0415 (lazy: see TYPE_CHECKING)

        wanted = self._interfaces or [
            ip.ip
            for adapter in ifaddr.get_adapters()
            for ip in adapter.ips
            if isinstance(ip.ip, str)
        ]
        return [socket.inet_aton(a) for a in wanted if ":" not in a]

    def _open(self) -> None:
        from zeroconf import IPVersion, Zeroconf  # noqa: PLC0415 (lazy: see TYPE_CHECKING)

        if self._interfaces:
            zc = Zeroconf(interfaces=self._interfaces, ip_version=IPVersion.V4Only)
        else:
            zc = Zeroconf(ip_version=IPVersion.V4Only)
        self._zeroconf = zc

    def _info(self, advert: Advert) -> ServiceInfo:
        from zeroconf import ServiceInfo  # noqa: PLC0415 (lazy: see TYPE_CHECKING)

        return ServiceInfo(
            advert.service_type,
            advert.name,
            addresses=self._addresses(),
            port=advert.port,
            properties=advert.txt,
            # Our own host record, so we never contend with avahi for the
            # machine's name.
            server=f"{self.hostname}-lpd-ipp-gateway.{DOMAIN}",
        )

    async def _register(self, info: ServiceInfo) -> None:
        """Register one service on zeroconf's own event loop (its thread) and wait,
        without holding a thread, until its probes and announcements are sent."""
        zc = self._zeroconf
        assert zc is not None

        async def register() -> None:
            announced = await zc.async_register_service(info, allow_name_change=True)
            await announced

        loop = zc.loop
        assert loop is not None
        future = asyncio.run_coroutine_threadsafe(register(), loop)
        token = trio.lowlevel.current_trio_token()
        done = trio.Event()

        def finished(_: concurrent.futures.Future[None]) -> None:
            try:
                token.run_sync_soon(done.set)
            except trio.RunFinishedError:
                pass

        future.add_done_callback(finished)
        try:
            await done.wait()
        except trio.Cancelled:
            future.cancel()
            raise
        future.result()

    async def start(
        self, items: Sequence[Advert], *, per_second: float = ANNOUNCE_PER_SECOND
    ) -> list[str]:
        """Register every advert (see `add`); returns the names finally used."""
        if self._zeroconf is None:
            await trio.to_thread.run_sync(self._open)
        return await self.add(items, per_second=per_second)

    async def add(
        self, items: Sequence[Advert], *, per_second: float = ANNOUNCE_PER_SECOND
    ) -> list[str]:
        """Register adverts, starting at most `per_second` a second (each one's
        probing runs while the next start); the names used, after renames."""
        infos = []
        async with trio.open_nursery() as nursery:
            for index, advert in enumerate(items):
                if index:
                    await trio.sleep(1.0 / per_second)
                info = self._info(advert)
                infos.append(info)
                self._registered.append(info)
                nursery.start_soon(self._register, info)
        return [info.name for info in infos]

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
    settings: DnssdConfig,
    *,
    advertiser: Advertiser | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Advertise the queues `settings` selects until cancelled, then withdraw
    (nursery start protocol: started after the first second's worth)."""
    advertiser = advertiser or Advertiser(hostname, settings.interfaces)
    per_second = settings.announce_per_second
    items = announced(make(), settings.queues)
    first = max(1, int(per_second))
    try:
        try:
            names = await advertiser.start(items[:first], per_second=per_second)
        except OSError as exc:
            log.warning("DNS-SD: cannot advertise (%s); queues are not announced", exc)
            task_status.started([])
            await trio.sleep_forever()
        _log_names(names)
        task_status.started(names)
        if items[first:]:
            await trio.sleep(1.0 / per_second)
            _log_names(await advertiser.add(items[first:], per_second=per_second))
        await trio.sleep_forever()
    finally:
        await advertiser.stop()


def _log_names(names: Sequence[str]) -> None:
    for name in names:
        log.info("DNS-SD: advertising %s", name.removesuffix("." + DOMAIN))


__all__ = ["Advert", "Advertiser", "QueueInfo", "advertise", "adverts", "announced"]
