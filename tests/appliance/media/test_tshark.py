"""Our RTP, RTCP and RFC 4733 packets as tshark's dissectors read them (a peer no one here wrote)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from appliance.media import rtcp
from appliance.media.dtmf_events import EventSender
from appliance.media.rtcp import ReceptionStats, RtcpSession
from appliance.media.rtp import RtpSender
from tests.appliance.media.pcaputil import write_pcap

pytestmark = [pytest.mark.peer, pytest.mark.skipif(shutil.which("tshark") is None, reason="no tshark")]

A = ("127.0.0.1", 40000)
B = ("127.0.0.2", 40002)


def _tshark(pcap: Path, *args: str) -> list[dict[str, Any]]:
    r = subprocess.run(["tshark", "-r", str(pcap), "-d", "udp.port==40000,rtp", "-d", "udp.port==40001,rtcp",
                        "-T", "json", *args], capture_output=True, text=True, timeout=60, check=True)
    return [p["_source"]["layers"] for p in json.loads(r.stdout)]


def test_rtp_and_events_decoded_by_tshark(tmp_path: Path) -> None:
    s = RtpSender(0, ssrc=0x12345678, seq=100, ts=8000)
    ev = EventSender(s, 101)
    pkts = []
    t = 1.0
    for _ in range(2):
        pkts.append((t, B, A, s.packet(bytes([0xFF]) * 160, 160)))
        t += 0.02
    ev.start(5, s.ts, volume=10)
    for i in range(1, 4):
        pkts += [(t, B, A, p) for p in ev.update(s.ts + 160 * i)]
        t += 0.02
    pkts += [(t, B, A, p) for p in ev.stop(s.ts + 480)]
    s.skip(480)
    pkts.append((t + 0.02, B, A, s.packet(bytes([0xFF]) * 160, 160)))
    f = tmp_path / "rtp.pcap"
    write_pcap(f, pkts)
    layers = _tshark(f)
    rtps = [p["rtp"] for p in layers]
    assert [int(r["rtp.seq"]) for r in rtps] == list(range(100, 100 + len(pkts)))
    assert {r["rtp.ssrc"] for r in rtps} == {"0x12345678"}
    assert [int(r["rtp.p_type"]) for r in rtps] == [0, 0, 101, 101, 101, 101, 101, 101, 0]
    assert [r["rtp.marker"] for r in rtps] == ["1", "0", "1", "0", "0", "0", "0", "0", "0"]
    assert [int(r["rtp.timestamp"]) for r in rtps] == [8000, 8160] + [8320] * 6 + [8800]
    evs = [p["rtpevent"] for p in layers if "rtpevent" in p]
    assert [int(e["rtpevent.event_id"]) for e in evs] == [5] * 6
    assert [int(e["rtpevent.duration"]) for e in evs] == [160, 320, 480, 480, 480, 480]
    assert [e["rtpevent.end_of_event"] for e in evs] == ["0", "0", "0", "1", "1", "1"]
    assert {int(e["rtpevent.volume"]) for e in evs} == {10}


def test_rtcp_sr_rr_sdes_bye_decoded_by_tshark(tmp_path: Path) -> None:
    a = RtcpSession(0xAAAA0001, b"gw@127.0.0.1", 0.0, random.Random(3))
    a.we_sent = True
    a.packets_sent, a.octets_sent, a.rtp_ts_now = 500, 80000, 123456
    a.source = ReceptionStats(0xBBBB0002, 10)
    for q in [10, *[x for x in range(11, 112) if x % 10]]:
        a.source.seq.update(q)
    for i in range(20):
        a.source.on_packet(i * 160, i * 160 + (32 if i % 2 else 0))
    sr = a.report(1700000000.25)
    rr_only = RtcpSession(0xBBBB0002, b"peer", 0.0).report(1700000001.0, bye=True)
    f = tmp_path / "rtcp.pcap"
    write_pcap(f, [(1.0, B, (A[0], 40001), sr), (2.0, A, (B[0], 40001), rr_only)])
    fields = ["rtcp.pt", "rtcp.senderssrc", "rtcp.sender.packetcount", "rtcp.sender.octetcount",
              "rtcp.timestamp.rtp", "rtcp.timestamp.ntp.msw", "rtcp.ssrc.fraction", "rtcp.ssrc.cum_nr",
              "rtcp.ssrc.high_seq", "rtcp.ssrc.jitter", "rtcp.sdes.type", "rtcp.sdes.text"]
    r = subprocess.run(["tshark", "-r", str(f), "-d", "udp.port==40001,rtcp", "-T", "fields",
                        "-E", "occurrence=a", "-E", "aggregator=,", "-E", "separator=|",
                        *[x for fld in fields for x in ("-e", fld)]],
                       capture_output=True, text=True, timeout=60, check=True)
    rows = [dict(zip(fields, line.split("|"), strict=True)) for line in r.stdout.splitlines()]
    blk = rtcp.decode_compound(sr)[0]
    assert isinstance(blk, rtcp.SenderReport)
    assert rows[0]["rtcp.pt"] == "200,202"
    assert rows[0]["rtcp.senderssrc"] == "0xaaaa0001"
    assert rows[0]["rtcp.sender.packetcount"] == "500" and rows[0]["rtcp.sender.octetcount"] == "80000"
    assert rows[0]["rtcp.timestamp.rtp"] == "123456"
    assert int(rows[0]["rtcp.timestamp.ntp.msw"]) == 1700000000 + rtcp.NTP_EPOCH_OFFSET
    assert rows[0]["rtcp.ssrc.fraction"] == "25"  # 10 of 101 lost, A.3
    assert rows[0]["rtcp.ssrc.cum_nr"] == "10"
    assert rows[0]["rtcp.ssrc.high_seq"] == "111"
    assert rows[0]["rtcp.ssrc.jitter"] == str(blk.reports[0].jitter) != "0"
    assert rows[0]["rtcp.sdes.type"] == "1,0" and rows[0]["rtcp.sdes.text"] == "gw@127.0.0.1"
    assert rows[1]["rtcp.pt"] == "201,202,203"
