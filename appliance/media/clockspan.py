"""A span with no line: an 8 kHz clock and a far end made of code (benches, tests, demos).

`ClockSpan` implements drivers.span.Span: every `block_samples` it asks its
far end for the received block, calls the listener's `span_block`, and
hands the block the listener wrote back to the far end.  The clock runs on
ideal times (t0 + k * block / 8000 on the loop's monotonic clock), so a
bench can tell when each sample "entered the span" without asking anyone.
A far end is any object with `rx(index, t_ideal) -> (channels, n) uint8`
and `tx(index, block, t_written)`; `IdleFarEnd` sends the idle code.

This is not a virtual span (drivers.virtual): there is no D-channel and no
socket; it is the B-channel clock alone, as DAHDI would give it with the
same block size.

Spans of one card share one clock (DAHDI's timing source): `follow(master)`
makes a span tick inside its master's tick, all spans' received blocks
handed to their listeners first and all transmit blocks taken afterwards,
so an engine run when the last of them has delivered sees every span's
current block and writes every span's current transmit block.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any, Protocol

import numpy as np

from drivers.span import Alarm, Block, Span, SpanParams


class FarEnd(Protocol):
    def rx(self, index: int, t_ideal: float) -> Block: ...

    def tx(self, index: int, block: Block, t_written: float) -> None: ...


class IdleFarEnd:
    def __init__(self, channels: int, n: int, idle: int) -> None:
        self.block = np.full((channels, n), idle, dtype=np.uint8)

    def rx(self, index: int, t_ideal: float) -> Block:
        return self.block

    def tx(self, index: int, block: Block, t_written: float) -> None:
        pass


def load_far_end(spec: str, params: SpanParams, **kwargs: Any) -> FarEnd:
    """`"module:Class"` built as Class(params, **kwargs) (the media process imports it by name)."""
    mod, _, name = spec.partition(":")
    cls = getattr(importlib.import_module(mod), name)
    fe: FarEnd = cls(params, **kwargs)
    return fe


class ClockSpan(Span):
    """B-channels on a free 8 kHz clock, far end in code."""

    def __init__(self, params: SpanParams, far_end: FarEnd | None = None) -> None:
        super().__init__(params)
        self.far_end: FarEnd = far_end or IdleFarEnd(self.channels, self.block_samples, self.law.idle)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.t0 = 0.0
        self.late_max = 0.0
        self.skipped = 0
        self.master: ClockSpan | None = None
        self.followers: list[ClockSpan] = []

    def follow(self, master: ClockSpan) -> None:
        """Tick inside `master`'s tick (same clock, same block index) instead of on a timer."""
        if master is self or master.master is not None or self.followers:
            raise ValueError(f"span {self.name}: cannot follow {master.name}")
        self.master = master
        master.followers.append(self)

    @property
    def period(self) -> float:
        return self.block_samples / 8000.0

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._emit(self.state.set_alarms(Alarm.NONE, self._loop.time()))
        if self.master is not None:
            self.t0 = self.master.t0 if self.master._timer is not None else self._loop.time() + self.period
            return  # ticked by the master (which must be started after its followers or before: both work)
        self.t0 = self._loop.time() + self.period
        for f in self.followers:
            f.t0 = self.t0
        self._timer = self._loop.call_at(self.t0, self._tick)

    async def stop(self) -> None:
        if self._timer:
            self._timer.cancel()
            self._timer = None

    def send_frame(self, frame: bytes) -> None:
        pass  # no D-channel

    def ideal(self, index: int) -> float:
        """When block `index` is complete on the ideal clock."""
        return self.t0 + index * self.period

    def _tick(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        index = self.blocks
        t = self.ideal(index)
        self.late_max = max(self.late_max, now - t)
        group = [self, *self.followers]
        for sp in group:  # every span's received block first ...
            sp.late_max = self.late_max
            rx = sp.far_end.rx(index, t)
            sp.blocks = index + 1
            sp.listener.span_block(sp, rx, index)
        t_out = self._loop.time()
        for sp in group:  # ... then every span's transmit block
            sp.far_end.tx(index, sp.take_tx(), t_out)
        nxt = self.ideal(self.blocks)
        if nxt < self._loop.time() - 0.2:
            # stalled for far too long: skip ahead instead of bursting (counted as a slip)
            missed = int((self._loop.time() - nxt) / self.period)
            for sp in group:
                sp.blocks += missed
                sp.skipped += missed
                sp.state.count(slips=missed)
            nxt = self.ideal(self.blocks)
        self._timer = self._loop.call_at(nxt, self._tick)
