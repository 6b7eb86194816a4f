"""DTMF to Q.23/Q.24: accept/reject matrices (frequency, twist, duration, level), talk-off, spandsp peer."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from dsp import g711
from dsp.dtmf import (
    DIGITS,
    HIGH_GROUP,
    LOW_GROUP,
    DtmfDetector,
    DtmfEvent,
    DtmfGenerator,
    EventKind,
    dtmf_sequence,
    dtmf_tone,
)
from tests.dsp.signals import music_like, speech_like, to_int16, white_noise
from tests.dsp.spandsp_peer import dtmf_rx, dtmf_tx

FS = 8000


def _detect(x: np.ndarray, block: int = 160, **kw: float) -> list[DtmfEvent]:
    x = np.atleast_2d(x)
    det = DtmfDetector(x.shape[0], **kw)  # type: ignore[arg-type]
    events: list[DtmfEvent] = []
    for k in range(0, x.shape[1], block):
        events += det.process(x[:, k : k + block])
    events += det.process(np.zeros((x.shape[0], 800)))
    return events


def _starts(events: list[DtmfEvent], channel: int | None = None) -> str:
    return "".join(e.digit for e in events if e.kind is EventKind.START and channel in (None, e.channel))


def _one_digit_each(**tone_kw: float) -> np.ndarray:
    """All 16 digits, one per channel, 100 ms tone after 100 ms silence."""
    return np.stack([np.concatenate([np.zeros(800), dtmf_tone(d, 800, **tone_kw), np.zeros(800)]) for d in DIGITS])  # type: ignore[arg-type]


def _per_channel(events: list[DtmfEvent]) -> list[str]:
    return [_starts(events, ch) for ch in range(16)]


def test_all_16_digits_in_sequence() -> None:
    x = dtmf_sequence("0123456789*#ABCD", on_ms=50, off_ms=50, lead_ms=100)
    events = _detect(x)
    assert _starts(events) == "0123456789*#ABCD"
    ends = [e for e in events if e.kind is EventKind.END]
    assert [e.digit for e in ends] == list("0123456789*#ABCD")
    for i, e in enumerate(ends):
        # tones start at 100 ms + i x 100 ms and last 50 ms: positions within 5 ms
        assert e.start == pytest.approx(800 + i * 800, abs=40)
        assert e.end == pytest.approx(800 + i * 800 + 400, abs=40)


@pytest.mark.parametrize("error", [-0.015, -0.01, 0.0, 0.01, 0.015])
def test_q24_accepts_frequency_deviation_within_1_5_percent(error: float) -> None:
    assert _per_channel(_detect(_one_digit_each(freq_error=error))) == list(DIGITS)


@pytest.mark.parametrize("error", [-0.06, -0.045, -0.035, 0.035, 0.045, 0.06])
def test_q24_rejects_frequency_deviation_beyond_3_5_percent(error: float) -> None:
    assert _starts(_detect(_one_digit_each(freq_error=error))) == ""


@pytest.mark.parametrize(("low_err", "high_err"), [(-0.015, 0.015), (0.015, -0.015)])
def test_q24_accepts_tones_deviating_in_opposite_directions(low_err: float, high_err: float) -> None:
    t = np.arange(800) / FS
    amp = 0.316 * 16020 * np.sqrt(2)
    xs = []
    for d in DIGITS:
        r, c = divmod(DIGITS.index(d), 4)
        f1, f2 = LOW_GROUP[r] * (1 + low_err), HIGH_GROUP[c] * (1 + high_err)
        xs.append(np.concatenate([np.zeros(800), amp * (np.sin(2 * np.pi * f1 * t) + np.sin(2 * np.pi * f2 * t))]))
    assert _per_channel(_detect(np.stack(xs))) == list(DIGITS)


def test_a_note_and_its_octave_is_not_a_digit() -> None:
    """833.3 Hz (-2.2 % from 852) and its 2nd harmonic (1666.6 Hz, +2.05 % from 1633): not "C"."""
    t = np.arange(1600) / FS
    x = 8000 * np.sin(2 * np.pi * 833.3 * t) + 4000 * np.sin(2 * np.pi * 1666.6 * t)
    assert _starts(_detect(np.concatenate([np.zeros(400), x]))) == ""
    # the music passage where that happened
    passage = to_int16(music_like(60, 6005, -10.0))[320000:345000]
    assert _starts(_detect(passage)) == ""


def test_q24_rejects_one_tone_off_frequency() -> None:
    """Only the high tone is 4 % off: still not a digit."""
    t = np.arange(800) / FS
    amp = 0.316 * 16020 * np.sqrt(2)
    x = amp * (np.sin(2 * np.pi * 770 * t) + np.sin(2 * np.pi * 1336 * 1.04 * t))
    assert _starts(_detect(np.concatenate([np.zeros(800), x]))) == ""


@pytest.mark.parametrize("twist", [-8.0, -6.0, -3.0, 0.0, 2.0, 4.0])
def test_q24_accepts_twist_within_limits(twist: float) -> None:
    """Normal twist (low group louder) up to 8 dB, reverse (high louder) up to 4 dB."""
    assert _per_channel(_detect(_one_digit_each(level_dbm0=-12, twist_db=twist))) == list(DIGITS)


@pytest.mark.parametrize("twist", [-12.0, -10.0, 6.0, 8.0])
def test_q24_rejects_twist_beyond_limits(twist: float) -> None:
    assert _starts(_detect(_one_digit_each(level_dbm0=-12, twist_db=twist))) == ""


def test_twist_limits_are_configurable() -> None:
    x = _one_digit_each(level_dbm0=-12, twist_db=6.0)
    assert _per_channel(_detect(x, reverse_twist_db=8.0)) == list(DIGITS)


@pytest.mark.parametrize("level", [0.0, -5.0, -15.0, -25.0, -28.0])
def test_q24_accepts_levels_0_to_minus_25_dbm0_per_tone(level: float) -> None:
    assert _per_channel(_detect(_one_digit_each(level_dbm0=level))) == list(DIGITS)


@pytest.mark.parametrize("level", [-33.0, -40.0, -55.0])
def test_rejects_levels_below_minus_30_dbm0(level: float) -> None:
    assert _starts(_detect(_one_digit_each(level_dbm0=level))) == ""


@pytest.mark.parametrize("on_ms", [40, 45, 60, 100, 500])
@pytest.mark.parametrize("offset", [0, 13, 27])
def test_q24_accepts_tones_of_40_ms_and_more(on_ms: int, offset: int) -> None:
    x = np.concatenate([np.zeros(offset), dtmf_sequence("159#", on_ms=on_ms, off_ms=60, lead_ms=50)])
    assert _starts(_detect(x)) == "159#"


@pytest.mark.parametrize("on_ms", [10, 20, 25])
@pytest.mark.parametrize("offset", [0, 13, 27])
def test_q24_rejects_tones_of_25_ms_and_less(on_ms: int, offset: int) -> None:
    x = np.concatenate([np.zeros(offset), dtmf_sequence("159#", on_ms=on_ms, off_ms=60, lead_ms=50)])
    assert _starts(_detect(x)) == ""


@pytest.mark.parametrize("pause_ms", [40, 50, 80])
def test_pause_of_40_ms_separates_repeated_digits(pause_ms: int) -> None:
    x = dtmf_sequence("5555", on_ms=40, off_ms=pause_ms, lead_ms=50)
    assert _starts(_detect(x)) == "5555"


@pytest.mark.parametrize("gap_ms", [5, 10])
def test_interruption_of_10_ms_is_bridged(gap_ms: int) -> None:
    a = dtmf_tone("7", 480)
    b = dtmf_tone("7", 480, start=480 + gap_ms * 8)
    x = np.concatenate([np.zeros(400), a, np.zeros(gap_ms * 8), b, np.zeros(400)])
    events = _detect(x)
    assert _starts(events) == "7"
    end = next(e for e in events if e.kind is EventKind.END)
    assert end.duration_ms == pytest.approx(120 + gap_ms, abs=10)


def test_ten_digits_per_second() -> None:
    x = dtmf_sequence("1234567890" * 2, on_ms=45, off_ms=55, lead_ms=20)
    assert _starts(_detect(x)) == "1234567890" * 2


def test_through_g711_both_laws() -> None:
    x = to_int16(dtmf_sequence("0123456789*#ABCD", on_ms=45, off_ms=45, lead_ms=50, level_dbm0=-20))
    for enc, dec in ((g711.ulaw_encode, g711.ulaw_decode), (g711.alaw_encode, g711.alaw_decode)):
        assert _starts(_detect(dec(enc(x)))) == "0123456789*#ABCD"


def test_in_white_noise() -> None:
    """Digits at -20 dBm0 per tone with white noise at -38 dBm0 (about 15 dB SNR)."""
    x = dtmf_sequence("0123456789", on_ms=50, off_ms=50, lead_ms=50, level_dbm0=-20)
    noisy = x + white_noise(len(x) / FS, 4, level_dbov=-3.17 - 0.04 - 38)
    assert _starts(_detect(noisy)) == "0123456789"


@pytest.mark.parametrize("country", ["us", "uk", "de", "fr"])
def test_digits_over_dial_tone(country: str) -> None:
    """Digits at -10 dBm0 per tone keyed while the dial tone (-10 .. -22 dBm0) still plays."""
    from dsp.tones import ProgressTone, progress_tone

    x = dtmf_sequence("0123456789*#ABCD", on_ms=60, off_ms=60, lead_ms=100, level_dbm0=-10)
    x = x + progress_tone(country, ProgressTone.DIAL, len(x) / FS)
    assert _starts(_detect(to_int16(x))) == "0123456789*#ABCD"


def test_digits_in_speech_are_found() -> None:
    """Digits pressed while the far end talks 10 dB below them."""
    x = dtmf_sequence("258", on_ms=80, off_ms=200, lead_ms=300, level_dbm0=-10)
    speech = speech_like(len(x) / FS, 9, level_dbov=-3.2 - 10 - 13)
    assert _starts(_detect(x + speech)) == "258"


def test_channels_are_independent_and_positions_absolute() -> None:
    a = dtmf_sequence("12", on_ms=60, off_ms=60, lead_ms=100)
    b = np.concatenate([np.zeros(1600), dtmf_sequence("3", on_ms=60, off_ms=60)])
    n = max(len(a), len(b)) + 800
    x = np.zeros((3, n))
    x[0, : len(a)] = a
    x[1, : len(b)] = b
    events = _detect(x, block=137)
    assert [_starts(events, ch) for ch in range(3)] == ["12", "3", ""]
    (b_end,) = [e for e in events if e.channel == 1 and e.kind is EventKind.END]
    assert b_end.start == pytest.approx(1600, abs=40)


def test_block_size_does_not_matter() -> None:
    x = dtmf_sequence("147*2580369#", on_ms=45, off_ms=50, lead_ms=30)
    ref = [(e.digit, e.kind, e.start, e.end) for e in _detect(x, block=160)]
    for block in (1, 39, 40, 41, 333, 4000):
        assert [(e.digit, e.kind, e.start, e.end) for e in _detect(x, block=block)] == ref


def test_bad_input() -> None:
    det = DtmfDetector(2)
    with pytest.raises(ValueError):
        det.process(np.zeros((3, 160)))
    with pytest.raises(TypeError):
        det.process(np.zeros((2, 160), np.uint8))
    with pytest.raises(ValueError):
        dtmf_tone("X", 100)


def test_generator_plays_per_channel_with_set_duration_and_level() -> None:
    gen = DtmfGenerator(2)
    gen.play(1, "9D", on_ms=70, off_ms=30, level_dbm0=-7, twist_db=2)
    out = np.concatenate([gen.process(160) for _ in range(10)], axis=1)
    assert not gen.busy.any()
    assert not out[0].any()
    on = np.flatnonzero(out[1])
    assert on[0] <= 1 and on[-1] == pytest.approx(800 + 560 - 1, abs=2)
    # low tone -7 dBm0 plus high tone -5 dBm0: total power
    from dsp import levels

    total = levels.dbm0(out[1:, :560])[0]
    assert total == pytest.approx(10 * np.log10(10 ** -0.7 + 10 ** -0.5), abs=0.1)
    events = _detect(out)
    assert _starts(events, 1) == "9D"
    assert [e.duration_ms for e in events if e.kind is EventKind.END] == [pytest.approx(70, abs=6)] * 2
    with pytest.raises(ValueError):
        gen.play(2, "1")


def test_generator_start_stop_for_events_of_unknown_length() -> None:
    gen = DtmfGenerator(2)
    gen.start(0, "#", level_dbm0=-12)
    blocks = [gen.process(160) for _ in range(6)]  # 120 ms
    assert gen.busy.tolist() == [True, False]
    gen.stop(0)
    blocks += [gen.process(160) for _ in range(5)]
    assert not gen.busy.any()
    out = np.concatenate(blocks, axis=1)
    # continuous phase across blocks: the same as one 120 ms tone
    np.testing.assert_array_equal(out[0, :960], to_int16(dtmf_tone("#", 960, -12, 2.0)))
    assert not out[0, 960:].any() and not out[1].any()
    events = [e for e in _detect(out) if e.kind is EventKind.END]
    assert [(e.channel, e.digit) for e in events] == [(0, "#")]
    assert events[0].duration_ms == pytest.approx(120, abs=6)
    with pytest.raises(ValueError):
        gen.start(0, "E")


@functools.cache
def _talk_off_corpus() -> tuple[np.ndarray, np.ndarray]:
    speech = np.stack([to_int16(speech_like(30, s, lvl)) for s in range(6) for lvl in (-25.0, -12.0)])
    music = np.stack([to_int16(music_like(30, s, -15.0)) for s in range(6)])
    return speech, music


def test_talk_off_speech_like() -> None:
    """Six minutes of speech-like signal (male, female, child; -25 and -12 dBov): no digits."""
    speech, _ = _talk_off_corpus()
    assert _starts(_detect(speech)) == ""


def test_talk_off_music_like() -> None:
    """Three minutes of harmonic music (chords of notes on DTMF frequencies): no digits."""
    _, music = _talk_off_corpus()
    assert _starts(_detect(music)) == ""


# ------------------------------------------------------------ spandsp peer
@pytest.mark.peer
@pytest.mark.parametrize(("level", "twist"), [(-10, 0), (-20, 2), (-26, 4), (-5, -6)])
def test_spandsp_generated_digits(level: int, twist: int) -> None:
    x = dtmf_tx("0123456789*#ABCD", level, twist, 50, 55)
    assert _starts(_detect(x)) == "0123456789*#ABCD"


@pytest.mark.peer
def test_agrees_with_spandsp_receiver_on_our_generator() -> None:
    x = to_int16(dtmf_sequence("0123456789*#ABCD", on_ms=50, off_ms=50, lead_ms=50, level_dbm0=-15))
    assert dtmf_rx(x) == _starts(_detect(x)) == "0123456789*#ABCD"


@pytest.mark.peer
def test_talk_off_no_worse_than_spandsp() -> None:
    speech, music = _talk_off_corpus()
    ours = len(_starts(_detect(np.concatenate([speech, music]))))
    theirs = sum(len(dtmf_rx(ch)) for ch in np.concatenate([speech, music]))
    assert ours <= theirs


def test_pre_screen_changes_no_result() -> None:
    """The pre-screen only skips windows the full analysis rejects: with it disabled (every
    channel analysed) the events are the same, for digits at the level/twist/frequency limits,
    over speech, music and noise, and for silence."""
    n = 3 * FS
    rows = [
        dtmf_sequence("159#", 45, 45, -29.5, lead_ms=30),
        dtmf_sequence("26*D", 60, 45, -3.0, twist_db=3.9, lead_ms=10),
        dtmf_sequence("37A0", 50, 50, -12.0, twist_db=-7.9, lead_ms=5),
        np.concatenate([dtmf_tone("8", 400, -10.0, freq_error=0.02), np.zeros(400)]),
        speech_like(3.0, 4, level_dbov=-12.0),
        music_like(3.0, 2, level_dbov=-14.0),
        white_noise(3.0, 3, level_dbov=-20.0),
        np.zeros(n),
    ]
    x = np.zeros((len(rows), n))
    for i, r in enumerate(rows):
        x[i, : min(n, len(r))] = r[:n]
    x[4, 8000:8480] += dtmf_tone("4", 480, -15.0)
    screened = _detect(x)
    det = DtmfDetector(x.shape[0])
    det._screen_k = 1e30  # every window with any signal passes the screen
    full: list[DtmfEvent] = []
    for k in range(0, n, 160):
        full += det.process(x[:, k : k + 160])
    full += det.process(np.zeros((x.shape[0], 800)))
    assert screened == full
    assert _starts(screened, 0) == "159#" and _starts(screened, 1) == "26*D" and _starts(screened, 2) == "37A0"
    assert _starts(screened, 3) == "8" and _starts(screened, 7) == ""


def test_cut_ends_the_digit_in_progress_on_one_channel_only() -> None:
    """`cut` (a call cleared while its digit sounds) ends the digit where its tone was last
    heard and clears that channel; the other channel's digit goes on and ends by itself."""
    det = DtmfDetector(2)
    tone = dtmf_tone("8", 2400, -10.0)
    x = np.zeros((2, 4000))
    x[:, 400:2800] = tone
    evs = det.process(to_int16(x[:, :1600]))
    assert sorted((e.channel, e.digit, e.kind) for e in evs) == [
        (0, "8", EventKind.START), (1, "8", EventKind.START)]
    cut = det.cut(0)
    assert cut is not None and (cut.channel, cut.digit, cut.kind) == (0, "8", EventKind.END)
    assert cut.start == evs[0].start and 100 <= (cut.duration_ms or 0) <= 150  # 150 ms heard
    assert det.cut(0) is None  # nothing left on it
    rest = det.process(to_int16(x[:, 1600:]))
    # channel 0 takes the rest of the same tone as a new digit; channel 1's ends at its end
    assert [(e.channel, e.kind) for e in rest if e.channel == 1] == [(1, EventKind.END)]
    assert 280 <= (next(e for e in rest if e.channel == 1).duration_ms or 0) <= 310
    assert [(e.channel, e.kind) for e in rest if e.channel == 0] == [
        (0, EventKind.START), (0, EventKind.END)]
