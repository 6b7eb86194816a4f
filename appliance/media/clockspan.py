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
import contextlib
import ctypes
import importlib
import os
import time
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


_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = 0o4000
_TFD_CLOEXEC = 0o2000000
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def periodic_timerfd(first: float, period: float) -> int | None:
    """A Linux timerfd (CLOCK_MONOTONIC, the clock of time.monotonic and of asyncio's loop)
    firing at `first` and every `period` after it, or None where there is none.

    Why: asyncio's own timers wake the loop through epoll's millisecond timeout, which
    rounds up (0.5 ms late on average, up to 1 ms); a timerfd wakes it within the
    kernel's timer slack, as a DAHDI span's interrupt would."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = int(libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC))
    except (OSError, AttributeError):
        return None
    if fd < 0:
        return None
    ns = round(period * 1e9)
    f = round(first * 1e9)
    spec = _Itimerspec(_Timespec(ns // 1_000_000_000, ns % 1_000_000_000),
                       _Timespec(f // 1_000_000_000, f % 1_000_000_000))
    if libc.timerfd_settime(fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None) != 0:
        os.close(fd)
        return None
    return fd


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
        self._tfd: int | None = None

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
        if abs(self._loop.time() - time.monotonic()) < 1e-3:
            self._tfd = periodic_timerfd(self.t0, self.period)
        if self._tfd is not None:
            self._loop.add_reader(self._tfd, self._on_timerfd)
        else:
            self._timer = self._loop.call_at(self.t0, self._tick)

    async def stop(self) -> None:
        if self._timer:
            self._timer.cancel()
            self._timer = None
        if self._tfd is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._tfd)
            with contextlib.suppress(OSError):
                os.close(self._tfd)
            self._tfd = None

    def _on_timerfd(self) -> None:
        assert self._loop is not None and self._tfd is not None
        with contextlib.suppress(BlockingIOError, InterruptedError):
            os.read(self._tfd, 8)  # the expiry count: the ideal times below say what is due
        for _ in range(4):  # catch up a little at a time: other callbacks get their turn
            if self.ideal(self.blocks) > self._loop.time() or self._tfd is None:
                return
            self._tick()

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
        if self._tfd is None:
            self._timer = self._loop.call_at(nxt, self._tick)
