"""The core's spans: opened through drivers/span.py, run in the media loop, reported.

For each `[[spans]]` entry the manager builds `drivers.span.SpanParams`,
instantiates the driver (`drivers.virtual.VirtualSpan`,
`drivers.dahdi.DahdiSpan`), starts it in the media loop and becomes its
listener.  Span events (alarms, counters) go to the status board, the event
bus (`span.state`) and the log.  Later parts attach to a span by name:

    spans.on_frame("span1", isdn_link.receive_frame)   # control loop, bytes
    spans.on_block("span1", media.span_block)          # media thread, (ch, n) uint8
    spans.send_frame("span1", frame)                    # from the control loop
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable

from drivers.span import Block, Span, SpanEvent, SpanParams

from ..config import SpanConfig
from ..events import EventBus
from ..logs import get_logger
from .medialoop import MediaLoop
from .status import StatusBoard

log = get_logger("span")

DRIVERS = {"virtual": ("drivers.virtual", "VirtualSpan"), "dahdi": ("drivers.dahdi", "DahdiSpan")}

FrameHandler = Callable[[bytes], None]
BlockHandler = Callable[[Span, Block, int], None]


def span_params(cfg: SpanConfig) -> SpanParams:
    """The drivers' view of a configured span (drivers.span.SpanParams.from_config)."""
    return SpanParams.from_config(cfg)


def driver_class(driver: str) -> type[Span]:
    """The driver class for `driver`; ImportError/AttributeError if it is not installed."""
    module, name = DRIVERS[driver]
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, Span)):
        raise TypeError(f"{module}.{name} is not a drivers.span.Span")
    return cls


class SpanManager:
    """Opens, watches and stops the configured spans."""

    def __init__(self, configs: list[SpanConfig], board: StatusBoard, bus: EventBus,
                 media: MediaLoop) -> None:
        self.configs = configs
        self.board = board
        self.bus = bus
        self.media = media
        self.spans: dict[str, Span] = {}
        self._frame_handlers: dict[str, FrameHandler] = {}
        self._block_handlers: dict[str, BlockHandler] = {}
        self._control: asyncio.AbstractEventLoop | None = None
        self.hosted: set[str] = set()
        for c in configs:
            board.add_span(c.name, number=c.number, driver=c.driver, type=c.type,
                           state="not started")

    def host_elsewhere(self, name: str) -> None:
        """A part opens span `name` in another process (the media process hosts the
        spans' clocks, issue 9); the manager then neither opens nor reports it."""
        self.hosted.add(name)

    def on_frame(self, name: str, handler: FrameHandler) -> None:
        self._frame_handlers[name] = handler

    def on_block(self, name: str, handler: BlockHandler) -> None:
        self._block_handlers[name] = handler

    def send_frame(self, name: str, frame: bytes) -> None:
        """Queue a D-channel frame on a span (the driver runs in the media loop)."""
        span = self.spans[name]
        self.media.call_soon(span.send_frame, frame)

    async def start_all(self, timeout: float = 5.0) -> None:
        self._control = asyncio.get_running_loop()
        for cfg in self.configs:
            if cfg.name in self.hosted:
                continue
            await self._start(cfg, timeout)

    async def _start(self, cfg: SpanConfig, timeout: float) -> None:
        extra = {"span": cfg.name}
        try:
            cls = driver_class(cfg.driver)
        except (ImportError, AttributeError, TypeError) as exc:
            self.board.set_span(cfg.name, "unavailable", detail={"error": f"driver: {exc}"})
            log.error("span %s: driver %r not available: %s", cfg.name, cfg.driver, exc,
                      extra=extra)
            return
        try:
            params = span_params(cfg)
            span = cls(params)
            span.set_listener(self)
            self.board.set_span(cfg.name, "starting")
            await self.media.call(span.start(), timeout)
        except Exception as exc:
            self.board.set_span(cfg.name, "failed", detail={"error": repr(exc)})
            log.error("span %s: start failed: %r", cfg.name, exc, extra=extra)
            return
        self.spans[cfg.name] = span
        self._report(span)
        log.info("span %s started (%s %s, %s side)", cfg.name, cfg.driver, cfg.type, cfg.side,
                 extra=extra)

    def _report(self, span: Span) -> None:
        status = span.status()
        state = "up" if status.layer1_up else "alarm"
        before = self.board.span_state(span.name)
        self.board.set_span(span.name, state, alarms=status.alarms.names(),
                            detail=status.as_dict())
        if before != state:
            self.bus.publish("span.state", span=span.name, state=state,
                             alarms=status.alarms.names())

    def refresh(self) -> None:
        """Re-read every span's status into the board (counters move between events)."""
        for span in self.spans.values():
            self._report(span)

    # -- SpanListener: called in the media thread --------------------------

    def span_frame(self, span: Span, frame: bytes) -> None:
        handler = self._frame_handlers.get(span.name)
        if handler is not None and self._control is not None:
            self._control.call_soon_threadsafe(handler, frame)

    def span_block(self, span: Span, rx: Block, index: int) -> None:
        handler = self._block_handlers.get(span.name)
        if handler is not None:
            handler(span, rx, index)

    def span_event(self, span: Span, event: SpanEvent) -> None:
        if self._control is not None:
            self._control.call_soon_threadsafe(self._on_event, span, event)

    def _on_event(self, span: Span, event: SpanEvent) -> None:
        self._report(span)

    async def stop_all(self) -> None:
        """Stop every span (the SPANS shutdown phase)."""
        for name, span in list(self.spans.items()):
            try:
                await self.media.call(span.stop(), 1.0)
            except Exception as exc:
                log.warning("span %s: stop: %r", name, exc)
            self.board.set_span(name, "stopped")
        self.spans.clear()
