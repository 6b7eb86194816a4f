"""G.711 Appendix I packet loss concealment (adapted without the 3.75 ms delay)."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.media.plc import FRAME, HISTORY, G711Plc, find_pitch


def _voiced(n: int, f0: float, seed: int = 0) -> np.ndarray:
    """A harmonic "vowel": f0 with decaying harmonics, about -10 dBm0."""
    t = np.arange(n) / 8000
    x = sum((0.6 ** k) * np.sin(2 * np.pi * f0 * (k + 1) * t + k) for k in range(6))
    return (x / np.max(np.abs(x)) * 8000).astype(np.float64)


@pytest.mark.parametrize("f0, period", [(200.0, 40), (100.0, 80), (80.0, 100)])
def test_pitch_i2_1(f0: float, period: int) -> None:
    h = _voiced(HISTORY, f0)
    assert find_pitch(h) == period


def _run(x: np.ndarray, lost: np.ndarray, block: int = 40) -> np.ndarray:
    plc = G711Plc(1)
    out = []
    for i in range(0, len(x), block):
        a = x[i : i + block].astype(np.int16)[None, :].copy()
        m = lost[i : i + block][None, :]
        a[m] = 0
        out.append(plc.process(a, m)[0])
    return np.concatenate(out).astype(np.float64)


def _snr(ref: np.ndarray, y: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum((ref - y) ** 2), 1e-9)))


def test_10ms_erasure_is_concealed_well_and_beats_silence() -> None:
    x = _voiced(4000, 125.0)
    lost = np.zeros(len(x), dtype=bool)
    lost[1600:1680] = True  # one 10 ms packet
    y = _run(x, lost)
    seg = slice(1600, 1680)
    assert _snr(x[seg], y[seg]) > 10  # silence would be 0 dB
    # no click at the recovery: the first good samples are OLA'd (I.2.4)
    d = np.abs(np.diff(y[1670:1720]))
    assert d.max() < 1.5 * np.abs(np.diff(x)).max()
    assert np.array_equal(y[:1600], x[:1600].astype(np.int16))
    assert np.array_equal(y[1712:], x[1712:].astype(np.int16))  # OLA over 4 ms only


def test_long_erasure_attenuates_to_silence_after_60ms_i2_3() -> None:
    x = _voiced(8000, 100.0)
    lost = np.zeros(len(x), dtype=bool)
    lost[2000:2800] = True  # 100 ms
    y = _run(x, lost)
    rms = lambda s: float(np.sqrt(np.mean(s**2)))  # noqa: E731
    assert rms(y[2000:2080]) > 0.7 * rms(x[2000:2080])  # first 10 ms at full level
    assert rms(y[2240:2320]) < 0.85 * rms(y[2000:2080])  # decaying
    assert not y[2000 + 480 : 2800].any()  # silent after 60 ms
    assert np.array_equal(y[2800 + 80 :], x[2800 + 80 :].astype(np.int16))  # recovery <= 10 ms


def test_all_channels_at_once_match_one_by_one() -> None:
    rng = np.random.default_rng(5)
    C, n = 6, 1600
    xs = np.stack([_voiced(n, f) for f in (90, 110, 130, 150, 170, 190)])
    lost = np.zeros((C, n), dtype=bool)
    for c in range(C):
        for s in rng.choice(np.arange(2, 18), 3, replace=False):
            lost[c, s * 80 : s * 80 + 80] = True
    lost[0] = False
    plc = G711Plc(C)
    out = []
    for i in range(0, n, 16):
        a = xs[:, i : i + 16].astype(np.int16)
        m = lost[:, i : i + 16]
        a = np.where(m, 0, a).astype(np.int16)
        out.append(plc.process(a, m))
    together = np.concatenate(out, axis=1)
    for c in range(C):
        alone = _run(xs[c], lost[c], block=16)
        assert np.array_equal(together[c], alone.astype(np.int16))
    assert np.array_equal(together[0], xs[0].astype(np.int16))


def test_untouched_when_nothing_missing() -> None:
    plc = G711Plc(3)
    a = (np.arange(3 * FRAME).reshape(3, FRAME) * 7).astype(np.int16)
    assert plc.process(a, np.zeros_like(a, dtype=bool)) is a
