"""2100 Hz answer tone: CED vs ANS with phase reversals, G.164/G.165/G.168 tone disabler rules."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from dsp.tones import AnswerTone, AnswerToneDetector, answer_tone
from tests.dsp.signals import music_like, speech_like, to_int16, white_noise

FS = 8000


def _run(x: np.ndarray, block: int = 160) -> np.ndarray:
    """State after every block, shape (blocks, channels)."""
    x = np.atleast_2d(x)
    det = AnswerToneDetector(x.shape[0])
    return np.array([det.process(x[:, k : k + block]) for k in range(0, x.shape[1], block)])


def _pad(x: np.ndarray, before: float = 0.3, after: float = 1.0) -> np.ndarray:
    return np.concatenate([np.zeros(int(before * FS)), x, np.zeros(int(after * FS))])


def _first(states: np.ndarray, value: int) -> float:
    hit = np.flatnonzero(states == value)
    return float("inf") if len(hit) == 0 else hit[0] * 0.02


def test_ced_is_tone_and_ans_is_tone_pr() -> None:
    """T.30 CED (no reversals) -> TONE; V.25 ANS with reversals every 450 ms -> TONE_PR."""
    ced = _pad(answer_tone(int(3.0 * FS), -12, reversals=False), after=1.3)
    ans = _pad(answer_tone(int(3.3 * FS), -12, reversals=True))
    st = _run(np.stack([ced, ans]))
    assert set(st[:, 0].tolist()) == {AnswerTone.NONE, AnswerTone.TONE}
    assert 0.3 + 0.15 < _first(st[:, 0], AnswerTone.TONE) <= 0.3 + 0.4  # G.164: 300 +/- 100 ms
    # ANS: tone first, then TONE_PR at the first reversal (450 ms after onset)
    assert _first(st[:, 1], AnswerTone.TONE_PR) == pytest.approx(0.3 + 0.45, abs=0.05)
    # both released 250 +/- 150 ms after the tone stops (G.164 clause 5)
    for ch, dur in ((0, 3.0), (1, 3.3)):
        end = 0.3 + dur
        last_on = np.flatnonzero(st[:, ch] != AnswerTone.NONE)[-1] * 0.02
        assert 0.1 <= last_on - end <= 0.4


def test_ansam_with_and_without_reversals() -> None:
    """V.8 ANSam (15 Hz AM, 20 %) is still an answer tone; its reversals still count."""
    st = _run(np.stack([_pad(answer_tone(int(3 * FS), -15, reversals=r, am=True)) for r in (False, True)]))
    assert st[:, 0].max() == AnswerTone.TONE
    assert st[:, 1].max() == AnswerTone.TONE_PR


@pytest.mark.parametrize("offset", [-21.0, -15.0, 0.0, 15.0, 21.0])
@pytest.mark.parametrize("level", [0.0, -6.0, -20.0, -31.0])
def test_detects_2100_plus_minus_21_hz_from_0_to_minus_31_dbm0(offset: float, level: float) -> None:
    """G.165: detect 2100 +/- 21 Hz with reversals at -6..-31 dBm0 (and 0 dBm0)."""
    x = _pad(answer_tone(int(2.0 * FS), level, reversals=True, freq=2100 + offset))
    st = _run(to_int16(x))
    assert st.max() == AnswerTone.TONE_PR


@pytest.mark.parametrize("freq", [1900.0, 2000.0, 2060.0, 2140.0, 2200.0, 2225.0, 2400.0])
def test_rejects_out_of_band_tones(freq: float) -> None:
    st = _run(_pad(answer_tone(int(2.0 * FS), -12, reversals=True, freq=freq)))
    assert st.max() == AnswerTone.NONE


@pytest.mark.parametrize("level", [-36.0, -40.0, -50.0])
def test_does_not_operate_below_minus_36_dbm0(level: float) -> None:
    st = _run(_pad(answer_tone(int(2.0 * FS), level, reversals=True)))
    assert st.max() == AnswerTone.NONE


def test_phase_reversal_tolerance_155_to_205_degrees() -> None:
    """180 +/- 25 degree reversals count; a 90 degree phase hit does not."""
    t = np.arange(int(2.5 * FS)) / FS
    base = 2 * np.pi * 2100 * t
    k = np.floor(t / 0.45)
    amp = 10 ** (-12 / 20) * 16020 * np.sqrt(2)
    xs = [amp * np.sin(base + np.deg2rad(d) * k) for d in (155.0, 205.0, 90.0)]
    st = _run(np.stack([_pad(x) for x in xs]))
    assert st[:, 0].max() == AnswerTone.TONE_PR
    assert st[:, 1].max() == AnswerTone.TONE_PR
    assert st[:, 2].max() == AnswerTone.TONE


@pytest.mark.parametrize(("period", "expect"), [(0.425, 2), (0.475, 2), (0.25, 1), (0.7, 1)])
def test_reversal_period_450_plus_minus_25_ms(period: float, expect: int) -> None:
    x = _pad(answer_tone(int(3.0 * FS), -12, reversals=True, reversal_period_s=period))
    assert _run(x).max() == expect


def test_single_phase_hit_in_ced_is_not_ans() -> None:
    """One reversal long after onset (a phase hit in CED) is not the 450 ms pattern."""
    t = np.arange(3 * FS) / FS
    x = np.sin(2 * np.pi * 2100 * t + np.pi * (t > 1.3)) * 8000
    assert _run(_pad(x)).max() == AnswerTone.TONE


def test_held_by_data_after_tone_then_released_by_silence() -> None:
    """G.164/G.165 holding: signal after the tone keeps the disabler; 250 ms quiet releases it."""
    tone = answer_tone(int(3.3 * FS), -12, reversals=True)
    data = white_noise(2.0, 1, level_dbov=-25)  # modem data stands in as band noise
    x = _pad(np.concatenate([tone, data]), after=1.0)
    st = _run(x)[:, 0]
    t_end = 0.3 + 3.3 + 2.0
    during_data = st[int((0.3 + 3.4) / 0.02) : int((t_end - 0.05) / 0.02)]
    assert (during_data == AnswerTone.TONE_PR).all()
    assert st[int((t_end + 0.45) / 0.02) :].max() == AnswerTone.NONE


def test_short_tone_does_not_operate() -> None:
    st = _run(_pad(answer_tone(int(0.15 * FS), -10, reversals=False)))
    assert st.max() == AnswerTone.NONE


def test_block_size_does_not_change_the_result() -> None:
    x = np.stack([_pad(answer_tone(int(2.5 * FS), -20, reversals=r)) for r in (False, True)])
    ref = AnswerToneDetector(2)
    ref_states = [ref.process(x[:, k : k + 160]).copy() for k in range(0, x.shape[1], 160)]
    det = AnswerToneDetector(2)
    rng = np.random.default_rng(0)
    pos, out = 0, []
    while pos < x.shape[1]:
        step = int(rng.integers(1, 400))
        det.process(x[:, pos : pos + step])
        pos += step
        out.append((pos, det.state))
    # sample-exact: the state at 20 ms boundaries agrees whenever a call ended there
    for p, s in out:
        if p % 160 == 0:
            np.testing.assert_array_equal(s, ref_states[p // 160 - 1])
    np.testing.assert_array_equal(det.state, ref_states[-1])


def test_reset_one_channel() -> None:
    x = np.stack([answer_tone(int(1.5 * FS), -12, reversals=True)] * 2)
    det = AnswerToneDetector(2)
    for k in range(0, x.shape[1], 160):
        det.process(x[:, k : k + 160])
    assert det.state.tolist() == [2, 2]
    det.reset(1)
    assert det.state.tolist() == [2, 0]
    det.reset()
    assert det.state.tolist() == [0, 0]


def test_bad_input() -> None:
    det = AnswerToneDetector(2)
    with pytest.raises(ValueError):
        det.process(np.zeros((3, 160)))
    with pytest.raises(TypeError):
        det.process(np.zeros((2, 160), np.int32))
    with pytest.raises(TypeError):
        det.process([[0] * 160] * 2)  # type: ignore[arg-type]
    assert det.process(np.zeros((2, 0))).tolist() == [0, 0]


@pytest.mark.parametrize("seed", range(6))
def test_no_talk_off_on_speech_and_music(seed: int) -> None:
    """Speech and music at normal and loud levels never operate the disabler."""
    sigs = [speech_like(20, seed, -20), speech_like(20, seed + 100, -10), music_like(20, seed, -15),
            music_like(20, seed + 7, -15, pure=True)]  # fmt: skip
    st = _run(np.stack([to_int16(s) for s in sigs]))
    assert st.max() == AnswerTone.NONE


def test_tone_in_noise() -> None:
    """ANS at -25 dBm0 with white noise 15 dB below it is still detected."""
    x = _pad(answer_tone(int(2.5 * FS), -25, reversals=True)) + white_noise(3.8, 3, -3.2 - 25 - 15)
    assert _run(x).max() == AnswerTone.TONE_PR


def _spandsp_tone(kind: int, seconds: float) -> np.ndarray:
    sp = ctypes.CDLL("libspandsp.so.2")
    sp.modem_connect_tones_tx_init.restype = ctypes.c_void_p
    sp.modem_connect_tones_tx_init.argtypes = [ctypes.c_void_p, ctypes.c_int]
    sp.modem_connect_tones_tx.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int]
    sp.modem_connect_tones_tx_free.argtypes = [ctypes.c_void_p]
    s = sp.modem_connect_tones_tx_init(None, kind)
    buf = np.zeros(int(seconds * FS), np.int16)
    sp.modem_connect_tones_tx(s, buf.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), len(buf))
    sp.modem_connect_tones_tx_free(s)
    return buf


@pytest.mark.peer
@pytest.mark.parametrize(("kind", "expect"), [(2, 1), (3, 2), (4, 1), (5, 2)])
def test_spandsp_generated_ans_ansam(kind: int, expect: int) -> None:
    """spandsp's modem_connect_tones_tx: ANS=2, ANS_PR=3, ANSAM=4, ANSAM_PR=5."""
    buf = _spandsp_tone(kind, 5.0)
    assert _run(buf).max() == expect


def test_process_rows_follows_only_the_rows_fed() -> None:
    """``process_rows`` (the canceller's gate feeds the detector only some calls): the rows fed
    get the states ``process`` gives them alone; the others keep theirs; bad rows are refused."""
    ans = _pad(answer_tone(int(1.5 * FS), -12, reversals=True))
    ced = _pad(answer_tone(int(1.5 * FS), -12, reversals=False))
    x = np.stack([ced, np.zeros_like(ced), ans])
    alone = _run(x[[0, 2]], block=40)
    det = AnswerToneDetector(3)
    rows = np.array([0, 2])
    got = np.array([det.process_rows(rows, x[rows, k:k + 40]) for k in range(0, x.shape[1], 40)])
    assert np.array_equal(got[:, [0, 2]], alone)
    assert not got[:, 1].any()
    assert AnswerTone.TONE_PR in got[:, 2] and AnswerTone.TONE in got[:, 0]
    det.skip(40)  # a block no row was fed: the state stays
    assert np.array_equal(det.state, got[-1])
    for bad in (np.array([], np.intp), np.array([3]), np.array([-1, 0])):
        with pytest.raises(ValueError, match="rows"):
            det.process_rows(bad, np.zeros((len(bad), 40)))
