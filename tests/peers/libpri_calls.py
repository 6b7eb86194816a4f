"""Call-level interop rig: our Q.921 + Q.931 call control against libpri 1.6.

`Rig(variant, role)` puts our stack (`appliance.isdn.q921.Lapd` carrying
`appliance.isdn.cc.Controller`) on one end of the harness socketpair
(`tests.peers.libpri.LibPri`, via `pri_new_cb`) and libpri on the other, in
the opposite role.  `PriApp` is the libpri side's application, doing what
chan_dahdi's sig_pri does with libpri events: it keeps its own B-channel
map, picks a channel for an incoming call (refusing with cause 44 when an
exclusive one is busy), completes hangups with `pri_hangup`, and clears
calls on RESTART; a scenario tells it how to answer (`policy`) or drives it
call by call.

Time: libpri's timers run on the wall clock, so our stack is given
`now=time.time()` too and both sides' timers are shortened (layer 2 T200
100 ms, T203 1 s; call-control timers as a scenario needs).  `run(until)`
moves frames and fires timers until the predicate holds or `timeout`
(wall seconds) passes; it only waits when nothing is left to move.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.isdn.cc import events as E
from appliance.isdn.cc.dchannel import DChannel
from appliance.isdn.cc.variants import profile
from appliance.isdn.q921 import LapdConfig
from appliance.isdn.q931 import Variant
from tests.peers.libpri import Ev, LibPri, Node, Switch
from tests.peers.libpri import Event as PriEvent

FAST_L2 = {"T200": 100, "T203": 1000}
FAST_CFG = LapdConfig(t200=0.1, t203=1.0)


def chan_of(ev: PriEvent) -> int | None:
    """libpri's channel field: PRI_CHANNEL | span << 8 | PRI_EXPLICIT; -1 for none."""
    ch = int(ev.fields.get("channel", -1))
    if ch < 0 or ch & 0xFF in (0, 0xFF):
        return None
    return ch & 0xFF


@dataclass
class PriCall:
    handle: int
    channel: int | None
    outgoing: bool
    ring: PriEvent | None = None
    state: str = "new"  # new, ringing, answered, hungup
    events: list[PriEvent] = field(default_factory=list)


