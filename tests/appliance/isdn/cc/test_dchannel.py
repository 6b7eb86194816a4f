"""Two `DChannel`s (our Q.921 + Q.931 on both ends) joined frame by frame on injected
time: a call, a layer-2 outage shorter than T309, and the frame trace hook."""

from __future__ import annotations

from appliance.isdn.cc import events as E
from appliance.isdn.cc.dchannel import DChannel
from appliance.isdn.cc.variants import profile
from appliance.isdn.q931 import CallStateValue as S
from appliance.isdn.q931 import Variant


class Wire:
    def __init__(self, variant: Variant) -> None:
        self.now = 0.0
        self.trace: list[tuple[str, bytes]] = []
        self.user = DChannel(profile(variant), network=False, now=0.0,
                             trace=lambda d, f: self.trace.append((d, f)))
        self.net = DChannel(profile(variant), network=True, now=0.0)
        self.ev = {"user": [], "net": []}  # type: dict[str, list[E.Event]]
        self.up = True

    def pump(self) -> None:
        for _ in range(200):
            moved = False
            for src, dst, name in ((self.user, self.net, "net"), (self.net, self.user, "user")):
                for f in src.frames_to_send():
                    moved = True
                    if self.up:
                        self.ev[name] += dst.receive_frame(f, self.now)
            if not moved:
                return

    def advance(self, dt: float) -> None:
        end = self.now + dt
        while True:
            ts = [(t, n, d) for n, d in (("user", self.user), ("net", self.net))
                  if (t := d.get_timer()) is not None and t <= end]
            if not ts:
                break
            t, n, d = min(ts, key=lambda x: x[0])
            self.now = max(self.now, t)
            self.ev[n] += d.handle_timer(self.now)
            self.pump()
        self.now = end
        self.pump()


def test_call_and_short_outage_over_our_own_lapd() -> None:
    w = Wire(Variant.NI2)
    w.ev["user"] += w.user.start(0.0)
    w.pump()
    assert any(isinstance(e, E.DataLinkUp) for e in w.ev["user"])
    w.advance(1.0)  # restarts on link up (NI-2 user side) acknowledged
    assert w.user.ctl.pool.all_idle()
    cid, out = w.user.ctl.setup(w.now, called="100")
    w.ev["user"] += w.user.run(out, w.now)
    w.pump()
    inc = next(e for e in w.ev["net"] if isinstance(e, E.IncomingCall))
    w.ev["net"] += w.net.run(w.net.ctl.connect(inc.call_id, w.now), w.now)
    w.pump()
    assert w.user.ctl.call_state(cid) is S.ACTIVE
    # layer 2 lost (T203, then T200 x N200 twice: Q.921 5.7), T309 keeps the call
    w.up = False
    w.advance(30.0)
    assert any(isinstance(e, E.DataLinkDown) for e in w.ev["user"])
    assert w.user.ctl.call_state(cid) is S.ACTIVE
    w.up = True
    w.advance(30.0)  # Q.921 re-establishes; STATUS ENQUIRY / STATUS resynchronise
    assert w.user.lapd.is_up and w.user.ctl.call_state(cid) is S.ACTIVE
    w.ev["user"] += w.user.run(w.user.ctl.disconnect(cid, w.now), w.now)
    w.advance(1.0)
    for d in (w.user, w.net):
        d.ctl.check()
        assert not d.ctl.calls() and d.ctl.pool.all_idle()
    assert {d for d, _ in w.trace} == {"rx", "tx"}
