"""Far ends for ClockSpan in tests and benches: tones into B-channels, recorded transmit, a hybrid."""

from __future__ import annotations

import numpy as np

from drivers.span import SpanParams
from dsp import g711

DBM0 = 16020.7  # mu-law 0 dBm0 RMS in the 16-bit scale


def tone(n: int, start: int, freq: float, dbm0: float) -> np.ndarray:
    t = (start + np.arange(n)) / 8000.0
    return np.sin(2 * np.pi * freq * t) * DBM0 * np.sqrt(2) * 10 ** (dbm0 / 20)


class ToneFarEnd:
    """Channel c sends a tone of freqs[c] at `dbm0` (the PBX side); every transmit block is kept."""

    def __init__(self, params: SpanParams, freqs: tuple[float, ...] = (1000.0,), dbm0: float = -10.0,
                 seconds: float = 1e9) -> None:
        self.p = params
        self.n = params.block_samples
        self.freqs = freqs
        self.dbm0 = dbm0
        self.stop_at = int(seconds * 8000)
        self.tx_blocks: list[np.ndarray] = []
        self.tx_times: list[float] = []
        self.rx_times: list[float] = []

    def rx(self, index: int, t_ideal: float) -> np.ndarray:
        c, n = self.p.channels, self.n
        x = np.zeros((c, n))
        s0 = index * n
        if s0 < self.stop_at:
            for ch, f in enumerate(self.freqs[:c]):
                if f:
                    x[ch] = tone(n, s0, f, self.dbm0)
        self.rx_times.append(t_ideal)
        return g711.ulaw_encode(np.rint(x).astype(np.int16))

    def tx(self, index: int, block: np.ndarray, t_written: float) -> None:
        self.tx_blocks.append(block.copy())
        self.tx_times.append(t_written)

    def tx_linear(self, ch: int) -> np.ndarray:
        return g711.ulaw_decode(np.concatenate([b[ch] for b in self.tx_blocks])).astype(np.float64)


def level_and_freq(x: np.ndarray) -> tuple[float, float]:
    """(dBm0, peak frequency in Hz) of a mu-law-scale signal."""
    rms = float(np.sqrt(np.mean(x**2)))
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return 20 * np.log10(max(rms, 1e-9) / DBM0), float(np.argmax(spec) * 8000 / len(x))


def robust_level_and_freq(x: np.ndarray, frame: int = 800) -> tuple[float, float]:
    """Median over 100 ms frames of (dBm0, peak Hz): a late packet or a concealed gap on a
    loaded machine does not move it, a wrong level or frequency does."""
    lv, fr = [], []
    for i in range(0, len(x) - frame + 1, frame):
        seg = x[i : i + frame]
        rms = float(np.sqrt(np.mean(seg**2)))
        spec = np.abs(np.fft.rfft(seg * np.hanning(frame), 8 * frame))
        lv.append(20 * np.log10(max(rms, 1e-9) / DBM0))
        fr.append(float(np.argmax(spec) * 8000 / (8 * frame)))
    return float(np.median(lv)), float(np.median(fr))