class PriApp:
    """The libpri side's application: what chan_dahdi's sig_pri does with the events."""

    def __init__(self, pri: LibPri, b_channels: tuple[int, ...]) -> None:
        self.pri = pri
        self.b_channels = b_channels
        self.calls: dict[int, PriCall] = {}
        self.busy: dict[int, int] = {}  # channel -> call handle
        self.events: list[PriEvent] = []
        self.up = False
        # How to answer an incoming call: None (the test drives it), "answer",
        # "alert", "proceed", ("busy", cause).
        self.policy: Any = None

    # -- driving libpri
    def setup(self, called: str, channel: int, *, exclusive: bool = True,
              **kw: Any) -> PriCall:
        h = self.pri.new_call()
        call = PriCall(h, channel, True)
        self.calls[h] = call
        if channel not in self.busy:  # asking for a busy channel is allowed (glare tests)
            self._take(channel, h)
        self.pri.setup(h, called=called, channel=channel, exclusive=exclusive, **kw)
        return call

    def refuse(self, call: PriCall, cause: int) -> None:
        """Refuse an offered call.  libpri 1.6 sends nothing for pri_hangup on a call it
        has not yet answered (q931_disconnect needs c->alive), so answer CALL PROCEEDING
        first (without a channel), then DISCONNECT with `cause`."""
        self.pri.proceeding(call.handle, 0, 0)
        self.hangup(call, cause)
        if cause in (34, 44):
            # libpri answers these with RELEASE COMPLETE and destroys the call at once,
            # with no PRI_EVENT_HANGUP_ACK to follow (q931.c __q931_hangup).
            self._free(call.handle)

    def hangup(self, call: PriCall, cause: int = 16) -> None:
        call.state = "hangingup"
        self.pri.hangup(call.handle, cause)

    def _take(self, channel: int | None, handle: int) -> None:
        if channel is not None:
            self.busy[channel] = handle

    def _free(self, handle: int) -> None:
        call = self.calls.pop(handle, None)
        for ch in [c for c, h in self.busy.items() if h == handle]:
            del self.busy[ch]
        if call is not None:
            call.state = "gone"

    def pick(self, want: int | None, flexible: bool) -> int | None:
        """sig_pri's choice: the asked-for channel, or (preferred only) any free one."""
        if want is not None and want not in self.busy:
            return want
        if flexible or want is None:
            return next((c for c in self.b_channels if c not in self.busy), None)
        return None

    # -- libpri events
    def handle(self, ev: PriEvent) -> None:
        self.events.append(ev)
        e = ev.e
        h = int(ev.fields.get("call") or 0)
        call = self.calls.get(h)
        if call is not None:
            call.events.append(ev)
        if e == Ev.DCHAN_UP:
            self.up = True
        elif e == Ev.DCHAN_DOWN:
            self.up = False
        elif e == Ev.RING:
            want = chan_of(ev)
            call = PriCall(h, None, False, ring=ev, state="ringing")
            self.calls[h] = call
            chan = self.pick(want, bool(ev.fields.get("flexible")))
            if chan is None:
                # sig_pri: an exclusive channel we have busy -> cause 44; none -> 34
                self.refuse(call, 44 if want is not None else 34)
                return
            call.channel = chan
            self._take(chan, h)
            self._apply_policy(call)
        elif e == Ev.HANGUP:
            # libpri finishes a call (RELEASE COMPLETE, destroy) only when the
            # application answers PRI_EVENT_HANGUP with pri_hangup, as sig_pri does.
            self.pri.hangup(h, int(ev.fields.get("cause", 16)))
            self._free(h)
        elif e == Ev.HANGUP_REQ:
            if call is not None and call.state != "hangingup":
                call.state = "hangingup"
                self.pri.hangup(h, int(ev.fields.get("cause", 16)))
        elif e == Ev.HANGUP_ACK:
            self._free(h)
        elif e in (Ev.PROCEEDING, Ev.RINGING, Ev.ANSWER, Ev.SETUP_ACK):
            if call is not None:
                ch = chan_of(ev)
                if ch is not None and ch != call.channel:
                    for c in [c for c, hh in self.busy.items() if hh == h]:
                        del self.busy[c]
                    call.channel = ch
                    self._take(ch, h)
                if e == Ev.ANSWER:
                    call.state = "answered"
        elif e == Ev.RESTART:
            ch = chan_of(ev)
            chans = [ch] if ch is not None else list(self.busy)
            for c in chans:
                hh = self.busy.get(c)
                if hh is not None:
                    self.pri.destroycall(hh)
                    self._free(hh)

    def _apply_policy(self, call: PriCall) -> None:
        p = self.policy
        ch = call.channel or 0
        if p is None:
            return
        if isinstance(p, tuple) and p[0] == "busy":
            self.refuse(call, p[1])
            return
        self.pri.proceeding(call.handle, ch, 0)
        if p in ("alert", "answer"):
            self.pri.acknowledge(call.handle, ch, 0)
        if p == "answer":
            self.pri.answer(call.handle, ch)
            call.state = "answered"

    def idle(self) -> bool:
        return not self.calls and not self.busy


