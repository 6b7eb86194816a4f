"""RTP packets and per-stream sender/receiver state (RFC 3550, RFC 3551).

`decode(bytes) -> RtpPacket` and `encode(RtpPacket) -> bytes` are the pure
codec of the fixed header (RFC 3550 s5.1), CSRC list, header extension
(s5.3.1) and padding.  `RtpSender` holds the rules a sender keeps: a random
SSRC and random initial sequence number and timestamp (s5.1), the sequence
number incremented by one per packet, the timestamp advanced by the sampling
instants covered, and the marker bit on the first packet of a talkspurt
(RFC 3551 s4.1).  `SequenceState` is the receiver's source validation and
extended sequence number (RFC 3550 Appendix A.1), which `rtcp.ReceptionStats`
builds its loss and jitter on.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from enum import IntEnum

RTP_VERSION = 2
HEADER_LEN = 12
_HDR = struct.Struct("!BBHII")


class RtpError(ValueError):
    """A malformed RTP packet from the remote side (drop it and count it)."""


class PayloadType(IntEnum):
    """Static payload types used here (RFC 3551 Table 4)."""

    PCMU = 0
    CN = 13
    PCMA = 8


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet (RFC 3550 s5.1).

    `extension` is (profile-defined 16 bits, data) when the X bit is set; data
    is a multiple of 4 bytes.  `padding` is the count of padding octets (the
    P bit is set when it is non-zero).
    """

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: tuple[int, bytes] | None = None
    padding: int = 0


def decode(data: bytes) -> RtpPacket:
    """Parse one RTP packet; raise `RtpError` when it is not valid RTP (RFC 3550 A.1 checks)."""
    n = len(data)
    if n < HEADER_LEN:
        raise RtpError(f"RTP packet of {n} bytes, shorter than the 12-byte header")
    b0, b1, seq, ts, ssrc = _HDR.unpack_from(data)
    if b0 >> 6 != RTP_VERSION:
        raise RtpError(f"RTP version {b0 >> 6}, expected 2")
    cc = b0 & 0x0F
    off = HEADER_LEN + 4 * cc
    if off > n:
        raise RtpError(f"CSRC count {cc} runs past the {n}-byte packet")
    csrc = struct.unpack_from(f"!{cc}I", data, HEADER_LEN) if cc else ()
    ext: tuple[int, bytes] | None = None
    if b0 & 0x10:
        if off + 4 > n:
            raise RtpError("header extension runs past the packet")
        profile, words = struct.unpack_from("!HH", data, off)
        end = off + 4 + 4 * words
        if end > n:
            raise RtpError(f"header extension of {words} words runs past the packet")
        ext = (profile, bytes(data[off + 4 : end]))
        off = end
    pad = 0
    end = n
    if b0 & 0x20:
        pad = data[-1]
        if pad == 0 or off + pad > n:
            raise RtpError(f"padding count {pad} is invalid for a {n}-byte packet")
        end = n - pad
    return RtpPacket(
        payload_type=b1 & 0x7F,
        sequence=seq,
        timestamp=ts,
        ssrc=ssrc,
        payload=bytes(data[off:end]),
        marker=bool(b1 & 0x80),
        csrc=tuple(csrc),
        extension=ext,
        padding=pad,
    )


