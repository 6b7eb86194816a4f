"""libpri on both D-channels of the back-to-back pair, through DAHDI's HDLC.

Each end's ``dchan=`` channel is handed to libpri's plain ``pri_new(fd, ...)``
exactly as chan_dahdi does on a card: span 1 ("b") is the network side (the
PBX), span 0 ("a") the user side (the gateway's place).  Q.921 comes up, a
call is set up on B-channel 1, its audio flows both ways at the level sent,
and the call is cleared.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.peers.libpri import PRI_LAYER_1_ALAW, PRI_LAYER_1_ULAW, Ev, Event
from tests.vm import dahdi_vm as dv
from tests.vm.conftest import Pair
from tests.vm.libpri_dahdi import DahdiLibPri, Node, Switch, close_fd, run_until

# Q.921 timers shortened a little so a lost first SABME costs less (ms).
TIMERS = {"T200": 1000, "T203": 10000}


def _switch(pair: Pair) -> Switch:
    return Switch.NI2 if pair.plan.type == "T1" else Switch.EUROISDN_E1


@pytest.fixture
def pris(pair: Pair) -> Iterator[list[DahdiLibPri]]:
    fds = [dv.open_dchannel(pair.dchan(0)), dv.open_dchannel(pair.dchan(1))]
    made: list[DahdiLibPri] = []
    try:
        made.append(DahdiLibPri(fds[0], Node.CPE, _switch(pair), timers=TIMERS))
        made.append(DahdiLibPri(fds[1], Node.NETWORK, _switch(pair), timers=TIMERS))
        yield made
    finally:
        for p in made:
            p.close()  # pri_link_destroy crashes on a pri_new() link: leak it
        for fd in fds:
            close_fd(fd)


def _both_up(pris: list[DahdiLibPri]) -> list[Event]:
    up: set[int] = set()
    seen: list[Event] = []
    while up != {0, 1}:
        got = run_until(pris, Ev.DCHAN_UP, 30.0)
        seen += got
        up |= {e.fields["_src"] for e in got if e.e == Ev.DCHAN_UP}
    return seen


def test_dchannel_comes_up_with_libpri_on_both_ends(pair: Pair,
                                                   pris: list[DahdiLibPri]) -> None:
    seen = _both_up(pris)
    assert Ev.DCHAN_DOWN not in [e.e for e in seen]
    # The link stays up: idle RR polls (T203 10 s) are not needed within this second,
    # but nothing may tear it down either.
    with pytest.raises(AssertionError):
        run_until(pris, Ev.DCHAN_DOWN, 1.0)


def test_call_carries_audio_both_ways_at_the_right_level(pair: Pair,
                                                        pris: list[DahdiLibPri]) -> None:
    _both_up(pris)
    user, net = pris
    law = PRI_LAYER_1_ALAW if pair.plan.law == "alaw" else PRI_LAYER_1_ULAW
    call = net.new_call()
    net.setup(call, called="5551234", caller="2125550100", channel=1, exclusive=True,
              userl1=law)
    ring = next(e for e in run_until(pris, Ev.RING) if e.e == Ev.RING)
    assert ring.fields["_src"] == 0
    assert ring.callednum == "5551234"
    assert ring.channel & 0xFF == 1
    assert ring.layer1 == law
    ucall = ring.call
    assert user.answer(ucall, ring.channel) == 0
    ans = next(e for e in run_until(pris, Ev.ANSWER) if e.e == Ev.ANSWER)
    assert ans.fields["_src"] == 1
    # B-channel 1 is timeslot 1 on both T1 and E1: position 1 of each span.
    got = dv.exchange(pair.chan(0, 1), pair.chan(1, 1), pair.plan.law, 2.0)
    level1, freq1 = dv.analyse(pair.plan.law, got[1][4000:])
    level0, freq0 = dv.analyse(pair.plan.law, got[0][4000:])
    assert abs(freq1 - 1004.0) < 10 and abs(level1 + 10.0) < 0.3, (freq1, level1)
    assert abs(freq0 - 697.0) < 10 and abs(level0 + 16.0) < 0.3, (freq0, level0)
    # Keep Q.921 serviced, then clear from the network side.
    net.poll()
    user.poll()
    assert net.hangup(call, 16) == 0
    req = next(e for e in run_until(pris, Ev.HANGUP_REQ) if e.e == Ev.HANGUP_REQ)
    assert req.fields["_src"] == 0
    assert req.cause == 16
    assert user.hangup(ucall, 16) == 0
    run_until(pris, Ev.HANGUP)
