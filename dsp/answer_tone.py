"""2100 Hz answer tone detection for the echo canceller's tone disabler, all channels at once.

What: ``AnswerToneDetector(channels).process(block)`` returns, per channel,
the tone disabler state (``AnswerTone``):

* ``NONE``: no answer tone (or released after one).
* ``TONE``: 2100 Hz without phase reversals held for ``min_tone_ms`` - fax
  CED (T.30) or V.25 ANS / V.8 ANSam without reversals.  G.164's tone
  disabler (echo suppressors) operates on this, and G.168 lets it disable
  the non-linear processor; a G.165/G.168 echo canceller keeps running.
* ``TONE_PR``: 2100 Hz with 180 degree phase reversals every 450 ms (V.25
  ANS with phase reversals, V.8 ANSam with reversals), on which the tone
  disabler of G.165 and G.168 must disable the echo canceller.

Rules (the tone disabler clauses of G.164, G.165 and G.168; V.25, V.8):

* The tone is 2100 +/- 15 Hz (V.25); the disabler must detect 2100 +/- 21 Hz
  (G.165).  ``freq_tolerance_hz`` (default 25) is the acceptance limit of the
  frequency estimate, so +/-21 Hz always passes and +/-35 Hz never does.
* Level: detects from 0 to -31 dBm0 (G.165); ``min_level_dbm0`` (default
  -34) is the threshold between that and the -36 dBm0 that must not operate.
* Phase reversals are 180 +/- 25 degrees every 450 +/- 25 ms.  A reversal
  counts when the tone's phase, less its own frequency offset, jumps by more
  than ``reversal_threshold_deg`` (default 110) within 20 ms.  ``TONE_PR``
  is declared on a reversal 400-500 ms after the previous one, or the first
  reversal 350-550 ms after the tone began.
* Release (G.164 / G.165 tone disabler release): once disabled, the state holds while
  any signal above ``release_dbm0`` (default -36 dBm0, the holding band
  threshold less margin) is present - the modem's data keeps the canceller
  off - and drops to ``NONE`` after ``release_ms`` (default 250 ms, G.164's
  250 +/- 150 ms) below it.
* Speech must not operate it: the tone must carry at least ``purity`` (0.7)
  of the channel's power in the +/-80 Hz band around 2100 Hz for
  ``min_tone_ms`` (default 250 ms, G.164's operate time 300 +/- 100 ms less
  the filter delay).

How: each channel is mixed down by 2100 Hz and low-pass filtered (2nd-order
Butterworth at 80 Hz, ``scipy.signal.lfilter`` over all channels), giving
the tone's complex envelope; the total power is a 10 ms one-pole average of
x^2.  Every 10 ms (80 samples, on absolute sample positions, so any block
length gives the same result) the envelope is checked for power, purity and
frequency (the phase step between 10 ms points), and for a phase jump over
20 ms against the tracked rotation.  The per-step decision runs over the
channels as arrays; only the two 10 ms steps of a block are a Python loop.
``process_rows`` feeds only some channels (the echo canceller's gate: the
calls with a 2100 Hz component lately, and those the detector is following,
``busy``); a channel that comes back after blocks it was not fed starts from
rest, as a tone rising from silence would, and ``skip`` keeps the sample
position of blocks no channel was fed.

Limits: 8 kHz linear input on the 16-bit scale (int16 or float), shaped
(channels, samples).  dBm0 uses the mu-law reference by default
(``law="alaw"`` changes it by 0.07 dB).  ANSam's 15 Hz AM (V.8)
is tolerated, not reported separately (V.8).  The 2225 Hz Bell answer tone is not
detected.  Reversal timing has 10 ms resolution.
"""

from __future__ import annotations

import math
from enum import IntEnum
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.signal import butter, lfilter, lfilter_zi

from dsp.blocks import as_block
from dsp.levels import Law, dbm0_to_rms

__all__ = ["AnswerTone", "AnswerToneDetector", "answer_tone"]

