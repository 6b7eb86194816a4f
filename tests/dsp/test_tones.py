"""Call progress tones: every tone of every plan generated and detected by cadence (E.180 Suppl. 2)."""

from __future__ import annotations

import numpy as np
import pytest

from dsp import g711
from dsp.tones import (
    TONE_PLANS,
    CallProgressDetector,
    CallProgressGenerator,
    EventKind,
    ProgressEvent,
    ProgressTone,
    progress_tone,
)
from tests.dsp.signals import music_like, speech_like, to_int16, white_noise

FS = 8000
ALL = [(c, t) for c in sorted(TONE_PLANS) for t in ProgressTone]


def _run(x: np.ndarray, country: str, block: int = 160) -> list[tuple[float, ProgressEvent]]:
    """(time the event was reported in s, event)."""
    x = np.atleast_2d(x)
    det = CallProgressDetector(x.shape[0], country)
    out = []
    for k in range(0, x.shape[1], block):
        for e in det.process(x[:, k : k + block]):
            out.append(((k + block) / FS, e))
    return out


def _starts(events: list[tuple[float, ProgressEvent]], channel: int = 0) -> list[ProgressTone]:
    return [e.tone for _, e in events if e.kind is EventKind.START and e.channel == channel]


# worst-case detection time from the tone's start (s): one on + one off; a continuous tone
# once it is longer than any cadenced tone of its signature (FR ringback: 1.5 s on)
LATENCY = {ProgressTone.DIAL: 1.2, ProgressTone.RINGBACK: 6.0, ProgressTone.BUSY: 1.3,
           ProgressTone.CONGESTION: 1.6}  # fmt: skip


@pytest.mark.parametrize(("country", "tone"), ALL)
def test_every_tone_is_detected_alone_with_start_and_end(country: str, tone: ProgressTone) -> None:
    lead, dur = 0.5, 13.0
    x = np.concatenate([np.zeros(int(lead * FS)), progress_tone(country, tone, dur), np.zeros(8 * FS)])
    events = _run(x, country)
    assert _starts(events) == [tone]
    (t_start, start), (_, end) = events
    assert start.start == pytest.approx(lead * FS, abs=0.02 * FS)
    extra = {("uk", ProgressTone.RINGBACK): 1.6, ("fr", ProgressTone.DIAL): 0.6}.get((country, tone), 0.0)
    assert t_start - lead <= LATENCY[tone] + extra
    last_on_end = (np.flatnonzero(progress_tone(country, tone, dur))[-1] + 1) / FS
    assert end.end == pytest.approx((lead + last_on_end) * FS, abs=0.03 * FS)


@pytest.mark.parametrize(("country", "tone"), ALL)
def test_joining_mid_cadence(country: str, tone: ProgressTone) -> None:
    """The detector starts inside a cadence (first segment cut): still the right tone."""
    spec = TONE_PLANS[country][tone]
    offset = int(0.37 * sum(spec.cadence) * 8) if spec.cadence else 0
    x = progress_tone(country, tone, 16.0, start=offset)
    assert _starts(_run(x, country)) == [tone]


VARIANTS = ["slow", "fast", "high", "low", "quiet", "loud"]


