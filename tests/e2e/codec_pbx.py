"""A far end for the virtual span driven by our own Q.921/Q.931 codecs, not libpri.

For what libpri will not send: a SETUP missing a mandatory IE or with a bad channel
identification (Q.931 5.8.6), a DISCONNECT with progress indicator 8 (libpri's
DISCONNECT carries only a cause).  `CodecPbx` keeps the LAPD link (network side,
`appliance.isdn.q921.Lapd` on injected wall-clock time), answers RESTART with RESTART
ACKNOWLEDGE (Q.931 5.5), and otherwise sends exactly the messages a test builds and
records every message it receives; the test plays the PBX's call control by hand.
It has the attribute names `tests.e2e.wire.Tap` and `tests.e2e.rig.Rig` use
(`span_frame`, `far.send_frame`, `up`, `busy`, `start`, `stop`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from appliance.isdn.q921 import DataIndication, Lapd, LinkDown, LinkUp, Side
from appliance.isdn.q931 import MessageType, Q931Error
from appliance.isdn.q931.ies import ChannelId, RestartIndicator
from appliance.isdn.q931.messages import Message, decode_message, message
from drivers.span import Block, Span, SpanEvent, SpanParams
from drivers.virtual_farend import VirtualFarEnd


class CodecPbx:
    def __init__(self, params: SpanParams) -> None:
        self.params = params
        self.far = VirtualFarEnd(params, retry=0.05)
        self.lapd = Lapd(Side.NETWORK, now=time.monotonic())
        self.received: list[Message] = []
        self.raw: list[bytes] = []  # Q.931 octets received, undecodable ones too
        self.up = False
        self.busy: dict[int, int] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.far.set_listener(self)
        await self.far.start()
        self._task = asyncio.create_task(self._timers(), name="codec-pbx")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.far.stop()

    async def _timers(self) -> None:
        while True:
            t = self.lapd.get_timer()
            now = time.monotonic()
            if t is not None and t <= now:
                self._events(self.lapd.handle_timer(now))
            await asyncio.sleep(0.01)

    def _flush(self) -> None:
        for f in self.lapd.frames_to_send():
            self.far.send_frame(f)

    def _events(self, events: list[Any]) -> None:
        for ev in events:
            if isinstance(ev, LinkUp):
                self.up = True
            elif isinstance(ev, LinkDown):
                self.up = False
            elif isinstance(ev, DataIndication):
                self.raw.append(ev.payload)
                try:
                    msg = decode_message(ev.payload)
                except Q931Error:
                    continue
                self.received.append(msg)
                if msg.type == MessageType.RESTART and msg.is_global:
                    ies = [ie for ie in msg.ies if isinstance(ie, ChannelId | RestartIndicator)]
                    self.send(message(MessageType.RESTART_ACKNOWLEDGE, 0, True, *ies))
        self._flush()

    # -------------------------------------------------------------- span listener

    def span_frame(self, span: Span, frame: bytes) -> None:
        self._events(self.lapd.receive(frame, time.monotonic()))

    def span_block(self, span: Span, rx: Block, index: int) -> None:
        pass

    def span_event(self, span: Span, event: SpanEvent) -> None:
        pass

    # -------------------------------------------------------------- for the test

    def send(self, msg: Message | bytes) -> None:
        """One Q.931 message (or raw octets) in an I frame toward the gateway."""
        data = msg if isinstance(msg, bytes) else msg.encode()
        self._events(self.lapd.send_data(data, time.monotonic()))

    def names(self) -> list[str]:
        out = []
        for m in self.received:
            if m.is_global:
                continue
            try:
                out.append(MessageType(m.type).name)
            except ValueError:
                out.append(f"0x{m.type:02x}")
        return out

    def last(self, name: str) -> Message:
        for m in reversed(self.received):
            if not m.is_global and m.type == MessageType[name]:
                return m
        raise AssertionError(f"no {name} received: {self.names()}")