SAMPLE_RATE: Final = 8000
TONE_HZ: Final = 2100.0
STEP: Final = 80  # samples per decision step (10 ms)
_MS: Final = SAMPLE_RATE / 1000 / STEP  # steps per ms
REVERSAL_PERIOD_S: Final = 0.45


class AnswerTone(IntEnum):
    """Tone disabler state of one channel."""

    NONE = 0
    TONE = 1
    TONE_PR = 2


_NONE, _TONE, _TONE_PR = int(AnswerTone.NONE), int(AnswerTone.TONE), int(AnswerTone.TONE_PR)
# the per-channel state (the first axis of each is the channel): what process_rows gathers
_ROW_STATE: Final = ("_zi", "_pzi", "_state", "_prev", "_prev2", "_rot", "_run", "_miss",
                     "_since_rev", "_quiet", "_reversals")


def answer_tone(
    n: int,
    level_dbm0: float = -12.0,
    reversals: bool = True,
    am: bool = False,
    freq: float = TONE_HZ,
    reversal_period_s: float = REVERSAL_PERIOD_S,
    start_phase: float = 0.0,
    law: Law = "ulaw",
) -> npt.NDArray[np.float64]:
    """n samples of an answer tone: CED/ANS (no reversals), ANS (V.25) or ANSam (V.8, am=True).

    ANSam's envelope is 1 + 0.2 sin(2 pi 15 t) (V.8), scaled so the
    mean power is ``level_dbm0``.
    """
    t = np.arange(n) / SAMPLE_RATE
    phase = 2 * np.pi * freq * t + start_phase
    if reversals:
        phase = phase + np.pi * np.floor(t / reversal_period_s)
    amp = dbm0_to_rms(level_dbm0, law) * math.sqrt(2)
    x = np.sin(phase)
    if am:
        x = x * (1 + 0.2 * np.sin(2 * np.pi * 15 * t)) / math.sqrt(1 + 0.02)
    return np.asarray(amp * x, dtype=np.float64)


