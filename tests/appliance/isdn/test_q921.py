"""Q.921 LAPD on injected time: frames, C/R per side, establishment, release,
acknowledged transfer, T200/T203/N200/k, sequence-error recovery (Q.921 5)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.isdn.errors import Q921Error
from appliance.isdn.q921 import (
    TABLE,
    DataIndication,
    Input,
    Lapd,
    LapdConfig,
    LinkDown,
    LinkUp,
    MdlError,
    Side,
    State,
)
from appliance.isdn.q921_frames import Frame, FrameRejected, FrameType, decode

from .lapd_sim import Wire

F = FrameType


def data(events: list) -> list[bytes]:
    return [e.payload for e in events if isinstance(e, DataIndication)]


# --- frame codec (Q.921 3) -------------------------------------------------

@pytest.mark.parametrize("side", list(Side))
@pytest.mark.parametrize("frame", [
    Frame(F.I, True, True, 5, 127, b"\x08\x02\x00\x01\x05"),
    Frame(F.RR, True, True, nr=3), Frame(F.RR, False, False, nr=0),
    Frame(F.RNR, False, True, nr=9), Frame(F.REJ, False, False, nr=100),
    Frame(F.SABME, True, True), Frame(F.DISC, True, True), Frame(F.UA, False, True),
    Frame(F.DM, False, False), Frame(F.UI, True, False, info=b"abc"),
    Frame(F.FRMR, False, False, info=b"\x01\x02\x03\x04\x05"),
])
def test_frame_round_trip(side: Side, frame: Frame) -> None:
    other = Side.NETWORK if side is Side.USER else Side.USER
    assert decode(frame.encode(side), other) == frame


def test_command_response_bits_table_1() -> None:
    # Q.921 Table 1: user commands C/R=0, responses 1; network the reverse.
    assert Frame(F.SABME, True, True).encode(Side.USER) == b"\x00\x01\x7f"
    assert Frame(F.SABME, True, True).encode(Side.NETWORK) == b"\x02\x01\x7f"
    assert Frame(F.UA, False, True).encode(Side.USER) == b"\x02\x01\x73"
    assert Frame(F.UA, False, True).encode(Side.NETWORK) == b"\x00\x01\x73"
    assert Frame(F.RR, False, True, nr=1).encode(Side.USER) == b"\x02\x01\x01\x03"


@pytest.mark.parametrize("raw,code", [
    (b"\x00\x01\x7f\x00", "M"), (b"\x00\x01\x0d\x00", "L"), (b"\x00\x01\x01", "N"),
    (b"\x00\x01\x00", "N"), (b"\x00\x01\x00\x00" + bytes(261), "O"),
])
def test_frame_errors_5_8_5(raw: bytes, code: str) -> None:
    with pytest.raises(FrameRejected) as ei:
        decode(raw, Side.NETWORK)
    assert chr(ei.value.code) == code


@given(st.binary(max_size=300), st.sampled_from(list(Side)))
def test_decode_any_bytes(raw: bytes, side: Side) -> None:
    try:
        fr = decode(raw, side)
    except Q921Error:
        return
    other = Side.NETWORK if side is Side.USER else Side.USER
    assert decode(fr.encode(other), side) == fr


# --- state machine ---------------------------------------------------------

def test_table_covers_every_state_and_input() -> None:
    inputs = [*Input, *FrameType]
    for s in State:
        for i in inputs:
            assert (s, i) in TABLE, (s, i)


def up(w: Wire, who: str = "user") -> None:
    (w.user if who == "user" else w.net).establish(w.now)
    w.run(w.now + 0.1)
    assert w.user.state is State.MULTIPLE_FRAME_ESTABLISHED
    assert w.net.state is State.MULTIPLE_FRAME_ESTABLISHED


@pytest.mark.parametrize("who", ["user", "net"])
def test_establishment_either_side(who: str) -> None:
    w = Wire.make()
    up(w, who)
    initiator = w.user_events if who == "user" else w.net_events
    responder = w.net_events if who == "user" else w.user_events
    assert initiator == [LinkUp("local")] and responder == [LinkUp("remote")]
    assert w.log[0][2] == (b"\x00\x01\x7f" if who == "user" else b"\x02\x01\x7f")


def test_establishment_collision_5_5_5() -> None:
    w = Wire.make()
    w.user.establish(0.0)
    w.net.establish(0.0)
    w.run(0.5)
    assert w.user.is_up and w.net.is_up
    assert LinkUp("local") in w.user_events and LinkUp("local") in w.net_events


def test_acknowledged_transfer_both_ways_and_window_k() -> None:
    w = Wire.make()
    up(w)
    msgs = [bytes([8, 2, 0, i, 5]) for i in range(20)]
    for m in msgs:
        w.user.send_data(m, w.now)
    # k = 7: only seven I frames leave before an acknowledgement.
    w._collect()
    assert sum(1 for _, t, fr in w.log if t == "u>n" and not fr[2] & 1) == 7
    for m in msgs[:5]:
        w.net.send_data(m, w.now)
    w.run(w.now + 1.0)
    assert data(w.net_events) == msgs and data(w.user_events) == msgs[:5]
    assert w.user.va == w.user.vs == 20 and w.net.vr == 20


def test_t203_idle_poll_and_back_to_established() -> None:
    w = Wire.make()
    up(w)
    t0 = w.now
    w.run(t0 + 10.5)
    polls = [(t, fr) for t, tag, fr in w.log if fr[2:3] == b"\x01" and fr[3] & 1]
    assert polls and 10.0 <= polls[0][0] <= 10.1  # T203 from link-up at ~0.004 s
    assert w.user.state is State.MULTIPLE_FRAME_ESTABLISHED
    assert not [e for e in w.user_events + w.net_events if isinstance(e, MdlError)]


def test_lost_i_frame_recovered_by_rej() -> None:
    drops = {"n": 0}

    def fault(tag: str, fr: bytes) -> int:
        if tag == "u>n" and not fr[2] & 1 and fr[2] >> 1 == 1 and drops["n"] == 0:
            drops["n"] += 1
            return 0
        return 1

    w = Wire.make(fault=fault)
    up(w)
    msgs = [bytes([8, 2, 0, i, 5]) for i in range(4)]
    for m in msgs:
        w.user.send_data(m, w.now)
    w.run(w.now + 3)
    assert data(w.net_events) == msgs
    assert any(fr[2] == 0x09 for _, tag, fr in w.log if tag == "n>u")  # REJ


def test_lost_ack_recovered_by_t200_timer_recovery() -> None:
    state = {"dropping": True}

    def fault(tag: str, fr: bytes) -> int:
        if tag == "n>u" and state["dropping"] and fr[2] == 0x01:
            state["dropping"] = False
            return 0
        return 1

    w = Wire.make(fault=fault)
    up(w)
    w.user.send_data(b"\x08\x02\x00\x01\x05", w.now)
    w.run(w.now + 3)
    assert data(w.net_events) == [b"\x08\x02\x00\x01\x05"]
    assert w.user.va == 1 and w.user.state is State.MULTIPLE_FRAME_ESTABLISHED
    assert w.user.stats["retransmitted"] >= 1
    # the repeated I frame (P=1) is not delivered twice
    assert len(data(w.net_events)) == 1


def test_repeated_frames_are_not_delivered_twice() -> None:
    w = Wire.make(fault=lambda tag, fr: 2)
    up(w)
    msgs = [bytes([8, 2, 0, i, 5]) for i in range(10)]
    for m in msgs:
        w.user.send_data(m, w.now)
        w.net.send_data(m, w.now)
    w.run(w.now + 5)
    assert data(w.net_events) == msgs and data(w.user_events) == msgs


def test_release_both_sides_told() -> None:
    w = Wire.make()
    up(w)
    w.user.release(w.now)
    w.run(w.now + 1)
    assert w.user_events[-1] == LinkDown("released", local=True)
    assert isinstance(w.net_events[-1], LinkDown) and not w.net_events[-1].local
    assert w.user.state is State.TEI_ASSIGNED
    # keep_up on the network side brings the link back; the user side answers
    w.run(w.now + 3)
    assert w.net.is_up and w.user.is_up


def test_peer_gone_n200_then_link_down_and_retry() -> None:
    alive = {"on": True}
    w = Wire.make(fault=lambda tag, fr: 1 if alive["on"] else 0)
    up(w)
    alive["on"] = False
    t0 = w.now
    w.run(t0 + 10 + 4 * 1.0 + 4 * 1.0 + 0.5)
    codes = [e.code for e in w.user_events if isinstance(e, MdlError)]
    assert "I" in codes and "G" in codes
    downs = [e for e in w.user_events if isinstance(e, LinkDown)]
    assert len(downs) == 1
    # the user side keeps trying (keep_up); when the peer is back, the link comes up
    alive["on"] = True
    w.run(w.now + 3)
    assert w.user.is_up and w.net.is_up
    assert isinstance(w.user_events[-1], LinkUp)


def test_nr_sequence_error_reestablishes() -> None:
    w = Wire.make()
    up(w)
    bogus = Frame(F.RR, False, False, nr=42).encode(Side.NETWORK)
    ev = w.user.receive(bogus, w.now)
    assert MdlError("J", "N(R)=42 outside V(A)=0..V(S)=0") in ev
    assert w.user.state is State.AWAITING_ESTABLISHMENT
    w.run(w.now + 1)
    assert w.user.is_up and w.net.is_up
    assert any(isinstance(e, LinkUp) and e.reestablished for e in w.user_events)


def test_peer_restart_reported_as_reestablished() -> None:
    w = Wire.make()
    up(w)
    w.user.send_data(b"\x08\x02\x00\x01\x05", w.now)
    w.run(w.now + 0.1)
    w.net = Lapd(Side.NETWORK, w.now)
    w.net.establish(w.now)
    w.run(w.now + 1)
    assert w.user.is_up and w.net.is_up
    last = [e for e in w.user_events if isinstance(e, LinkUp)][-1]
    assert last.initiator == "remote" and last.reestablished
    w.user.send_data(b"\x08\x02\x00\x02\x05", w.now)
    w.run(w.now + 0.5)
    assert data(w.net_events)[-1:] == [b"\x08\x02\x00\x02\x05"]


def test_data_request_while_down_is_refused() -> None:
    link = Lapd(Side.USER)
    with pytest.raises(Q921Error):
        link.send_data(b"\x08\x02\x00\x01\x05", 0.0)


def test_timer_values_are_config() -> None:
    cfg = LapdConfig(t200=0.25, n200=2)
    link = Lapd(Side.USER, 0.0, cfg)
    link.establish(0.0)
    assert link.get_timer() == 0.25
    sabmes = 1
    t = 0.0
    events = []
    while link.state is State.AWAITING_ESTABLISHMENT:
        t = link.get_timer() or t
        events += link.handle_timer(t)
        sabmes += sum(1 for fr in link.frames_to_send() if fr[2] == 0x7F)
    assert sabmes == 1 + 1 + 2 and t == pytest.approx(0.75)
    assert LinkDown("establishment failed (N200 SABME)") in events


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([1, 1, 1, 1, 0, 2]), min_size=5, max_size=200),
       st.integers(1, 30))
def test_lossy_link_delivers_in_order_without_duplicates(pattern: list[int], n: int) -> None:
    it = iter(pattern)
    w = Wire.make(fault=lambda tag, fr: next(it, 1))
    w.user.establish(0.0)
    w.run(2.0)
    msgs = [bytes([8, 2, 0, i % 256, 5, i // 256]) for i in range(n)]
    sent = 0
    for m in msgs:
        if w.user.is_up:
            w.user.send_data(m, w.now)
            sent += 1
        w.run(w.now + 0.01)
    w.run(w.now + 60)
    got = data(w.net_events)
    assert len(got) == len(set(got))
    assert got == sorted(got, key=msgs.index)
    lost = sum(e.discarded for e in w.user_events if isinstance(e, LinkUp | LinkDown))
    assert len(got) + lost >= sent
    assert w.user.is_up and w.net.is_up


@given(st.lists(st.binary(min_size=0, max_size=12), max_size=40))
def test_any_frames_never_raise(frames: list[bytes]) -> None:
    link = Lapd(Side.NETWORK, 0.0)
    link.establish(0.0)
    t = 0.0
    for raw in frames:
        t += 0.3
        link.receive(raw, t)
        link.handle_timer(t)
        link.frames_to_send()
    assert link.state in State


def test_peer_busy_rnr_holds_i_frames_until_rr() -> None:
    w = Wire.make()
    up(w)
    rnr = Frame(F.RNR, False, False, nr=0).encode(Side.NETWORK)
    w.user.receive(rnr, w.now)
    assert w.user.peer_busy
    w.user.send_data(b"\x08\x02\x00\x01\x05", w.now)
    assert not [fr for fr in w.user.frames_to_send() if not fr[2] & 1]  # no I frame
    # T200 runs while the peer is busy: on expiry we poll with RR command P=1
    t = w.user.get_timer()
    assert t is not None
    w.user.handle_timer(t)
    polls = w.user.frames_to_send()
    assert polls == [Frame(F.RR, True, True, nr=0).encode(Side.USER)]
    ev = w.user.receive(Frame(F.RR, False, True, nr=0).encode(Side.NETWORK), t)
    assert not ev and not w.user.peer_busy
    sent = w.user.frames_to_send()
    assert sent and not sent[0][2] & 1 and sent[0][4:] == b"\x08\x02\x00\x01\x05"


def test_frmr_and_dm_f0_reestablish() -> None:
    for frame in (Frame(F.FRMR, False, False, info=bytes(5)), Frame(F.DM, False, False)):
        w = Wire.make()
        up(w)
        ev = w.user.receive(frame.encode(Side.NETWORK), w.now)
        assert [e.code for e in ev if isinstance(e, MdlError)] == ["K" if frame.type is F.FRMR
                                                                   else "E"]
        assert w.user.state is State.AWAITING_ESTABLISHMENT
        w.run(w.now + 1)
        assert w.user.is_up and w.net.is_up


def test_other_tei_and_sapi_ignored_ui_delivered() -> None:
    w = Wire.make()
    up(w)
    other_tei = Frame(F.I, True, False, 0, 0, b"x", tei=5).encode(Side.NETWORK)
    other_sapi = Frame(F.I, True, False, 0, 0, b"x", sapi=63).encode(Side.NETWORK)
    assert w.user.receive(other_tei, w.now) == [] and w.user.receive(other_sapi, w.now) == []
    assert w.user.frames_to_send() == [] and w.user.vr == 0
    ui = Frame(F.UI, True, False, info=b"\x08\x00\x62").encode(Side.NETWORK)
    from appliance.isdn.q921 import UnitDataIndication
    assert w.user.receive(ui, w.now) == [UnitDataIndication(b"\x08\x00\x62")]


def test_i_frame_poll_answered_with_rr_final() -> None:
    w = Wire.make()
    up(w)
    i = Frame(F.I, True, True, 0, 0, b"\x08\x02\x00\x01\x05").encode(Side.NETWORK)
    ev = w.user.receive(i, w.now)
    assert ev == [DataIndication(b"\x08\x02\x00\x01\x05")]
    assert w.user.frames_to_send() == [Frame(F.RR, False, True, nr=1).encode(Side.USER)]


def test_own_receiver_busy_rnr_then_rr_and_peer_repeats() -> None:
    w = Wire.make()
    up(w)
    w.net.set_receiver_busy(True, w.now)
    w.run(w.now + 0.01)
    assert w.user.peer_busy
    w.user.send_data(b"\x08\x02\x00\x01\x05", w.now)
    w.run(w.now + 0.5)
    assert data(w.net_events) == []
    w.net.set_receiver_busy(False, w.now)
    w.run(w.now + 3)
    assert data(w.net_events) == [b"\x08\x02\x00\x01\x05"]
    assert any(fr[2] == 0x05 for _, tag, fr in w.log if tag == "n>u")  # RNR was sent
