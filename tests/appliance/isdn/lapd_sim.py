"""Two Lapd entities joined by a simulated D-channel, on injected time.

`Wire.run(until)` moves frames (through an optional `fault(direction, frame)`
that returns how many copies to deliver: 0 lost, 1, 2 repeated) and fires
timers in deadline order; nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.isdn.q921 import Event, Lapd, Side

Fault = Callable[[str, bytes], int]


@dataclass
class Wire:
    user: Lapd
    net: Lapd
    now: float = 0.0
    fault: Fault | None = None
    delay: float = 0.002
    user_events: list[Event] = field(default_factory=list)
    net_events: list[Event] = field(default_factory=list)
    log: list[tuple[float, str, bytes]] = field(default_factory=list)
    _inflight: list[tuple[float, int, str, bytes]] = field(default_factory=list)
    _seq: int = 0

    @classmethod
    def make(cls, **kw: object) -> Wire:
        return cls(Lapd(Side.USER, 0.0), Lapd(Side.NETWORK, 0.0), **kw)  # type: ignore[arg-type]

    def _collect(self) -> None:
        for tag, src in (("u>n", self.user), ("n>u", self.net)):
            for fr in src.frames_to_send():
                copies = self.fault(tag, fr) if self.fault else 1
                self.log.append((self.now, tag, fr))
                for _ in range(copies):
                    self._seq += 1
                    self._inflight.append((self.now + self.delay, self._seq, tag, fr))

    def step(self) -> bool:
        """Advance to the next delivery or timer; False if nothing is pending."""
        self._collect()
        cands: list[tuple[float, int, str]] = []
        if self._inflight:
            t, _seq, _, _ = min(self._inflight)
            cands.append((t, 0, "frame"))
        for name, ent in (("user", self.user), ("net", self.net)):
            t2 = ent.get_timer()
            if t2 is not None:
                cands.append((t2, 1, name))
        if not cands:
            return False
        t, _, what = min(cands)
        self.now = max(self.now, t)
        if what == "frame":
            item = min(self._inflight)
            self._inflight.remove(item)
            _, _, tag, fr = item
            if tag == "u>n":
                self.net_events += self.net.receive(fr, self.now)
            else:
                self.user_events += self.user.receive(fr, self.now)
        elif what == "user":
            self.user_events += self.user.handle_timer(self.now)
        else:
            self.net_events += self.net.handle_timer(self.now)
        self._collect()
        return True

    def run(self, until: float) -> None:
        while True:
            self._collect()
            nxt = [t for t, *_ in self._inflight]
            nxt += [t for t in (self.user.get_timer(), self.net.get_timer()) if t is not None]
            if not nxt or min(nxt) > until:
                self.now = max(self.now, until)
                return
            self.step()
