"""Our Q.921 against libpri's layer 2 (a real peer), both sides of the PRI.

Wall clock here: libpri cannot take injected time (see tests.peers.libpri).
The link comes up with either side starting, carries Q.931 both ways through
a lossy pipe that drops and repeats frames, and recovers after the peer
restarts (its libpri destroyed and a new one created).
"""

from __future__ import annotations

import random
import time

import pytest

from appliance.isdn.q921 import LinkUp, Side
from appliance.isdn.q931 import ChannelId, Message, MessageType, decode_message
from tests.peers.libpri import Ev

from .libpri_link import LapdVsLibpri

pytestmark = pytest.mark.peer
SIDES = [Side.USER, Side.NETWORK]


def pri_up(x: LapdVsLibpri) -> bool:
    return x.lapd.is_up and any(e.e == Ev.DCHAN_UP for e in x.theirs)


@pytest.mark.parametrize("side", SIDES)
def test_link_up_when_libpri_starts(side: Side) -> None:
    x = LapdVsLibpri(side)
    assert x.pump(2.0, pri_up)
    assert LinkUp("remote") in x.ours


@pytest.mark.parametrize("side", SIDES)
def test_link_up_when_we_start(side: Side) -> None:
    # libpri's first SABME is lost (sent before we listened); ours starts the link.
    sent: list[bool] = []

    def fault(tag: str, fr: bytes) -> int:
        if tag == "l>p" and fr[2] == 0x7F:
            sent.append(True)
        return 0 if tag == "p>l" and fr[2] == 0x7F and not sent else 1

    x = LapdVsLibpri(side, fault=fault)
    x.lapd.establish(time.time())
    assert x.pump(2.0, pri_up)
    assert [e for e in x.ours if isinstance(e, LinkUp)] == [LinkUp("local")]
    assert any(tag == "l>p" and fr[2] == 0x7F for _, tag, fr in x.wire_log)


def _calls(x: LapdVsLibpri, n: int) -> list[int]:
    handles = []
    for i in range(n):
        c = x.pri.new_call()
        x.pri.setup(c, called=f"10{i}", caller="5551234", channel=i + 1)
        handles.append(c)
    return handles


def _answer_setups(x: LapdVsLibpri, answered: set[int], start: int = 0) -> None:
    for raw in x.data()[start:]:
        m = decode_message(raw)
        if m.type is MessageType.SETUP and m.call_ref not in answered:
            answered.add(m.call_ref)
            ch = m.get(ChannelId)
            assert ch is not None
            reply = Message(MessageType.CALL_PROCEEDING, m.call_ref, True,
                            (ChannelId(ch.channels),))
            x.lapd.send_data(reply.encode(), time.time())


@pytest.mark.parametrize("side", SIDES)
def test_q931_both_ways_over_our_layer2(side: Side) -> None:
    x = LapdVsLibpri(side)
    assert x.pump(2.0, pri_up)
    _calls(x, 3)
    answered: set[int] = set()

    def done(x: LapdVsLibpri) -> bool:
        _answer_setups(x, answered)
        return sum(1 for e in x.theirs if e.e == Ev.PROCEEDING) == 3

    assert x.pump(3.0, done)
    setups = [decode_message(r) for r in x.data()]
    assert [m.type for m in setups] == [MessageType.SETUP] * 3
    assert [m.encode() for m in setups] == x.data()


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("seed", [1, 3, 5])
def test_lossy_pipe_drops_and_repeats(side: Side, seed: int) -> None:
    rnd = random.Random(seed)

    def fault(tag: str, fr: bytes) -> int:
        r = rnd.random()
        return 0 if r < 0.2 else 2 if r < 0.3 else 1  # 20 % lost, 10 % repeated

    x = LapdVsLibpri(side, fault=fault)
    assert x.pump(4.0, pri_up)
    _calls(x, 5)
    answered: set[int] = set()

    def done(x: LapdVsLibpri) -> bool:
        _answer_setups(x, answered)
        return len({e.call for e in x.theirs if e.e == Ev.PROCEEDING}) == 5

    assert x.pump(8.0, done), (x.theirs, x.ours)
    # each I frame delivered once: a SETUP seen twice would only be a T303 repeat
    crs = [decode_message(r).call_ref for r in x.data()]
    assert sorted(set(crs)) == sorted(answered) and len(answered) == 5
    proceeding = [e.call for e in x.theirs if e.e == Ev.PROCEEDING]
    assert len(proceeding) == len(set(proceeding)) == 5


@pytest.mark.parametrize("side", SIDES)
def test_recovers_after_peer_restart(side: Side) -> None:
    x = LapdVsLibpri(side)
    assert x.pump(2.0, pri_up)
    _calls(x, 1)
    answered: set[int] = set()

    def first(x: LapdVsLibpri) -> bool:
        _answer_setups(x, answered)
        return any(e.e == Ev.PROCEEDING for e in x.theirs)

    assert x.pump(2.0, first)
    x.restart_peer()
    x.theirs.clear()

    def back(x: LapdVsLibpri) -> bool:
        return pri_up(x) and any(isinstance(e, LinkUp) and e.reestablished for e in x.ours)

    assert x.pump(3.0, back), x.ours
    answered.clear()
    start = len(x.data())
    _calls(x, 1)

    def done(x: LapdVsLibpri) -> bool:
        _answer_setups(x, answered, start)
        return any(e.e == Ev.PROCEEDING for e in x.theirs)

    assert x.pump(2.0, done)
