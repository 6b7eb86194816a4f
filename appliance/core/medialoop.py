"""The core's media thread: its own asyncio loop for the span clock and media work.

The control loop (ISDN, SIP signalling, status, sockets to the other
processes) runs in the main thread.  The spans run here, so each span block
(the 8 kHz clock, see drivers/span.py) is handled without waiting behind
control work in the same loop.  Work crosses between the loops only through
`call_soon_threadsafe` / `run_coroutine_threadsafe`.

A beat timer runs in this loop; the core pings the systemd watchdog only
while the beat is fresh, so a stuck media thread restarts the daemon.  With
`media.realtime_priority` > 0 the thread asks for SCHED_FIFO (the systemd
unit grants LimitRTPRIO); if refused, it logs and runs at normal priority.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ..logs import get_logger

log = get_logger("media")

T = TypeVar("T")


class MediaLoop:
    """An asyncio loop in a dedicated thread."""

    def __init__(self, *, beat_interval: float = 0.05, realtime_priority: int = 0) -> None:
        self.beat_interval = beat_interval
        self.realtime_priority = realtime_priority
        self.last_beat = time.monotonic()
        self.beats = 0
        self.max_late_s = 0.0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._expected = 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tdmgw-media", daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("media thread did not start")

    def _run(self) -> None:
        if self.realtime_priority > 0:
            try:
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self.realtime_priority))
                log.info("media thread runs SCHED_FIFO priority %d", self.realtime_priority)
            except OSError as exc:
                log.warning("media thread: SCHED_FIFO %d refused (%s); normal priority",
                            self.realtime_priority, exc)
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        self._expected = time.monotonic()
        loop.call_soon(self._beat)
        loop.call_soon(self._ready.set)
        try:
            loop.run_forever()
        finally:
            pending = asyncio.all_tasks(loop)
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def _beat(self) -> None:
        now = time.monotonic()
        late = now - self._expected
        if self.beats and late > self.max_late_s:
            self.max_late_s = late
        self.last_beat = now
        self.beats += 1
        self._expected = now + self.beat_interval
        assert self.loop is not None
        self.loop.call_later(self.beat_interval, self._beat)

    def beat_age(self) -> float:
        return time.monotonic() - self.last_beat

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` in the media loop and wait for it from the calling loop."""
        fut = asyncio.wrap_future(self.submit(coro))
        return await asyncio.wait_for(fut, timeout)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        assert self.loop is not None
        self.loop.call_soon_threadsafe(fn, *args)

    def stats(self) -> dict[str, Any]:
        return {"alive": self.alive(), "beat_age_s": round(self.beat_age(), 3),
                "max_beat_late_ms": round(self.max_late_s * 1000, 2)}

    def stop(self, timeout: float = 1.0) -> None:
        if self.loop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread is not None:
            self._thread.join(timeout)
