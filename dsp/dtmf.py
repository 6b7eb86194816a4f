"""DTMF (ITU-T Q.23 frequencies) detection to Q.24 and generation, all channels of a span at once.

What: ``DtmfDetector(channels).process(block)`` returns ``DtmfEvent``s: a
digit's start (``end is None``) as soon as it is recognised, then its end,
each with absolute sample positions counted from the detector's start (or
``reset``).  ``dtmf_tone``/``dtmf_sequence`` make test and signalling
signals; ``DtmfGenerator`` plays digits into live channels block by block
(in-band DTMF toward the PBX, e.g. from RFC 4733 events).

Q.23: low group 697, 770, 852, 941 Hz; high group 1209, 1336, 1477, 1633 Hz;
digits 1 2 3 A / 4 5 6 B / 7 8 9 C / * 0 # D.

Q.24 acceptance (defaults: the North American values among the
administrations' values Q.24 lists, as Bellcore LSSGR gives them; all
configurable):

* frequency: each tone within 1.5 % is accepted, beyond 3.5 % rejected
  (the limit sits at ``freq_tolerance`` = 2.5 %);
* twist: the low group tone may be up to ``normal_twist_db`` (8 dB) above
  the high, the high up to ``reverse_twist_db`` (4 dB) above the low
  (must-accept limits; rejection starts 0.5 dB beyond, the level estimate's
  margin);
* level: each tone from ``max_level_dbm0`` (+1 dBm0) down to
  ``min_level_dbm0`` (-30 dBm0); Q.24's must-accept range is 0 to -25 dBm0;
* timing: tones of 40 ms or more are accepted, 25 ms or less rejected;
  pauses of 40 ms or more separate digits, interruptions of 10 ms or less
  are bridged;
* talk-off: the two tones must carry ``purity`` (60 %) of the power (so a
  digit at -10 dBm0 per tone over -13 dBm0 precise dial tone passes), no
  other tone of a group may come within 6 dB of the strongest, the second
  harmonic of each tone must be ``harmonic_db`` (-15 dB) or more below it
  (telephone sets keep distortion 20 dB down, Q.23), the two measured
  frequencies must not stand in a ratio of partials of one note (2, 3/2,
  4/3, 5/3; no digit within 1.5 % comes near them), and both halves of the
  analysis window must hold the tone.

How: every 5 ms (40 samples, on absolute positions) one matrix product gives
the DFT of that 5 ms at the 8 Q.23 frequencies and their second harmonics,
phase-referenced to absolute time, so the DFT of any 20 ms window is the
sum of four and its halves the sums of two.  The window's phase rotation
from one 5 ms step to the next measures each tone's frequency offset
(unambiguous to +/-100 Hz); the offset corrects the level for the window's
response and is checked against the tolerance.  A digit starts after
``min_frames`` (5) consecutive good windows and ends after ``end_frames``
(8) windows without it.  Features are computed for all channels and steps of
a block at once; only the small per-step state update is a loop over steps.
A pre-screen on the 8 Hann-windowed powers and the window energy (each
tone's largest possible level, and the purity with it) passes only the
channels that might hold a digit to the full analysis, so silent and most
speech channels cost one matrix product and a few comparisons.

Limits: 8 kHz linear input (int16 or float on the 16-bit scale), shaped
(channels, samples).  Start/end positions are accurate to about 5 ms.
Talk-off was tested on the speech- and music-like signals in
tests/dsp/signals.py, not on the Bellcore/Mitel talk-off tapes, which are
not available; music made of pure sine notes that happen to sit on two DTMF
frequencies is indistinguishable from DTMF and will be detected, as by any
Q.24 receiver.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Final

import numpy as np
import numpy.typing as npt

from dsp.blocks import as_block, matmul_rows
from dsp.levels import Law, dbm0_to_rms

__all__ = [
    "DIGITS",
    "HIGH_GROUP",
    "LOW_GROUP",
    "DtmfDetector",
    "DtmfEvent",
    "DtmfGenerator",
    "EventKind",
    "dtmf_sequence",
    "dtmf_tone",
]

SAMPLE_RATE: Final = 8000
LOW_GROUP: Final = (697, 770, 852, 941)
HIGH_GROUP: Final = (1209, 1336, 1477, 1633)
DIGITS: Final = "123A456B789C*0#D"  # row-major: DIGITS[4 * low + high]
SUB: Final = 40  # samples per 5 ms step
WINDOW_SUBS: Final = 4  # 20 ms analysis window
_N: Final = SUB * WINDOW_SUBS
_TWIST_MARGIN_DB: Final = 0.5
_EDGE: Final = SUB
# frequency ratios of partials of one harmonic sound, with half-widths that no
# digit within 1.5 % reaches (its ratios: 1.285 .. 1.918 and 2.119 .. 2.343)
_HARMONIC_RATIOS: Final = ((2.0, 0.01), (1.5, 0.008), (4 / 3, 0.005), (5 / 3, 0.005))
# columns 0..7: fundamentals, 8..15: their second harmonics (rectangular window);
# 16..47: the fundamentals again, weighted by quarter j = 0..3 of a 20 ms Hann window
_RECT_FREQS: Final = np.array(LOW_GROUP + HIGH_GROUP + tuple(2 * f for f in LOW_GROUP + HIGH_GROUP))
_FREQS: Final = np.concatenate([_RECT_FREQS, np.tile(_RECT_FREQS[:8], WINDOW_SUBS)])
_HANN: Final = np.sin(np.pi * (np.arange(_N) + 0.5) / _N) ** 2
_BASIS: Final = np.exp(-2j * np.pi * np.outer(np.arange(SUB), _FREQS) / SAMPLE_RATE)
for _j in range(WINDOW_SUBS):
    _BASIS[:, 16 + 8 * _j : 24 + 8 * _j] *= _HANN[SUB * _j : SUB * (_j + 1), None]
# real matrix, the real and imaginary parts of each column side by side, so the per-block
# product is one real BLAS call whose rows are the complex DFT values (viewed as complex128)
_BASIS_RI: Final = np.ascontiguousarray(np.stack([_BASIS.real, _BASIS.imag], axis=2).reshape(SUB, -1))
_GRID: Final = np.arange(-400.0, 400.5, 0.5)
_HANN_RESP: Final = np.abs(np.exp(2j * np.pi * np.outer(_GRID, np.arange(_N)) / SAMPLE_RATE) @ _HANN) / _HANN.sum()


def _digit_index(digit: str) -> tuple[int, int]:
    i = DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if i < 0:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return divmod(i, 4)


def dtmf_tone(
    digit: str,
    n: int,
    level_dbm0: float = -10.0,
    twist_db: float = 0.0,
    freq_error: float = 0.0,
    start: int = 0,
    law: Law = "ulaw",
) -> npt.NDArray[np.float64]:
    """n samples of one digit; `level_dbm0` is the low tone's, the high is `twist_db` above it.

    `freq_error` shifts both tones by that fraction (0.015 = +1.5 %); `start`
    is the absolute position of the first sample (continuous phase).
    """
    r, c = _digit_index(digit)
    t = (start + np.arange(n)) / SAMPLE_RATE
    a_low = dbm0_to_rms(level_dbm0, law) * math.sqrt(2)
    a_high = dbm0_to_rms(level_dbm0 + twist_db, law) * math.sqrt(2)
    f1 = LOW_GROUP[r] * (1 + freq_error)
    f2 = HIGH_GROUP[c] * (1 + freq_error)
    return np.asarray(a_low * np.sin(2 * np.pi * f1 * t) + a_high * np.sin(2 * np.pi * f2 * t))


def dtmf_sequence(
    digits: str,
    on_ms: float = 50.0,
    off_ms: float = 50.0,
    level_dbm0: float = -10.0,
    twist_db: float = 0.0,
    lead_ms: float = 0.0,
    law: Law = "ulaw",
) -> npt.NDArray[np.float64]:
    """Digits with set tone and pause durations (float, 16-bit scale), led by `lead_ms` of silence."""
    on = round(on_ms * SAMPLE_RATE / 1000)
    off = round(off_ms * SAMPLE_RATE / 1000)
    parts = [np.zeros(round(lead_ms * SAMPLE_RATE / 1000))]
    pos = len(parts[0])
    for d in digits:
        parts.append(dtmf_tone(d, on, level_dbm0, twist_db, start=pos, law=law))
        parts.append(np.zeros(off))
        pos += on + off
    return np.concatenate(parts)


class EventKind(Enum):
    START = "start"
    END = "end"


@dataclass(frozen=True, slots=True)
class DtmfEvent:
    """A digit's start (``end`` None) or end on ``channel``; positions in samples."""

    channel: int
    digit: str
    kind: EventKind
    start: int
    end: int | None = None
    level_dbm0: float = 0.0  # low tone level at detection

    @property
    def duration_ms(self) -> float | None:
        return None if self.end is None else (self.end - self.start) * 1000 / SAMPLE_RATE


