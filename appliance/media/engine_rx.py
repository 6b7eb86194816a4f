"""The receive side of the span engine: RTP and RTCP datagrams into the jitter buffer.

`RtpIn` is a base of `appliance.media.engine.SpanEngine` (its state is the
engine's, declared below for the type checker).  Per datagram: the RFC 3550
header rules (A.1 sequence, A.8 jitter), latching and source address checks,
SRTP, RFC 4733 events (`_event_in`: played in-band toward the PBX), RFC 3389
comfort noise, and the jitter buffer (`put`, or for the common case of a
batch `reserve` then one `write_many` for every packet of the drain:
`receive_batch`).  Each packet's depth is measured on the span's ideal
timeline (`t_tick`, see SpanEngine._ideal), at most IDEAL_RESET_S after the
last read.  RFC 5761 multiplexed RTCP is told apart by `is_rtcp`.
"""

from __future__ import annotations

import struct
from collections import deque
from typing import Any

import numpy as np
import numpy.typing as npt

from appliance.media import cn as cnmod
from appliance.media import rtp as rtpmod
from appliance.media.dtmf_events import EventBegan, EventEnded, event_to_digit
from appliance.media.jitter import JitterBuffer
from appliance.media.rtcp import ReceptionStats, RtcpError
from appliance.media.rtp import MAX_DROPOUT
from appliance.media.srtp import SrtpError
from appliance.media.stream import Addr, Codec, Direction, Stream
from dsp import g711

_HDR = struct.Struct("!BBHII")
_ULAW = g711.ulaw_decode(np.arange(256, dtype=np.uint8))  # G.711 decoder tables for single packets
_ALAW = g711.alaw_decode(np.arange(256, dtype=np.uint8))
IDEAL_RESET_S = 0.1  # see SpanEngine._ideal


