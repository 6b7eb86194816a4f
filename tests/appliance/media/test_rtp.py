"""RFC 3550 RTP packets, sender rules and A.1 sequence validation."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.media import rtp
from appliance.media.rtp import RtpError, RtpPacket, RtpSender, SequenceState, SeqVerdict


def test_fixed_header_layout_rfc3550_s5_1() -> None:
    p = RtpPacket(payload_type=0, sequence=0x1234, timestamp=0xDEADBEEF, ssrc=0x01020304,
                  payload=b"\xff" * 160, marker=True)
    b = rtp.encode(p)
    assert b[:12] == bytes.fromhex("80 80 1234 deadbeef 01020304".replace(" ", ""))
    assert len(b) == 172
    assert rtp.decode(b) == p


def test_csrc_extension_padding_round_trip() -> None:
    p = RtpPacket(8, 65535, 1, 2, b"abc", False, (7, 8), (0xBEDE, b"\x10\x01\x00\x00"), 4)
    b = rtp.encode(p)
    assert b[0] == 0x80 | 0x20 | 0x10 | 2
    assert b[-1] == 4
    assert rtp.decode(b) == p


@pytest.mark.parametrize(
    "data, why",
    [
        (b"\x80\x00", "shorter"),
        (bytes([0x40]) + bytes(11), "version"),
        (bytes([0x8F]) + bytes(11), "CSRC"),
        (bytes([0x90]) + bytes(11) + b"\x00\x00\x00\x05", "extension"),
        (bytes([0xA0]) + bytes(11) + b"\x00", "padding"),
        (bytes([0xA0]) + bytes(11) + b"\x09", "padding"),
    ],
)
def test_malformed_is_remote_error(data: bytes, why: str) -> None:
    with pytest.raises(RtpError, match=why):
        rtp.decode(data)


@given(st.binary(max_size=200))
def test_fuzz_decode(data: bytes) -> None:
    try:
        p = rtp.decode(data)
    except RtpError:
        return
    assert rtp.decode(rtp.encode(p)) == p


def test_sender_marker_seq_ts_rules() -> None:
    s = RtpSender(0, ssrc=5, seq=65534, ts=0xFFFFFF00)
    pkts = [rtp.decode(s.packet(bytes(160), 160)) for _ in range(3)]
    assert [p.marker for p in pkts] == [True, False, False]  # RFC 3551 s4.1: first of talkspurt
    assert [p.sequence for p in pkts] == [65534, 65535, 0]  # wraps
    assert [p.timestamp for p in pkts] == [0xFFFFFF00, 0xFFFFFFA0, 0x00000040]
    assert {p.ssrc for p in pkts} == {5}
    s.skip(800)  # 100 ms not sent as audio (an RFC 4733 event carried it)
    s.talkspurt()
    p = rtp.decode(s.packet(bytes(160), 160))
    assert p.marker and p.sequence == 1 and p.timestamp == 0x40 + 160 + 800


def test_random_initial_values() -> None:
    a, b = RtpSender(0), RtpSender(0)
    assert (a.ssrc, a.seq, a.ts) != (b.ssrc, b.seq, b.ts)


def test_a1_probation_then_valid() -> None:
    s = SequenceState(100)
    assert s.update(100) is SeqVerdict.PROBATION
    assert s.update(101) is SeqVerdict.OK
    assert s.received == 1 and s.base_seq == 101
    for q in range(102, 110):
        assert s.update(q) is SeqVerdict.OK
    assert s.expected == 9 and s.received == 9


def test_a1_wrap_extends_cycles() -> None:
    s = SequenceState(65530)
    s.update(65530)
    for q in [*range(65531, 65536), 0, 1, 2]:
        assert s.update(q) is SeqVerdict.OK
    assert s.cycles == 65536 and s.extended_max == 65536 + 2
    assert s.extend(65535) == 65535 and s.extend(3) == 65536 + 3


def test_a1_loss_reorder_duplicate_and_restart() -> None:
    s = SequenceState(10)
    s.update(10)
    s.update(11)
    s.update(13)  # 12 lost for now
    assert s.update(12) is SeqVerdict.DUPLICATE_OR_LATE  # reordered, still counted (A.1)
    assert s.update(13) is SeqVerdict.DUPLICATE_OR_LATE
    assert s.expected == 3 and s.received == 4  # a duplicate makes the loss negative, as A.1 says
    # a far end that restarts: one jump is "bad", the next in sequence re-inits
    assert s.update(40000) is SeqVerdict.BAD
    assert s.update(40001) is SeqVerdict.OK
    assert s.base_seq == 40001 and s.received == 1


def test_header_struct_matches_rfc_figure() -> None:
    b = RtpSender(96, ssrc=1, seq=2, ts=3).event_packet(101, 999, b"\x05\x0a\x00\xa0", True)
    assert struct.unpack("!BBHII", b[:12]) == (0x80, 0x80 | 101, 2, 999, 1)