class DtmfDetector:
    """Q.24 DTMF receiver for `channels` channels (see the module doc)."""

    def __init__(
        self,
        channels: int,
        *,
        freq_tolerance: float = 0.025,
        normal_twist_db: float = 8.0,
        reverse_twist_db: float = 4.0,
        min_level_dbm0: float = -30.0,
        max_level_dbm0: float = 1.0,
        purity: float = 0.6,
        harmonic_db: float = -15.0,
        dominance_db: float = 6.0,
        min_frames: int = 5,
        end_frames: int = 8,
        law: Law = "ulaw",
    ) -> None:
        if channels < 1:
            raise ValueError("DtmfDetector: channels >= 1")
        self.channels = channels
        self._tol = freq_tolerance
        # the limits are must-accept values: the level estimate gets 0.5 dB of margin
        self._normal = 10 ** ((normal_twist_db + _TWIST_MARGIN_DB) / 10)
        self._reverse = 10 ** ((reverse_twist_db + _TWIST_MARGIN_DB) / 10)
        ref = dbm0_to_rms(0.0, law) ** 2
        self._ref = ref
        self._pmin = ref * 10 ** (min_level_dbm0 / 10)
        self._pmax = ref * 10 ** (max_level_dbm0 / 10)
        self._purity = purity
        self._harm = 10 ** (harmonic_db / 10)
        self._dom = 10 ** (dominance_db / 10)
        self._min_frames = min_frames
        # smallest level correction inside the frequency tolerance (see _classify), less 1 %
        rmin = 0.99 * max(float(np.interp(freq_tolerance * HIGH_GROUP[-1], _GRID, _HANN_RESP)), 0.3)
        sw = float(_HANN.sum())
        self._screen_k = 2.0 / (sw * sw * rmin * rmin)
        self._end_frames = end_frames
        self.reset()

    def reset(self, channel: int | None = None) -> None:
        """Forget history and start counting positions at 0 (all channels), or clear one channel."""
        c = self.channels
        if channel is None:
            self._pos = 0  # absolute position of the next sample
            self._pending = np.zeros((c, 0))
            self._subs = np.zeros((c, WINDOW_SUBS - 1, len(_FREQS)), dtype=np.complex128)
            self._sube = np.zeros((c, WINDOW_SUBS - 1))
            self._prev_x = np.zeros((c, 8), dtype=np.complex128)
            self._cand = np.full(c, -1, dtype=np.int64)  # candidate digit being counted
            self._count = np.zeros(c, dtype=np.int64)
            self._cand_start = np.zeros(c, dtype=np.int64)
            self._cand_level = np.zeros(c)
            self._digit = np.full(c, -1, dtype=np.int64)  # digit in progress (reported)
            self._digit_start = np.zeros(c, dtype=np.int64)
            self._last_good = np.zeros(c, dtype=np.int64)  # end of the last good window
            self._gap = np.zeros(c, dtype=np.int64)
            return
        self._subs[channel] = 0
        self._sube[channel] = 0
        self._prev_x[channel] = 0
        self._cand[channel] = -1
        self._count[channel] = 0
        self._digit[channel] = -1
        self._gap[channel] = 0

    def cut(self, channel: int) -> DtmfEvent | None:
        """End the digit in progress on `channel` where its tone was last heard, as when the
        call is cleared or moved while the digit still sounds, and clear the channel; None if
        no digit was in progress.  Every start reported is so matched by an end."""
        d = int(self._digit[channel])
        ev = None
        if d >= 0:
            ev = DtmfEvent(channel, DIGITS[d], EventKind.END, int(self._digit_start[channel]),
                           int(self._last_good[channel]))
        self.reset(channel)
        return ev

    @property
    def candidates(self) -> npt.NDArray[np.bool_]:
        """Channels whose latest analysis window passed every check (a digit may be starting:
        not yet the `min_frames` Q.24 needs), or with a digit in progress.  A gateway can mute
        the tone toward the far end on this and un-mute if no digit is confirmed."""
        return np.asarray((self._cand >= 0) | (self._digit >= 0))

    @property
    def position(self) -> int:
        """Absolute position of the next sample to be processed."""
        return self._pos + self._pending.shape[1]

    def process(self, block: npt.NDArray[np.generic]) -> list[DtmfEvent]:
        """Feed (channels, samples); return the digit starts and ends recognised in it."""
        x = as_block(block, self.channels, "DtmfDetector.process")
        data = np.concatenate([self._pending, x], axis=1)
        h = data.shape[1] // SUB
        self._pending = data[:, h * SUB :]
        if h == 0:
            return []
        frames = data[:, : h * SUB].reshape(self.channels, h, SUB)
        p0 = self._pos
        self._pos += h * SUB
        # DFT of each 5 ms at absolute phase: S[c, m, f]
        starts = p0 + SUB * np.arange(h)
        phase = np.exp(-2j * np.pi * ((starts[:, None] * _FREQS[None, :]) % SAMPLE_RATE) / SAMPLE_RATE)
        ri = matmul_rows(frames.reshape(-1, SUB), _BASIS_RI)
        nf = len(_FREQS)
        s = ri.view(np.complex128).reshape(self.channels, h, nf) * phase[None, :, :]
        e = np.einsum("chs,chs->ch", frames, frames)
        allsub = np.concatenate([self._subs, s], axis=1)  # (c, 3 + h, F)
        alle = np.concatenate([self._sube, e], axis=1)
        self._subs = allsub[:, -(WINDOW_SUBS - 1) :]
        self._sube = alle[:, -(WINDOW_SUBS - 1) :]
        hann = sum(allsub[:, j : j + h, 16 + 8 * j : 24 + 8 * j] for j in range(WINDOW_SUBS))
        hann = np.asarray(hann)
        ce = np.concatenate([np.zeros((self.channels, 1)), np.cumsum(alle, axis=1)], axis=1)
        energy = ce[:, WINDOW_SUBS:] - ce[:, :-WINDOW_SUBS]
        prev = self._prev_x
        self._prev_x = hann[:, -1].copy()
        # pre-screen: the largest power each group's tone can be estimated at (the level
        # correction is at most 1 / rmin^2 inside the frequency tolerance); a window failing
        # the level or purity check even so cannot be a digit, so its channel skips the full
        # analysis (silence and most speech: exact, the screen only drops what _classify rejects)
        mag2 = hann.real**2 + hann.imag**2
        m_low = mag2[:, :, :4].max(axis=2) * self._screen_k
        m_high = mag2[:, :, 4:].max(axis=2) * self._screen_k
        maybe = (m_low >= self._pmin) & (m_high >= self._pmin) & (m_low + m_high >= self._purity * energy / _N)
        rows = np.flatnonzero(maybe.any(axis=1))
        digit = np.full((self.channels, h), -1, dtype=np.int64)
        level = np.zeros((self.channels, h))
        if len(rows):
            sub = allsub[rows, :, :16]
            cs = np.cumsum(sub, axis=1)
            cs = np.concatenate([np.zeros_like(cs[:, :1]), cs], axis=1)
            win = cs[:, WINDOW_SUBS:, :] - cs[:, :-WINDOW_SUBS, :]  # (rows, h, 16) 20 ms windows
            half_a = cs[:, 2 : 2 + h, :8] - cs[:, :h, :8]
            half_b = win[:, :, :8] - half_a
            digit[rows], level[rows] = self._classify(win, hann[rows], half_a, half_b, energy[rows], prev[rows])
        # absolute end of each window, less the 5 ms by which a window that is
        # three quarters tone still passes (so the reported edges are the tone's)
        ends = starts + SUB - _EDGE
        return self._update(digit, level, ends)

    def _classify(
        self,
        win: npt.NDArray[np.complex128],
        hann: npt.NDArray[np.complex128],
        half_a: npt.NDArray[np.complex128],
        half_b: npt.NDArray[np.complex128],
        energy: npt.NDArray[np.float64],
        prev_x: npt.NDArray[np.complex128],
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Digit index 0..15 or -1 per (channel, window), and the low tone level in dBm0.

        Levels, dominance, twist and frequency use the Hann-windowed DFT (low
        leakage between the groups); the harmonic and half-window checks use
        the rectangular one, whose halves add up to the whole.
        """
        c, h, _ = win.shape
        mag2 = hann.real**2 + hann.imag**2
        prev = np.concatenate([prev_x[:, None, :], hann[:, :-1]], axis=1)
        row = np.argmax(mag2[:, :, :4], axis=2)
        col = np.argmax(mag2[:, :, 4:], axis=2) + 4
        ci, hi = np.ogrid[:c, :h]
        sel = (ci[..., None], hi[..., None], np.stack([row, col], axis=2))  # (c, h, 2) picks
        m_best = mag2[sel]
        low_sorted = np.sort(mag2[:, :, :4], axis=2)
        high_sorted = np.sort(mag2[:, :, 4:], axis=2)
        dominant = (low_sorted[:, :, 2] * self._dom <= low_sorted[:, :, 3]) & (
            high_sorted[:, :, 2] * self._dom <= high_sorted[:, :, 3]
        )
        # frequency offset from the 5 ms rotation of each window
        offset_hz = np.angle(hann[sel] * np.conj(prev[sel])) / (2 * np.pi * SUB / SAMPLE_RATE)
        nominal = _RECT_FREQS[sel[2]]
        in_freq = (np.abs(offset_hz) <= self._tol * nominal).all(axis=2)
        # window response at the offset corrects the level
        resp = np.maximum(np.interp(offset_hz, _GRID, _HANN_RESP), 0.3)
        sw = _HANN.sum()
        tone_p = 2 * m_best / (sw * sw * resp * resp)  # power of each tone (A^2 / 2)
        total_p = energy / _N
        p_low, p_high = tone_p[:, :, 0], tone_p[:, :, 1]
        level_ok = (tone_p >= self._pmin).all(axis=2) & (tone_p <= self._pmax).all(axis=2)
        twist_ok = (p_low <= p_high * self._normal) & (p_high <= p_low * self._reverse)
        pure = (p_low + p_high) >= self._purity * total_p
        # second harmonics, rectangular window; the high tone leaks into the bin at twice
        # the low tone (1394 Hz is 58 Hz from 1336): allow for that known leakage
        fund = win[:, :, :8]
        r2 = fund.real**2 + fund.imag**2
        r_best = r2[sel]
        harm = win[:, :, 8:]
        h_best = (harm.real**2 + harm.imag**2)[sel]
        rect_resp = np.maximum(_kernel(offset_hz), 0.3)
        f_high = nominal[:, :, 1] + offset_hz[:, :, 1]
        leak = np.sqrt(r_best[:, :, 1]) * _kernel(f_high - 2 * nominal[:, :, 0]) / rect_resp[:, :, 1]
        allowed = np.sqrt(self._harm * r_best)
        allowed[:, :, 0] += leak
        harm_ok = (np.sqrt(h_best) <= allowed).all(axis=2)
        lim = 0.3 * np.sqrt(r_best)
        halves_ok = ((np.abs(half_a[sel]) >= lim) & (np.abs(half_b[sel]) >= lim)).all(axis=2)
        # two partials of one note: no valid pair (within 1.5 %) has a ratio near 2, 3/2, 4/3 or 5/3
        ratio = f_high / (nominal[:, :, 0] + offset_hz[:, :, 0])
        partials = np.zeros(ratio.shape, dtype=bool)
        for r, w in _HARMONIC_RATIOS:
            partials |= np.abs(ratio - r) <= w * r
        ok = dominant & in_freq & level_ok & twist_ok & pure & harm_ok & halves_ok & ~partials
        digit = np.where(ok, row * 4 + (col - 4), -1)
        with np.errstate(divide="ignore"):
            level = 10 * np.log10(np.maximum(p_low, 1e-30) / self._ref)
        return digit.astype(np.int64), level

    def _update(
        self, digit: npt.NDArray[np.int64], level: npt.NDArray[np.float64], ends: npt.NDArray[np.int64]
    ) -> list[DtmfEvent]:
        events: list[DtmfEvent] = []
        if (digit < 0).all() and (self._digit < 0).all():
            # nothing recognised and nothing in progress: only the counters clear
            self._count[:] = 0
            self._cand[:] = -1
            return events
        for k in range(digit.shape[1]):
            d = digit[:, k]
            end = int(ends[k])
            good = d >= 0
            same = good & (d == self._cand)
            fresh = good & ~same
            self._count = np.where(same, self._count + 1, np.where(fresh, 1, 0))
            self._cand_start = np.where(fresh, end - _N + 2 * _EDGE, self._cand_start)
            self._cand_level = np.where(fresh, level[:, k], self._cand_level)
            self._cand = np.where(good, d, np.where(self._count > 0, self._cand, -1))
            # continuing digit: a good window for it refreshes its end
            cont = (self._digit >= 0) & (d == self._digit)
            self._last_good = np.where(cont, end, self._last_good)
            self._gap = np.where(cont, 0, self._gap + 1)
            ended = (self._digit >= 0) & ((self._gap >= self._end_frames) | (good & ~cont & (self._count >= self._min_frames)))
            for ch in np.flatnonzero(ended):
                events.append(DtmfEvent(int(ch), DIGITS[self._digit[ch]], EventKind.END,
                                        int(self._digit_start[ch]), int(self._last_good[ch])))  # fmt: skip
            self._digit = np.where(ended, -1, self._digit)
            started = (self._digit < 0) & (self._count >= self._min_frames) & good
            for ch in np.flatnonzero(started):
                events.append(DtmfEvent(int(ch), DIGITS[d[ch]], EventKind.START,
                                        int(self._cand_start[ch]), None, float(self._cand_level[ch])))  # fmt: skip
            self._digit = np.where(started, d, self._digit)
            self._digit_start = np.where(started, self._cand_start, self._digit_start)
            self._last_good = np.where(started, end, self._last_good)
            self._gap = np.where(started, 0, self._gap)
        return events


class DtmfGenerator:
    """Plays digits into (channels, samples) blocks with continuous phase, per channel.

    ``play(channel, digits, on_ms, off_ms, level_dbm0, twist_db)`` queues
    digits of set duration; ``start(channel, digit)`` plays one digit until
    ``stop(channel)`` (RFC 4733 events, whose length is known only at their
    end); ``process(n)`` returns the next n samples (int16) of every
    channel, silence where nothing plays.  ``busy`` says which channels are
    still playing.
    """

    def __init__(self, channels: int, law: Law = "ulaw") -> None:
        if channels < 1:
            raise ValueError("DtmfGenerator: channels >= 1")
        self.channels = channels
        self._law: Law = law
        self._queue: list[list[npt.NDArray[np.float64]]] = [[] for _ in range(channels)]
        self._held: list[tuple[str, float, float, int] | None] = [None] * channels
        self._pos = 0

    def _channel(self, channel: int) -> None:
        if not 0 <= channel < self.channels:
            raise ValueError(f"DtmfGenerator: no channel {channel}")

    def start(self, channel: int, digit: str, level_dbm0: float = -10.0, twist_db: float = 2.0) -> None:
        """Play `digit` on `channel` from now until ``stop``; anything queued there is dropped."""
        self._channel(channel)
        _digit_index(digit)
        self._queue[channel] = []
        self._held[channel] = (digit, level_dbm0, twist_db, 0)

    def stop(self, channel: int) -> None:
        """End a digit begun with ``start`` (no effect otherwise)."""
        self._channel(channel)
        self._held[channel] = None

    def play(self, channel: int, digits: str, on_ms: float = 100.0, off_ms: float = 100.0,
             level_dbm0: float = -10.0, twist_db: float = 2.0) -> None:  # fmt: skip
        """Queue `digits` on `channel` (Q.23: 2 dB high-group pre-emphasis by default)."""
        self._channel(channel)
        for d in digits:
            _digit_index(d)
        self._queue[channel].append(dtmf_sequence(digits, on_ms, off_ms, level_dbm0, twist_db, law=self._law))

    def reset(self, channel: int | None = None) -> None:
        for ch in range(self.channels) if channel is None else (channel,):
            self._queue[ch] = []
            self._held[ch] = None

    @property
    def busy(self) -> npt.NDArray[np.bool_]:
        return np.array([bool(q) or h is not None for q, h in zip(self._queue, self._held, strict=True)])

    def process(self, n: int) -> npt.NDArray[np.int16]:
        out = np.zeros((self.channels, n))
        for ch, held in enumerate(self._held):
            if held is not None:
                digit, level, twist, pos = held
                out[ch] = dtmf_tone(digit, n, level, twist, start=pos, law=self._law)
                self._held[ch] = (digit, level, twist, pos + n)
        for ch, q in enumerate(self._queue):
            filled = 0
            while q and filled < n:
                take = min(n - filled, len(q[0]))
                out[ch, filled : filled + take] = q[0][:take]
                q[0] = q[0][take:]
                filled += take
                if len(q[0]) == 0:
                    q.pop(0)
        self._pos += n
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


def _kernel(offset_hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """|response| of the N-sample rectangular window DFT to a tone `offset_hz` from the bin."""
    d = np.pi * offset_hz / SAMPLE_RATE
    small = np.abs(d) < 1e-12
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.sin(d * _N) / (_N * np.sin(np.where(small, 1.0, d)))
    return np.asarray(np.abs(np.where(small, 1.0, r)), dtype=np.float64)
