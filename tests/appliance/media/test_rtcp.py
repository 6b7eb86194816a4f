"""RFC 3550 RTCP: SR/RR/SDES/BYE codec, A.3 loss, A.8 jitter, report scheduling."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.media import rtcp
from appliance.media.rtcp import (
    Goodbye,
    ReceiverReport,
    ReceptionStats,
    ReportBlock,
    RtcpError,
    RtcpSession,
    SdesItem,
    SenderReport,
    SourceDescription,
)


def test_sr_layout_rfc3550_s6_4_1() -> None:
    blk = ReportBlock(0x22222222, 25, -3, 0x00010005, 77, 0x12345678, 0x00018000)
    sr = SenderReport(0x11111111, 0xAABBCCDD_01020304, 160, 10, 1600, (blk,))
    b = rtcp.encode(sr)
    assert b[:4] == bytes([0x81, 200, 0, 12])  # V=2 RC=1, PT=SR, length 13 words - 1
    assert b[4:8] == bytes.fromhex("11111111")
    assert b[8:16] == bytes.fromhex("aabbccdd01020304")
    assert b[28:36] == bytes.fromhex("22222222") + bytes([25]) + bytes.fromhex("fffffd")
    assert rtcp.decode_compound(b) == [sr]


def test_compound_rr_sdes_bye_round_trip() -> None:
    pkts: list[rtcp.RtcpPacket] = [
        ReceiverReport(1, (ReportBlock(2, 0, 0, 100, 3, 0, 0),)),
        SourceDescription(((1, ((SdesItem.CNAME, b"tdmgw@127.0.0.1"),)),)),
        Goodbye((1,), b"bye"),
    ]
    b = rtcp.encode_compound(pkts)
    assert len(b) % 4 == 0
    assert rtcp.decode_compound(b) == pkts


@pytest.mark.parametrize(
    "data",
    [b"\x80", bytes([0x40, 200, 0, 0]), bytes([0x80, 202, 0, 0]), bytes([0x80, 200, 0, 9]) + bytes(8),
     bytes([0x81, 201, 0, 1]) + bytes(4)],
)
def test_malformed(data: bytes) -> None:
    with pytest.raises(RtcpError):
        rtcp.decode_compound(data)


@given(st.binary(max_size=120))
def test_fuzz_decode(data: bytes) -> None:
    try:
        pkts = rtcp.decode_compound(data)
    except RtcpError:
        return
    assert rtcp.decode_compound(rtcp.encode_compound(pkts)) == pkts or any(
        isinstance(p, (SourceDescription, Goodbye)) for p in pkts)


def _feed(st_: ReceptionStats, seqs: list[int]) -> None:
    for q in seqs:
        st_.seq.update(q)


def test_a3_fraction_and_cumulative_loss() -> None:
    s = ReceptionStats(9, 1000)
    # 1000 is the A.1 probation packet; 1001..1101 expected, 1010..1100 lost
    _feed(s, [1000, *[q for q in range(1001, 1102) if q % 10]])
    b = s.report_block(0.0)
    assert s.seq.expected == 101
    assert b.cumulative_lost == 10
    assert b.fraction_lost == (10 << 8) // 101  # 25: 8-bit fixed point
    assert b.highest_seq == 1101
    # next interval: 50 packets, none lost
    _feed(s, list(range(1102, 1152)))
    b2 = s.report_block(1.0)
    assert b2.fraction_lost == 0 and b2.cumulative_lost == 10


def test_a8_jitter_constant_transit_is_zero_and_alternating_converges() -> None:
    s = ReceptionStats(1, 0)
    for i in range(50):
        s.on_packet(i * 160, 5000 + i * 160)
    assert s.jitter == 0
    # transit alternating by 80 samples: |D| = 80 each time; J -> 80
    s2 = ReceptionStats(1, 0)
    for i in range(400):
        s2.on_packet(i * 160, i * 160 + (80 if i % 2 else 0))
    assert s2.jitter == pytest.approx(80, abs=0.5)
    # the first steps follow J += (|D| - J)/16 exactly
    s3 = ReceptionStats(1, 0)
    s3.on_packet(0, 0)
    s3.on_packet(160, 176)
    assert s3.jitter == 1.0
    s3.on_packet(320, 320)
    assert s3.jitter == pytest.approx(1 + 15 / 16)


def test_rtt_from_lsr_dlsr() -> None:
    # s6.4.1 Figure 2: A=0xb710:8000 (46864.500 s), LSR=0xb705:2000, DLSR=0x0005:4000 -> 6.125 s
    blk = ReportBlock(1, 0, 0, 0, 0, 0xB7052000, 0x00054000)
    arrival = 0xB7108000 << 16
    assert rtcp.round_trip(blk, arrival) == pytest.approx(6.125)


def test_session_sends_sr_after_sending_and_rr_otherwise() -> None:
    a = RtcpSession(0xA, b"a@gw", 0.0, random.Random(1))
    b = RtcpSession(0xB, b"b@peer", 0.0, random.Random(2))
    assert 1.25 <= a.get_timer() <= 3.75
    assert a.handle_timer(0.1) is None
    a.we_sent = True
    a.packets_sent, a.octets_sent, a.rtp_ts_now = 50, 8000, 1234
    b.source = ReceptionStats(0xA, 0)
    for q in range(0, 50):
        b.source.seq.update(q)
    t = a.get_timer()
    out = a.handle_timer(t)
    assert out is not None
    pkts = b.receive(out, t + 0.05)  # 50 ms one way
    assert isinstance(pkts[0], SenderReport) and pkts[0].packet_count == 50
    assert isinstance(pkts[1], SourceDescription)
    rr = b.report(t + 0.5)  # b holds the SR 450 ms: DLSR
    got = a.receive(rr, t + 0.55)
    assert isinstance(got[0], ReceiverReport)
    assert a.remote_reports[-1].ssrc == 0xA
    assert a.last_rtt == pytest.approx(0.1, abs=0.001)
    assert 2.5 <= a.get_timer() - t <= 7.5