class RtpIn:
    """RTP and RTCP in (a base of SpanEngine, which owns the state)."""

    jb: JitterBuffer
    gen: Any
    samples: int
    t_tick: float
    t_now: float
    events: list[dict[str, Any]]
    _playing: set[int]
    _pending_lat: dict[int, deque[tuple[int, float]]]
    _lat_next: npt.NDArray[np.int64]
    _cn_on: npt.NDArray[np.bool_]
    streams: list[Stream | None]

    def _lat_sample(self, ch: int, ext: int, arrival: float) -> None:
        """A packet sampled for RTP->TDM latency: its first sample is timed when played."""
        q = self._pending_lat.get(ch)
        if q is None:
            q = self._pending_lat[ch] = deque(maxlen=8)
        q.append((ext, arrival))
        self._lat_next[ch] = q[0][0]

    def _set_cn(self, st: Stream, on: bool) -> None:
        """`st.cn_active = on`, and the engine's row of comfort noise streams with it."""
        st.cn_active = on
        # a stream no longer on its row (a late datagram after close) only ever sets the
        # row: the row array may hold more rows than have noise on (tick_pbx checks the
        # stream), never fewer
        if on or self.streams[st.row] is st:
            self._cn_on[st.row] = on

    def receive_rtp(self, st: Stream, data: bytes, addr: Addr, arrival: float) -> None:
        """One datagram on the call's RTP socket, `arrival` on the engine clock."""
        if st.spec.rtcp_mux and self.is_rtcp(data):
            self.receive_rtcp(st, data, addr, self.t_now)
            return
        c = st.counters
        trust = st.trusted(addr)
        if trust is False:
            c.dropped_address += 1
            return
        if st.srtp is not None:
            try:
                data = st.srtp.unprotect(data)
            except SrtpError:
                c.dropped_srtp += 1
                return
        if len(data) < 12:
            c.dropped_malformed += 1
            return
        b0, b1, seq, ts, ssrc = _HDR.unpack_from(data)
        if b0 & 0xC0 != 0x80:
            c.dropped_malformed += 1
            return
        if b0 & 0x3F:
            try:
                payload = rtpmod.decode(data).payload
            except rtpmod.RtpError:
                c.dropped_malformed += 1
                return
        else:
            payload = data[12:]
        pt = b1 & 0x7F
        s = st.spec
        if pt != s.payload_type and pt != s.event_pt and pt != s.cn_pt:
            c.dropped_payload_type += 1
            return
        if st.latched is None:
            # symmetric RTP: from now on only this address, and we send here
            st.latched = addr
            self.events.append({"event": "latched", "call_id": s.call_id, "addr": list(addr)})
        c.rx_packets += 1
        st.last_rx = arrival
        if s.direction in (Direction.SENDONLY, Direction.INACTIVE):
            c.dropped_hold += 1
            return
        ch = st.row
        if st.remote_ssrc != ssrc:
            if st.remote_ssrc is not None:
                c.ssrc_changes += 1
            st.remote_ssrc = ssrc
            st.source = ReceptionStats(ssrc, seq)
            st.rtcp.source = st.source
        src = st.source
        assert src is not None
        src.seq.update(seq)
        elapsed = min(max((arrival - self.t_tick) * 8000.0, 0.0), IDEAL_RESET_S * 8000.0)
        src.on_packet(ts, self.samples + int(elapsed))
        marker = bool(b1 & 0x80)
        if pt == s.payload_type:
            if not payload:
                c.dropped_malformed += 1
                return
            codes = np.frombuffer(payload, dtype=np.uint8)
            lin = (_ULAW if s.codec is Codec.PCMU else _ALAW).take(codes)
            verdict = self.jb.put(ch, ts, lin, marker, elapsed)
            if st.cn_active:
                self._set_cn(st, False)
            if verdict != "duplicate" and not seq & 3:
                # latency is sampled on one packet in four: enough for p99, cheap at 240 calls
                st.latency.rtp_socket.add((self.t_now - arrival) * 1000.0)
                st.latency.rtp_jitter.add(self.jb.chans[ch].stats.depth / 8.0)  # type: ignore[union-attr]
                self._lat_sample(ch, self.jb.extend(ch, ts), arrival)
        elif pt == s.event_pt:
            c.events_rx += 1
            for ev in st.events_in.receive(ts, marker, payload, self.samples):
                self._event_in(st, ev)
        else:
            c.cn_rx += 1
            try:
                st.cn.update(cnmod.decode(payload))
                self._set_cn(st, True)
            except cnmod.CnError:
                c.dropped_malformed += 1

    def receive_batch(self, pkts: list[tuple[Stream, bytes, Addr, float]]) -> None:
        """The datagrams of one drain: `receive_rtp()` for each, the common case in bulk.

        Common case: from the latched address, no SRTP, the audio payload type of the
        known source, no CSRC/extension/padding, a receiving direction, a packet the
        jitter buffer takes as it is (`JitterBuffer.reserve`).  Its per-packet Python
        is the RFC 3550 A.1/A.8 state; the G.711 decoding and the ring writes are
        done for all such packets of the drain at once.  Anything else takes
        `receive_rtp()` (which applies every rule): the results are the same.
        """
        jb = self.jb
        mask = jb.mask
        # deferred packets by (round, length, codec): a stream's k-th packet of the drain is in
        # round k, and rounds are written in order, as put() would have written them
        pend: dict[tuple[int, int, Codec], list[tuple[int, int, bytes]]] = {}
        held: dict[int, list[tuple[int, int]]] = {}  # ring spans (pos, n) deferred per channel
        t_tick, samples, bmax = self.t_tick, self.samples, IDEAL_RESET_S * 8000.0
        t_now = self.t_now
        cursors = jb.cursor.tolist()  # read() moves them, not arrivals
        for st, data, addr, arrival in pkts:
            ch = st.row
            if st.srtp is not None or st.latched != addr or len(data) < 13 or not st.rx_on:
                self._slow(st, data, addr, arrival, pend, held, cursors)
                continue
            b0, b1, seq, ts, ssrc = _HDR.unpack_from(data)
            s = st.spec
            if b0 != 0x80 or (b1 & 0x7F) != s.payload_type or ssrc != st.remote_ssrc:
                self._slow(st, data, addr, arrival, pend, held, cursors)
                continue
            n = len(data) - 12
            spans = held.get(ch)
            if spans is not None:
                # a later packet of this stream in the same drain: deferred too unless it
                # touches one deferred before it (then put() must see that one written)
                p0 = jb.position(ch, ts)
                if any(((p0 - q) & mask) < m or ((q - p0) & mask) < n for q, m in spans):
                    self._slow(st, data, addr, arrival, pend, held, cursors)
                    continue
            elapsed = min(max((arrival - t_tick) * 8000.0, 0.0), bmax)
            pos = jb.reserve(ch, ts, n, bool(b1 & 0x80), elapsed, cursors[ch])
            if pos < 0:
                self._slow(st, data, addr, arrival, pend, held, cursors)
                continue
            c = st.counters
            c.rx_packets += 1
            st.last_rx = arrival
            src = st.source
            assert src is not None
            sq = src.seq
            d = (seq - sq.max_seq) & 0xFFFF
            if 0 < d < MAX_DROPOUT and not sq.probation:  # RFC 3550 A.1, the in-order case
                if seq < sq.max_seq:
                    sq.cycles += 0x10000
                sq.max_seq = seq
                sq.received += 1
            else:
                sq.update(seq)
            src.on_packet(ts, samples + int(elapsed))
            if st.cn_active:
                self._set_cn(st, False)
            if spans is None:
                held[ch] = [(pos, n)]
                rnd = 0
            else:
                rnd = len(spans)
                spans.append((pos, n))
            pend.setdefault((rnd, n, s.codec), []).append((ch, pos, data))
            if not seq & 3:
                st.latency.rtp_socket.add((t_now - arrival) * 1000.0)
                st.latency.rtp_jitter.add(jb.chans[ch].stats.depth / 8.0)  # type: ignore[union-attr]
                self._lat_sample(ch, jb.extend(ch, ts), arrival)
        if pend:
            self._flush(pend)

    def _slow(self, st: Stream, data: bytes, addr: Addr, arrival: float,
              pend: dict[tuple[int, int, Codec], list[tuple[int, int, bytes]]],
              held: dict[int, list[tuple[int, int]]], cursors: list[int]) -> None:
        if st.row in held:  # packets of this stream deferred before it go in first
            self._flush(pend)
            held.clear()
        self.receive_rtp(st, data, addr, arrival)
        cursors[st.row] = int(self.jb.cursor[st.row])  # a first packet or a resync moves it

    def _flush(self, pend: dict[tuple[int, int, Codec], list[tuple[int, int, bytes]]]) -> None:
        for (_r, n, codec), items in sorted(pend.items(), key=lambda kv: kv[0][0]):
            buf = np.frombuffer(b"".join([d for _, _, d in items]), dtype=np.uint8).reshape(len(items), n + 12)
            lin = (_ULAW if codec is Codec.PCMU else _ALAW).take(buf[:, 12:])
            chs = np.fromiter((i[0] for i in items), dtype=np.intp, count=len(items))
            pos = np.fromiter((i[1] for i in items), dtype=np.int64, count=len(items))
            self.jb.write_many(chs, pos, lin)
        pend.clear()

    def _event_in(self, st: Stream, ev: EventBegan | EventEnded) -> None:
        ch = st.row
        digit = event_to_digit(ev.event)
        if isinstance(ev, EventBegan):
            if digit is None:
                return
            self.gen.reset(ch)
            self.gen.play(ch, digit, on_ms=10_000.0, off_ms=0.0)  # stopped by the end event
            self._playing.add(ch)
            st.tone_digit = digit
            st.tone_started = self.samples
            st.tone_stop_at = None
            self.events.append({"event": "dtmf", "call_id": st.spec.call_id, "from": "sip",
                                "digit": digit, "phase": "start"})
        else:
            if st.tone_digit is None:
                return
            # at least 60 ms in-band, so that the PBX's receiver (Q.24: 40 ms) takes it
            st.tone_stop_at = max(self.samples, st.tone_started + 480)
            self.events.append({"event": "dtmf", "call_id": st.spec.call_id, "from": "sip",
                                "digit": st.tone_digit, "phase": "end",
                                "duration_ms": ev.duration / 8.0, "timed_out": ev.timed_out})

    @staticmethod
    def is_rtcp(data: bytes) -> bool:
        """RFC 5761 s4: on a multiplexed port, a second octet of 192-223 is RTCP (SR 200, RR 201,
        SDES 202, BYE 203, APP 204, feedback 205/206 ...), never RTP."""
        return len(data) >= 2 and 192 <= data[1] <= 223

    def receive_rtcp(self, st: Stream, data: bytes, addr: Addr, now: float) -> None:
        c = st.counters
        ok = st.latched_rtcp == addr or (
            st.latched_rtcp is None and st.send_addr is not None and addr[0] == st.send_addr[0])
        if not ok:
            c.rtcp_dropped += 1
            return
        if st.srtp is not None:
            try:
                data = st.srtp.unprotect_rtcp(data)
            except SrtpError:
                c.rtcp_dropped += 1
                return
        try:
            st.rtcp.receive(data, now)
        except RtcpError:
            c.rtcp_dropped += 1
            return
        st.latched_rtcp = addr
        c.rtcp_rx += 1
