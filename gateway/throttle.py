"""Log lines a client can cause, at most once a minute per client address.

Why: a line per refused handshake or wrong password lets one client fill the
log. A `Throttle` lets the first event of a key (a client address) be logged,
then at most one per `Throttle.every` seconds; it counts the events it held
back, and the next line says how many (`Throttle.more`). Memory is bounded:
when there are many keys, those not seen for a while are forgotten.
"""

from __future__ import annotations

import time

LOG_EVERY = 60.0
MAX_KEYS = 10_000


class Throttle:
    """At most one log line per key per `every` seconds."""

    def __init__(self, every: float = LOG_EVERY) -> None:
        self.every = every
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def __call__(self, key: str, now: float | None = None) -> int | None:
        """None: do not log this event of `key` (it is counted); else log it, and
        the number of its events not logged since its last line."""
        now = time.monotonic() if now is None else now
        if now - self._last.get(key, -self.every) < self.every:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        if len(self._last) > MAX_KEYS:
            self._last = {k: t for k, t in self._last.items() if now - t < self.every}
            self._held = {k: n for k, n in self._held.items() if k in self._last}
        return self._held.pop(key, 0)

    @staticmethod
    def more(held: int) -> str:
        """What a line adds about the events held back before it."""
        return f" ({held} more since the last such line)" if held else ""
