"""Signal levels over (channels, samples): dBm0, saturating gain, active speech level.

What:

* ``dbm0(x, law)`` and ``dbov(x)``: mean power of each channel of a block.
* ``apply_gain(x, gain_db)``: gain per channel with saturation to int16.
* ``PowerMeter``: an exponentially smoothed power per channel, read in dBm0
  after each block (a level meter for alarms and displays).
* ``ActiveSpeechLevel``: the active speech level and activity factor per
  channel, ITU-T P.56 (12/2011) method B, run block by block.  This is the
  voice-activity level for call metrics: it ignores pauses, so a talker's
  level does not sag with silence, and its activity factor says how much of
  the call was speech.

How: 0 dBm0 follows G.711: the 16-bit RMS of a 0 dBm0 sine is
``dsp.g711.DBM0_RMS_ULAW`` (16,020.7; peak 4 x 8159 is +3.17 dBm0) or
``DBM0_RMS_ALAW`` (16,141.2; peak 8 x 4096 is +3.14 dBm0).  The two differ by
0.066 dB; the default law is mu-law.  dBov is relative to a full-scale
square wave (RMS 32,768), so a full-scale sine is -3.01 dBov.

P.56 method B: the rectified signal is smoothed twice with a 30 ms time
constant (``lfilter`` over all channels at once), a sample is active at
threshold c_j (c_j = 2^j, j = 0..15, 6.02 dB apart) when the envelope is at
or above c_j or was so less than 200 ms (hangover) ago.  The active level is
the power over active samples at the threshold where that power is 15.9 dB
(margin M) above the threshold, interpolated between thresholds (P.56
Annex B).

Limits: input int16 or floating point on the 16-bit scale, shaped
(channels, samples) (1-D is one channel); 8 kHz sampling for the time
constants.  Silence reads ``floor_db`` (default -100 dB) rather than -inf.
"""

from __future__ import annotations

import math
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
from scipy.ndimage import maximum_filter1d
from scipy.signal import lfilter

from dsp.blocks import as_block
from dsp.g711 import DBM0_RMS_ALAW, DBM0_RMS_ULAW

__all__ = [
    "FLOOR_DB",
    "ActiveSpeechLevel",
    "Law",
    "PowerMeter",
    "apply_gain",
    "db_to_gain",
    "dbm0",
    "dbm0_to_rms",
    "dbov",
]

Law = Literal["ulaw", "alaw"]
FloatArray = npt.NDArray[np.float64]
FLOOR_DB: Final = -100.0
SAMPLE_RATE: Final = 8000
_FULL_SCALE: Final = 32768.0


def _reference(law: Law) -> float:
    if law == "ulaw":
        return DBM0_RMS_ULAW
    if law == "alaw":
        return DBM0_RMS_ALAW
    raise ValueError(f"law must be 'ulaw' or 'alaw', got {law!r}")


def _power_db(power: FloatArray, ref_rms: float, floor_db: float) -> FloatArray:
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(power / (ref_rms * ref_rms))
    return np.maximum(db, floor_db)


def _mean_power(x: npt.NDArray[np.generic]) -> FloatArray:
    v = as_block(x, None, "levels")
    if v.shape[1] == 0:
        return np.zeros(v.shape[0])
    power: FloatArray = np.einsum("cs,cs->c", v, v) / v.shape[1]
    return power


def dbm0(x: npt.NDArray[np.generic], law: Law = "ulaw", floor_db: float = FLOOR_DB) -> FloatArray:
    """Mean power of each channel in dBm0 (G.711 reference), shape (channels,)."""
    return _power_db(_mean_power(x), _reference(law), floor_db)


def dbov(x: npt.NDArray[np.generic], floor_db: float = FLOOR_DB) -> FloatArray:
    """Mean power of each channel in dB below a full-scale square wave, shape (channels,)."""
    return _power_db(_mean_power(x), _FULL_SCALE, floor_db)


def dbm0_to_rms(level_dbm0: float, law: Law = "ulaw") -> float:
    """RMS on the 16-bit scale of a signal at `level_dbm0` (a sine has peak RMS x sqrt 2)."""
    return float(_reference(law) * 10.0 ** (level_dbm0 / 20.0))


def db_to_gain(gain_db: float | npt.ArrayLike) -> FloatArray:
    """Linear amplitude factor(s) for gain(s) in dB."""
    return np.asarray(10.0 ** (np.asarray(gain_db, dtype=np.float64) / 20.0))