class Rig:
    """Our stack in `role` ("user" or "network") against libpri in the other role."""

    def __init__(self, variant: Variant, role: str, *, cc_timers: dict[str, float] | None = None,
                 pri_timers: dict[str, int] | None = None, service: bool = False) -> None:
        self.variant = variant
        self.role = role
        self.profile = profile(variant)
        self.sent: list[str] = []
        self.frames: list[tuple[str, bytes]] = []
        self.dch = DChannel(self.profile, network=(role == "network"), now=time.time(),
                            lapd_config=FAST_CFG, timers=cc_timers,
                            on_send=lambda m: self.sent.append(m.mt))
        self.ctl = self.dch.ctl
        self.lapd = self.dch.lapd
        node = Node.NETWORK if role == "user" else Node.CPE
        self.pri = LibPri(node, Switch(int(variant)), timers={**FAST_L2, **(pri_timers or {})})
        if service:
            self.pri.set_service_message_support(True)
        self.app = PriApp(self.pri, self.profile.b_channels)
        self.events: list[E.Event] = []
        self.cut = False  # drop every frame in both directions

    # -- our side
    def _take(self, out: E.Output, now: float) -> None:
        self.events += self.dch.run(out, now)

    def _lapd_events(self, evs: list[Any], now: float) -> None:
        self.events += self.dch.l2_events(evs, now)

    def do(self, fn: str, *args: Any, **kw: Any) -> Any:
        now = time.time()
        f = getattr(self.ctl, fn)
        if fn in ("setup", "restart", "service"):
            res = f(now, *args, **kw)
        else:
            res = f(args[0], now, *args[1:], **kw)
        if isinstance(res, tuple):
            self._take(res[1], now)
            return res[0]
        self._take(res, now)
        return res

    # -- the loop
    def step(self) -> bool:
        moved = False
        while True:
            try:
                fr = self.pri.wire.recv(4096)
            except BlockingIOError:
                break
            moved = True
            self.frames.append(("p>o", fr))
            if not self.cut:
                self.events += self.dch.receive_frame(fr, time.time())
        now = time.time()
        t = self.dch.get_timer()
        if t is not None and t <= now:
            self.events += self.dch.handle_timer(now)
            moved = True
        for fr in self.dch.frames_to_send():
            moved = True
            self.frames.append(("o>p", fr))
            if not self.cut:
                self.pri.wire.send(fr)
        for ev in self.pri.poll():
            moved = True
            self.app.handle(ev)
        return moved

    def run(self, until: Callable[[], bool] | None = None, timeout: float = 2.0) -> bool:
        end = time.time() + timeout
        while True:
            moved = self.step()
            if until is not None and until():
                return True
            if moved:
                continue
            now = time.time()
            if now >= end:
                return until is None
            deadlines = [d for d in (self.dch.get_timer(), self.pri.next_timer())
                         if d is not None]
            wait = max(0.0, min([end, *deadlines]) - now)
            select.select([self.pri.wire], [], [], min(wait, 0.02))

    def settle(self, timeout: float = 0.3) -> None:
        """Run until nothing moved for a short while (no timer due soon)."""
        end = time.time() + timeout
        quiet = 0
        while time.time() < end and quiet < 3:
            if self.step():
                quiet = 0
            else:
                quiet += 1
                select.select([self.pri.wire], [], [], 0.01)

    def start(self) -> None:
        """Bring the D-channel up and let restarts on link-up finish."""
        if self.role == "user":
            self.events += self.dch.start(time.time())
        assert self.run(lambda: self.lapd.is_up and self.app.up and self.ctl.link_up), \
            "D-channel did not come up"
        assert self.run(lambda: not self.ctl.pool.restarting()), "restarts not acknowledged"
        self.settle()

    # -- queries
    def of(self, cls: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]

    def has(self, cls: type[Any], **match: Any) -> bool:
        return any(all(getattr(e, k) == v for k, v in match.items()) for e in self.of(cls))

    def pri_events(self, e: int) -> list[PriEvent]:
        return [ev for ev in self.app.events if ev.e == e]

    def assert_idle(self, timeout: float = 2.0) -> None:
        """Every scenario ends here: no call and no busy channel on either side."""
        self.run(lambda: not self.ctl.calls() and self.ctl.pool.all_idle() and self.app.idle(),
                 timeout)
        self.ctl.check()
        released: set[int] = set()
        for e in self.events:  # each call ends with one Released, and nothing after it
            cid = getattr(e, "call_id", None)
            if cid is not None and not isinstance(e, E.ProtocolError):
                assert cid not in released, f"event after Released: {e}"
                if isinstance(e, E.Released):
                    released.add(cid)
        assert not self.ctl.calls(), f"our calls left: {self.ctl.calls()}"
        assert self.ctl.pool.all_idle(), (self.ctl.pool.busy_numbers(),
                                          self.ctl.pool.restarting())
        assert self.app.idle(), f"libpri calls left: {self.app.calls} busy {self.app.busy}"

    def close(self) -> None:
        self.pri.close()
