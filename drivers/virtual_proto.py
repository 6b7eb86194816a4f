"""The virtual span's wire format and its sans-I/O cores (no sockets, no clocks).

D-channel (unix ``SOCK_SEQPACKET``): one message is one Q.921 frame, address
(2 octets) + control (1 or 2) + information (0..260), with no flags, FCS or
padding.  Other lengths are counted and dropped (:func:`drivers.span.check_frame`).

B-channels (UDP): each datagram is an 8-octet header and N frames::

    0       1       2               4                               8
    +-------+-------+---------------+-------------------------------+
    |version| flags | N (u16, BE)   | sequence (u32, BE)            |  frames...
    +-------+-------+---------------+-------------------------------+

``version`` is 1; ``flags`` is sent as 0 and ignored on receipt (reserved);
``sequence`` is the index of the packet's first frame (wrapping at 2**32).
Frames are frame-major: frame 0's timeslots, then frame 1's...; a frame has
24 octets on T1 (TS1-24) and 32 on E1 (TS0-31), one G.711 code each.
Timeslots that are not B-channels carry the idle code.

:class:`PlayoutBuffer` turns received packets into a steady frame stream:
a gap is filled with the idle code and counted as lost; a buffer overflow
(the far end's clock runs fast, or a burst arrives) drops one frame and an
underflow (it runs slow, or stalls) inserts one: each is a slip, counted
separately.  :class:`FrameClock` is the 8,000 frames/s clock, free-running
(internal timing) or steered by the playout buffer's fill (line timing).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .span import SAMPLE_RATE, SpanType

VERSION = 1
HEADER = struct.Struct("!BBHI")
HEADER_SIZE = HEADER.size  # 8
SEQ_MOD = 1 << 32
#: Largest N accepted: one second of frames.
MAX_FRAMES = SAMPLE_RATE

Frames = NDArray[np.uint8]  # (frames, timeslots)


class ProtocolError(ValueError):
    """A B-channel datagram that is not a valid packet (counted and dropped)."""


@dataclass(frozen=True)
class Packet:
    """One B-channel datagram."""

    sequence: int
    frames: Frames  # (N, timeslots) uint8, frame-major
    flags: int = 0

    def encode(self) -> bytes:
        n = self.frames.shape[0]
        return HEADER.pack(VERSION, self.flags & 0xFF, n, self.sequence % SEQ_MOD) + (
            np.ascontiguousarray(self.frames, dtype=np.uint8).tobytes())


def decode_packet(data: bytes, timeslots: int) -> Packet:
    """Parse a datagram for a span with ``timeslots`` per frame (24 or 32)."""
    if len(data) < HEADER_SIZE:
        raise ProtocolError(f"packet of {len(data)} octets: shorter than the 8-octet header")
    version, flags, n, seq = HEADER.unpack_from(data)
    if version != VERSION:
        raise ProtocolError(f"packet version {version}: expected {VERSION}")
    if not 1 <= n <= MAX_FRAMES:
        raise ProtocolError(f"packet frame count {n}: expected 1..{MAX_FRAMES}")
    if len(data) != HEADER_SIZE + n * timeslots:
        raise ProtocolError(f"packet of {len(data)} octets: {n} frames of {timeslots} timeslots "
                            f"need {HEADER_SIZE + n * timeslots}")
    frames = np.frombuffer(data, dtype=np.uint8, offset=HEADER_SIZE).reshape(n, timeslots)
    return Packet(seq, frames, flags)


class TimeslotMap:
    """Which frame columns are the span's B-channels, in ``bchannels`` order."""

    def __init__(self, span_type: SpanType, bchannels: tuple[int, ...], idle: int) -> None:
        self.timeslots = span_type.timeslots
        self.columns = np.array([ts - span_type.first_timeslot for ts in bchannels], dtype=np.intp)
        self.idle = idle

    def to_frames(self, block: NDArray[np.uint8]) -> Frames:
        """(channels, n) samples to (n, timeslots) frames, idle elsewhere."""
        frames = np.full((block.shape[1], self.timeslots), self.idle, dtype=np.uint8)
        frames[:, self.columns] = block.T
        return frames

    def from_frames(self, frames: Frames) -> NDArray[np.uint8]:
        """(n, timeslots) frames to (channels, n) samples."""
        return np.ascontiguousarray(frames[:, self.columns].T)