class AnswerToneDetector:
    """Per-channel 2100 Hz CED / ANS-with-phase-reversal detector (see the module doc)."""

    def __init__(
        self,
        channels: int,
        *,
        freq_tolerance_hz: float = 25.0,
        min_level_dbm0: float = -34.0,
        release_dbm0: float = -36.0,
        release_ms: float = 250.0,
        min_tone_ms: float = 250.0,
        purity: float = 0.7,
        reversal_threshold_deg: float = 110.0,
        law: Law = "ulaw",
    ) -> None:
        if channels < 1:
            raise ValueError("AnswerToneDetector: channels >= 1")
        self.channels = channels
        self._max_rot = 2 * math.pi * freq_tolerance_hz * STEP / SAMPLE_RATE
        ref = dbm0_to_rms(0.0, law) ** 2
        # tone power = 2|z|^2; thresholds on |z|^2 and on the x^2 average
        self._min_z2 = ref * 10 ** (min_level_dbm0 / 10) / 2
        self._release_p = ref * 10 ** (release_dbm0 / 10)
        self._release_steps = max(1, round(release_ms * SAMPLE_RATE / 1000 / STEP))
        self._min_tone_steps = max(1, round(min_tone_ms * SAMPLE_RATE / 1000 / STEP))
        self._purity = purity
        self._rev_cos = math.cos(math.radians(reversal_threshold_deg))
        period = REVERSAL_PERIOD_S * SAMPLE_RATE / STEP  # 90 steps
        self._rev_gap = (round(period - 50 * 8 / STEP), round(period + 50 * 8 / STEP))  # 400..500 ms
        self._first_gap = (round(period - 100 * 8 / STEP), round(period + 100 * 8 / STEP))
        self._b, self._a = butter(2, 80.0 / (SAMPLE_RATE / 2))
        self._zi_unit = lfilter_zi(self._b, self._a)
        pole = math.exp(-1.0 / (0.010 * SAMPLE_RATE))
        self._pb = np.array([1.0 - pole])
        self._pa = np.array([1.0, -pole])
        self._pos = 0
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self, channel: int | npt.NDArray[np.bool_] | None = None) -> None:
        """Back to NONE with no history, for one channel, a mask of them or all (e.g. at call
        set-up)."""
        c = self.channels
        if channel is None:
            self._zi = np.zeros((c, len(self._zi_unit)), dtype=np.complex128)
            self._pzi = np.zeros((c, 1))
            self._state = np.zeros(c, dtype=np.int8)
            self._prev = np.zeros(c, dtype=np.complex128)  # envelope 1 and 2 steps back
            self._prev2 = np.zeros(c, dtype=np.complex128)
            self._rot = np.ones(c, dtype=np.complex128)  # tracked per-step rotation
            self._run = np.zeros(c, dtype=np.int64)  # steps of qualified tone (bridged)
            self._miss = np.zeros(c, dtype=np.int64)
            self._since_rev = np.full(c, -1, dtype=np.int64)  # steps since last reversal
            self._quiet = np.zeros(c, dtype=np.int64)
            self._reversals = np.zeros(c, dtype=np.int64)
            return
        for arr, v in (
            (self._zi, 0), (self._pzi, 0), (self._state, 0), (self._prev, 0),
            (self._prev2, 0), (self._rot, 1), (self._run, 0), (self._miss, 0),
            (self._since_rev, -1), (self._quiet, 0), (self._reversals, 0),
        ):  # fmt: skip
            arr[channel] = v

    @property
    def state(self) -> npt.NDArray[np.int8]:
        """Current AnswerTone value of each channel (a copy)."""
        return self._state.copy()

    @property
    def busy(self) -> npt.NDArray[np.bool_]:
        """Channels the detector is following: in a tone state, or a tone run under way."""
        return (self._state != _NONE) | (self._run > 0)  # type: ignore[no-any-return]

    @property
    def reversals(self) -> npt.NDArray[np.int64]:
        """Phase reversals counted in the current tone, per channel."""
        return self._reversals.copy()

    # ---------------------------------------------------------------- process
    def process(self, block: npt.NDArray[np.generic]) -> npt.NDArray[np.int8]:
        """Feed (channels, samples) of linear audio; return the AnswerTone state per channel."""
        xf = as_block(block, self.channels, "AnswerToneDetector.process")
        n = xf.shape[1]
        if n == 0:
            return self._state.copy()
        k = self._pos + np.arange(n)
        # the mixer phase is taken modulo one period of 2100/8000 = 21/80
        osc = np.exp(-2j * np.pi * ((k * 21) % 80) / 80)
        z, self._zi = lfilter(self._b, self._a, xf * osc, axis=1, zi=self._zi)
        p, self._pzi = lfilter(self._pb, self._pa, xf * xf, axis=1, zi=self._pzi)
        first = (-self._pos - 1) % STEP  # index of the first sample ending a 10 ms step
        self._pos += n
        idx = np.arange(first, n, STEP)
        if len(idx) == 0:
            return self._state.copy()
        zs = z[:, idx]
        z2 = zs.real * zs.real + zs.imag * zs.imag
        weak = (z2 < self._min_z2) | (2 * z2 < self._purity * p[:, idx])
        if weak.all() and not self._state.any() and not self._run.any():
            # no tone anywhere and nothing to hold: keep only the history the next step needs
            self._prev2 = zs[:, -2].copy() if len(idx) > 1 else self._prev
            self._prev = zs[:, -1].copy()
            self._quiet = np.where(p[:, idx[-1]] < self._release_p, self._quiet + len(idx), 0)
            return self._state.copy()
        for i in idx:
            self._step(z[:, i], p[:, i])
        return self._state.copy()

    def process_rows(self, rows: npt.NDArray[np.intp], block: npt.NDArray[np.generic]) -> npt.NDArray[np.int8]:
        """``process`` for the channels ``rows`` only (sorted, distinct), ``block`` being
        (len(rows), samples); the other channels keep their state.  Returns every channel's
        state."""
        if rows.ndim != 1 or len(rows) == 0 or rows[0] < 0 or rows[-1] >= self.channels:
            raise ValueError(f"AnswerToneDetector.process_rows: rows must be a non-empty 1-d array "
                             f"of channels in 0..{self.channels - 1}")
        full = {name: getattr(self, name) for name in _ROW_STATE}
        channels = self.channels
        try:
            for name, arr in full.items():
                setattr(self, name, arr[rows])
            self.channels = len(rows)
            self.process(block)
            for name, arr in full.items():
                arr[rows] = getattr(self, name)
        finally:
            for name, arr in full.items():
                setattr(self, name, arr)
            self.channels = channels
        return self._state.copy()

    def skip(self, n: int) -> None:
        """``n`` samples no channel was fed (``process_rows`` was not called)."""
        self._pos += n

    def _step(self, zk: npt.NDArray[np.complex128], pk: npt.NDArray[np.float64]) -> None:
        z2 = zk.real * zk.real + zk.imag * zk.imag
        d1 = zk * np.conj(self._prev)
        d2 = zk * np.conj(self._prev2)
        rot1 = _unit(d1)
        strong = (z2 >= self._min_z2) & (2 * z2 >= self._purity * pk)
        in_freq = np.abs(np.angle(rot1)) <= self._max_rot
        qualified = strong & in_freq

        # phase jump over 10 ms beyond the tone's own rotation (two steps of it)
        expect = self._rot * self._rot
        cosdev = _unit(d2 * np.conj(expect)).real
        was_tone = self._run >= round(100 * _MS)  # 100 ms of tone before a reversal counts
        recent = (self._since_rev >= 0) & (self._since_rev < round(100 * _MS))
        rev = was_tone & ~recent & (cosdev < self._rev_cos) & (z2 >= self._min_z2)

        # track the rotation only on clean steps
        clean = qualified & ~rev & ~recent
        self._rot = np.where(clean, 0.8 * self._rot + 0.2 * rot1, self._rot)
        self._rot = _unit(self._rot)

        # tone run with a bridge of 20 ms over reversal transients
        self._miss = np.where(qualified, 0, self._miss + 1)
        alive = (self._miss <= round(20 * _MS)) & (self._run > 0) | qualified
        self._run = np.where(alive, self._run + 1, 0)

        gap = np.where(self._since_rev >= 0, self._since_rev, self._run)
        lo, hi = np.where(self._since_rev >= 0, self._rev_gap[0], self._first_gap[0]), np.where(
            self._since_rev >= 0, self._rev_gap[1], self._first_gap[1]
        )
        periodic = rev & (gap >= lo) & (gap <= hi)
        self._reversals = np.where(alive, self._reversals + rev, 0)
        self._since_rev = np.where(rev, 0, np.where(self._since_rev >= 0, self._since_rev + 1, -1))
        self._since_rev = np.where(alive, self._since_rev, -1)
        # a reversal interval far beyond 500 ms ends the periodicity
        self._since_rev = np.where(self._since_rev > self._rev_gap[1] + round(200 * _MS), -1, self._since_rev)

        state = self._state
        tone_on = self._run >= self._min_tone_steps
        new = np.where(periodic & alive, _TONE_PR, state)
        new = np.where((new == _NONE) & tone_on, _TONE, new)
        # release: the disabler holds on any signal, drops after release_ms below release_dbm0
        quiet = pk < self._release_p
        self._quiet = np.where(quiet, self._quiet + 1, 0)
        released = (new != _NONE) & (self._quiet >= self._release_steps)
        new = np.where(released, _NONE, new)
        self._state = new.astype(np.int8)
        self._prev2 = self._prev
        self._prev = zk.copy()


def _unit(z: npt.NDArray[np.complex128]) -> npt.NDArray[np.complex128]:
    """z / |z|, and 1 where |z| is (nearly) zero."""
    mag = np.abs(z)
    ok = mag > 1e-9
    return np.where(ok, z / np.where(ok, mag, 1.0), 1.0 + 0j)
