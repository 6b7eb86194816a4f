"""RFC 4733 telephone-events: payload, sender and receiver rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.media import dtmf_events as de
from appliance.media import rtp
from appliance.media.dtmf_events import (
    EventBegan,
    EventEnded,
    EventReceiver,
    EventSender,
    TelephoneEvent,
)
from appliance.media.rtp import RtpSender


def test_payload_layout_rfc4733_s2_3() -> None:
    # event 9, E=1, volume 10, duration 1600 -> 09 8a 06 40
    assert de.encode(TelephoneEvent(9, True, 10, 1600)) == bytes.fromhex("098a0640")
    assert de.decode(bytes.fromhex("098a0640")) == (TelephoneEvent(9, True, 10, 1600),)
    assert de.decode(bytes.fromhex("0b0a00a0" "050a0140")) == (
        TelephoneEvent(11, False, 10, 160), TelephoneEvent(5, False, 10, 320))


@pytest.mark.parametrize("payload", [b"", b"\x01\x02\x03", b"\x00" * 5])
def test_bad_payload(payload: bytes) -> None:
    with pytest.raises(de.EventError):
        de.decode(payload)


@given(st.binary(max_size=24))
def test_fuzz(payload: bytes) -> None:
    try:
        evs = de.decode(payload)
    except de.EventError:
        return
    # the R bit is reserved: ignored on receipt, sent as 0 (s2.3)
    cleared = bytes(b & ~0x40 if i % 4 == 1 else b for i, b in enumerate(payload))
    assert b"".join(de.encode(e) for e in evs) == cleared


def test_digit_mapping() -> None:
    assert [de.digit_to_event(d) for d in "09*#AD"] == [0, 9, 10, 11, 12, 15]
    assert de.event_to_digit(11) == "#" and de.event_to_digit(16) is None
    with pytest.raises(ValueError):
        de.digit_to_event("x")


def test_sender_stream_like_rfc4733_s5_example() -> None:
    """Digit "9" for 200 ms at 50 ms packets, shaped like RFC 4733 s5.1 (Table 5).

    Every packet carries the event's start timestamp; the first has the
    marker; durations grow by 400 per 50 ms; the end goes three times with
    the same timestamp and final duration and new sequence numbers.
    """
    s = RtpSender(0, ssrc=7, seq=1, ts=0)
    tx = EventSender(s, 101)
    tx.start(9, 0, volume=7)
    pkts = []
    for t in (400, 800, 1200, 1600):
        pkts += tx.update(t)
    pkts += tx.stop(1600)
    d = [rtp.decode(p) for p in pkts]
    assert [p.sequence for p in d] == [1, 2, 3, 4, 5, 6, 7]
    assert {p.timestamp for p in d} == {0}
    assert [p.marker for p in d] == [True] + [False] * 6
    assert {p.payload_type for p in d} == {101}
    evs = [de.decode(p.payload)[0] for p in d]
    assert [e.duration for e in evs] == [400, 800, 1200, 1600, 1600, 1600, 1600]
    assert [e.end for e in evs] == [False] * 4 + [True] * 3
    assert {e.volume for e in evs} == {7} and {e.event for e in evs} == {9}
    assert not tx.active


def test_long_event_segments_rfc4733_s2_5_1_3() -> None:
    s = RtpSender(0, ssrc=7, seq=0, ts=1000)
    tx = EventSender(s, 101)
    tx.start(5, 1000)
    rx = EventReceiver()
    out: list[de.ReceiverEvent] = []
    now = 1000
    for _ in range(600):  # 600 x 20 ms = 12 s > 0xFFFF samples (8.19 s)
        now += 160
        for p in tx.update(now):
            q = rtp.decode(p)
            out += rx.receive(q.timestamp, q.marker, q.payload, now)
    for p in tx.stop(now):
        q = rtp.decode(p)
        out += rx.receive(q.timestamp, q.marker, q.payload, now)
    assert [type(e) for e in out] == [EventBegan, EventEnded]
    assert isinstance(out[1], EventEnded) and out[1].duration == 600 * 160


def test_receiver_ignores_repeated_end_and_handles_lost_end() -> None:
    rx = EventReceiver(timeout=800)
    p = lambda ev, end, dur: de.encode(TelephoneEvent(ev, end, 10, dur))  # noqa: E731
    assert rx.receive(100, True, p(1, False, 160), 260) == [EventBegan(1, 100, 10)]
    assert rx.receive(100, False, p(1, False, 320), 420) == []
    assert rx.receive(100, False, p(1, True, 480), 580) == [EventEnded(1, 100, 480)]
    assert rx.receive(100, False, p(1, True, 480), 590) == []  # second and third end
    assert rx.receive(100, False, p(1, True, 480), 600) == []
    # a new event whose end packets are all lost: ended by the next event ...
    assert rx.receive(2000, True, p(2, False, 160), 2160) == [EventBegan(2, 2000, 10)]
    got = rx.receive(4000, True, p(3, False, 160), 4160)
    assert got == [EventEnded(2, 2000, 160), EventBegan(3, 4000, 10)]
    # ... or by the timeout
    assert rx.poll(4500) == []
    assert rx.poll(4960) == [EventEnded(3, 4000, 160, timed_out=True)]
    # a late update of an ended event starts nothing
    assert rx.receive(4000, False, p(3, False, 320), 5000) == []
    assert rx.receive(6000, False, b"\x01", 6000) == [] and rx.malformed == 1
