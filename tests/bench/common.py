"""Shared pieces of the benchmark harness: sizes, process memory, figures.

A `Figure` is one line of the final table: the gateway's samples (one per
run), each peer's samples, which direction is better, and the target. The
ratio is always gateway / best peer, both as medians.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.config import parse_size

REPO = Path(__file__).resolve().parents[2]
KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_status(pid: int, key: str) -> int:
    """A ``/proc/PID/status`` memory field (VmRSS, VmHWM, ...) in bytes."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * KiB
    raise RuntimeError(f"no {key} for pid {pid}")


def reset_peak_rss(pid: int) -> None:
    """Reset VmHWM to the current RSS (``echo 5 > /proc/PID/clear_refs``)."""
    with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as fh:
        fh.write("5")


def size_text(n: int) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


Check = Callable[[float, float | None], bool]


@dataclass
class Figure:
    """One row of the table.

    ``check(gateway_median, best_peer_median)`` says whether the target is
    met; ``None`` when the row has no target (information only).
    """

    scenario: str
    name: str
    unit: str
    higher_is_better: bool
    gateway: list[float] = field(default_factory=list)
    peers: dict[str, list[float]] = field(default_factory=dict)
    target: str = ""
    check: Check | None = None
    note: str = ""
    #: compare with this peer instead of the best one
    versus: str | None = None

    def peer(self, name: str) -> list[float]:
        return self.peers.setdefault(name, [])

    def best_peer(self) -> tuple[str, float] | None:
        medians = {name: statistics.median(v) for name, v in self.peers.items() if v}
        if self.versus is not None:
            return (self.versus, medians[self.versus]) if self.versus in medians else None
        if not medians:
            return None
        pick = max if self.higher_is_better else min
        name = pick(medians, key=lambda k: medians[k])
        return name, medians[name]

    def ratio(self) -> float | None:
        best = self.best_peer()
        if not self.gateway or best is None or best[1] == 0:
            return None
        return statistics.median(self.gateway) / best[1]

    def verdict(self) -> str:
        if self.check is None:
            return ""
        if not self.gateway:
            return "n/a"
        best = self.best_peer()
        ok = self.check(statistics.median(self.gateway), best[1] if best else None)
        return "met" if ok else "MISSED"


def fmt(values: list[float]) -> str:
    """``median [min-max] xN`` with three significant digits."""
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return _num(med)
    return f"{_num(med)} [{_num(min(values))}-{_num(max(values))}]"


def _num(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def render_table(figures: list[Figure], machine: list[Figure]) -> str:
    """The one table: machine limits first, then every scenario's figures."""
    rows = [
        ("scenario", "figure", "unit", "gateway", "peers (median [min-max])", "ratio", "target")
    ]
    for fig in machine:
        rows.append(("machine", fig.name, fig.unit, fmt(fig.gateway), "", "", ""))
    for fig in figures:
        peers = "; ".join(f"{name} {fmt(v)}" for name, v in fig.peers.items() if v)
        ratio = fig.ratio()
        best = fig.best_peer()
        ratio_text = f"{ratio:.2f}x {best[0]}" if ratio is not None and best else ""
        target = f"{fig.target} {fig.verdict()}".strip()
        rows.append(
            (fig.scenario, fig.name, fig.unit, fmt(fig.gateway), peers or "-", ratio_text, target)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  {fig.scenario} {fig.name}: {fig.note}" for fig in figures if fig.note]
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def vm_hwm(pid: int) -> int:
    """Peak resident set size of a process, in bytes (VmHWM of /proc/PID/status)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def size_argument(text: str) -> int:
    """An argparse type for sizes like 1GiB, read by the gateway's own parser."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
