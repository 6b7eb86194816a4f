"""RFC 4733 telephone-events: payload codec, sender and receiver rules.

Payload (RFC 4733 s2.3): event (8 bits), E (end), R (reserved, 0), volume
(6 bits, -dBm0), duration (16 bits, timestamp units).  A packet may carry
several 4-byte blocks (s2.5.1.5 redundancy / multiple events); `decode`
returns them all.

Sender (s2.5.1): the first packet of an event has the marker bit; every
packet of the event carries the event's start timestamp; each update carries
the duration from the start to the end of the packet interval; a duration
past 0xFFFF starts a new segment (s2.5.1.3) at timestamp + 0xFFFF without
marker; the end is sent three times with the E bit and the final duration
(s2.5.1.4), each with its own sequence number and the same timestamp.

Receiver (s2.5.2): an event is identified by its timestamp; a new timestamp
(or a marker) starts one, the E bit or a silence of `timeout` samples ends
it, and the repeated end packets and late updates are ignored.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass
from enum import IntEnum

from appliance.media.rtp import RtpSender

_EV = struct.Struct("!BBH")


class EventError(ValueError):
    """A malformed telephone-event payload from the remote side."""


class Event(IntEnum):
    """DTMF named events (RFC 4733 s3.2, Table 7)."""

    D0 = 0
    D1 = 1
    D2 = 2
    D3 = 3
    D4 = 4
    D5 = 5
    D6 = 6
    D7 = 7
    D8 = 8
    D9 = 9
    STAR = 10
    POUND = 11
    A = 12
    B = 13
    C = 14
    D = 15
    FLASH = 16


DIGITS = "0123456789*#ABCD"


def digit_to_event(d: str) -> int:
    i = DIGITS.find(d.upper())
    if i < 0 or len(d) != 1:
        raise ValueError(f"not a DTMF digit: {d!r}")
    return i


def event_to_digit(e: int) -> str | None:
    return DIGITS[e] if 0 <= e < 16 else None


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    event: int
    end: bool
    volume: int  # 0..63, power level as -dBm0
    duration: int  # timestamp units


def encode(ev: TelephoneEvent) -> bytes:
    if not (0 <= ev.event <= 255 and 0 <= ev.volume <= 63 and 0 <= ev.duration <= 0xFFFF):
        raise ValueError(f"telephone-event out of range: {ev}")
    return _EV.pack(ev.event, (0x80 if ev.end else 0) | ev.volume, ev.duration)


def decode(payload: bytes) -> tuple[TelephoneEvent, ...]:
    """All event blocks of one payload (RFC 4733 s2.3, s2.5.1.5)."""
    n = len(payload)
    if n == 0 or n % 4:
        raise EventError(f"telephone-event payload of {n} bytes, not a multiple of 4")
    out = []
    for off in range(0, n, 4):
        e, b, dur = _EV.unpack_from(payload, off)
        out.append(TelephoneEvent(e, bool(b & 0x80), b & 0x3F, dur))
    return tuple(out)


class EventSender:
    """Sends one event at a time on an RTP stream (RFC 4733 s2.5.1).

    `start(event, ts, volume)` begins at media timestamp `ts`.  Then, once per
    packet interval, `update(now_ts)` gives the update packet covering up to
    `now_ts`, and `stop(now_ts)` the three end packets.  The owner stops
    sending audio for the event's duration and keeps the audio timestamp
    advancing (`RtpSender.skip`), so audio resumes at the right time.
    """

    END_REPEATS = 3

    def __init__(self, rtp: RtpSender, payload_type: int) -> None:
        self.rtp = rtp
        self.payload_type = payload_type
        self.event: int | None = None
        self.volume = 10
        self.start_ts = 0
        self._first = False

    @property
    def active(self) -> bool:
        return self.event is not None

    def start(self, event: int, ts: int, volume: int = 10) -> None:
        self.event = event
        self.volume = volume
        self.start_ts = ts & 0xFFFFFFFF
        self._first = True

    def _dur(self, now_ts: int) -> int:
        return (now_ts - self.start_ts) & 0xFFFFFFFF

    def update(self, now_ts: int) -> list[bytes]:
        if self.event is None:
            return []
        out = []
        dur = self._dur(now_ts)
        if dur > 0xFFFF:
            # s2.5.1.3: close this segment at the maximum and begin the next one
            out.append(self._pkt(0xFFFF, end=False))
            self.start_ts = (self.start_ts + 0xFFFF) & 0xFFFFFFFF
            dur = self._dur(now_ts)
        out.append(self._pkt(dur, end=False))
        return out

    def stop(self, now_ts: int, duration: int | None = None) -> list[bytes]:
        """The three end packets; `duration` overrides the elapsed time when the
        source measured the event itself (an in-band detector reports the tone's length)."""
        if self.event is None:
            return []
        dur = min(self._dur(now_ts) if duration is None else duration, 0xFFFF)
        out = [self._pkt(dur, end=True) for _ in range(self.END_REPEATS)]
        self.event = None
        return out

    def _pkt(self, duration: int, end: bool) -> bytes:
        assert self.event is not None
        payload = encode(TelephoneEvent(self.event, end, self.volume, duration))
        marker = self._first
        self._first = False
        return self.rtp.event_packet(self.payload_type, self.start_ts, payload, marker)


@dataclass(frozen=True, slots=True)
class EventBegan:
    event: int
    timestamp: int
    volume: int


@dataclass(frozen=True, slots=True)
class EventEnded:
    event: int
    timestamp: int
    duration: int  # timestamp units
    timed_out: bool = False


ReceiverEvent = EventBegan | EventEnded


class EventReceiver:
    """Turns telephone-event packets into begin/end (RFC 4733 s2.5.2).

    `receive(pkt_ts, marker, payload, now_ts)` for each packet of the event
    payload type; `poll(now_ts)` ends an event whose end packets were all
    lost after `timeout` samples without an update.
    """

    def __init__(self, timeout: int = 8000 * 2 // 5) -> None:
        self.timeout = timeout
        self.current: int | None = None  # event code in progress
        self.current_ts: int | None = None
        self.duration = 0
        self._base = 0  # duration of the earlier segments of a long event (s2.5.1.3)
        self._last_update = 0
        self._ended_ts: deque[int] = deque(maxlen=16)  # bounded: only recent events repeat
        self.malformed = 0

    def receive(self, pkt_ts: int, marker: bool, payload: bytes, now_ts: int) -> list[ReceiverEvent]:
        try:
            blocks = decode(payload)
        except EventError:
            self.malformed += 1
            return []
        out: list[ReceiverEvent] = []
        ev = blocks[-1]  # the last block is the current event (s2.5.1.5)
        if pkt_ts in self._ended_ts:
            return out  # a repeated end packet or a late update of an ended event
        if self.current_ts != pkt_ts:
            if self.current is not None and self.current_ts is not None:
                if ev.event == self.current and not marker and pkt_ts == (self.current_ts + 0xFFFF) & 0xFFFFFFFF:
                    # s2.5.1.3: the next segment of a long event
                    self.current_ts = pkt_ts
                    self._base += 0xFFFF
                    self._update(ev, now_ts, out)
                    return out
                out.append(EventEnded(self.current, self.current_ts, self.duration))
                self._remember(self.current_ts)
            self.current = ev.event
            self.current_ts = pkt_ts
            self.duration = 0
            self._base = 0
            out.append(EventBegan(ev.event, pkt_ts, ev.volume))
        self._update(ev, now_ts, out)
        return out

    def _update(self, ev: TelephoneEvent, now_ts: int, out: list[ReceiverEvent]) -> None:
        assert self.current is not None and self.current_ts is not None
        self.duration = max(self.duration, self._base + ev.duration)
        self._last_update = now_ts
        if ev.end:
            self.duration = self._base + ev.duration  # the end packet's duration is the event's
            out.append(EventEnded(self.current, self.current_ts, self.duration))
            self._remember(self.current_ts)
            self.current = None
            self.current_ts = None

    def _remember(self, ts: int) -> None:
        self._ended_ts.append(ts)

    def poll(self, now_ts: int) -> list[ReceiverEvent]:
        if self.current is None or self.current_ts is None:
            return []
        if ((now_ts - self._last_update) & 0xFFFFFFFF) < self.timeout:
            return []
        ev = EventEnded(self.current, self.current_ts, self.duration, timed_out=True)
        self._remember(self.current_ts)
        self.current = None
        self.current_ts = None
        return [ev]
