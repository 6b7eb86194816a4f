"""Python's cyclic garbage collector, run when the media loop can afford it.

Left to itself the collector runs whenever enough container objects have been
allocated, that is in the middle of some block, and a full collection walks
every object the process holds: measured here, 30 ms for the ~72,000 objects
of a media process with 240 calls (six blocks of 5 ms late at once, which
the bench saw as a 196 ms TDM->RTP p99).  Most of those objects are modules,
functions and classes loaded at start, which never become garbage.

So the media process (`appliance.media.process`) freezes what exists once it
is set up (`gc.freeze()`: those objects move to a permanent generation that
collections skip), turns automatic collection off, and collects itself
right after a block's work is done, when the most time is left before the
next block: the young generation every YOUNG_S, the middle one every MIDDLE_S
and everything (but the frozen objects) every FULL_S.  Reference counting
still frees everything that is not in a cycle the moment it is dropped; only
cyclic garbage waits, for at most FULL_S.  Each collection's duration is
kept (`max_ms`, `last_full_ms`) for the process stats.

The schedule runs on the time it is given (`due(now)`), so tests drive it
without waiting.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

YOUNG_S = 0.1
MIDDLE_S = 1.0
FULL_S = 30.0


class Collector:
    """When to run which generation; `start()` freezes and disables automatic collection."""

    def __init__(self, now: float, *, young_s: float = YOUNG_S, middle_s: float = MIDDLE_S,
                 full_s: float = FULL_S, clock: Callable[[], float] = time.perf_counter) -> None:
        if not 0 < young_s <= middle_s <= full_s:
            raise ValueError("collector periods must be 0 < young <= middle <= full")
        self.periods = (young_s, middle_s, full_s)
        self.next = [now + young_s, now + middle_s, now + full_s]
        self.clock = clock
        self.counts = [0, 0, 0]
        self.collected = 0
        self.max_ms = 0.0
        self.last_full_ms = 0.0
        self.started = False

    def start(self) -> None:
        """Freeze every object that exists now and stop automatic collection."""
        gc.collect()  # garbage of the set-up is not frozen with the rest
        gc.freeze()
        gc.disable()
        self.started = True

    def stop(self) -> None:
        if self.started:
            gc.enable()
            gc.unfreeze()
            self.started = False

    def due(self, now: float) -> int | None:
        """The oldest generation whose time has come, or None."""
        for gen in (2, 1, 0):
            if now >= self.next[gen]:
                return gen
        return None

    def run(self, now: float) -> int | None:
        """Collect the generation that is due (a generation's collection includes the younger
        ones, whose clocks restart with it); returns the generation collected, or None."""
        gen = self.due(now)
        if gen is None:
            return None
        t0 = self.clock()
        self.collected += gc.collect(gen)
        ms = (self.clock() - t0) * 1000.0
        self.max_ms = max(self.max_ms, ms)
        if gen == 2:
            self.last_full_ms = ms
        self.counts[gen] += 1
        for g in range(gen + 1):
            self.next[g] = now + self.periods[g]
        return gen

    def stats(self) -> dict[str, float | int | list[int]]:
        """Figures since the previous call for `max_ms`; totals for the rest."""
        out: dict[str, float | int | list[int]] = {
            "collections": list(self.counts), "collected": self.collected,
            "max_ms": round(self.max_ms, 3), "last_full_ms": round(self.last_full_ms, 3)}
        self.max_ms = 0.0
        return out
