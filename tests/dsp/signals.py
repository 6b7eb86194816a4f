"""Test signals for talk-off and tone tests: speech-like and music-like, seeded.

The Bellcore talk-off tape (and the Mitel tape) are not available, so these
stand in for them:

* ``speech_like``: a source-filter model of voiced speech.  A Rosenberg
  glottal pulse train (pitch 85-320 Hz with intonation, jitter and vibrato)
  excites a cascade of four formant resonators whose frequencies move between
  vowel targets (F1 250-850, F2 600-2500, F3 1700-3200 Hz); fricatives are
  noise through a high-pass; a 3-6 Hz syllabic envelope and pauses shape it.
  Sustained vowels with harmonics that land on DTMF pairs are what talk-off
  is about, and this makes plenty of those.
* ``music_like``: harmonic notes (1/k partials, some inharmonicity,
  decay or sustain) on the equal-tempered scale, in melodies and chords,
  which hits DTMF frequencies within Q.24 tolerance (F5 = 698.5 Hz vs 697,
  F#6 = 1480 Hz vs 1477).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

FS = 8000

_VOWELS = np.array(
    [  # F1, F2, F3, F4 targets (Hz), Peterson-Barney style averages
        [270, 2290, 3010, 3500], [390, 1990, 2550, 3400], [530, 1840, 2480, 3400],
        [660, 1720, 2410, 3400], [730, 1090, 2440, 3400], [570, 840, 2410, 3300],
        [440, 1020, 2240, 3300], [300, 870, 2240, 3300], [490, 1350, 1690, 3300],
        [850, 1220, 2810, 3600], [310, 2790, 3310, 3700], [610, 2330, 2990, 3600],
    ],
    dtype=float,
)  # fmt: skip


def _rosenberg(period: int, open_q: float = 0.6, close_q: float = 0.25) -> np.ndarray:
    n1 = max(2, int(period * open_q * 0.7))
    n2 = max(2, int(period * close_q))
    t1 = np.arange(n1) / n1
    t2 = np.arange(n2) / n2
    g = np.concatenate([0.5 * (1 - np.cos(np.pi * t1)), np.cos(0.5 * np.pi * t2), np.zeros(max(0, period - n1 - n2))])
    return np.diff(g, prepend=0.0)  # the derivative: radiation at the lips


def _resonate(x: np.ndarray, freqs: np.ndarray, bw: float, seg: int) -> np.ndarray:
    """Time-varying 2-pole resonator, coefficients updated every `seg` samples."""
    y = np.empty_like(x)
    zi = np.zeros(2)
    r = np.exp(-np.pi * bw / FS)
    for s in range(0, len(x), seg):
        f = freqs[s]
        a = [1.0, -2 * r * np.cos(2 * np.pi * f / FS), r * r]
        b = [1 - r]
        y[s : s + seg], zi = lfilter(b, a, x[s : s + seg], zi=zi)
    return y


def speech_like(seconds: float, seed: int, level_dbov: float = -20.0, voice: str = "any") -> np.ndarray:
    """Speech-like float64 signal on the 16-bit scale, `level_dbov` long-term level."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    if voice == "any":
        voice = ("male", "female", "child")[int(rng.integers(3))]
    base = {"male": 110.0, "female": 210.0, "child": 290.0}[voice]
    t = np.arange(n) / FS
    # intonation: slow declination plus phrase contours, vibrato and jitter
    f0 = base * (1 + 0.25 * np.sin(2 * np.pi * rng.uniform(0.2, 0.6) * t + rng.uniform(0, 6)))
    f0 *= 1 + 0.02 * np.sin(2 * np.pi * rng.uniform(4, 7) * t)
    f0 = np.clip(f0 * np.exp(-0.05 * (t % 3.0)), 80, 330)
    src = np.zeros(n)
    pos = 0
    while pos < n:
        period = max(20, int(FS / (f0[pos] * (1 + 0.01 * rng.standard_normal()))))
        pulse = _rosenberg(period, rng.uniform(0.5, 0.7), rng.uniform(0.15, 0.35))
        end = min(n, pos + period)
        src[pos:end] = pulse[: end - pos] * rng.uniform(0.9, 1.1)
        pos = end
    # vowel targets change every 80-250 ms, glide between them
    seg_len = rng.integers(640, 2000, size=n // 640 + 2)
    bounds = np.concatenate([[0], np.cumsum(seg_len)])
    bounds = bounds[bounds < n]
    targets = _VOWELS[rng.integers(len(_VOWELS), size=len(bounds))]
    targets = targets * rng.uniform(0.9, 1.15 if voice == "male" else 1.3)
    formants = np.stack([np.interp(np.arange(n), bounds, targets[:, k]) for k in range(4)])
    y = src
    for k, bw in enumerate((80.0, 100.0, 140.0, 200.0)):
        y = _resonate(y, formants[k], bw, 80)
    # fricatives: bursts of high-passed noise between syllables
    noise = lfilter([1, -0.95], [1], rng.standard_normal(n)) * 0.02
    syll = 0.5 * (1 - np.cos(2 * np.pi * np.cumsum(rng.uniform(3, 6, n)) / FS))
    voiced = (syll > 0.25).astype(float)
    # pauses between phrases
    phrase = (np.sin(2 * np.pi * t / rng.uniform(2.5, 4.0) + rng.uniform(0, 6)) > -0.6).astype(float)
    env = lfilter([0.01], [1, -0.99], syll * phrase)
    out = env * y / (np.std(y) + 1e-9) + (1 - voiced) * phrase * noise / 0.02 * 0.1
    rms = np.sqrt(np.mean(out**2)) + 1e-12
    out = 6 * rms * np.tanh(out / (6 * rms))  # a speech-like crest factor (about 20 dB)
    rms = np.sqrt(np.mean(out**2)) + 1e-12
    return out / rms * 32768 * 10 ** (level_dbov / 20)


def music_like(seconds: float, seed: int, level_dbov: float = -18.0, pure: bool = False) -> np.ndarray:
    """Music-like float64 signal: melodies and chords of harmonic notes (`pure`: sine notes)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    out = np.zeros(n)
    pos = 0
    while pos < n:
        dur = int(rng.choice([0.125, 0.25, 0.5, 1.0]) * FS)
        voices = int(rng.integers(1, 4))
        for _ in range(voices):
            midi = int(rng.integers(55, 92))  # G3 .. G#6
            f = 440.0 * 2 ** ((midi - 69) / 12)
            tt = np.arange(min(dur, n - pos)) / FS
            decay = np.exp(-tt * rng.uniform(0.5, 4)) if rng.random() < 0.6 else np.ones_like(tt)
            note = np.zeros_like(tt)
            partials = 1 if pure else 8
            for k in range(1, partials + 1):
                fk = f * k * (1 + 0.0004 * k * k)
                if fk >= FS / 2 - 200:
                    break
                note += np.sin(2 * np.pi * fk * tt + rng.uniform(0, 6)) / k
            attack = np.minimum(1.0, tt / 0.01)
            out[pos : pos + len(tt)] += note * decay * attack
        pos += dur
    rms = np.sqrt(np.mean(out**2)) + 1e-12
    return out / rms * 32768 * 10 ** (level_dbov / 20)


def white_noise(seconds: float, seed: int, level_dbov: float = -30.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal(int(seconds * FS)) * 32768 * 10 ** (level_dbov / 20)


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)
