"""RTCP sender and receiver reports with loss and jitter (RFC 3550 s6, A.3, A.8).

Pure codec: `decode_compound(bytes) -> list[RtcpPacket]`, `encode_compound()`
for SR (s6.4.1), RR (s6.4.2), SDES with CNAME (s6.5), BYE (s6.6); other
packet types are kept as `UnknownRtcp` so nothing is lost.  `ReceptionStats`
keeps one source's statistics: the loss of A.3 (cumulative and fraction
since the last report) on top of `rtp.SequenceState`, and the interarrival
jitter of A.8 in timestamp units.  `RtcpSession` is the sans-I/O report
scheduler of one stream: `get_timer()` / `handle_timer(now)` give the next
compound packet, using the s6.3.1 interval for a two-party session (5 s
minimum, randomised over [0.5, 1.5]).  Round-trip time comes from LSR/DLSR
(s6.4.1).
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from enum import IntEnum

from appliance.media.rtp import SequenceState

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01 (RFC 868)


class RtcpError(ValueError):
    """A malformed RTCP packet from the remote side."""


class RtcpType(IntEnum):
    SR = 200
    RR = 201
    SDES = 202
    BYE = 203
    APP = 204


class SdesItem(IntEnum):
    END = 0
    CNAME = 1
    NAME = 2
    EMAIL = 3
    PHONE = 4
    LOC = 5
    TOOL = 6
    NOTE = 7
    PRIV = 8


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One reception report block (RFC 3550 s6.4.1)."""

    ssrc: int
    fraction_lost: int  # 8-bit fixed point, lost/expected * 256
    cumulative_lost: int  # signed 24 bits
    highest_seq: int  # extended highest sequence number received
    jitter: int  # interarrival jitter, timestamp units
    lsr: int  # middle 32 bits of the last SR's NTP timestamp
    dlsr: int  # delay since that SR, 1/65536 s


