"""Table coverage: every (state, event) pair has a transition or raises the defined error,
and random event sequences never break the channel invariant or leave a channel busy."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.isdn.cc.call import all_actions_defined
from appliance.isdn.cc.channels import ChannelUnavailable
from appliance.isdn.cc.controller import UnknownCall
from appliance.isdn.cc.msg import ChannelSel, Msg
from appliance.isdn.cc.states import (
    NETWORK_TABLE,
    USER_STATES,
    USER_TABLE,
    CallStateError,
    Ev,
    InternalStateError,
    UnexpectedMessage,
    lookup,
)
from appliance.isdn.q931 import CallStateValue as S
from appliance.isdn.q931 import ServiceStatus, Variant

from .pair import CALL_METHODS, Pair

_ERRORS = {"message": UnexpectedMessage, "request": CallStateError, "timer": InternalStateError,
           "link": InternalStateError}


@pytest.mark.parametrize("table", [USER_TABLE, NETWORK_TABLE], ids=["user", "network"])
def test_every_pair_has_a_row_or_the_defined_error(table: Any) -> None:
    all_actions_defined()
    rows = errors = 0
    for state in USER_STATES:
        for ev in Ev:
            try:
                _action, nxt = lookup(table, state, ev)
                rows += 1
                assert nxt is None or nxt in USER_STATES
            except (UnexpectedMessage, CallStateError, InternalStateError) as exc:
                assert isinstance(exc, _ERRORS[ev.kind]), (state, ev, exc)
                errors += 1
    assert rows >= 200 and errors > 0


MESSAGE_TYPES = [e.value for e in Ev if e.kind == "message"] + ["SUSPEND", "HOLD"]

REQ_METHOD = {Ev.REQ_INFO: "info", Ev.REQ_SETUP_ACK: "setup_ack", Ev.REQ_PROCEEDING: "proceeding",
              Ev.REQ_ALERTING: "alerting", Ev.REQ_PROGRESS: "progress",
              Ev.REQ_CONNECT: "connect", Ev.REQ_DISCONNECT: "disconnect",
              Ev.REQ_RELEASE: "release", Ev.REQ_NOTIFY: "notify",
              Ev.REQ_FACILITY: "facility", Ev.REQ_STATUS_ENQUIRY: "status_enquiry"}

ops = st.one_of(
    # a request the call's state allows (drives calls deep into the tables)
    st.tuples(st.just("valid"), st.sampled_from(["user", "net"]), st.integers(0, 5),
              st.integers(0, 50), st.booleans()),
    st.tuples(st.just("valid"), st.sampled_from(["user", "net"]), st.integers(0, 5),
              st.integers(0, 50), st.booleans()),
    st.tuples(st.just("setup"), st.sampled_from(["user", "net"]),
              st.one_of(st.none(), st.integers(1, 24)), st.booleans(), st.booleans()),
    st.tuples(st.just("req"), st.sampled_from(["user", "net"]), st.sampled_from(
        sorted(CALL_METHODS)), st.integers(0, 5), st.sampled_from([16, 17, 34, 44, 21])),
    st.tuples(st.just("msg"), st.sampled_from(["user", "net"]), st.sampled_from(MESSAGE_TYPES),
              st.integers(0, 5), st.booleans(), st.one_of(st.none(), st.sampled_from(
                  [16, 17, 44, 34, 102])), st.one_of(st.none(), st.integers(1, 24)),
              st.one_of(st.none(), st.sampled_from([0, 1, 3, 4, 7, 10, 12, 19, 25]))),
    st.tuples(st.just("advance"), st.sampled_from([0.5, 3.0, 5.0, 31.0, 100.0])),
    st.tuples(st.just("link"), st.sampled_from(["up", "down"])),
    st.tuples(st.just("restart"), st.sampled_from(["user", "net"]),
              st.one_of(st.none(), st.lists(st.integers(1, 23), min_size=1, max_size=3))),
    st.tuples(st.just("service"), st.sampled_from(["user", "net"]), st.integers(1, 23),
              st.sampled_from(list(ServiceStatus))),
)


def _crefs(p: Pair, side: str) -> list[tuple[int, bool]]:
    ctl = (p.user if side == "user" else p.net).ctl
    return sorted(ctl._calls)


def _apply(p: Pair, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "valid":
        _, side, idx, choice, inband = op
        s = p.user if side == "user" else p.net
        calls = sorted(s.ctl.calls().items())
        if not calls:
            p.do(s, "setup", called="1", sending_complete=inband)
            return
        cid, (state, _) = calls[idx % len(calls)]
        table = NETWORK_TABLE if s.ctl.network else USER_TABLE
        allowed = [ev for ev in REQ_METHOD if (state, ev) in table]
        if not allowed:
            return
        ev = allowed[choice % len(allowed)]
        kw: dict[str, Any] = {}
        if ev is Ev.REQ_DISCONNECT:
            kw = {"cause": [16, 17, 44, 34][choice % 4], "inband": inband}
        elif ev is Ev.REQ_INFO:
            kw = {"digits": "5", "sending_complete": inband}
        elif ev is Ev.REQ_ALERTING:
            kw = {"inband": inband}
        p.do(s, REQ_METHOD[ev], cid, **kw)
    elif kind == "setup":
        _, side, ch, excl, complete = op
        s = p.user if side == "user" else p.net
        with contextlib.suppress(ChannelUnavailable):  # a channel this interface lacks
            p.do(s, "setup", called="1", channel=ch, exclusive=excl, sending_complete=complete)
    elif kind == "req":
        _, side, method, idx, cause = op
        s = p.user if side == "user" else p.net
        ids = sorted(s.ctl.calls())
        if not ids:
            return
        cid = ids[idx % len(ids)]
        kw: dict[str, Any] = {}
        if method in ("disconnect", "release"):
            kw = {"cause": cause}
        elif method == "info":
            kw = {"digits": "5"}
        try:
            p.do(s, method, cid, **kw)
        except CallStateError:
            pass  # the defined error for a request the state does not allow
        except UnknownCall:
            raise
    elif kind == "msg":
        _, side, mt, idx, flag, cause, ch, state = op
        s = p.user if side == "user" else p.net
        keys = _crefs(p, side)
        if keys and idx < 5:
            cref, ours = keys[idx % len(keys)]
            flag = not ours
        else:
            cref = 100 + idx
        msg = Msg(mt, cref, flag, cause=cause, call_state=state,
                  channel=None if ch is None else ChannelSel((ch,), exclusive=True))
        p.take(s, s.ctl.receive(msg, p.now))
        p.pump()
    elif kind == "advance":
        p.advance(op[1])
    elif kind == "link":
        if op[1] == "up":
            p.up()
        else:
            p.down()
    elif kind == "restart":
        _, side, chans = op
        with contextlib.suppress(ChannelUnavailable):
            p.do(p.user if side == "user" else p.net, "restart", chans)
    elif kind == "service":
        _, side, ch, status = op
        with contextlib.suppress(ChannelUnavailable):
            p.do(p.user if side == "user" else p.net, "service", ch, status)


@settings(max_examples=int(__import__("os").environ.get("CC_EXAMPLES", "150")), deadline=None)
@given(variant=st.sampled_from([Variant.NI2, Variant.EUROISDN_E1, Variant.DMS100]),
       steps=st.lists(ops, max_size=40))
def test_random_sequences_keep_invariants_and_end_idle(variant: Variant,
                                                       steps: list[tuple[Any, ...]]) -> None:
    p = Pair(variant, wire=False)
    p.up()
    for op in steps:
        if op[0] == "service" and variant is Variant.EUROISDN_E1:
            continue
        _apply(p, op)
        p.check()
    # Clear everything from both ends; within the timers' reach no channel stays busy.
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
                except UnknownCall:
                    break
    p.advance(1000.0)
    p.check()
    p.assert_lifecycles()
    for s in (p.user, p.net):
        assert not s.ctl.calls(), (s.name, s.ctl.calls())
        assert s.ctl.pool.all_idle(), (s.name, s.ctl.pool.busy_numbers())
        assert s.ctl.get_timer() is None or not s.ctl.calls()
    assert all(st_ is not S.NULL for st_ in ())
