"""Hypothesis properties of the DSP kernels: any shape, any block split, bad input refused cleanly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dsp import g711
from dsp.answer_tone import AnswerToneDetector
from dsp.dtmf import DtmfDetector, dtmf_sequence
from dsp.levels import ActiveSpeechLevel, PowerMeter
from dsp.tones import CallProgressDetector, ProgressTone, progress_tone

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=9)


@given(hnp.arrays(np.int16, shapes))
def test_encoders_keep_shape_and_decode_back_to_a_fixed_point(x: np.ndarray) -> None:
    for enc, dec in ((g711.ulaw_encode, g711.ulaw_decode), (g711.alaw_encode, g711.alaw_decode)):
        c = enc(x)
        assert c.shape == x.shape and c.dtype == np.uint8
        y = dec(c)
        assert y.shape == x.shape and y.dtype == np.int16
        np.testing.assert_array_equal(enc(y), c)


@given(hnp.arrays(np.uint8, shapes))
def test_code_functions_keep_shape(c: np.ndarray) -> None:
    for fn in (g711.ulaw_decode, g711.alaw_decode, g711.ulaw_to_alaw, g711.alaw_to_ulaw):
        assert fn(c).shape == c.shape


@given(hnp.arrays(st.sampled_from([np.int8, np.int32, np.uint16, np.float32, np.float64, np.complex64]), shapes))
def test_g711_rejects_other_dtypes(x: np.ndarray) -> None:
    for fn in (g711.ulaw_encode, g711.alaw_encode, g711.ulaw_decode, g711.alaw_decode,
               g711.ulaw_to_alaw, g711.alaw_to_ulaw):  # fmt: skip
        with pytest.raises(TypeError):
            fn(x)


_SIGNAL = np.concatenate([
    dtmf_sequence("159#", on_ms=50, off_ms=60, lead_ms=40),
    progress_tone("us", ProgressTone.BUSY, 2.2),
])  # fmt: skip
_SIGNAL = np.stack([_SIGNAL, _SIGNAL[::-1].copy()])


def _events(det: DtmfDetector | CallProgressDetector, x: np.ndarray, cuts: list[int]) -> list[object]:
    out: list[object] = []
    pos = 0
    for c in [*sorted(cuts), x.shape[1]]:
        out += det.process(x[:, pos:c])
        pos = c
    return out


@settings(max_examples=12)
@given(st.lists(st.integers(0, _SIGNAL.shape[1]), max_size=12))
def test_dtmf_and_progress_events_do_not_depend_on_block_boundaries(cuts: list[int]) -> None:
    for make in (lambda: DtmfDetector(2), lambda: CallProgressDetector(2, "us")):
        assert _events(make(), _SIGNAL, cuts) == _events(make(), _SIGNAL, [])


@settings(max_examples=10)
@given(st.lists(st.integers(0, _SIGNAL.shape[1]), max_size=8))
def test_answer_tone_and_meters_do_not_depend_on_block_boundaries(cuts: list[int]) -> None:
    for make in (lambda: AnswerToneDetector(2), lambda: PowerMeter(2), lambda: ActiveSpeechLevel(2)):
        a, b = make(), make()
        pos = 0
        for c in [*sorted(cuts), _SIGNAL.shape[1]]:
            a.process(_SIGNAL[:, pos:c])
            pos = c
        b.process(_SIGNAL)
        if isinstance(a, AnswerToneDetector):
            np.testing.assert_array_equal(a.state, b.state)  # type: ignore[union-attr]
        elif isinstance(a, PowerMeter):
            np.testing.assert_allclose(a.level_dbm0(), b.level_dbm0(), atol=1e-6)  # type: ignore[union-attr]
        else:
            np.testing.assert_allclose(a.level_dbm0(), b.level_dbm0(), atol=1e-6)  # type: ignore[union-attr]


@settings(max_examples=40)
@given(hnp.arrays(np.int16, st.tuples(st.just(3), st.integers(0, 700))))
def test_detectors_take_any_int16_block(x: np.ndarray) -> None:
    for det in (DtmfDetector(3), AnswerToneDetector(3), CallProgressDetector(3, "de"),
                PowerMeter(3), ActiveSpeechLevel(3)):  # fmt: skip
        det.process(x)
        det.process(x)


@settings(max_examples=20)
@given(st.sampled_from([np.nan, np.inf, -np.inf]), st.integers(0, 159))
def test_detectors_refuse_non_finite_samples_and_keep_state(bad: float, at: int) -> None:
    x = np.zeros((2, 160))
    x[1, at] = bad
    for det in (DtmfDetector(2), AnswerToneDetector(2), CallProgressDetector(2, "fr"),
                PowerMeter(2), ActiveSpeechLevel(2)):  # fmt: skip
        det.process(np.zeros((2, 80)))
        with pytest.raises(ValueError):
            det.process(x)
        det.process(np.zeros((2, 80)))  # still usable
