"""Basic calls between our user side and our network side (Q.931 5.1-5.3)."""

from __future__ import annotations

import pytest

from appliance.isdn.cc import events as E
from appliance.isdn.q931 import CallStateValue as S
from appliance.isdn.q931 import Variant

from .pair import Pair

VARIANTS = list(Variant)


@pytest.mark.parametrize("variant", VARIANTS)
def test_user_calls_network_answer_and_user_hangs_up(variant: Variant) -> None:
    p = Pair(variant)
    p.up()
    p.user.clear()
    p.net.clear()
    cid = p.do(p.user, "setup", called="5551000")
    inc = p.net.last(E.IncomingCall)
    assert inc.called == "5551000"
    assert p.user.ctl.call_state(cid) is S.CALL_INITIATED
    p.do(p.net, "proceeding", inc.call_id)
    assert p.user.ctl.call_state(cid) is S.OUTGOING_CALL_PROCEEDING
    p.do(p.net, "alerting", inc.call_id)
    assert p.user.last(E.Alerting)
    p.do(p.net, "connect", inc.call_id)
    assert p.user.ctl.call_state(cid) is S.ACTIVE
    assert p.net.ctl.call_state(inc.call_id) is S.ACTIVE
    ch_user = p.user.ctl.calls()[cid][1]
    assert ch_user == p.net.ctl.calls()[inc.call_id][1] == inc.channel
    # user side hunts descending by default
    assert ch_user == max(p.user.ctl.pool.numbers())
    p.check()
    p.do(p.user, "disconnect", cid, 16)
    assert p.net.last(E.Disconnected).cause == 16
    assert p.user.last(E.Released) and p.net.last(E.Released)
    p.assert_idle()


@pytest.mark.parametrize("variant", VARIANTS)
def test_network_calls_user_answer_network_hangs_up(variant: Variant) -> None:
    p = Pair(variant)
    p.up()
    cid = p.do(p.net, "setup", called="2000")
    inc = p.user.last(E.IncomingCall)
    assert inc.channel == min(p.net.ctl.pool.numbers())  # network hunts ascending
    p.do(p.user, "proceeding", inc.call_id)
    p.do(p.user, "alerting", inc.call_id)
    p.do(p.user, "connect", inc.call_id)
    assert p.user.ctl.call_state(inc.call_id) is S.ACTIVE
    assert p.net.ctl.call_state(cid) is S.ACTIVE
    assert p.user.of(E.Connected) and p.net.of(E.Connected)
    p.do(p.net, "disconnect", cid, 16)
    assert p.user.last(E.Disconnected).cause == 16
    p.assert_idle()


def test_user_busy_and_no_circuit() -> None:
    p = Pair(Variant.NI2)
    p.up()
    cid = p.do(p.user, "setup", called="1")
    inc = p.net.last(E.IncomingCall)
    p.do(p.net, "disconnect", inc.call_id, 17)
    rel = p.user.last(E.Released)
    assert rel.call_id == cid and rel.cause == 17
    p.assert_idle()
    # network refuses with no circuit (34) before any answer
    cid = p.do(p.user, "setup", called="2")
    inc = p.net.last(E.IncomingCall)
    p.do(p.net, "release", inc.call_id, 34)
    assert p.user.last(E.Released).cause == 34
    p.assert_idle()


def test_timers_t303_twice_then_cleared() -> None:
    p = Pair(Variant.EUROISDN_E1)
    p.up()
    p.drop_to.add("net")
    cid = p.do(p.user, "setup", called="1")
    p.advance(4.0)
    assert [m.mt for m in p.user.sent].count("SETUP") == 2
    p.advance(4.0)
    rel = p.user.last(E.Released)
    assert rel.call_id == cid and rel.cause == 102
    p.drop_to.clear()
    p.assert_idle()
