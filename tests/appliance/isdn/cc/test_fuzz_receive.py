"""Any octets handed to call control (`Controller.receive_bytes`) give messages or
events, never an exception, and leave channels consistent (Hypothesis)."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.isdn.cc import events as E
from appliance.isdn.cc.states import CallStateError
from appliance.isdn.q931 import Variant

from .pair import Pair

TYPES = [0x01, 0x02, 0x03, 0x05, 0x07, 0x0D, 0x0F, 0x45, 0x46, 0x4D, 0x4E, 0x5A, 0x62, 0x6E,
         0x75, 0x7B, 0x7D, 0x25, 0x00]
IES = st.sampled_from([
    b"\x04\x03\x80\x90\xa2", b"\x18\x03\xa9\x83\x81", b"\x18\x03\xa1\x83\x85", b"\x08\x02\x80\x90",
    b"\x08\x02\x81\xac", b"\x14\x01\x0a", b"\x14\x01\x00", b"\x1e\x02\x81\x88", b"\x79\x01\x80",
    b"\x79\x01\x87", b"\x70\x04\x80\x31\x32\x33", b"\xa1", b"\x96\x28\x03abc", b"\x01\x01\x82",
    b"\x18\x01", b"\x08\x00",
])


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=40))
    pd = draw(st.sampled_from([0x08, 0x08, 0x08, 0x03, 0x43]))
    cref = draw(st.integers(0, 5))
    flag = draw(st.booleans())
    mt = draw(st.sampled_from(TYPES))
    body = b"".join(draw(st.lists(IES, max_size=5)))
    return bytes([pd, 2, (0x80 if flag else 0) | (cref >> 8), cref & 0xFF, mt]) + body


@settings(max_examples=int(os.environ.get("CC_EXAMPLES", "300")), deadline=None)
@given(variant=st.sampled_from([Variant.NI2, Variant.DMS100, Variant.EUROISDN_E1,
                                Variant.QSIG]),
       calls=st.integers(0, 2), frames=st.lists(messages(), max_size=12),
       to_user=st.lists(st.booleans(), min_size=12, max_size=12))
def test_any_octets_are_answered_or_reported(variant: Variant, calls: int,
                                             frames: list[bytes], to_user: list[bool]) -> None:
    p = Pair(variant)
    p.up()
    for _ in range(calls):
        cid = p.do(p.user, "setup", called="1")
        if cid in p.user.ctl.calls():
            p.do(p.net, "connect", p.net.last(E.IncomingCall).call_id)
    for data, user in zip(frames, to_user, strict=False):
        side = p.user if user else p.net
        p.take(side, side.ctl.receive_bytes(data, p.now))
        p.pump()
        p.check()
    for s in (p.user, p.net):
        for cid in sorted(s.ctl.calls()):
            for method in ("disconnect", "release"):
                try:
                    p.do(s, method, cid)
                    break
                except CallStateError:
                    continue
    p.advance(1000.0)
    p.check()
    for s in (p.user, p.net):
        assert not s.ctl.calls() and s.ctl.pool.all_idle(), (s.name, s.ctl.calls())
