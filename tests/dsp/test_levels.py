"""dsp.levels: dBm0 per G.711, saturating gain, P.56 active speech level."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dsp import g711, levels


def _sine(freq: float, dbm0: float, n: int, law: levels.Law = "ulaw", phase: float = 0.0) -> np.ndarray:
    amp = levels.dbm0_to_rms(dbm0, law) * math.sqrt(2)
    return amp * np.sin(2 * np.pi * freq * np.arange(n) / 8000 + phase)


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
@pytest.mark.parametrize("level", [3.0, 0.0, -10.0, -30.0, -50.0])
def test_dbm0_of_sines_through_g711(law: levels.Law, level: float) -> None:
    x = np.round(_sine(1004.0, level, 8000, law)).astype(np.int16)
    enc, dec = (g711.ulaw_encode, g711.ulaw_decode) if law == "ulaw" else (g711.alaw_encode, g711.alaw_decode)
    y = dec(enc(x))
    # G.711 quantising error grows at low levels; 0.1 dB down to -30, 0.5 dB at -50
    tol = 0.1 if level >= -30 else 0.5
    assert abs(float(levels.dbm0(y[None, :], law)[0]) - level) < tol


def test_dbm0_per_channel_and_silence_floor() -> None:
    x = np.stack([_sine(1000, 0, 800), _sine(1000, -20, 800), np.zeros(800)])
    out = levels.dbm0(x)
    assert out.shape == (3,)
    assert out[0] == pytest.approx(0.0, abs=0.01)
    assert out[1] == pytest.approx(-20.0, abs=0.01)
    assert out[2] == levels.FLOOR_DB
    assert levels.dbm0(np.zeros((2, 0))).tolist() == [levels.FLOOR_DB] * 2


def test_dbov_full_scale_sine() -> None:
    x = 32767 * np.sin(2 * np.pi * 1000 * np.arange(8000) / 8000)
    assert float(levels.dbov(x)[0]) == pytest.approx(-3.01, abs=0.01)
    # the mu-law 0 dBm0 point is 3.17 dB under the mu-law peak (G.711): dBov of 0 dBm0
    assert float(levels.dbov(_sine(1000, 0, 8000))[0]) == pytest.approx(-3.01 - 3.17 - 0.0369, abs=0.01)


def test_dbm0_rejects_bad_input() -> None:
    with pytest.raises(TypeError):
        levels.dbm0(np.zeros(8, np.int32))
    with pytest.raises(TypeError):
        levels.dbm0([1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        levels.dbm0(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError):
        levels.dbm0(np.zeros(8), law="xlaw")  # type: ignore[arg-type]


def test_apply_gain_saturates_and_is_per_channel() -> None:
    x = np.array([[1000, -1000, 30000, -30000], [1000, -1000, 30000, -30000]], np.int16)
    y = levels.apply_gain(x, [6.0, -6.0])
    assert y.dtype == np.int16
    g = 10 ** (6 / 20)
    assert y[0].tolist() == [round(1000 * g), -round(1000 * g), 32767, -32768]
    assert y[1].tolist() == [round(1000 / g), -round(1000 / g), round(30000 / g), -round(30000 / g)]
    out = np.empty_like(x)
    assert levels.apply_gain(x, 0.0, out=out) is out
    np.testing.assert_array_equal(out, x)
    with pytest.raises(ValueError):
        levels.apply_gain(x, [1.0, 2.0, 3.0])
    with pytest.raises(TypeError):
        levels.apply_gain(x.astype(np.float32), 1.0)  # type: ignore[arg-type]


def test_power_meter_matches_sample_loop_and_blocks() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(0, 3000, (2, 1600))
    meter = levels.PowerMeter(2, tau_ms=10)
    for k in range(0, 1600, 160):
        got = meter.process(x[:, k : k + 160])
    alpha = 1 - math.exp(-1 / 80)
    p = np.zeros(2)
    for s in range(1600):
        p += alpha * (x[:, s] ** 2 - p)
    np.testing.assert_allclose(got, 10 * np.log10(p / g711.DBM0_RMS_ULAW**2), atol=1e-9)
    meter.reset(0)
    assert meter.level_dbm0()[0] == levels.FLOOR_DB and meter.level_dbm0()[1] > -20


def _p56_reference(x: np.ndarray) -> tuple[float, float]:
    """Sample-by-sample P.56 method B, written straight from the clause, for one channel."""
    g = math.exp(-1 / (0.03 * 8000))
    hang = 1600
    c = 2.0 ** np.arange(16)
    a = np.zeros(16)
    h = np.full(16, hang + 1)
    p = q = 0.0
    for s in x:
        p = g * p + (1 - g) * abs(s)
        q = g * q + (1 - g) * p
        for j in range(16):
            if q >= c[j]:
                a[j] += 1
                h[j] = 0
            elif h[j] < hang:
                a[j] += 1
                h[j] += 1
    energy = float(np.sum(x * x))
    with np.errstate(divide="ignore"):
        adb = 10 * np.log10(energy / a)
    delta = adb - 20 * np.log10(c) - 15.9
    j = int(np.flatnonzero(~(delta > 0))[0])
    frac = delta[j - 1] / (delta[j - 1] - delta[j])
    level = adb[j - 1] + frac * (adb[j] - adb[j - 1])
    act = (a[j - 1] + frac * (a[j] - a[j - 1])) / len(x)
    return level - 20 * math.log10(g711.DBM0_RMS_ULAW), act


def test_active_speech_level_equals_a_sample_by_sample_p56() -> None:
    rng = np.random.default_rng(5)
    n = 8000
    # bursts of noise at -20 dBm0 with pauses: 300 ms on, 500 ms off
    env = ((np.arange(n) // 2400) % 2 == 0) & ((np.arange(n) % 2400) < 900)
    x = np.stack([rng.normal(0, levels.dbm0_to_rms(-20), n) * env, _sine(440, -30, n)])
    meter = levels.ActiveSpeechLevel(2)
    for k in range(0, n, 160):
        meter.process(x[:, k : k + 160])
    for ch in range(2):
        level, act = _p56_reference(x[ch])
        assert meter.level_dbm0()[ch] == pytest.approx(level, abs=1e-6)
        assert meter.activity()[ch] == pytest.approx(act, abs=1e-6)
    # a continuous tone is all active, at its own level
    assert meter.level_dbm0()[1] == pytest.approx(-30, abs=0.2)
    assert meter.activity()[1] > 0.95


def test_active_speech_level_ignores_pauses_and_flags_blocks() -> None:
    n = 16000
    tone = _sine(1000, -15, n) * ((np.arange(n) // 4000) % 2 == 0)
    meter = levels.ActiveSpeechLevel(1)
    flags = [bool(meter.process(tone[None, k : k + 160])[0]) for k in range(0, n, 160)]
    # tone-on blocks are flagged; blocks deep into the pause (past the 200 ms hangover) are not
    assert all(flags[1:25]) and all(flags[50:75])
    assert not any(flags[42:50]) and not any(flags[92:100])
    # 50 % duty: the long-term level is 3 dB under the tone's, the active level is not
    # (less the 200 ms hangover per burst that P.56 counts as active)
    long_term = float(levels.dbm0(tone)[0])
    assert long_term == pytest.approx(-18.0, abs=0.05)
    assert -15 - 2.0 < meter.level_dbm0()[0] < -15 + 0.1
    assert 0.5 < meter.activity()[0] < 0.8
    meter.reset()
    assert meter.level_dbm0()[0] == levels.FLOOR_DB and meter.activity()[0] == 0
