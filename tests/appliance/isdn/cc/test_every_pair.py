"""Every (state, event) pair of both tables, driven for real: put a call in the state
through our peer, fire the event, check the invariant, then clear and check that
every channel ends idle (Q.931 clause 5 / Annex A; the defined errors of states.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from appliance.isdn.cc import events as E
from appliance.isdn.cc.msg import ChannelSel, Msg
from appliance.isdn.cc.states import (
    NETWORK_TABLE,
    USER_TABLE,
    CallStateError,
    Ev,
)
from appliance.isdn.q931 import CallStateValue as S
from appliance.isdn.q931 import Variant

from .pair import Pair, Side

Path = Callable[[Pair], tuple[Side, int]]


def _in(p: Pair, via: str, *, complete: bool = True) -> int:
    """A call from the peer to `via`'s side; returns the receiving side's call id."""
    a, b = (p.net, p.user) if via == "user" else (p.user, p.net)
    p.do(a, "setup", called="1", sending_complete=complete)
    return int(b.last(E.IncomingCall).call_id)


def _active_in(p: Pair, via: str) -> int:
    cid = _in(p, via)
    p.do(p.user if via == "user" else p.net, "connect", cid)
    return cid


def _user_paths() -> dict[S, Path]:
    def out(peer: str | None, **kw: Any) -> Path:
        def go(p: Pair) -> tuple[Side, int]:
            if peer is None:
                p.drop_to.add("net")
            cid = p.do(p.user, "setup", called="1", **kw)
            if peer is not None:
                p.do(p.net, peer, p.net.last(E.IncomingCall).call_id)
            return p.user, cid
        return go

    def inc(*steps: str, drop_last: bool = False) -> Path:
        def go(p: Pair) -> tuple[Side, int]:
            cid = _in(p, "user", complete=False)
            for i, step in enumerate(steps):
                if drop_last and i == len(steps) - 1:
                    p.drop_to.add("net")
                p.do(p.user, step, cid)
            return p.user, cid
        return go

    def clearing(state: S) -> Path:
        def go(p: Pair) -> tuple[Side, int]:
            cid = _active_in(p, "user")
            if state is S.DISCONNECT_INDICATION:
                ncid = next(iter(p.net.ctl.calls()))
                p.do(p.net, "disconnect", ncid, inband=True)
            else:
                p.drop_to.add("net")
                p.do(p.user, "disconnect", cid)
                if state is S.RELEASE_REQUEST:
                    p.advance(30.5)
            return p.user, cid
        return go

    return {
        S.CALL_INITIATED: out(None),
        S.OVERLAP_SENDING: out("setup_ack", sending_complete=False),
        S.OUTGOING_CALL_PROCEEDING: out("proceeding"),
        S.CALL_DELIVERED: out("alerting"),
        S.ACTIVE: out("connect"),
        S.CALL_PRESENT: inc(),
        S.OVERLAP_RECEIVING: inc("setup_ack"),
        S.INCOMING_CALL_PROCEEDING: inc("proceeding"),
        S.CALL_RECEIVED: inc("alerting"),
        S.CONNECT_REQUEST: inc("proceeding", "connect", drop_last=True),
        S.DISCONNECT_REQUEST: clearing(S.DISCONNECT_REQUEST),
        S.DISCONNECT_INDICATION: clearing(S.DISCONNECT_INDICATION),
        S.RELEASE_REQUEST: clearing(S.RELEASE_REQUEST),
    }


def _network_paths() -> dict[S, Path]:
    def out(peer: str | None, **kw: Any) -> Path:
        def go(p: Pair) -> tuple[Side, int]:
            if peer is None:
                p.drop_to.add("user")
            cid = p.do(p.net, "setup", called="1", **kw)
            if peer is not None:
                p.do(p.user, peer, p.user.last(E.IncomingCall).call_id)
            return p.net, cid
        return go

    def inc(*steps: str) -> Path:
        def go(p: Pair) -> tuple[Side, int]:
            cid = _in(p, "net", complete=False)
            for step in steps:
                p.do(p.net, step, cid)
            return p.net, cid
        return go

    def clearing(state: S) -> Path:
        def go(p: Pair) -> tuple[Side, int]:
            cid = _active_in(p, "net")
            p.drop_to.add("user")
            p.do(p.net, "disconnect", cid)
            if state is S.RELEASE_REQUEST:
                p.advance(30.5)
            return p.net, cid
        return go

    return {
        S.CALL_INITIATED: inc(),
        S.OVERLAP_SENDING: inc("setup_ack"),
        S.OUTGOING_CALL_PROCEEDING: inc("proceeding"),
        S.CALL_DELIVERED: inc("alerting"),
        S.ACTIVE: inc("connect"),
        S.CALL_PRESENT: out(None),
        S.OVERLAP_RECEIVING: out("setup_ack", sending_complete=False),
        S.INCOMING_CALL_PROCEEDING: out("proceeding"),
        S.CALL_RECEIVED: out("alerting"),
        S.DISCONNECT_INDICATION: clearing(S.DISCONNECT_INDICATION),
        S.RELEASE_REQUEST: clearing(S.RELEASE_REQUEST),
    }


REQ_METHOD = {Ev.REQ_INFO: "info", Ev.REQ_SETUP_ACK: "setup_ack", Ev.REQ_PROCEEDING: "proceeding",
              Ev.REQ_ALERTING: "alerting", Ev.REQ_PROGRESS: "progress",
              Ev.REQ_CONNECT: "connect", Ev.REQ_DISCONNECT: "disconnect",
              Ev.REQ_RELEASE: "release", Ev.REQ_NOTIFY: "notify",
              Ev.REQ_FACILITY: "facility", Ev.REQ_STATUS_ENQUIRY: "status_enquiry"}


def _fire(p: Pair, side: Side, cid: int, ev: Ev) -> None:
    ctl = side.ctl
    call = ctl.call_by_id(cid)
    table = NETWORK_TABLE if ctl.network else USER_TABLE
    listed = (call.state, ev) in table
    if ev.kind == "request":
        if ev is Ev.REQ_SETUP:
            return
        try:
            p.do(side, REQ_METHOD[ev], cid)
            assert listed, (call.state, ev)
        except CallStateError:
            assert not listed, (call.state, ev)
    elif ev.kind == "message":
        if ev is Ev.SETUP:
            return
        ch = call.channel or 1
        msg = Msg(ev.value, call.cref, not call.ours, cause=16, call_state=10,
                  channel=ChannelSel((ch,), exclusive=True), progress=(8,))
        p.take(side, ctl.receive(msg, p.now))
        p.pump()
    elif ev.kind == "timer":
        if not listed:
            return  # lookup() raising InternalStateError is checked in test_table_coverage
        call.timers._deadlines[ev.value] = p.now
        p.take(side, ctl.handle_timer(p.now))
        p.pump()
    elif ev is Ev.DL_FAIL:
        p.down()
    elif ev is Ev.DL_RESET:
        p.up()  # already up: a data link reset (5.8.9)
    elif ev is Ev.DL_UP:
        p.down()
        p.advance(1.0)
        p.up()


def _clear_all(p: Pair) -> None:
    p.drop_to.clear()
    if not p.link:
        p.up()
    for s in (p.user, p.net):
        for cid in sorted(s.ctl.calls()):
            for method in ("disconnect", "release"):
                try:
                    p.do(s, method, cid)
                    break
                except CallStateError:
                    continue
    p.advance(1000.0)


CASES = [(side, state, ev) for side, paths in (("user", _user_paths()), ("net", _network_paths()))
         for state in paths for ev in Ev]


@pytest.mark.parametrize("variant", [Variant.NI2, Variant.EUROISDN_E1])
@pytest.mark.parametrize("side_name", ["user", "net"])
def test_every_state_event_pair(variant: Variant, side_name: str) -> None:
    paths = _user_paths() if side_name == "user" else _network_paths()
    done = 0
    for state, path in paths.items():
        for ev in Ev:
            p = Pair(variant)
            p.up()
            side, cid = path(p)
            assert side.ctl.call_state(cid) is state, (state, side.ctl.call_state(cid))
            _fire(p, side, cid, ev)
            p.check()
            _clear_all(p)
            p.assert_idle()
            done += 1
    assert done == len(paths) * len(Ev)
