"""dsp.echo against the tests of ITU-T G.168 (clause 6.4.2), on the Annex D echo paths.

The echo paths are the G.168 Annex D models D2-D9 read from spandsp's
``g168models.h`` (tests/dsp/g168/models.py) at ERL 6 and 12 dB, with their
pure delay spread over the 128 ms tail; the far end is a composite source
like G.168 Annex C.  Cases run as channels of one canceller object, with and
without G.711 mu-law on Rin and Sin.  Residual echo is measured as G.168
does: with the NLP off, Sout less the near end; with it on, the Sout level.

Limits are the G.168 ones where the test has a single figure (-65 dBm0
returned echo with NLP, comfort noise within 2 dB of the background ...);
for the linear convergence figures, where G.168 draws a curve over levels,
the limits are the ones of this product's issue that the canceller meets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from dsp.answer_tone import answer_tone
from dsp.echo import EchoCanceller
from tests.dsp.g168 import line as L
from tests.dsp.g168 import metrics as M
from tests.dsp.g168 import signals as S
from tests.dsp.g168.models import MODELS
from tests.dsp.g168.models import test6_tones as g168_test6_tones
from tests.dsp.signals import speech_like

FS = S.FS
DELAYS = (0, 130, 260, 390, 520, 650, 780, 900)


def annex_d_lines() -> list[L.Line]:
    """The 16 Annex D cases: D2-D9 at ERL 6 and 12 dB, delays over the tail."""
    out = []
    for j, m in enumerate(MODELS):
        for erl in (6.0, 12.0):
            out.append(L.Line(m, erl, DELAYS[(j + 3 * (erl > 6)) % 8]))
    return out


def run_canceller(ec: EchoCanceller, rin: np.ndarray, sin: np.ndarray,
                  block: int = 160) -> np.ndarray:
    out = np.zeros_like(sin)
    for s in range(0, rin.shape[1], block):
        out[:, s:s + block] = ec.process(rin[:, s:s + block], sin[:, s:s + block])
    # the divergence guard never takes a G.168 line for a diverging model
    assert [ec.metrics(c).model_resets for c in range(rin.shape[0])] == [0] * rin.shape[0]
    return out


@dataclass
class Conv:
    """One batch: the 16 cases x (2B linear, 2A NLP + G.711, 2C noise, 2C noise + NLP + G.711)."""

    lines: list[L.Line]
    runs: dict[str, tuple[L.Run, np.ndarray]]


SECONDS = 8.0
CHANGE = 5 * FS  # echo path change (re-convergence) at 5 s


@pytest.fixture(scope="module")
def conv() -> Conv:
    return simulate_convergence()


def simulate_convergence() -> Conv:
    lines = annex_d_lines()
    n = int(SECONDS * FS)
    far = S.css(SECONDS, -15.0)
    noise = np.stack([S.hoth_noise(SECONDS, -55.0, seed=20 + i) for i in range(len(lines))])
    quiet = np.zeros_like(noise)
    # Re-convergence: from CHANGE on, every case moves to the next model.
    after = [L.Line(MODELS[(MODELS.index(ln.model) + 1) % 8], ln.erl_db, ln.delay)
             for ln in lines]
    runs: dict[str, tuple[L.Run, np.ndarray]] = {}
    specs = {"2B": (False, quiet, False), "2A": (True, quiet, True),
             "2C": (False, noise, False), "2C-NLP": (True, noise, True)}
    rins, sins, keys = [], [], []
    for key, (g711, near, _) in specs.items():
        r1 = L.run(lines, far, near, g711=g711)
        r2 = L.run(after, far, near, g711=g711)
        sin = np.concatenate([r1.sin[:, :CHANGE], r2.sin[:, CHANGE:]], axis=1)
        echo = np.concatenate([r1.echo[:, :CHANGE], r2.echo[:, CHANGE:]], axis=1)
        rins.append(r1.rin)
        sins.append(sin)
        keys.append((key, L.Run(r1.rin, sin, echo, r1.near)))
    rin = np.concatenate(rins)
    sin = np.concatenate(sins)
    ec = EchoCanceller(rin.shape[0])
    for i, (key, _) in enumerate(keys):
        if not specs[key][2]:
            for c in range(i * len(lines), (i + 1) * len(lines)):
                ec.set_nlp(False, c)
    out = run_canceller(ec, rin, sin)
    for i, (key, r) in enumerate(keys):
        runs[key] = (r, out[i * len(lines):(i + 1) * len(lines)])
    assert n == out.shape[1]
    return Conv(lines, runs)


def test_2b_convergence_nlp_disabled(conv: Conv) -> None:
    """2B: from a cleared H register, ERLE >= 20 dB within 1.5 s (median 0.5 s), >= 40 dB by 4 s."""
    r, out = conv.runs["2B"]
    resid = out.astype(np.float64) - r.near
    t20 = M.time_to(r.echo, resid, 20.0, CHANGE)
    assert np.all(t20 <= 1.5), t20
    assert np.median(t20) <= 0.5
    assert np.all(M.erle(r.echo, resid, CHANGE - FS, CHANGE) >= 40.0)


def test_2b_reconvergence_after_echo_path_change(conv: Conv) -> None:
    """2B: after the echo path changes (no reset), ERLE is back to 30 dB 2 s later."""
    r, out = conv.runs["2B"]
    resid = out.astype(np.float64) - r.near
    erle = M.erle(r.echo, resid, CHANGE + 2 * FS, CHANGE + 3 * FS)
    assert np.all(erle >= 30.0), erle


def test_2a_convergence_nlp_enabled_g711(conv: Conv) -> None:
    """2A: NLP on, G.711 on Rin and Sin: returned echo <= -65 dBm0 (100 ms windows) after 1.5 s."""
    _, out = conv.runs["2A"]
    lev = S.windowed_level(out[:, int(1.5 * FS):CHANGE], 800)
    assert np.all(lev <= -65.0), lev.max(axis=1)
    # and again after the echo path change (no reset), 2 s on.
    late = S.windowed_level(out[:, CHANGE + 2 * FS:], 800).max(axis=1)
    assert np.all(late <= -65.0), late


def test_2c_convergence_in_background_noise(conv: Conv) -> None:
    """2C: Hoth-like noise at -55 dBm0: converges all the same, the noise passes untouched."""
    r, out = conv.runs["2C"]
    resid = out.astype(np.float64) - r.near
    t20 = M.time_to(r.echo, resid, 20.0, CHANGE)
    assert np.all(t20 <= 1.5), t20
    assert np.median(t20) <= 0.5
    assert np.all(M.erle(r.echo, resid, CHANGE - FS, CHANGE) >= 30.0)


def test_2c_nlp_keeps_the_background(conv: Conv) -> None:
    """2C with NLP and G.711: Sout in far-end single talk sits at the background level."""
    r, out = conv.runs["2C-NLP"]
    sout = S.level(out[:, 2 * FS:CHANGE])
    noise = S.level(r.near[:, 2 * FS:CHANGE])
    diff = sout - noise
    assert np.all(np.abs(diff) <= 2.0), diff
    assert abs(np.median(diff)) <= 1.0, diff


@pytest.fixture(scope="module")
def double_talk() -> tuple[L.Run, np.ndarray, np.ndarray, np.ndarray]:
    """3A/3B: 16 cases x (NLP off, NLP on + G.711); near end joins at 4 s."""
    lines = annex_d_lines()
    secs = 9.0
    far = S.css(secs, -15.0)
    talk = np.zeros(int(secs * FS))
    talk[4 * FS:7 * FS] = S.talker(3.0, -15.0, seed=7)
    low = S.css(secs, -15.0 - 6.0 - 15.0, seed=9)  # 3A: 15 dB below the echo (ERL 6)
    r_hi = L.run(lines, far, talk)
    r_hi_g = L.run(lines, far, talk, g711=True)
    r_lo = L.run(lines, far, low)
    rin = np.concatenate([r_hi.rin, r_hi_g.rin, r_lo.rin])
    sin = np.concatenate([r_hi.sin, r_hi_g.sin, r_lo.sin])
    ec = EchoCanceller(rin.shape[0])
    n = len(lines)
    for c in [*range(n), *range(2 * n, 3 * n)]:
        ec.set_nlp(False, c)
    out = run_canceller(ec, rin, sin)
    echo = np.concatenate([r_hi.echo, r_hi_g.echo, r_lo.echo])
    near = np.concatenate([r_hi.near, r_hi_g.near, r_lo.near])
    return L.Run(rin, sin, echo, near), out, talk, low


def test_3a_converges_with_low_level_near_end(double_talk: tuple[L.Run, np.ndarray, np.ndarray, np.ndarray]) -> None:
    """3A: a near-end signal 15 dB under the echo does not stop convergence.

    It is not taken for double talk (which would freeze the filter); it is
    noise 15 dB under the echo, so 3 s give 10-25 dB, not the quiet-line figures.
    """
    r, out, _, _ = double_talk
    sl = slice(32, 48)
    resid = out[sl].astype(np.float64) - r.near[sl]
    erle = M.erle(r.echo[sl], resid, 3 * FS, 4 * FS)
    assert np.all(erle >= 10.0), erle
    assert np.median(erle) >= 14.0, erle


def test_3b_double_talk_does_not_diverge(double_talk: tuple[L.Run, np.ndarray, np.ndarray, np.ndarray]) -> None:
    """3B: a caller at the far end's level for 3 s: ERLE holds during and after it."""
    r, out, _, _ = double_talk
    sl = slice(0, 16)
    resid = out[sl].astype(np.float64) - r.near[sl]
    before = M.erle(r.echo[sl], resid, 3 * FS, 4 * FS)
    during = M.erle(r.echo[sl], resid, 4 * FS, 7 * FS)
    after = M.erle(r.echo[sl], resid, 7 * FS + FS // 2, 9 * FS)
    assert np.all(during >= 20.0), during
    assert np.median(during) >= 30.0
    assert np.all(after >= before - 6.0), (before, after)


def test_3b_caller_passes_unclipped_with_nlp(double_talk: tuple[L.Run, np.ndarray, np.ndarray, np.ndarray]) -> None:
    """3B with NLP and G.711: the caller's level in Sout is within 1 dB of the caller's."""
    _, out, talk, _ = double_talk
    sl = slice(16, 32)
    change = S.level(out[sl, 4 * FS:7 * FS]) - S.level(talk[None, 4 * FS:7 * FS])
    assert np.all(np.abs(change) <= 1.0), change


def test_4_leak_rate_keeps_the_model_without_far_end() -> None:
    """4: after convergence, 60 s without Rin: the model is still there when Rin returns."""
    lines = annex_d_lines()[::4]
    conv_s, idle_s, back_s = 4.0, 60.0, 0.25
    far = np.concatenate([S.css(conv_s, -15.0), np.zeros(int(idle_s * FS)),
                          S.css(back_s, -15.0, seed=3)])
    r = L.run(lines, far, np.zeros_like(far))
    ec = EchoCanceller(len(lines), nlp=False)
    out = run_canceller(ec, r.rin, r.sin)
    start = int((conv_s + idle_s) * FS)
    erle = M.erle(r.echo, out.astype(np.float64), start, start + int(back_s * FS))
    assert np.all(erle >= 25.0), erle


def test_5_infinite_return_loss() -> None:
    """5: converged, then the echo path opens: Sout <= -65 dBm0 within 500 ms, NLP on or off."""
    lines = annex_d_lines()[::2]
    secs = 6.0
    far = S.css(secs, -15.0)
    r = L.run(lines, far, np.zeros_like(far))
    sin = r.sin.copy()
    sin[:, 3 * FS:] = 0  # open echo path
    rin = np.concatenate([r.rin, r.rin])
    sin = np.concatenate([sin, sin])
    ec = EchoCanceller(rin.shape[0])
    for c in range(len(lines)):
        ec.set_nlp(False, c)
    out = run_canceller(ec, rin, sin)
    lev = S.windowed_level(out[:, int(3.5 * FS):], 800)
    assert np.all(lev <= -65.0), lev.max(axis=1)


def test_6_no_divergence_on_narrow_band_signals() -> None:
    """6: converged on CSS, then each test 6 tone or pair for 1 s: the model survives."""
    lines = annex_d_lines()[::2]
    pre = S.css(4.0, -15.0)
    tones = np.concatenate([S.tones(f, 1.0, -10.0) for f in g168_test6_tones()])
    post = S.css(0.25, -15.0, seed=4)
    far = np.concatenate([pre, tones, post])
    r = L.run(lines, far, np.zeros_like(far))
    ec = EchoCanceller(len(lines), nlp=False)
    out = run_canceller(ec, r.rin, r.sin)
    start = len(pre) + len(tones)
    before = M.erle(r.echo, out.astype(np.float64), len(pre) - FS, len(pre))
    after = M.erle(r.echo, out.astype(np.float64), start, len(far))
    assert np.all(after >= before - 10.0), (before, after)
    assert np.all(after >= 25.0), after


def test_7_stability_on_a_long_tone() -> None:
    """7: a tone on Rin from a cleared H register for 20 s: cancelled, and it stays so."""
    lines = annex_d_lines()[::4]
    far = S.tones((1004, 0), 20.0, -10.0)
    r = L.run(lines, far, np.zeros_like(far))
    ec = EchoCanceller(len(lines), nlp=False)
    out = run_canceller(ec, r.rin, r.sin)
    per_s = S.level(r.echo.reshape(len(lines), 20, FS)) - S.level(
        out.astype(np.float64).reshape(len(lines), 20, FS))
    assert np.all(per_s[:, 5:] >= 25.0), per_s
    assert np.all(per_s[:, -1] >= per_s[:, 5:].max(axis=1) - 6.0)


def test_9_comfort_noise_matches_the_background() -> None:
    """9: NLP on, background noise at -45 and -55 dBm0: comfort noise within 2 dB, same shape."""
    lines = annex_d_lines()[::2]
    secs = 6.0
    far = np.concatenate([np.zeros(FS), S.css(secs - 1, -15.0)])
    levels = (-45.0, -55.0)
    rins, sins, nears = [], [], []
    for j, lv in enumerate(levels):
        near = np.stack([S.hoth_noise(secs, lv, seed=40 + i + 10 * j) for i in range(len(lines))])
        r = L.run(lines, far, near, g711=True)
        rins.append(r.rin)
        sins.append(r.sin)
        nears.append(r.near)
    rin, sin, near = np.concatenate(rins), np.concatenate(sins), np.concatenate(nears)
    ec = EchoCanceller(rin.shape[0])
    out = run_canceller(ec, rin, sin)
    seg = slice(3 * FS, 6 * FS)
    diff = S.level(out[:, seg]) - S.level(near[:, seg])
    assert np.all(np.abs(diff) <= 2.0), diff
    # spectral shape: the level in low (200-1000 Hz) minus high (1000-3400 Hz) bands
    def tilt(x: np.ndarray) -> np.ndarray:
        spec = np.abs(np.fft.rfft(x.reshape(x.shape[0], -1, 320) * np.hanning(320), axis=2)) ** 2
        p = spec.mean(axis=1)
        f = np.fft.rfftfreq(320, 1 / FS)
        lo = p[:, (f >= 200) & (f < 1000)].sum(axis=1)
        hi = p[:, (f >= 1000) & (f < 3400)].sum(axis=1)
        return np.asarray(10 * np.log10(lo / hi))
    assert np.all(np.abs(tilt(out[:, seg].astype(float)) - tilt(near[:, seg])) <= 3.0)


def test_tone_disabler_on_one_call_of_a_span_of_talking_calls() -> None:
    """G.168 clause 7 on one of 12 calls, 5 ms blocks: the answer tone detector is fed only
    the calls with a 2100 Hz component lately (dsp/echo.py ``_tone_gate``), so the tone
    calls' Sout must be the same, sample for sample, whether the other calls talk (double
    talk: a 2100 Hz share in speech now and then feeds them to the detector) or are quiet;
    the ANS with reversals call disabled over its tone, the CED call cancelled."""
    secs = 6.0
    n = int(secs * FS)
    lines = [L.Line(MODELS[i % len(MODELS)], 6.0, DELAYS[i % len(DELAYS)]) for i in range(12)]
    near = np.zeros((12, n))
    near[4, int(2.5 * FS):int(4.5 * FS)] = answer_tone(2 * FS, -12.0, reversals=True)
    near[7, int(2.5 * FS):int(4.5 * FS)] = answer_tone(2 * FS, -12.0, reversals=False)
    talk = near.copy()
    for c in range(12):
        if c not in (4, 7):
            talk[c, int(1.5 * FS):] = speech_like(secs - 1.5, 300 + c, -20.0)  # after convergence
    far = S.css(secs, -15.0)
    far[int(4.5 * FS):int(5.0 * FS)] = 0  # the call pauses after the tone: nothing holds the disabler
    q = L.run(lines, far, near)
    quiet_out = run_canceller(EchoCanceller(12), q.rin, q.sin, block=40)
    r = L.run(lines, far, talk)
    out = run_canceller(EchoCanceller(12), r.rin, r.sin, block=40)
    assert np.array_equal(out[[4, 7]], quiet_out[[4, 7]])
    assert not np.array_equal(out[0], quiet_out[0])  # the talkers did talk
    tone = slice(int(3.7 * FS), int(4.4 * FS))
    assert np.array_equal(out[4, tone], r.sin[4, tone])  # disabled: Sout = Sin
    resid = out[7, tone].astype(float) - r.near[7, tone]
    assert S.level(r.echo[7, tone]) - S.level(resid) >= 20.0  # CED: still cancelling
    back = slice(int(5.5 * FS), n)
    resid = out[4, back].astype(float) - r.near[4, back]
    assert S.level(r.echo[4, back]) - S.level(resid) >= 20.0  # back after the tone


def test_tone_disabler_ans_with_phase_reversals_disables_the_canceller() -> None:
    """G.168 clause 7: 2100 Hz with reversals on Sin: Sout = Sin; back after the tone stops."""
    line = L.Line("d4", 6.0, 200)
    secs = 7.0
    far = S.css(secs, -15.0)
    far[5 * FS:int(5.5 * FS)] = 0  # the call pauses after the tone: nothing holds the disabler
    ans = np.zeros(int(secs * FS))
    ans[3 * FS:5 * FS] = answer_tone(2 * FS, -12.0, reversals=True)
    ced = np.zeros(int(secs * FS))
    ced[3 * FS:5 * FS] = answer_tone(2 * FS, -12.0, reversals=False)
    r = L.run([line, line], far, np.stack([ans, ced]))
    ec = EchoCanceller(2)
    out = run_canceller(ec, r.rin, r.sin)
    tone = slice(int(4.2 * FS), int(4.9 * FS))
    # ANS with reversals: canceller off, the echo comes through with the tone
    assert np.array_equal(out[0, tone], r.sin[0, tone])
    # CED: canceller on (echo removed), NLP off (the tone passes at its level)
    resid = out[1, tone].astype(float) - ced[tone]
    assert S.level(r.echo[1, tone]) - S.level(resid) >= 20.0
    # both: the canceller is back within 250 +/- 150 ms of tone and signal ending
    back = slice(int(5.9 * FS), int(7 * FS))
    for c in (0, 1):
        resid = out[c, back].astype(float) - r.near[c, back]
        assert S.level(r.echo[c, back]) - S.level(resid) >= 20.0
