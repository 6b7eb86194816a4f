"""Bench ISDN part 2: Q.931 call control cost per call, against libpri.

One "call" is a complete cycle on one D-channel: SETUP, CALL PROCEEDING,
ALERTING, CONNECT, CONNECT ACK, DISCONNECT, RELEASE, RELEASE COMPLETE, both
sides in this process.  Ours: two `DChannel`s (Q.921 + codec + call control,
user and network side) joined frame by frame on injected time.  Peer: two
libpri 1.6 instances (`pri_new_cb` over socketpairs, relayed in Python) doing
the same call in the same run.  The figures are CPU microseconds per call for
both sides together, and how many call attempts per second one core carries;
a PRI (23 or 30 channels) needs a few per second at most.
"""

from __future__ import annotations

import time

from appliance.isdn.cc import events as E
from appliance.isdn.cc.dchannel import DChannel
from appliance.isdn.cc.variants import profile
from appliance.isdn.q931 import Variant
from tests.bench.report import Table
from tests.peers.libpri import Ev, LibPri, Node, Switch, relay


class _Ours:
    def __init__(self, variant: Variant) -> None:
        self.now = 0.0
        self.user = DChannel(profile(variant), network=False, now=0.0)
        self.net = DChannel(profile(variant), network=True, now=0.0)
        self.user.start(0.0)
        self.pump()
        self.now = 1.0
        for d in (self.user, self.net):
            d.handle_timer(self.now)
        self.pump()

    def pump(self) -> list[E.Event]:
        evs: list[E.Event] = []
        for _ in range(100):
            moved = False
            for src, dst in ((self.user, self.net), (self.net, self.user)):
                for f in src.frames_to_send():
                    moved = True
                    evs += dst.receive_frame(f, self.now)
            if not moved:
                break
        return evs

    def call(self) -> None:
        cid, out = self.user.ctl.setup(self.now, called="5551000")
        self.user.run(out, self.now)
        inc = next(e for e in self.pump() if isinstance(e, E.IncomingCall))
        for fn in ("proceeding", "alerting", "connect"):
            self.net.run(getattr(self.net.ctl, fn)(inc.call_id, self.now), self.now)
            self.pump()
        self.user.run(self.user.ctl.disconnect(cid, self.now), self.now)
        self.pump()
        assert not self.user.ctl.calls() and not self.net.ctl.calls()


class _Libpri:
    def __init__(self, variant: Variant) -> None:
        self.net = LibPri(Node.NETWORK, Switch(int(variant)))
        self.cpe = LibPri(Node.CPE, Switch(int(variant)))
        relay(self.net, self.cpe, max_wait=2.0, until=lambda o: len(o) >= 2)

    def call(self) -> None:
        c = self.cpe.new_call()
        self.cpe.setup(c, called="5551000", channel=1)
        ring = next(e for _, e in relay(self.net, self.cpe, max_wait=1.0,
                                        until=lambda o: any(e.e == Ev.RING for _, e in o))
                    if e.e == Ev.RING)
        h = ring.call
        self.net.proceeding(h, 1, 0)
        self.net.acknowledge(h, 1, 0)
        self.net.answer(h, 1)
        relay(self.net, self.cpe, max_wait=1.0,
              until=lambda o: any(e.e == Ev.ANSWER for _, e in o))
        self.cpe.hangup(c, 16)
        # libpri finishes a clearing only when its application answers HANGUP_REQ and
        # HANGUP with pri_hangup (as sig_pri does): DISCONNECT, RELEASE, RELEASE COMPLETE.
        done = False
        while not done:
            evs = relay(self.net, self.cpe, max_wait=1.0, until=lambda o: bool(o))
            if not evs:
                raise RuntimeError("libpri call did not clear")
            for side, e in evs:
                if e.e in (Ev.HANGUP_REQ, Ev.HANGUP):
                    (self.net if side == "a" else self.cpe).hangup(e.call, 16)
                    done = done or (e.e == Ev.HANGUP and side == "b")
        relay(self.net, self.cpe)

    def close(self) -> None:
        self.net.close()
        self.cpe.close()


def _cpu_per_call(rig: _Ours | _Libpri, n: int) -> float:
    call = rig.call
    call()  # warm up
    t0 = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - t0) / n


def run() -> list[Table]:
    rows = []
    for v in (Variant.NI2, Variant.EUROISDN_E1, Variant.QSIG):
        ours = _cpu_per_call(_Ours(v), 300)
        lp = _Libpri(v)
        try:
            peer = _cpu_per_call(lp, 300)
        finally:
            lp.close()
        rows.append([v.name, ours * 1e6, peer * 1e6, ours / peer, 1.0 / ours])
    return [Table(
        "Q.931 call control: CPU per complete call, both sides in one process",
        ["variant", "ours us/call", "libpri us/call", "ours/libpri", "calls/s per core"],
        rows,
        notes=["ours: Q.921 + Q.931 codec + call control in Python, user and network side; "
               "libpri: C, plus the Python relay and ctypes event decoding around it",
               "a 30-channel PRI with 3-minute calls needs about 0.2 call attempts per second"],
    )]
