"""Test signals for the G.168 tests: composite source, noise, talker, tones, levels.

* ``css``: a composite-source-like signal after G.168 Annex C: a voiced
  segment (table C.1, sampled at 44.1 kHz, repeated 16 times to 48.62 ms
  and resampled to 8 kHz), 200 ms of pseudo-noise shaped to the spectrum
  of G.168 figure C.2, a 101.38 ms pause, and the next 350 ms period with
  its polarity inverted.  The pseudo-noise is our own seeded noise, not the
  spec's sequence, hence "-like".
* ``hoth_noise``: background noise with a falling (Hoth-like) spectrum,
  band-limited to 200-3600 Hz.
* ``talker``: a speech-like near-end talker (formant-shaped excitation with a
  120-220 Hz pitch, syllables of 100-300 ms and pauses), for double talk.
* ``tones``: the narrow-band signals of test 6.
* Levels in dBm0 on the G.711 mu-law scale (0 dBm0 sine RMS 16,020.7).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import signal as sps

from tests.dsp.g168.models import css_voiced

FS = 8000
DBM0_RMS = 16020.7
FloatArray = npt.NDArray[np.float64]


def rms_for(level_dbm0: float) -> float:
    return DBM0_RMS * 10.0 ** (level_dbm0 / 20.0)


def level(x: npt.NDArray[np.generic], axis: int = -1) -> FloatArray:
    """Mean power level in dBm0 along ``axis`` (floor -120)."""
    p = np.mean(np.asarray(x, dtype=np.float64) ** 2, axis=axis)
    return np.asarray(10.0 * np.log10(np.maximum(p, 1e-12) / DBM0_RMS**2))


def windowed_level(x: npt.NDArray[np.generic], win: int) -> FloatArray:
    """Level in dBm0 of consecutive ``win``-sample windows along the last axis."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1] // win
    w = x[..., : n * win].reshape(*x.shape[:-1], n, win)
    return level(w)


def scale_to(x: FloatArray, level_dbm0: float) -> FloatArray:
    """Scale ``x`` so that its active (non-zero) part has ``level_dbm0``."""
    active = np.abs(x) > 0
    p = float(np.mean(x[active] ** 2)) if active.any() else 0.0
    return x * (rms_for(level_dbm0) / np.sqrt(p)) if p > 0 else x


def _bandpass(x: FloatArray, lo: float, hi: float) -> FloatArray:
    sos = sps.butter(6, [lo, hi], btype="bandpass", fs=FS, output="sos")
    return np.asarray(sps.sosfilt(sos, x))


# Spectrum of the CSS pseudo-noise, G.168 figure C.2: (Hz, dB) breakpoints.
_C2_SHAPE = ((50.0, -25.8), (100.0, -12.8), (200.0, 17.4), (215.0, 17.8), (500.0, 12.2),
             (1000.0, 7.2), (2850.0, 0.0), (3600.0, -2.0), (3660.0, -20.0), (3680.0, -30.0))


def _c2_noise(n: int, rng: np.random.Generator) -> FloatArray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / FS)
    fs, db = zip(*_C2_SHAPE, strict=True)
    gain_db = np.interp(f, fs, db, left=-60.0, right=-60.0)
    gain_db[f < 50] = -60.0
    out = np.fft.irfft(spec * 10 ** (gain_db / 20), n)
    return np.asarray(out / np.sqrt(np.mean(out**2)))


def css(seconds: float, level_dbm0: float = -15.0, seed: int = 0) -> FloatArray:
    """Composite-source-like signal (G.168 Annex C) at ``level_dbm0`` active level."""
    rng = np.random.default_rng(seed)
    n_voiced, n_noise, n_pause = 389, 1600, 811
    voiced = sps.resample_poly(np.tile(css_voiced(), 16), 80, 441)[:n_voiced]
    voiced = voiced / np.sqrt(np.mean(voiced**2))
    period = 2 * (n_voiced + n_noise + n_pause)
    total = int(seconds * FS)
    out = np.zeros(total + period)
    pos, sign = 0, 1.0
    while pos < total:
        noise = _c2_noise(n_noise, rng)
        seg = np.concatenate([voiced, noise, np.zeros(n_pause)]) * sign
        out[pos : pos + len(seg)] = seg
        pos += len(seg)
        sign = -sign
    return scale_to(out[:total], level_dbm0)


def hoth_noise(seconds: float, level_dbm0: float, seed: int = 1) -> FloatArray:
    """Hoth-like background noise (about -5 dB/octave above 500 Hz) at ``level_dbm0``."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    white = rng.standard_normal(n + 800)
    # A one-pole low-pass gives the falling spectrum; band-limit to the voice band.
    shaped = sps.lfilter([1.0], [1.0, -0.6], white)
    shaped = _bandpass(shaped, 200, 3600)[800:]
    return shaped * (rms_for(level_dbm0) / np.sqrt(np.mean(shaped**2)))


def talker(seconds: float, level_dbm0: float = -15.0, seed: int = 2) -> FloatArray:
    """Speech-like talker: voiced syllables with formants, pauses; active level ``level_dbm0``."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    out = np.zeros(n)
    pos = int(rng.integers(0, 400))
    while pos < n:
        syl = int(rng.integers(800, 2400))
        f0 = float(rng.uniform(120, 220))
        t = np.arange(syl) / FS
        phase = 2 * np.pi * np.cumsum(np.full(syl, f0) * (1 + 0.1 * np.sin(2 * np.pi * 3 * t))) / FS
        excitation = (np.sin(phase) > 0.95).astype(np.float64) + 0.05 * rng.standard_normal(syl)
        y = excitation
        for fc, bw in ((rng.uniform(400, 800), 80), (rng.uniform(1000, 1800), 120),
                       (rng.uniform(2200, 3000), 200)):
            r = np.exp(-np.pi * bw / FS)
            a = [1.0, -2 * r * np.cos(2 * np.pi * fc / FS), r * r]
            y = y + sps.lfilter([1.0 - r], a, excitation) * 4
        env = np.sin(np.pi * np.arange(syl) / syl) ** 0.5
        seg = y * env
        end = min(n, pos + syl)
        out[pos:end] = seg[: end - pos]
        pos = end + int(rng.integers(400, 2400))
    out = _bandpass(out, 200, 3600)
    active = np.abs(out) > 1e-3 * np.max(np.abs(out))
    return out * (rms_for(level_dbm0) / np.sqrt(np.mean(out[active] ** 2)))


def tones(freqs: tuple[int, int], seconds: float, level_dbm0: float) -> FloatArray:
    """One tone or a tone pair (each tone at ``level_dbm0``)."""
    t = np.arange(int(seconds * FS)) / FS
    out = np.zeros_like(t)
    for f in freqs:
        if f:
            out += np.sqrt(2) * rms_for(level_dbm0) * np.sin(2 * np.pi * f * t)
    return out
