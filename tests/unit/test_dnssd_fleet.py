"""DNS-SD with a fleet: only the queues `[dnssd] queues` selects are announced,
and at most `announce_per_second` services start registering a second (a fake
registrar on trio's MockClock; the real one is in test_dnssd.py)."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence

import trio
import trio.testing
from zeroconf import ServiceInfo

from gateway.config import DnssdConfig
from gateway.dnssd import Advert, Advertiser, QueueInfo, advertise, adverts, announced


def fleet(count: int) -> list[Advert]:
    names = ["lp", *(f"office-{i}" for i in range(count)), "lab"]
    infos = [QueueInfo(n, "", "", "", f"uuid-{n}", ["application/pdf"]) for n in names]
    return adverts(infos, "gw", ipp_port=631, ipps_port=None, lpd_port=515)


class FakeAdvertiser(Advertiser):
    """Records when each service was registered; no network."""

    def __init__(self) -> None:
        super().__init__("gw")
        self.at: list[tuple[float, str]] = []
        self.stopped = False

    def _open(self) -> None:
        return None

    def _addresses(self) -> list[bytes]:
        return [bytes([127, 0, 0, 1])]

    async def _register(self, info: ServiceInfo) -> None:
        self.at.append((trio.current_time(), info.name))
        await trio.sleep(1.5)  # probing and announcing take a while

    async def stop(self) -> None:
        self.stopped = True


def test_glob_patterns_choose_the_queues() -> None:
    items = fleet(3)
    chosen = announced(items, ["lp", "office-*"])
    assert {a.queue for a in chosen} == {"lp", "office-0", "office-1", "office-2"}
    assert {a.service_type for a in chosen} == {"_ipp._tcp.local.", "_printer._tcp.local."}
    assert announced(items, ["*"]) == items  # the default: every queue
    assert announced(items, ["Office-*"]) == []  # queue names are case-sensitive


async def test_announcements_are_spread_over_time(autojump_clock: trio.testing.MockClock) -> None:
    items = fleet(98)  # 100 queues, 200 services
    fake = FakeAdvertiser()
    settings = DnssdConfig(enabled=True, queues=("office-*",), announce_per_second=20)
    async with trio.open_nursery() as nursery:
        start = trio.current_time()
        names = await nursery.start(
            functools.partial(advertise, advertiser=fake), lambda: items, "gw", settings
        )
        ready = trio.current_time() - start
        assert len(names) == 20  # the first second's worth before "ready"
        await trio.sleep(30)
        nursery.cancel_scope.cancel()
    assert fake.stopped
    assert len(fake.at) == 196  # office-0..97, _ipp and _printer each
    assert not any("lp @" in name or "lab @" in name for _, name in fake.at)
    times = [t - start for t, _ in fake.at]
    assert times == sorted(times)
    for earlier, later in itertools.pairwise(times):
        assert later - earlier >= 0.05 - 1e-9  # 20 a second at most
    assert 9.7 <= times[-1] <= 11.5  # 196 services at 20/s (+ the first ones probing)
    assert ready < 3  # probing of the first ones, not of the whole fleet


async def test_a_few_queues_are_announced_before_ready(
    autojump_clock: trio.testing.MockClock,
) -> None:
    infos = [QueueInfo("lp", "", "", "", "u", ["text/plain"])]
    items = adverts(infos, "gw", ipp_port=631, ipps_port=631, lpd_port=None)
    fake = FakeAdvertiser()
    async with trio.open_nursery() as nursery:
        names: Sequence[str] = await nursery.start(
            functools.partial(advertise, advertiser=fake), lambda: items, "gw", DnssdConfig()
        )
        nursery.cancel_scope.cancel()
    assert len(names) == 2 and len(fake.at) == 2
