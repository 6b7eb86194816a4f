"""Comfort noise (RFC 3389): SID payload codec and noise generation.

Payload (s3): one byte of noise level in -dBov (0..127, top bit 0), then
optional quantised reflection coefficients of an all-pole model, one byte
each (s3.2: k = (q - 127) / 128, so 0..254 spans -1..1).  The level's 0 dBov
reference is the codec's overload point: for G.711 a square wave at the
largest code, +/-8031 in 14-bit mu-law (s3.1), i.e. +/-32124 in our 16-bit
linear scale, which makes 0 dBov = +6.18 dBm0.

`CnGenerator` makes the noise for one channel from the last SID received:
white Gaussian noise through the all-pole lattice's direct form (step-up
recursion), scaled so that its RMS is the SID's level (the all-pole filter's
power gain for unit white input is 1 / prod(1 - k_i^2)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter

FULL_SCALE = 32124.0  # 0 dBov for G.711 in the 16-bit linear scale (RFC 3389 s3.1)


class CnError(ValueError):
    """A malformed comfort noise payload from the remote side."""


@dataclass(frozen=True, slots=True)
class ComfortNoise:
    level: int  # -dBov, 0..127
    reflection: tuple[int, ...] = ()  # quantised coefficients, 0..254


def decode(payload: bytes) -> ComfortNoise:
    if not payload:
        raise CnError("empty comfort noise payload")
    if payload[0] & 0x80:
        raise CnError(f"noise level byte 0x{payload[0]:02x} has its unused top bit set")
    return ComfortNoise(payload[0], tuple(payload[1:]))


def encode(cn: ComfortNoise) -> bytes:
    if not 0 <= cn.level <= 127 or any(not 0 <= q <= 255 for q in cn.reflection):
        raise ValueError(f"comfort noise out of range: {cn}")
    return bytes([cn.level, *cn.reflection])


def reflection_values(cn: ComfortNoise) -> npt.NDArray[np.float64]:
    k = (np.asarray(cn.reflection, dtype=np.float64) - 127.0) / 128.0
    return np.clip(k, -0.995, 0.995)  # keep the synthesis filter stable


def level_rms(level: int) -> float:
    """RMS in the 16-bit linear scale of noise at -`level` dBov."""
    return float(FULL_SCALE * 10.0 ** (-level / 20.0))


def measure_level(x: npt.NDArray[np.int16] | npt.NDArray[np.float64]) -> int:
    """The -dBov level byte for a block of 16-bit samples (what a sender would put in a SID)."""
    rms = float(np.sqrt(np.mean(np.square(np.asarray(x, dtype=np.float64))))) if len(x) else 0.0
    if rms <= 0:
        return 127
    return int(min(127, max(0, round(-20.0 * np.log10(rms / FULL_SCALE)))))


def step_up(k: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Reflection coefficients to the direct-form denominator [1, a1..aM] (Levinson step-up)."""
    a = np.array([1.0])
    for ki in k:
        ext = np.concatenate([a, [0.0]])
        a = ext + ki * ext[::-1]
    return a


class CnGenerator:
    """Noise for one channel after a SID (RFC 3389 Appendix A, informative)."""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        self.cn: ComfortNoise | None = None
        self._a = np.array([1.0])
        self._gain = 0.0
        self._zi: npt.NDArray[np.float64] = np.zeros(0)

    def update(self, cn: ComfortNoise) -> None:
        k = reflection_values(cn)
        a = step_up(k)
        if len(a) != len(self._a):
            self._zi = np.zeros(len(a) - 1)
        self._a = a
        self._gain = level_rms(cn.level) * float(np.sqrt(np.prod(1.0 - k * k)))
        self.cn = cn

    def reset(self) -> None:
        self.cn = None
        self._gain = 0.0
        self._zi = np.zeros(len(self._a) - 1)

    def generate(self, n: int) -> npt.NDArray[np.int16]:
        if self.cn is None:
            return np.zeros(n, dtype=np.int16)
        w = self.rng.standard_normal(n) * self._gain
        y: npt.NDArray[np.float64] = w
        if len(self._a) > 1:
            y, self._zi = lfilter([1.0], self._a, w, zi=self._zi)
        out: npt.NDArray[np.int16] = np.clip(np.rint(y), -32768, 32767).astype(np.int16)
        return out
