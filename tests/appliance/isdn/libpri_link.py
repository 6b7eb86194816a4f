"""Our `Lapd` against libpri's layer 2 over the harness socketpair, on the wall clock.

libpri's timers run on gettimeofday (see tests.peers.libpri), so this driver
gives our Lapd `now=time.time()` too; timers on both sides are shortened
(T200 100 ms, T203 1 s) so runs stay short.  `fault(direction, frame) ->
copies` sits in the pipe ("l>p": ours to libpri, "p>l": libpri to ours).
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.isdn.q921 import DataIndication, Event, Lapd, LapdConfig, Side
from tests.peers.libpri import Event as PriEvent
from tests.peers.libpri import LibPri, Node, Switch

Fault = Callable[[str, bytes], int]
FAST = {"T200": 100, "T203": 1000}
FAST_CFG = LapdConfig(t200=0.1, t203=1.0)


@dataclass
class LapdVsLibpri:
    side: Side
    switch: Switch = Switch.NI2
    fault: Fault | None = None
    config: LapdConfig = FAST_CFG
    lapd: Lapd = field(init=False)
    pri: LibPri = field(init=False)
    ours: list[Event] = field(default_factory=list)
    theirs: list[PriEvent] = field(default_factory=list)
    wire_log: list[tuple[float, str, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lapd = Lapd(self.side, time.time(), self.config)
        self.pri = self.new_pri()

    def new_pri(self) -> LibPri:
        node = Node.NETWORK if self.side is Side.USER else Node.CPE
        return LibPri(node, self.switch, timers=FAST)

    def restart_peer(self) -> None:
        """The far end restarts: its libpri is dropped and a new one created."""
        self.pri.close()
        self.pri = self.new_pri()

    def _copies(self, tag: str, frame: bytes) -> int:
        self.wire_log.append((time.time(), tag, frame))
        return self.fault(tag, frame) if self.fault else 1

    def pump(self, duration: float, until: Callable[[LapdVsLibpri], bool] | None = None
             ) -> bool:
        end = time.time() + duration
        while True:
            now = time.time()
            while True:
                try:
                    fr = self.pri.wire.recv(4096)
                except BlockingIOError:
                    break
                for _ in range(self._copies("p>l", fr)):
                    self.ours += self.lapd.receive(fr, time.time())
            t = self.lapd.get_timer()
            if t is not None and t <= now:
                self.ours += self.lapd.handle_timer(now)
            for fr in self.lapd.frames_to_send():
                for _ in range(self._copies("l>p", fr)):
                    self.pri.wire.send(fr)
            self.theirs += self.pri.poll()
            if until is not None and until(self):
                return True
            now = time.time()
            if now >= end:
                return until is None
            deadlines = [d for d in (self.lapd.get_timer(), self.pri.next_timer()) if d]
            wait = max(0.0, min([end, *deadlines]) - now)
            select.select([self.pri.wire], [], [], min(wait, 0.01))

    def data(self) -> list[bytes]:
        return [e.payload for e in self.ours if isinstance(e, DataIndication)]