def apply_gain(
    x: npt.NDArray[np.int16],
    gain_db: float | npt.ArrayLike,
    out: npt.NDArray[np.int16] | None = None,
) -> npt.NDArray[np.int16]:
    """Multiply int16 (channels, samples) by a gain in dB (scalar or per channel), round, saturate.

    Saturation clips at -32768..32767 instead of wrapping, the way a codec
    overloads (G.711 Tables 1 and 2: values beyond the top decision value code to
    the top level).
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.int16:
        raise TypeError("apply_gain: expected an int16 ndarray")
    g = db_to_gain(gain_db)
    if g.ndim == 1 and x.ndim >= 1:
        if g.shape[0] != x.shape[0]:
            raise ValueError(f"apply_gain: {g.shape[0]} gains for {x.shape[0]} channels")
        g = g.reshape((-1,) + (1,) * (x.ndim - 1))
    elif g.ndim > 1:
        raise ValueError("apply_gain: gain must be a scalar or one per channel")
    y = np.rint(x * g)
    np.clip(y, -32768, 32767, out=y)
    if out is None:
        return y.astype(np.int16)
    out[...] = y
    return out


class PowerMeter:
    """Smoothed power per channel: p += (x^2 - p) / tau_samples, read after each block.

    The update runs per sample through ``lfilter`` over all channels, so the
    reading after a block equals a sample-by-sample meter's.
    """

    def __init__(self, channels: int, tau_ms: float = 20.0, law: Law = "ulaw") -> None:
        if channels < 1 or tau_ms <= 0:
            raise ValueError("PowerMeter: channels >= 1 and tau_ms > 0")
        self.channels = channels
        self.law: Law = law
        self._ref = _reference(law)
        alpha = 1.0 - math.exp(-1.0 / (tau_ms * 1e-3 * SAMPLE_RATE))
        self._b = np.array([alpha])
        self._a = np.array([1.0, alpha - 1.0])
        self._zi = np.zeros((channels, 1))
        self._power = np.zeros(channels)

    def reset(self, channel: int | None = None) -> None:
        """Forget the history of one channel, or of all."""
        if channel is None:
            self._zi[:] = 0.0
            self._power[:] = 0.0
        else:
            self._zi[channel] = 0.0
            self._power[channel] = 0.0

    def process(self, block: npt.NDArray[np.generic]) -> FloatArray:
        """Feed (channels, samples); return the level of each channel in dBm0 after it."""
        v = as_block(block, None, "PowerMeter.process")
        if v.shape[0] != self.channels:
            raise ValueError(f"PowerMeter: block has {v.shape[0]} channels, meter {self.channels}")
        if v.shape[1] == 0:
            return self.level_dbm0()
        y, self._zi = lfilter(self._b, self._a, v * v, axis=1, zi=self._zi)
        self._power = y[:, -1].copy()
        return self.level_dbm0()

    def level_dbm0(self) -> FloatArray:
        """Smoothed level of each channel in dBm0."""
        return _power_db(self._power, self._ref, FLOOR_DB)


class ActiveSpeechLevel:
    """ITU-T P.56 method B active speech level and activity factor, per channel.

    ``process(block)`` accumulates; ``level_dbm0()`` and ``activity()`` read
    the result so far (for a whole call, or since ``reset``);
    ``process`` returns which channels had speech in that block, judged at
    the threshold 15.9 dB below the channel's active level so far.
    """

    MARGIN_DB: Final = 15.9
    TIME_CONSTANT_S: Final = 0.03
    HANGOVER_S: Final = 0.2
    THRESHOLDS: Final = 2.0 ** np.arange(16)

    def __init__(self, channels: int, law: Law = "ulaw") -> None:
        if channels < 1:
            raise ValueError("ActiveSpeechLevel: channels >= 1")
        self.channels = channels
        self._ref = _reference(law)
        g = math.exp(-1.0 / (self.TIME_CONSTANT_S * SAMPLE_RATE))
        self._b = np.array([1.0 - g])
        self._a = np.array([1.0, -g])
        self._hang = round(self.HANGOVER_S * SAMPLE_RATE)
        self.reset()

    def reset(self, channel: int | None = None) -> None:
        sl = slice(None) if channel is None else slice(channel, channel + 1)
        if channel is None:
            nt = len(self.THRESHOLDS)
            self._zi1 = np.zeros((self.channels, 1))
            self._zi2 = np.zeros((self.channels, 1))
            self._energy = np.zeros(self.channels)
            self._count = np.zeros(self.channels, dtype=np.int64)
            self._active = np.zeros((self.channels, nt), dtype=np.int64)
            # samples since the envelope was last >= c_j (hangover counter)
            self._hist = np.full((self.channels, self._hang), -1, dtype=np.int8)
            return
        self._zi1[sl] = 0.0
        self._zi2[sl] = 0.0
        self._energy[sl] = 0.0
        self._count[sl] = 0
        self._active[sl] = 0
        self._hist[sl] = -1

    def process(self, block: npt.NDArray[np.generic]) -> npt.NDArray[np.bool_]:
        v = as_block(block, None, "ActiveSpeechLevel.process")
        c, n = v.shape
        if c != self.channels:
            raise ValueError(f"ActiveSpeechLevel: block has {c} channels, meter {self.channels}")
        if n == 0:
            return np.zeros(c, dtype=bool)
        p, self._zi1 = lfilter(self._b, self._a, np.abs(v), axis=1, zi=self._zi1)
        q, self._zi2 = lfilter(self._b, self._a, p, axis=1, zi=self._zi2)
        self._energy += np.einsum("cs,cs->c", v, v)
        self._count += n
        # top[s]: the highest threshold index the envelope reaches (c_j = 2^j, so floor(log2 q));
        # a sample is active at j when the trailing 200 ms + 1 sample hold a top >= j
        top = np.clip(np.frexp(q)[1] - 1, -1, len(self.THRESHOLDS) - 1).astype(np.int8)
        ext = np.concatenate([self._hist, top], axis=1)
        win = maximum_filter1d(ext, size=self._hang + 1, axis=1, mode="nearest")
        reach = win[:, self._hang // 2 : self._hang // 2 + n]
        self._hist = ext[:, -self._hang :]
        nt = len(self.THRESHOLDS)
        rows = np.arange(c)[:, None]
        hist = np.bincount((reach.astype(np.int64) + 1 + (nt + 1) * rows).ravel(), minlength=(nt + 1) * c)
        at_least = np.cumsum(hist.reshape(c, nt + 1)[:, ::-1], axis=1)[:, ::-1]
        self._active += at_least[:, 1:]
        level_j = self._threshold_index()
        flags: npt.NDArray[np.bool_] = (reach >= level_j[:, None]).any(axis=1) & (self._energy > 0)
        return flags

    def _levels(self) -> tuple[FloatArray, FloatArray]:
        """(active level in dB re 16-bit units^2 per channel, activity factor), P.56 Annex B."""
        nt = len(self.THRESHOLDS)
        c_db = 20.0 * np.log10(self.THRESHOLDS)
        with np.errstate(divide="ignore", invalid="ignore"):
            a_db = 10.0 * np.log10(self._energy[:, None] / self._active)
        delta = a_db - c_db[None, :] - self.MARGIN_DB  # falls as j rises; nan/inf where no activity
        finite = np.isfinite(delta)
        crossed = ~(delta > 0) | ~finite  # at or below the margin, or no activity at all
        any_cross = crossed.any(axis=1)
        j = np.where(any_cross, np.argmax(crossed, axis=1), nt - 1)
        rows = np.arange(self.channels)
        count = np.maximum(self._count, 1)
        # interpolate between j-1 (above the margin) and j (at or below), where both exist
        jm = np.maximum(j - 1, 0)
        interp = any_cross & (j > 0) & finite[rows, j]
        d0, d1 = delta[rows, jm], delta[rows, j]
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(interp, d0 / (d0 - d1), 0.0)
        k = np.where(interp | ~any_cross, np.where(interp, jm, j), jm)
        a0, a1 = a_db[rows, k], a_db[rows, np.minimum(k + 1, nt - 1)]
        n0, n1 = self._active[rows, k], self._active[rows, np.minimum(k + 1, nt - 1)]
        with np.errstate(invalid="ignore"):
            level = np.where(interp, a0 + frac * (a1 - a0), a0)
            act = np.where(interp, n0 + frac * (n1 - n0), n0) / count
        dead = ~finite[:, 0]
        return np.where(dead, -np.inf, level), np.where(dead, 0.0, act)

    def _threshold_index(self) -> npt.NDArray[np.intp]:
        level, _ = self._levels()
        c_db = 20.0 * np.log10(self.THRESHOLDS)
        target = np.where(np.isfinite(level), level - self.MARGIN_DB, c_db[0])
        return np.clip(np.searchsorted(c_db, target, side="right") - 1, 0, len(c_db) - 1)

    def level_dbm0(self, floor_db: float = FLOOR_DB) -> FloatArray:
        """Active speech level of each channel so far, dBm0 (P.56 method B)."""
        level, _ = self._levels()
        ref_db = 20.0 * math.log10(self._ref)
        return np.maximum(level - ref_db, floor_db)

    def activity(self) -> FloatArray:
        """Fraction of samples counted as active speech, per channel (P.56 activity factor)."""
        return self._levels()[1]
