"""Ordered shutdown on SIGTERM: calls first (cleared toward both sides), then spans.

Parts register coroutines in a phase:

    core.shutdown.add(Phase.CALLS, "isdn", isdn.clear_all_calls)   # DISCONNECT / BYE
    core.shutdown.add(Phase.SPANS, "spans", spans.stop)

`run(budget)` runs the phases in order; the hooks of one phase run
concurrently, and each phase gets the time left, split so that later phases
always keep a share.  A hook that overruns is cancelled and logged, and
shutdown goes on: the process still exits 0 within the 5 s systemd allows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from enum import IntEnum

from ..logs import get_logger

log = get_logger("core")


class Phase(IntEnum):
    """Shutdown phases, in order."""

    CALLS = 1
    """Clear every call toward the PBX (DISCONNECT) and the SIP side (BYE)."""
    SIGNALLING = 2
    """Stop accepting: SIP transport, ISDN links (Q.921 DISC)."""
    SPANS = 3
    """Stop the spans (idle code out, devices closed)."""
    LAST = 4
    """Sockets to the other processes, files."""


# Share of the remaining budget a phase may use when later phases still wait.
_SHARE = {Phase.CALLS: 0.5, Phase.SIGNALLING: 0.4, Phase.SPANS: 0.6, Phase.LAST: 1.0}

Hook = Callable[[], Awaitable[None]]


class ShutdownHooks:
    """The registered shutdown work, by phase."""

    def __init__(self) -> None:
        self._hooks: dict[Phase, list[tuple[str, Hook]]] = {p: [] for p in Phase}
        self.timed_out: list[str] = []
        self.failed: list[str] = []

    def add(self, phase: Phase, name: str, hook: Hook) -> None:
        self._hooks[phase].append((name, hook))

    def names(self) -> list[tuple[Phase, str]]:
        return [(p, n) for p in Phase for n, _ in self._hooks[p]]

    async def run(self, budget: float) -> None:
        deadline = time.monotonic() + budget
        for phase in Phase:
            hooks = self._hooks[phase]
            if not hooks:
                continue
            left = deadline - time.monotonic()
            limit = max(0.05, left * _SHARE[phase])
            started = time.monotonic()
            tasks = {asyncio.ensure_future(h()): n for n, h in hooks}
            done, pending = await asyncio.wait(tasks, timeout=limit)
            for t in pending:
                t.cancel()
                self.timed_out.append(tasks[t])
                log.warning("shutdown: %s (%s) did not finish in %.2f s; cancelled",
                            tasks[t], phase.name.lower(), limit)
            for t in done:
                if not t.cancelled() and t.exception() is not None:
                    self.failed.append(tasks[t])
                    log.error("shutdown: %s (%s) failed: %r", tasks[t], phase.name.lower(),
                              t.exception())
            if pending:
                await asyncio.wait(pending, timeout=0.05)
            log.info("shutdown: %s done in %.3f s", phase.name.lower(), time.monotonic() - started)
