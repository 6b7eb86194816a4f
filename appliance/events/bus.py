"""The core's event publisher: numbered facts, sent to the CTI process without waiting.

Parts of the core call `bus.publish("call.ended", call=..., cause=16)`.  The
bus numbers each event (so the CTI process can report gaps), hands it to
local subscribers (e.g. the status board's counters) and to the CTI sender,
which never blocks (see channel.py).  Event kinds are dotted names:
`core.started`, `core.stopping`, `config.reloaded`, `span.state`,
`call.started`, `call.ended`; later parts add their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..logs import get_logger
from .channel import DatagramSender
from .wire import Event

log = get_logger("events")


class EventBus:
    """Publishes events from the core."""

    def __init__(self, sender: DatagramSender | None, clock: Callable[[], float] = time.time
                 ) -> None:
        self.sender = sender
        self.clock = clock
        self.seq = 0
        self._subscribers: list[Callable[[Event], None]] = []

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """Call `callback` (in the core's loop, so it must be quick) for every event."""
        self._subscribers.append(callback)

    def publish(self, kind: str, **data: Any) -> Event:
        """Number the event, hand it to subscribers and to the CTI process."""
        self.seq += 1
        event = Event(self.seq, self.clock(), kind, data)
        for cb in self._subscribers:
            try:
                cb(event)
            except Exception:
                log.exception("event subscriber failed on %s", kind)
        if self.sender is not None:
            self.sender.send(event)
        return event
