"""The status poller: which queue is asked when (trio's MockClock, no wall time)."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

import pytest
import trio
import trio.testing

from gateway import config
from gateway.backends.base import Capabilities, PrinterStatus, TransientBackendError
from gateway.config import DispatchConfig, QueueConfig
from gateway.core.polling import PollSettings, StatusPoller
from gateway.core.queues import Queue, Queues


@dataclass
class Printer:
    """A backend that records when it was asked for its state."""

    uri: str
    asked: list[float] = field(default_factory=list)
    status: PrinterStatus = field(default_factory=PrinterStatus)
    fail: bool = False
    one_job_at_a_time: bool = False

    async def printer_status(self) -> PrinterStatus:
        self.asked.append(trio.current_time())
        if self.fail:
            raise TransientBackendError("no answer", reason="connecting-to-device")
        return self.status

    def capabilities(self) -> Capabilities:
        return Capabilities()


def fleet(count: int, scheme: str = "ipp://printer/") -> tuple[Queues, dict[str, Printer]]:
    printers = {f"q{i}": Printer(f"{scheme}q{i}") for i in range(count)}
    queues = [Queue(QueueConfig(n, p.uri), p) for n, p in printers.items()]  # type: ignore[arg-type]
    return Queues(queues), printers


async def run_for(poller: StatusPoller, seconds: float) -> None:
    with trio.move_on_after(seconds):
        await poller.run()


async def test_idle_printers_share_the_budget_and_are_asked_rarely(
    autojump_clock: trio.testing.MockClock,
) -> None:
    queues, printers = fleet(40)
    settings = PollSettings(busy_interval=30, idle_interval=60, per_second=2, jitter=0.1)
    poller = StatusPoller(queues, lambda q: False, settings, rng=random.Random(1))
    start = trio.current_time()
    await run_for(poller, 600)
    times = sorted(t - start for p in printers.values() for t in p.asked)
    # never more than the budget: 2 a second, plus the first second's burst
    for i, t in enumerate(times):
        assert sum(1 for u in times[i:] if u < t + 10) <= 2 * 10 + 2
    # the first round is spread out by the budget: 40 printers at 2/s take ~20 s
    firsts = sorted(p.asked[0] - start for p in printers.values())
    assert firsts[0] == 0 and 18 <= firsts[-1] <= 21
    # idle: each printer asked about every 60 s (+-10%), never every 30 s
    for printer in printers.values():
        gaps = [b - a for a, b in zip(printer.asked, printer.asked[1:], strict=False)]
        assert gaps and all(gap >= 54 - 0.01 for gap in gaps)
    assert poller.polls == len(times)


async def test_a_printer_with_work_is_asked_often(autojump_clock: trio.testing.MockClock) -> None:
    queues, printers = fleet(5)
    busy = {"q2"}
    settings = PollSettings(busy_interval=10, idle_interval=300, per_second=50, jitter=0)
    poller = StatusPoller(queues, lambda q: q.name in busy, settings)
    await run_for(poller, 305)
    counts = Counter({name: len(p.asked) for name, p in printers.items()})
    assert counts["q2"] == 31  # at 0, 10, ..., 300
    assert all(counts[n] == 2 for n in counts if n != "q2")  # at 0 and 300


async def test_a_failing_or_stopped_printer_counts_as_busy(
    autojump_clock: trio.testing.MockClock,
) -> None:
    queues, printers = fleet(3)
    printers["q0"].fail = True
    printers["q1"].status = PrinterStatus(state="stopped", reasons=("media-empty-error",))
    settings = PollSettings(busy_interval=10, idle_interval=100, per_second=50, jitter=0)
    poller = StatusPoller(queues, lambda q: False, settings)
    await run_for(poller, 95)
    assert len(printers["q0"].asked) == 10 and len(printers["q1"].asked) == 10
    assert len(printers["q2"].asked) == 1
    q0 = queues.get("q0")
    assert q0 is not None and q0.problem == ("connecting-to-device", "no answer")
    q1 = queues.get("q1")
    assert q1 is not None and q1.backend_status.state == "stopped"
    assert q1.status_checked is not None


async def test_a_poke_brings_an_idle_printer_forward(
    autojump_clock: trio.testing.MockClock,
) -> None:
    queues, printers = fleet(2)
    settings = PollSettings(busy_interval=5, idle_interval=600, per_second=10, jitter=0)
    work: set[str] = set()
    poller = StatusPoller(queues, lambda q: q.name in work, settings)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(poller.run)
        await trio.sleep(100)
        assert [len(p.asked) for p in printers.values()] == [1, 1]
        due = poller.due("q1")
        assert due is not None and due > trio.current_time() + 400
        work.add("q1")
        poller.poke("q1")
        await trio.sleep(5.5)
        assert len(printers["q1"].asked) == 2 and len(printers["q0"].asked) == 1
        await trio.sleep(5)
        assert len(printers["q1"].asked) == 3  # busy now: every 5 s
        nursery.cancel_scope.cancel()


async def test_jitter_spreads_printers_started_together(
    autojump_clock: trio.testing.MockClock,
) -> None:
    queues, printers = fleet(20)
    settings = PollSettings(busy_interval=30, idle_interval=100, per_second=1000, jitter=0.1)
    poller = StatusPoller(queues, lambda q: False, settings, rng=random.Random(7))
    start = trio.current_time()
    await run_for(poller, 150)
    seconds = [p.asked[1] - start for p in printers.values()]
    assert all(90 <= s <= 110.1 for s in seconds)
    assert len({round(s, 3) for s in seconds}) == len(seconds)


async def test_local_folders_do_not_use_the_network_budget(
    autojump_clock: trio.testing.MockClock,
) -> None:
    queues, printers = fleet(50, scheme="file:///srv/out/")
    settings = PollSettings(busy_interval=30, idle_interval=300, per_second=1, jitter=0)
    poller = StatusPoller(queues, lambda q: False, settings, rng=random.Random(3))
    start = trio.current_time()
    await run_for(poller, 31)
    # all 50 asked within the first busy interval (1 a second would take 50 s),
    # spread over it rather than all at the start
    firsts = sorted(p.asked[0] - start for p in printers.values())
    assert len(firsts) == 50 and firsts[-1] <= 30
    assert len({round(t) for t in firsts}) > 15


def test_settings_come_from_the_dispatch_section() -> None:
    config = DispatchConfig(
        status_interval_busy=20, status_interval_idle=600, status_polls_per_second=5
    )
    assert PollSettings.of(config) == PollSettings(
        busy_interval=20, idle_interval=600, per_second=5
    )


def test_the_settings_are_read_from_the_configuration_file() -> None:
    base = {"queues": {"lp": {"backend": "file:///tmp/out"}}}
    cfg = config.from_mapping(
        {**base, "dispatch": {"status_interval_idle": "10m", "status_polls_per_second": 0.5}}
    )
    assert PollSettings.of(cfg.dispatch) == PollSettings(idle_interval=600, per_second=0.5)
    with pytest.raises(config.ConfigError, match="status_polls_per_second"):
        config.from_mapping({**base, "dispatch": {"status_polls_per_second": 0}})
