"""dsp.echo.EchoCanceller: the interface the rest of the gateway calls."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.echo import EchoCanceller, EchoMetrics
from tests.dsp.g168 import line as L
from tests.dsp.g168 import signals as S

FS = S.FS


def _signals(channels: int = 2, secs: float = 3.0) -> L.Run:
    far = S.css(secs, -15.0)
    lines = [L.Line("d4", 6.0, 100 * c) for c in range(channels)]
    return L.run(lines, far, np.zeros_like(far))


def _run(ec: EchoCanceller, r: L.Run, sizes: list[int]) -> np.ndarray:
    out = np.zeros_like(r.sin)
    s, i = 0, 0
    while s < r.sin.shape[1]:
        n = min(sizes[i % len(sizes)], r.sin.shape[1] - s)
        if n < 8:
            break
        out[:, s:s + n] = ec.process(r.rin[:, s:s + n], r.sin[:, s:s + n])
        s += n
        i += 1
    return out[:, :s]


def test_block_size_does_not_change_the_output() -> None:
    """Any call sizes (8..160, changing between calls) give the same Sout: no added delay.

    Sample for sample at first; later float rounding (partial blocks sum
    the partitions in another order) may tip an adaptive decision, so
    there the cancellation is compared.
    """
    r = _signals()
    ref = _run(EchoCanceller(2, nlp=False), r, [160])
    for sizes in ([80], [8, 152, 37, 123, 160, 40]):
        out = _run(EchoCanceller(2, nlp=False), r, sizes)
        n = out.shape[1]
        assert np.max(np.abs(out[:, :FS // 2].astype(int) - ref[:, :FS // 2].astype(int))) <= 1
        tail = slice(n - FS, n)
        assert np.all(np.abs(S.level(out[:, tail]) - S.level(ref[:, tail])) <= 2.0)


def test_no_added_delay_before_convergence() -> None:
    """With nothing learnt yet, Sout is Sin sample for sample (no buffering)."""
    ec = EchoCanceller(1, nlp=False)
    rng = np.random.default_rng(0)
    sin = rng.integers(-3000, 3000, (1, 80)).astype(np.int16)
    out = ec.process(np.zeros((1, 80), np.int16), sin)
    assert np.array_equal(out, sin)


def test_cancels_and_reports_metrics() -> None:
    r = _signals(secs=4.0)
    ec = EchoCanceller(2, nlp=False)
    out = _run(ec, r, [160])
    tail = slice(3 * FS, 4 * FS)
    erle = S.level(r.echo[:, tail]) - S.level(out[:, tail])
    assert np.all(erle > 25)
    m = ec.metrics(0)
    assert isinstance(m, EchoMetrics)
    assert m.converged and not m.double_talk
    assert 20 < m.erle_db < 80
    assert 3 < m.erl_db < 9  # the line is ERL 6 dB
    with pytest.raises(IndexError):
        ec.metrics(2)


def test_set_enabled_bypasses_one_channel() -> None:
    r = _signals()
    ec = EchoCanceller(2)
    ec.set_enabled(1, False)
    out = _run(ec, r, [160])
    assert np.array_equal(out[1], r.sin[1])
    assert not np.array_equal(out[0], r.sin[0])
    assert not ec.metrics(1).enabled


def test_reset_forgets_the_echo_path() -> None:
    r = _signals(secs=3.0)
    ec = EchoCanceller(2, nlp=False)
    _run(ec, r, [160])
    ec.reset(0)
    out = ec.process(np.zeros((2, 160), np.int16), r.sin[:, :160])
    assert np.array_equal(out[0], r.sin[0, :160])  # nothing learnt on channel 0
    assert ec.metrics(0).erle_db == 0.0 and ec.metrics(1).erle_db > 20
    ec.reset()
    assert ec.metrics(1).erle_db == 0.0


def test_set_nlp_per_channel() -> None:
    r = _signals(secs=3.0)
    ec = EchoCanceller(2, nlp=True)
    ec.set_nlp(False, 1)
    out = _run(ec, r, [160])
    tail = slice(2 * FS, 3 * FS)
    assert S.level(out[0, tail]) < -65  # NLP: returned echo under -65 dBm0 (G.168 2A)
    assert S.level(out[1, tail]) > S.level(out[0, tail]) + 6  # linear only: residual remains
    assert ec.metrics(0).nlp_on and not ec.metrics(1).nlp_on


def test_saturates_to_int16() -> None:
    ec = EchoCanceller(1, nlp=False)
    full = np.full((1, 160), 32767, np.int16)
    for _ in range(30):
        out = ec.process(full, -full - 1)
    assert out.dtype == np.int16


@pytest.mark.parametrize("bad", [
    (np.zeros((2, 160), np.int16), np.zeros((2, 160), np.int16)),  # wrong channel count
    (np.zeros((1, 7), np.int16), np.zeros((1, 7), np.int16)),  # too short
    (np.zeros((1, 161), np.int16), np.zeros((1, 161), np.int16)),  # too long
    (np.zeros((1, 80), np.int16), np.zeros((1, 40), np.int16)),  # shapes differ
    (np.zeros((1, 80), np.float32), np.zeros((1, 80), np.int16)),  # not int16
    (np.zeros(80, np.int16), np.zeros(80, np.int16)),  # 1-D
])
def test_bad_input_is_a_clear_error_and_loses_nothing(bad: tuple[np.ndarray, np.ndarray]) -> None:
    ec = EchoCanceller(1)
    with pytest.raises((ValueError, TypeError)):
        ec.process(*bad)
    ok = np.ones((1, 80), np.int16)
    assert ec.process(ok, ok).shape == (1, 80)


def test_constructor_checks() -> None:
    with pytest.raises(ValueError):
        EchoCanceller(0)
    with pytest.raises(ValueError):
        EchoCanceller(1, tail_ms=0)
    assert EchoCanceller(1, tail_ms=32)._filter.taps >= 256


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(8, 160), min_size=1, max_size=12), st.integers(0, 2**31 - 1))
def test_any_block_sequence_gives_int16_of_the_same_shape(sizes: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    ec = EchoCanceller(3)
    for n in sizes:
        rin = rng.integers(-32768, 32768, (3, n)).astype(np.int16)
        sin = rng.integers(-32768, 32768, (3, n)).astype(np.int16)
        out = ec.process(rin, sin)
        assert out.shape == (3, n) and out.dtype == np.int16


@pytest.mark.peer
def test_peer_harnesses_build_and_cancel() -> None:
    """The bench's peers (speexdsp MDF, spandsp echo_can) build and run on our signals."""
    from tests.peers import spandsp_echo, speexdsp

    r = _signals(channels=1, secs=4.0)
    tail = slice(3 * FS, 4 * FS)
    out, cpu = speexdsp.run(r.rin, r.sin, 160, 1024)
    assert cpu > 0 and out.shape == r.sin.shape
    assert S.level(r.echo[0, tail]) - S.level(out[0, tail]) > 10  # speexdsp converges
    out, cpu = spandsp_echo.run(r.rin, r.sin, 160, 256)
    assert cpu > 0 and out.shape == r.sin.shape and out.dtype == np.int16