def encode(p: RtpPacket) -> bytes:
    """Serialise `p`; `decode(encode(p)) == p` for every valid packet."""
    if not 0 <= p.payload_type <= 127:
        raise ValueError(f"payload type {p.payload_type} outside 0..127")
    if len(p.csrc) > 15:
        raise ValueError("at most 15 CSRCs")
    if not 0 <= p.padding <= 255:
        raise ValueError("padding is 0..255 octets")
    b0 = (RTP_VERSION << 6) | len(p.csrc)
    if p.padding:
        b0 |= 0x20
    if p.extension is not None:
        b0 |= 0x10
    b1 = (0x80 if p.marker else 0) | p.payload_type
    out = [_HDR.pack(b0, b1, p.sequence & 0xFFFF, p.timestamp & 0xFFFFFFFF, p.ssrc & 0xFFFFFFFF)]
    if p.csrc:
        out.append(struct.pack(f"!{len(p.csrc)}I", *p.csrc))
    if p.extension is not None:
        profile, data = p.extension
        if len(data) % 4:
            raise ValueError("header extension data must be a multiple of 4 bytes")
        out.append(struct.pack("!HH", profile, len(data) // 4) + data)
    out.append(p.payload)
    if p.padding:
        out.append(bytes(p.padding - 1) + bytes([p.padding]))
    return b"".join(out)


def random_u32() -> int:
    """A random 32-bit value for SSRC and initial timestamp (RFC 3550 s5.1, s8)."""
    return int.from_bytes(os.urandom(4), "big")


class RtpSender:
    """Sender state of one RTP stream (RFC 3550 s5.1, RFC 3551 s4.1).

    `packet()` builds the next packet.  Audio advances the timestamp by the
    samples it carries; `skip(samples)` advances it for sampling instants not
    sent (silence suppression, DTMF events that carried the time instead).
    `talkspurt()` sets the marker on the next audio packet.  An RFC 4733
    event uses `event_packet()`: its timestamp is the event's start and its
    sequence numbers are the stream's own.
    """

    __slots__ = ("_first", "octets", "packets", "payload_type", "seq", "ssrc", "ts")

    def __init__(
        self,
        payload_type: int,
        *,
        ssrc: int | None = None,
        seq: int | None = None,
        ts: int | None = None,
    ) -> None:
        self.payload_type = payload_type
        self.ssrc = random_u32() if ssrc is None else ssrc
        self.seq = (random_u32() & 0xFFFF) if seq is None else seq & 0xFFFF
        self.ts = random_u32() if ts is None else ts & 0xFFFFFFFF
        self._first = True
        self.packets = 0
        self.octets = 0

    def talkspurt(self) -> None:
        """Mark the next audio packet as the first of a talkspurt (RFC 3551 s4.1)."""
        self._first = True

    def packet(self, payload: bytes, samples: int) -> bytes:
        """The next audio packet carrying `samples` sampling instants."""
        b1 = self.payload_type | (0x80 if self._first else 0)
        self._first = False
        data = _HDR.pack(0x80, b1, self.seq, self.ts, self.ssrc) + payload
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + samples) & 0xFFFFFFFF
        self.packets += 1
        self.octets += len(payload)
        return data

    def event_packet(self, payload_type: int, timestamp: int, payload: bytes, marker: bool) -> bytes:
        """A packet of another payload type (RFC 4733 events) sharing this stream's SSRC and sequence."""
        data = _HDR.pack(0x80, payload_type | (0x80 if marker else 0), self.seq, timestamp, self.ssrc) + payload
        self.seq = (self.seq + 1) & 0xFFFF
        self.packets += 1
        self.octets += len(payload)
        return data

    def skip(self, samples: int) -> None:
        """Advance the timestamp over `samples` instants that were not sent as audio."""
        self.ts = (self.ts + samples) & 0xFFFFFFFF


RTP_SEQ_MOD = 1 << 16
MAX_DROPOUT = 3000
MAX_MISORDER = 100
MIN_SEQUENTIAL = 2


class SeqVerdict(IntEnum):
    """What `SequenceState.update` made of a packet's sequence number."""

    OK = 0
    PROBATION = 1  # source not yet validated (A.1): hold judgement
    DUPLICATE_OR_LATE = 2  # within MAX_MISORDER behind: old or repeated
    BAD = 3  # a jump beyond MAX_DROPOUT: dropped unless the next one follows it


class SequenceState:
    """Source validation and extended sequence numbers (RFC 3550 Appendix A.1).

    The algorithm is the RFC's: a new source is valid after MIN_SEQUENTIAL
    packets in sequence; a jump of more than MAX_DROPOUT or a step back of
    more than MAX_MISORDER is a "bad" sequence number, and two in a row
    restart the source (the far end restarted).  `received` counts accepted
    packets; `extended_max` is cycles + max_seq.
    """

    __slots__ = ("bad_seq", "base_seq", "cycles", "max_seq", "probation", "received")

    def __init__(self, seq: int) -> None:
        self._init(seq)
        self.max_seq = seq - 1 if seq else RTP_SEQ_MOD - 1
        self.probation = MIN_SEQUENTIAL

    def _init(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = RTP_SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self.probation = 0

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        return self.extended_max - self.base_seq + 1

    def update(self, seq: int) -> SeqVerdict:
        """RFC 3550 A.1 `update_seq`, returning why a packet is refused."""
        udelta = (seq - self.max_seq) & 0xFFFF
        if self.probation:
            if seq == ((self.max_seq + 1) & 0xFFFF):
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init(seq)
                    self.received += 1
                    return SeqVerdict.OK
            else:
                self.probation = MIN_SEQUENTIAL - 1
                self.max_seq = seq
            return SeqVerdict.PROBATION
        if udelta < MAX_DROPOUT:
            if udelta == 0:
                self.received += 1  # A.1 counts duplicates too: loss may go negative
                return SeqVerdict.DUPLICATE_OR_LATE
            if seq < self.max_seq:
                self.cycles += RTP_SEQ_MOD
            self.max_seq = seq
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            if seq == self.bad_seq:
                self._init(seq)
            else:
                self.bad_seq = (seq + 1) & 0xFFFF
                return SeqVerdict.BAD
        else:
            # duplicate or reordered packet behind max_seq
            self.received += 1
            return SeqVerdict.DUPLICATE_OR_LATE
        self.received += 1
        return SeqVerdict.OK

    def extend(self, seq: int) -> int:
        """The extended sequence number of `seq` relative to the highest seen (handles wrap)."""
        d = ((seq - self.max_seq + 0x8000) & 0xFFFF) - 0x8000
        return self.extended_max + d
