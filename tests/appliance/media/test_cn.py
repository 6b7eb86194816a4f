"""RFC 3389 comfort noise: payload and generated level/spectrum."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.media import cn
from appliance.media.cn import CnGenerator, ComfortNoise


def test_payload_rfc3389_s3() -> None:
    assert cn.decode(b"\x40") == ComfortNoise(64)
    assert cn.decode(bytes([50, 127, 200])) == ComfortNoise(50, (127, 200))
    assert cn.encode(ComfortNoise(50, (127, 200))) == bytes([50, 127, 200])
    with pytest.raises(cn.CnError):
        cn.decode(b"")
    with pytest.raises(cn.CnError):
        cn.decode(b"\x80")


@given(st.binary(max_size=12))
def test_fuzz(data: bytes) -> None:
    try:
        c = cn.decode(data)
    except cn.CnError:
        return
    assert cn.encode(c) == data


@pytest.mark.parametrize("level", [30, 50, 70])
def test_white_noise_level(level: int) -> None:
    g = CnGenerator(seed=1)
    g.update(ComfortNoise(level))
    x = g.generate(8000)
    assert cn.measure_level(x) == pytest.approx(level, abs=1)


def test_shaped_noise_keeps_level_and_tilts_spectrum() -> None:
    g = CnGenerator(seed=2)
    # k1 = -0.7: strongly low-pass (a1 = -0.7 -> pole at +0.7)
    g.update(ComfortNoise(40, (round(-0.7 * 128 + 127),)))
    x = np.concatenate([g.generate(160) for _ in range(100)]).astype(np.float64)
    assert cn.measure_level(x) == pytest.approx(40, abs=1)
    spec = np.abs(np.fft.rfft(x)) ** 2
    lo, hi = spec[: len(spec) // 4].sum(), spec[-len(spec) // 4 :].sum()
    assert lo > 5 * hi


def test_no_sid_is_silence() -> None:
    g = CnGenerator()
    assert not g.generate(80).any()
    g.update(ComfortNoise(127))
    assert np.abs(g.generate(80)).max() <= 1
