"""The CTI process shell: receives the core's events and hands them to its servers.

The core sends every event (numbered) to this process's socket and never
waits for it; this process keeps the newest events in a ring, notices gaps
in the numbering (events the core had to drop while this process was slow
or down) and fans events out to subscribers.  The AMI, WebSocket and
webhook servers (later issues) subscribe with `hub.subscribe(queue_size)`
and read an asyncio queue each; a subscriber that falls behind loses events
(counted), never the others or the core.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..events.satellite import Satellite
from ..events.wire import Event, Message

RING = 1000


@dataclass
class Subscription:
    queue: asyncio.Queue[Event]
    dropped: int = 0


class EventHub:
    """Fans events out to subscribers, each with its own bounded queue."""

    def __init__(self, ring: int = RING) -> None:
        self.recent: deque[Event] = deque(maxlen=ring)
        self.subscriptions: list[Subscription] = []
        self.received = 0
        self.lost = 0
        self.last_seq: int | None = None

    def subscribe(self, queue_size: int = 1000) -> Subscription:
        sub = Subscription(asyncio.Queue(maxsize=queue_size))
        self.subscriptions.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with contextlib.suppress(ValueError):
            self.subscriptions.remove(sub)

    def publish(self, event: Event) -> None:
        if self.last_seq is not None:
            if event.seq > self.last_seq + 1:
                self.lost += event.seq - self.last_seq - 1
            elif event.seq <= self.last_seq and event.seq != 1:
                return  # duplicate or late (never expected on a local datagram socket)
        self.last_seq = event.seq
        self.received += 1
        self.recent.append(event)
        for sub in self.subscriptions:
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.dropped += 1

    def stats(self) -> dict[str, Any]:
        return {"received": self.received, "lost": self.lost, "last_seq": self.last_seq,
                "subscribers": len(self.subscriptions),
                "subscriber_dropped": sum(s.dropped for s in self.subscriptions)}


class CtiProcess(Satellite):
    """`tdmgw cti`."""

    name = "cti"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hub = EventHub()

    def socket_path(self) -> Path:
        return self.boot.event_socket()

    def on_message(self, msg: Message) -> None:
        if isinstance(msg, Event):
            if self.hub.last_seq is not None and msg.seq == 1:
                self.log.info("core restarted (event numbering began again)")
            lost_before = self.hub.lost
            self.hub.publish(msg)
            if self.hub.lost > lost_before:
                self.log.warning("%d event(s) from the core were lost (seq gap before %d)",
                                 self.hub.lost - lost_before, msg.seq)
            self.log.debug("event %d %s %s", msg.seq, msg.kind, msg.data,
                           extra={"event": msg.kind, "call": msg.data.get("call"),
                                  "span": msg.data.get("span")})

    def heartbeat_info(self) -> dict[str, Any]:
        return {"events": self.hub.stats()}