def _variant(spec, variant: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    scale = {"slow": 1.08, "fast": 0.92}.get(variant, 1.0)
    fscale = {"high": 1.015, "low": 0.985}.get(variant, 1.0)
    level = {"quiet": -35.0, "loud": 0.0}.get(variant, spec.level_dbm0)
    n = 14 * FS
    t = np.arange(n) / FS
    x = sum(np.sin(2 * np.pi * f * fscale * t) for f in spec.freqs) * 16020 * np.sqrt(2) * 10 ** (level / 20)
    if spec.cadence:
        cad = np.array(spec.cadence) * scale / 1000
        edges = np.cumsum((0, *cad))
        ph = t % edges[-1]
        on = np.zeros(n, bool)
        for k in range(0, len(cad), 2):
            on |= (ph >= edges[k]) & (ph < edges[k + 1])
        x = x * on
    return np.concatenate([np.zeros(FS // 2), x])


@pytest.mark.parametrize(("country", "tone"), ALL)
def test_tolerances(country: str, tone: ProgressTone) -> None:
    """Cadence +/-8 %, frequency +/-1.5 %, level -35..0 dBm0 per frequency: one channel each."""
    spec = TONE_PLANS[country][tone]
    x = np.stack([to_int16(_variant(spec, v)) for v in VARIANTS])
    events = _run(x, country)
    assert [_starts(events, ch) for ch in range(len(VARIANTS))] == [[tone]] * len(VARIANTS)


@pytest.mark.parametrize("country", sorted(TONE_PLANS))
def test_busy_and_congestion_are_told_apart_and_sequences_follow(country: str) -> None:
    plan = [ProgressTone.DIAL, ProgressTone.BUSY, ProgressTone.CONGESTION, ProgressTone.RINGBACK]
    parts = []
    for tone in plan:
        parts += [progress_tone(country, tone, 9.0), np.zeros(FS * 5)]
    assert _starts(_run(np.concatenate(parts), country)) == plan


@pytest.mark.parametrize("country", sorted(TONE_PLANS))
def test_in_noise_and_through_g711(country: str) -> None:
    """Every tone at its nominal level, white noise 45 dB down, through A-law: one channel each."""
    xs = []
    for tone in ProgressTone:
        spec = TONE_PLANS[country][tone]
        x = progress_tone(country, tone, 14.0, level_dbm0=spec.level_dbm0) + white_noise(14.0, 2, -3.2 - 45)
        xs.append(g711.alaw_decode(g711.alaw_encode(to_int16(x))))
    events = _run(np.stack(xs), country)
    assert [_starts(events, ch) for ch in range(4)] == [[t] for t in ProgressTone]


@pytest.mark.parametrize("country", sorted(TONE_PLANS))
def test_no_tones_in_speech_music_noise(country: str) -> None:
    sigs = [speech_like(30, 11, -18), speech_like(30, 12, -28), music_like(30, 3, -15), white_noise(30, 5, -25)]
    x = np.stack([to_int16(s) for s in sigs])
    events = _run(x, country)
    assert [e for _, e in events] == []


def test_other_countrys_tones_are_not_taken() -> None:
    """A DE busy tone (425 Hz) is not a US tone; US busy (480+620) is nothing in DE."""
    assert _starts(_run(progress_tone("de", ProgressTone.BUSY, 6.0), "us")) == []
    assert _starts(_run(progress_tone("us", ProgressTone.BUSY, 6.0), "de")) == []


def test_channels_independent_and_block_size() -> None:
    x = np.stack([progress_tone("uk", t, 12.0) for t in ProgressTone])
    ref = [(e.channel, e.tone, e.start, e.end) for _, e in _run(x, "uk", 160)]
    assert sorted({(c, t) for c, t, _, _ in ref}) == sorted((i, t) for i, t in enumerate(ProgressTone))
    for block in (80, 333, 1000):
        assert [(e.channel, e.tone, e.start, e.end) for _, e in _run(x, "uk", block)] == ref


def test_state_and_reset() -> None:
    det = CallProgressDetector(2, "fr")
    x = np.stack([progress_tone("fr", ProgressTone.BUSY, 3.0), np.zeros(3 * FS)])
    for k in range(0, x.shape[1], 160):
        det.process(x[:, k : k + 160])
    assert det.state == [ProgressTone.BUSY, None]
    det.reset(0)
    assert det.state == [None, None]


def test_generator_per_channel() -> None:
    gen = CallProgressGenerator(3, "us")
    gen.play(0, ProgressTone.RINGBACK)
    gen.play(2, ProgressTone.BUSY)
    out = np.concatenate([gen.process(160) for _ in range(100)], axis=1)
    assert not out[1].any()
    np.testing.assert_array_equal(out[0], to_int16(progress_tone("us", ProgressTone.RINGBACK, 2.0)))
    events = _run(np.concatenate([out, np.zeros((3, 8000))], axis=1), "us")
    assert _starts(events, 2) == [ProgressTone.BUSY]
    gen.stop()
    assert not gen.process(160).any()


def test_bad_input() -> None:
    with pytest.raises(ValueError):
        CallProgressDetector(1, "xx")
    det = CallProgressDetector(2, "us")
    with pytest.raises(ValueError):
        det.process(np.zeros((1, 160)))
    with pytest.raises(TypeError):
        det.process(np.zeros((2, 160), np.int64))


def test_a_long_cadenced_tone_is_one_event() -> None:
    """Two minutes of UK congestion: one start, one end, and bounded work per segment."""
    x = np.concatenate([progress_tone("uk", ProgressTone.CONGESTION, 120.0), np.zeros(3 * FS)])
    events = [e for _, e in _run(x, "uk", block=800)]
    assert [(e.tone, e.kind) for e in events] == [(ProgressTone.CONGESTION, EventKind.START),
                                                 (ProgressTone.CONGESTION, EventKind.END)]  # fmt: skip
    assert events[1].end == pytest.approx((np.flatnonzero(x)[-1] + 1), abs=0.03 * FS)