@dataclass(frozen=True, slots=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int  # 64-bit NTP
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    ssrc: int
    reports: tuple[ReportBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceDescription:
    """SDES chunks: (ssrc, ((item type, text bytes), ...)) (RFC 3550 s6.5)."""

    chunks: tuple[tuple[int, tuple[tuple[int, bytes], ...]], ...]


@dataclass(frozen=True, slots=True)
class Goodbye:
    sources: tuple[int, ...]
    reason: bytes = b""


@dataclass(frozen=True, slots=True)
class UnknownRtcp:
    packet_type: int
    count: int
    body: bytes


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Goodbye | UnknownRtcp

_BLOCK = struct.Struct("!IIIIII")


def _decode_blocks(body: bytes, off: int, count: int) -> tuple[ReportBlock, ...]:
    if off + 24 * count > len(body):
        raise RtcpError(f"{count} report blocks run past the packet")
    out = []
    for i in range(count):
        ssrc, lost, hs, jit, lsr, dlsr = _BLOCK.unpack_from(body, off + 24 * i)
        cum = lost & 0xFFFFFF
        if cum & 0x800000:
            cum -= 1 << 24
        out.append(ReportBlock(ssrc, lost >> 24, cum, hs, jit, lsr, dlsr))
    return tuple(out)


def _encode_blocks(blocks: tuple[ReportBlock, ...]) -> bytes:
    return b"".join(
        _BLOCK.pack(
            b.ssrc,
            ((b.fraction_lost & 0xFF) << 24) | (b.cumulative_lost & 0xFFFFFF),
            b.highest_seq & 0xFFFFFFFF,
            b.jitter & 0xFFFFFFFF,
            b.lsr & 0xFFFFFFFF,
            b.dlsr & 0xFFFFFFFF,
        )
        for b in blocks
    )


def _decode_one(pt: int, count: int, body: bytes) -> RtcpPacket:
    if pt == RtcpType.SR:
        if len(body) < 24:
            raise RtcpError("SR shorter than its sender info")
        ssrc, ntp_hi, ntp_lo, rtp_ts, pc, oc = struct.unpack_from("!IIIIII", body)
        return SenderReport(ssrc, (ntp_hi << 32) | ntp_lo, rtp_ts, pc, oc, _decode_blocks(body, 24, count))
    if pt == RtcpType.RR:
        if len(body) < 4:
            raise RtcpError("RR without SSRC")
        return ReceiverReport(struct.unpack_from("!I", body)[0], _decode_blocks(body, 4, count))
    if pt == RtcpType.SDES:
        chunks = []
        off = 0
        for _ in range(count):
            if off + 4 > len(body):
                raise RtcpError("SDES chunk runs past the packet")
            ssrc = struct.unpack_from("!I", body, off)[0]
            off += 4
            items = []
            while True:
                if off >= len(body):
                    raise RtcpError("SDES chunk without END item")
                it = body[off]
                if it == SdesItem.END:
                    off = (off + 4) & ~3  # null item(s) up to the next 32-bit boundary
                    break
                if off + 2 > len(body) or off + 2 + body[off + 1] > len(body):
                    raise RtcpError("SDES item runs past the packet")
                ln = body[off + 1]
                items.append((it, bytes(body[off + 2 : off + 2 + ln])))
                off += 2 + ln
            chunks.append((ssrc, tuple(items)))
        return SourceDescription(tuple(chunks))
    if pt == RtcpType.BYE:
        if 4 * count > len(body):
            raise RtcpError("BYE sources run past the packet")
        srcs = struct.unpack_from(f"!{count}I", body) if count else ()
        reason = b""
        off = 4 * count
        if off < len(body):
            ln = body[off]
            if off + 1 + ln > len(body):
                raise RtcpError("BYE reason runs past the packet")
            reason = bytes(body[off + 1 : off + 1 + ln])
        return Goodbye(tuple(srcs), reason)
    return UnknownRtcp(pt, count, bytes(body))


def decode_compound(data: bytes) -> list[RtcpPacket]:
    """Split and parse a compound RTCP packet (RFC 3550 s6.1, A.2 validity checks)."""
    out: list[RtcpPacket] = []
    off = 0
    n = len(data)
    if n < 4:
        raise RtcpError(f"RTCP packet of {n} bytes")
    while off < n:
        if off + 4 > n:
            raise RtcpError("trailing bytes after the last RTCP packet")
        b0, pt, words = struct.unpack_from("!BBH", data, off)
        if b0 >> 6 != 2:
            raise RtcpError(f"RTCP version {b0 >> 6}, expected 2")
        end = off + 4 * (words + 1)
        if end > n:
            raise RtcpError(f"RTCP length {words} runs past the {n}-byte datagram")
        body = data[off + 4 : end]
        if b0 & 0x20:
            # A.2: only the last packet of a compound may be padded
            if end != n or not body or body[-1] == 0 or body[-1] > len(body):
                raise RtcpError("bad RTCP padding")
            body = body[: -body[-1]]
        if not out and pt not in (RtcpType.SR, RtcpType.RR):
            raise RtcpError(f"compound RTCP starts with type {pt}, not SR or RR")
        out.append(_decode_one(pt, b0 & 0x1F, body))
        off = end
    return out


def _frame(pt: int, count: int, body: bytes) -> bytes:
    if len(body) % 4:
        raise ValueError("RTCP body must be a multiple of 4 bytes")
    if count > 31:
        raise ValueError("RTCP count field is 5 bits")
    return struct.pack("!BBH", 0x80 | count, pt, len(body) // 4) + body


def encode(p: RtcpPacket) -> bytes:
    """Serialise one RTCP packet (no padding)."""
    if isinstance(p, SenderReport):
        body = struct.pack(
            "!IIIIII", p.ssrc, p.ntp_timestamp >> 32, p.ntp_timestamp & 0xFFFFFFFF,
            p.rtp_timestamp & 0xFFFFFFFF, p.packet_count & 0xFFFFFFFF, p.octet_count & 0xFFFFFFFF,
        ) + _encode_blocks(p.reports)
        return _frame(RtcpType.SR, len(p.reports), body)
    if isinstance(p, ReceiverReport):
        return _frame(RtcpType.RR, len(p.reports), struct.pack("!I", p.ssrc) + _encode_blocks(p.reports))
    if isinstance(p, SourceDescription):
        parts = []
        for ssrc, items in p.chunks:
            c = struct.pack("!I", ssrc) + b"".join(
                bytes([t, len(v)]) + v for t, v in items
            )
            c += bytes(4 - len(c) % 4)  # END item(s), to a 32-bit boundary
            parts.append(c)
        return _frame(RtcpType.SDES, len(p.chunks), b"".join(parts))
    if isinstance(p, Goodbye):
        body = struct.pack(f"!{len(p.sources)}I", *p.sources)
        if p.reason:
            r = bytes([len(p.reason)]) + p.reason
            body += r + bytes(-len(r) % 4)
        return _frame(RtcpType.BYE, len(p.sources), body)
    return _frame(p.packet_type, p.count, p.body)


def encode_compound(packets: list[RtcpPacket]) -> bytes:
    return b"".join(encode(p) for p in packets)


def ntp_from_unix(t: float) -> int:
    """64-bit NTP timestamp for a Unix time (RFC 3550 s4)."""
    sec = int(t)
    frac = int((t - sec) * (1 << 32)) & 0xFFFFFFFF
    return ((sec + NTP_EPOCH_OFFSET) & 0xFFFFFFFF) << 32 | frac


def ntp_middle(ntp: int) -> int:
    return (ntp >> 16) & 0xFFFFFFFF


class ReceptionStats:
    """One source's reception statistics (RFC 3550 A.1, A.3, A.8).

    `on_packet(seq, rtp_ts, arrival_ts)` takes the arrival time already in
    timestamp units (the span's sample count is the receiver's clock here).
    """

    __slots__ = ("_transit", "expected_prior", "jitter", "last_sr_at", "last_sr_ntp", "received_prior", "seq", "ssrc")

    def __init__(self, ssrc: int, first_seq: int) -> None:
        self.ssrc = ssrc
        self.seq = SequenceState(first_seq)
        self.expected_prior = 0
        self.received_prior = 0
        self.jitter = 0.0
        self._transit: int | None = None
        self.last_sr_ntp = 0
        self.last_sr_at: float | None = None

    def on_packet(self, rtp_ts: int, arrival_ts: int) -> None:
        """A.8: J += (|D(i-1,i)| - J) / 16, with transit = arrival - timestamp (mod 2^32)."""
        transit = (arrival_ts - rtp_ts) & 0xFFFFFFFF
        if self._transit is not None:
            d = ((transit - self._transit + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            self.jitter += (abs(d) - self.jitter) / 16.0
        self._transit = transit

    def on_sender_report(self, sr: SenderReport, now: float) -> None:
        self.last_sr_ntp = ntp_middle(sr.ntp_timestamp)
        self.last_sr_at = now

    @property
    def cumulative_lost(self) -> int:
        lost = self.seq.expected - self.seq.received
        return max(-0x800000, min(0x7FFFFF, lost))

    def report_block(self, now: float) -> ReportBlock:
        """A.3: fraction lost since the previous report, then advance the priors."""
        expected = self.seq.expected
        exp_int = expected - self.expected_prior
        self.expected_prior = expected
        rec_int = self.seq.received - self.received_prior
        self.received_prior = self.seq.received
        lost_int = exp_int - rec_int
        fraction = 0 if exp_int == 0 or lost_int <= 0 else (lost_int << 8) // exp_int
        dlsr = 0
        if self.last_sr_at is not None:
            dlsr = int((now - self.last_sr_at) * 65536) & 0xFFFFFFFF
        return ReportBlock(
            self.ssrc, min(fraction, 255), self.cumulative_lost,
            self.seq.extended_max & 0xFFFFFFFF, int(self.jitter), self.last_sr_ntp, dlsr,
        )


def round_trip(block: ReportBlock, arrival_ntp: int) -> float | None:
    """RTT in seconds from a report block about our stream (RFC 3550 s6.4.1, Figure 2)."""
    if block.lsr == 0:
        return None
    a = ntp_middle(arrival_ntp)
    rtt = (a - block.lsr - block.dlsr) & 0xFFFFFFFF
    if rtt > 0x80000000:
        return None
    return rtt / 65536.0


class RtcpSession:
    """Report scheduling for one RTP stream (RFC 3550 s6.2, s6.3).

    Sans-I/O: the owner feeds `sent(...)` counts via the sender it reads,
    `receive(data, now)` for incoming compound packets, and sends
    `handle_timer(now)`'s bytes when `get_timer()` is due.  With two members
    the s6.3.1 interval is the 5 s minimum (half of it for the first report),
    randomised by a factor in [0.5, 1.5].
    """

    MIN_INTERVAL = 5.0

    def __init__(self, ssrc: int, cname: bytes, now: float, rng: random.Random | None = None) -> None:
        self.ssrc = ssrc
        self.cname = cname
        self.rng = rng or random.Random()
        self.source: ReceptionStats | None = None
        self.packets_sent = 0
        self.octets_sent = 0
        self.rtp_ts_now = 0  # the sender's current RTP timestamp, set by the owner
        self.we_sent = False
        self.last_rtt: float | None = None
        self.remote_reports: list[ReportBlock] = []
        # added to `now` for NTP timestamps, which are wallclock (RFC 3550 s4, s6.4.1): an owner
        # whose `now` is time.monotonic() sets time.time() - time.monotonic()
        self.wall_offset = 0.0
        self._next = now + self.MIN_INTERVAL / 2 * self.rng.uniform(0.5, 1.5)

    def get_timer(self) -> float:
        return self._next

    def receive(self, data: bytes, now: float) -> list[RtcpPacket]:
        pkts = decode_compound(data)
        for p in pkts:
            if isinstance(p, SenderReport):
                if self.source is not None and p.ssrc == self.source.ssrc:
                    self.source.on_sender_report(p, now)
                self._own_blocks(p.reports, now)
            elif isinstance(p, ReceiverReport):
                self._own_blocks(p.reports, now)
        return pkts

    def _own_blocks(self, blocks: tuple[ReportBlock, ...], now: float) -> None:
        for b in blocks:
            if b.ssrc == self.ssrc:
                self.remote_reports = [*self.remote_reports[-7:], b]
                rtt = round_trip(b, ntp_from_unix(now + self.wall_offset))
                if rtt is not None:
                    self.last_rtt = rtt

    def report(self, now: float, bye: bool = False) -> bytes:
        """The compound packet to send now: SR or RR, SDES CNAME, and BYE at the end of the stream."""
        blocks = (self.source.report_block(now),) if self.source is not None else ()
        first: RtcpPacket
        if self.we_sent:
            first = SenderReport(self.ssrc, ntp_from_unix(now + self.wall_offset), self.rtp_ts_now,
                                 self.packets_sent, self.octets_sent, blocks)
        else:
            first = ReceiverReport(self.ssrc, blocks)
        pkts: list[RtcpPacket] = [first, SourceDescription(((self.ssrc, ((SdesItem.CNAME, self.cname),)),))]
        if bye:
            pkts.append(Goodbye((self.ssrc,)))
        return encode_compound(pkts)

    def handle_timer(self, now: float) -> bytes | None:
        if now < self._next:
            return None
        self._next = now + self.MIN_INTERVAL * self.rng.uniform(0.5, 1.5)
        return self.report(now)