@dataclass
class PlayoutStats:
    packets: int = 0
    frames: int = 0
    lost_frames: int = 0
    late_frames: int = 0
    duplicate_frames: int = 0
    reordered_packets: int = 0
    overflow_slips: int = 0
    underflow_slips: int = 0
    resyncs: int = 0
    bad_packets: int = 0

    @property
    def slips(self) -> int:
        return self.overflow_slips + self.underflow_slips


class PlayoutBuffer:
    """Receive-side playout buffer for one direction of the B-channels.

    Frames are indexed by the sender's 32-bit sequence, unwrapped to a
    64-bit index around the play position.  ``pull(n)`` takes the next n
    frames to play.  Buffer ``target`` frames before starting (the playout
    delay, default 4 ms = 32 frames); keep at most ``high_water``.

    Rules (each counted in :class:`PlayoutStats`):

    * a frame whose slot comes up before it arrived is played as the idle
      code (``lost_frames``) if later frames have arrived; arriving after
      that it is dropped as ``late_frames``;
    * nothing buffered at all when a frame is due: an *underflow* slip; one
      idle frame is inserted and the buffer re-primes (plays idle until
      ``target`` frames are buffered again); a forward jump of up to
      ``max_gap`` frames on resume (a stalled sender that kept its clock) is
      counted as lost, so the playout delay stays where it was;
    * more than ``high_water`` frames buffered: an *overflow* slip, the
      oldest frame is dropped; a jump of more than ``resync_frames`` ahead
      (a restarted sender) re-anchors the buffer instead (``resyncs``);
    * a packet older than the newest one seen counts as reordered.
    """

    def __init__(self, timeslots: int, idle: int, target: int = 32, high_water: int | None = None,
                 resync_frames: int = SAMPLE_RATE // 4, max_gap: int = 10 * SAMPLE_RATE) -> None:
        self.timeslots = timeslots
        self.idle = idle
        self.target = max(1, target)
        self.high_water = high_water if high_water is not None else self.target * 2 + 16
        self.capacity = 1 << max(6, (self.high_water + resync_frames).bit_length())
        self.resync_frames = resync_frames
        self.max_gap = max_gap
        self._buf = np.full((self.capacity, timeslots), idle, dtype=np.uint8)
        self._have = np.zeros(self.capacity, dtype=bool)
        self.stats = PlayoutStats()
        self.play: int | None = None  # index of the next frame to play
        self.top = -1  # one past the newest frame received (64-bit index)
        self.priming = True

    def reset(self) -> None:
        self._have[:] = False
        self.play = None
        self.top = -1
        self.priming = True

    def _unwrap(self, seq: int) -> int:
        ref = self.top if self.top >= 0 else (self.play or 0)
        delta = (seq - ref) % SEQ_MOD
        if delta >= SEQ_MOD // 2:
            delta -= SEQ_MOD
        return ref + delta

    @property
    def depth(self) -> int:
        """Frames buffered from the play position to the newest frame."""
        if self.play is None:
            return 0
        return max(0, self.top - self.play)

    def push(self, packet: Packet) -> None:
        """Store a received packet's frames."""
        n = packet.frames.shape[0]
        self.stats.packets += 1
        if self.play is None:
            self.play = packet.sequence
            self.top = packet.sequence
            start = packet.sequence
        else:
            start = self._unwrap(packet.sequence)
        if self.priming and self.depth == 0 and 0 < start - self.play <= self.max_gap:
            # Resuming after an underflow (a stalled sender) with a jump: the frames
            # it skipped are lost, and playing resumes at once at the target delay.
            self.stats.lost_frames += start - self.play
            self.play = start
            self.top = max(self.top, start)
        elif start - max(self.top, self.play) > self.resync_frames or (
                start + n <= self.play - self.resync_frames) or start + n - self.play >= self.capacity:
            # A sender that restarted its sequence: start over from its stream.
            self.stats.resyncs += 1
            self._have[:] = False
            self.play = start
            self.top = start
            self.priming = True
        out_of_order = start < self.top
        stored = 0
        if not out_of_order and start >= self.play:  # the usual case: new frames, in order
            slots = (start + np.arange(n)) % self.capacity
            self._buf[slots] = packet.frames
            self._have[slots] = True
            self.top = start + n
            stored = n
            n = 0
        for i in range(n):
            k = start + i
            if k < self.play:
                self.stats.late_frames += 1
                continue
            slot = k % self.capacity
            if k < self.top and self._have[slot]:
                self.stats.duplicate_frames += 1
                continue
            self._buf[slot] = packet.frames[i]
            self._have[slot] = True
            stored += 1
            self.top = max(self.top, k + 1)
        self.stats.frames += stored
        if out_of_order and stored:
            self.stats.reordered_packets += 1
        while self.depth > self.high_water:
            slot = self.play % self.capacity
            if not self._have[slot]:
                self.stats.lost_frames += 1
            self._have[slot] = False
            self.play += 1
            self.stats.overflow_slips += 1
        if self.priming and self.depth >= self.target:
            self.priming = False

    def pull(self, n: int) -> Frames:
        """The next ``n`` frames to play (idle where none)."""
        out = np.full((n, self.timeslots), self.idle, dtype=np.uint8)
        i = 0
        while i < n and self.play is not None and not self.priming:
            if self.depth == 0:  # nothing buffered: insert idle, re-prime
                self.stats.underflow_slips += 1
                self.priming = True
                break
            m = min(n - i, self.depth)
            slots = (self.play + np.arange(m)) % self.capacity
            have = self._have[slots]
            out[i:i + m][have] = self._buf[slots[have]]
            self.stats.lost_frames += int(m - have.sum())  # gaps: played as idle
            self._have[slots] = False
            self.play += m
            i += m
        return out


class FrameClock:
    """The 8 kHz frame clock on injected time (seconds, monotonic).

    ``due(now)`` says how many frames have come due since the last call.
    Free-running it keeps exactly 8,000 frames/s; :meth:`steer` (line timing)
    nudges the rate by up to ``max_ppm`` so the playout buffer stays at its
    target depth: the clock follows the far end's.  If the caller falls more
    than ``max_lag`` seconds behind (a stalled process), the clock skips
    ahead instead of bursting; skipped frames are reported by ``skipped``.
    """

    def __init__(self, now: float, rate: float = SAMPLE_RATE, max_lag: float = 0.2,
                 max_ppm: float = 5000.0) -> None:
        self.nominal = rate
        self.rate = rate
        self.max_lag = max_lag
        self.max_ppm = max_ppm
        self._t0 = now
        self._emitted = 0.0
        self.frames = 0
        self.skipped = 0

    def due(self, now: float) -> int:
        total = self._emitted + (now - self._t0) * self.rate
        self._t0 = now
        n = int(total)
        self._emitted = total - n
        if n > self.max_lag * self.rate:
            self.skipped += n
            return 0
        self.frames += n
        return n

    def next_time(self, frames: int, now: float) -> float:
        """When ``frames`` more frames will be due."""
        return now + max(0.0, (frames - self._emitted) / self.rate)

    def steer(self, depth: int, target: int) -> None:
        """Line timing: speed up when the buffer fills, slow down when it drains."""
        err = (depth - target) / max(target, 1)
        ppm = max(-self.max_ppm, min(self.max_ppm, err * self.max_ppm))
        self.rate = self.nominal * (1 + ppm * 1e-6)
