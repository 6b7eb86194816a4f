"""One PRI D-channel: Q.921 LAPD (`appliance.isdn.q921.Lapd`) carrying Q.931 call
control (`Controller`), sans-I/O.

The span driver hands every received HDLC frame to `receive_frame(frame, now)`,
sends what `frames_to_send()` returns, and calls `handle_timer(now)` when
`get_timer()` says so.  Call-control requests go to `ctl` and their output
through `run()`::

    dch = DChannel(profile(Variant.NI2), network=False, now=t)
    events = dch.start(t)
    call_id, out = dch.ctl.setup(t, called="5551000")
    events += dch.run(out, t)

Layer-2 indications become `l2_up` / `l2_down` / `receive_bytes` on the
controller (Q.931 5.8.8 / 5.8.9 follow from them); events come back as
`appliance.isdn.cc.events` (plus `DataLinkUp` / `DataLinkDown`).  `trace`, if
given, sees every frame with its direction ("rx"/"tx"), e.g. for a pcap.
"""

from __future__ import annotations

from collections.abc import Callable

from appliance.isdn.cc import events as E
from appliance.isdn.cc.channels import Hunting
from appliance.isdn.cc.controller import Controller
from appliance.isdn.cc.msg import Msg
from appliance.isdn.cc.variants import VariantProfile
from appliance.isdn.q921 import DataIndication, Lapd, LapdConfig, LinkDown, LinkUp, Side
from appliance.isdn.q921 import Event as L2Event

Trace = Callable[[str, bytes], None]


class DChannel:
    """Q.921 + Q.931 of one D-channel, either side."""

    def __init__(self, profile: VariantProfile, *, network: bool, now: float,
                 lapd_config: LapdConfig | None = None, hunting: Hunting | None = None,
                 timers: dict[str, float] | None = None, trace: Trace | None = None,
                 on_send: Callable[[Msg], None] | None = None) -> None:
        self.ctl = Controller(profile, network=network, hunting=hunting, timers=timers)
        self.lapd = Lapd(Side.NETWORK if network else Side.USER, now, lapd_config)
        self.trace = trace
        self.on_send = on_send
        self._frames: list[bytes] = []

    def start(self, now: float) -> list[E.Event]:
        """Ask layer 2 to come up (DL-ESTABLISH request); the peer may do so too."""
        return self.l2_events(self.lapd.establish(now), now)

    def receive_frame(self, frame: bytes, now: float) -> list[E.Event]:
        if self.trace is not None:
            self.trace("rx", frame)
        return self.l2_events(self.lapd.receive(frame, now), now)

    def run(self, out: E.Output, now: float) -> list[E.Event]:
        """Send a controller output's messages; return its events."""
        for m in out.messages:
            if self.on_send is not None:
                self.on_send(m)
            if self.lapd.is_up:
                self.l2_events(self.lapd.send_data(self.ctl.encode(m), now), now)
            # else: nothing can be sent; Q.931 5.8.8 recovery (T309, restarts) covers it
        return list(out.events)

    def get_timer(self) -> float | None:
        ts = [t for t in (self.lapd.get_timer(), self.ctl.get_timer()) if t is not None]
        return min(ts, default=None)

    def handle_timer(self, now: float) -> list[E.Event]:
        events: list[E.Event] = []
        t = self.lapd.get_timer()
        if t is not None and t <= now:
            events += self.l2_events(self.lapd.handle_timer(now), now)
        t = self.ctl.get_timer()
        if t is not None and t <= now:
            events += self.run(self.ctl.handle_timer(now), now)
        return events

    def frames_to_send(self) -> list[bytes]:
        out = self._frames + self.lapd.frames_to_send()
        self._frames = []
        if self.trace is not None:
            for f in out:
                self.trace("tx", f)
        return out

    def l2_events(self, evs: list[L2Event], now: float) -> list[E.Event]:
        """Hand layer-2 events (from a direct `lapd` call, e.g. `release`) to layer 3."""
        events: list[E.Event] = []
        for ev in evs:
            if isinstance(ev, LinkUp):
                events.append(E.DataLinkUp(ev.reestablished))
                events += self.run(self.ctl.l2_up(now), now)
            elif isinstance(ev, LinkDown):
                events.append(E.DataLinkDown(ev.reason))
                events += self.run(self.ctl.l2_down(now), now)
            elif isinstance(ev, DataIndication):
                events += self.run(self.ctl.receive_bytes(ev.payload, now), now)
        return events
