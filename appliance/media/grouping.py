"""Span blocks of one engine group, assembled into the engine's runs.

The spans of a group share one engine (one DSP pass for all their channels), so
the engine runs once per period with every span's block.  Each span hands its
blocks in on its own, though: a DAHDI span from its own channel reads, a
virtual span from its own frame clock.  After a stall (the process preempted,
a long block) each span hands in its whole backlog at once, one span after
the other.  Running the engine whenever one span had a second block ready
(the first design) ran it once per span and block in such a burst: four times
the work per period at 4 spans, on a process that was already behind, and
the media plane fell further behind each time (the 240-call rig measured
0.2 s of media per wall second at 0.7 cores).

So every span's blocks queue here, and a run takes one block of every span
(`take_complete`).  A span that lags (no block while a sibling has `lag`
or more waiting) is left out only once the event loop has delivered what was
already due (`take_lagging`, called after the loop's current pass): a
sibling's backlog from the same stall comes in the same pass and completes
the sets.  A left-out span's rows keep their previous block (counted in
`partial`); a queue deeper than `depth` loses its oldest block (`dropped`, a
slip).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from drivers.span import Block

LAG = 2  # blocks a sibling may wait for a span before running without it
DEPTH = 16  # blocks queued per span at most (80 ms at 5 ms blocks)


class BlockAssembler:
    """The queues of one group's spans (in the engine's row order)."""

    def __init__(self, names: list[str], lag: int = LAG, depth: int = DEPTH) -> None:
        if lag < 1 or depth < lag:
            raise ValueError(f"lag {lag} and depth {depth}: need 1 <= lag <= depth")
        self.names = list(names)
        self.lag = lag
        self.depth = depth
        self.queues: dict[str, deque[Block]] = {n: deque() for n in self.names}
        self.dropped = 0  # blocks lost to a full queue
        self.partial = 0  # runs without one or more spans

    def put(self, name: str, block: Block) -> None:
        """A span's block (copied: span drivers reuse their buffers)."""
        q = self.queues[name]
        if len(q) >= self.depth:
            q.popleft()
            self.dropped += 1
        q.append(np.array(block, copy=True))

    def take_complete(self) -> list[dict[str, Block | None]]:
        """Every set with a block from each span, oldest first."""
        out: list[dict[str, Block | None]] = []
        qs = self.queues
        while all(qs.values()):
            out.append({n: qs[n].popleft() for n in self.names})
        return out

    def take_lagging(self) -> list[dict[str, Block | None]]:
        """After the loop's pass: complete sets, then runs without the spans that lag
        (None for them) while another span has `lag` or more blocks waiting."""
        out = self.take_complete()
        qs = self.queues
        while max(len(q) for q in qs.values()) >= self.lag:
            out.append({n: (q.popleft() if q else None) for n, q in qs.items()})
            self.partial += 1
        return out

    def lagging(self) -> bool:
        """Some span has `lag` blocks waiting: `take_lagging` may have a run to make."""
        return any(len(q) >= self.lag for q in self.queues.values())

    def waiting(self) -> bool:
        """Some span has a block that no run has taken yet."""
        return any(self.queues.values())
