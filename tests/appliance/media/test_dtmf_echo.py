"""In-band DTMF from the PBX while the voice AI's prompt plays toward it (issue 9, item 4).

The engine path end to end: the prompt arrives by RTP and is written toward the PBX (Rin);
what comes back (Sin) is its echo through a G.168 Annex D hybrid plus the PBX's DTMF digits
at -3..-25 dBm0; the canceller runs first, the detector sees its output, and every digit must
leave exactly once as an RFC 4733 event (start with the marker, one timestamp, three end
packets), with the tone muted from the audio."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.media import dtmf_events as de
from dsp.dtmf import dtmf_tone
from tests.appliance.media.test_engine import B, Harness
from tests.dsp.g168.models import model
from tests.dsp.g168.signals import scale_to
from tests.dsp.signals import speech_like

DIGITS = "159#0*8D2"
LEVELS = (-3.0, -8.0, -12.0, -16.0, -20.0, -25.0, -6.0, -22.0, -14.0)


def _digits(n: int, start: int, on: int, off: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    x = np.zeros(n)
    spans = []
    pos = start
    for d, lv in zip(DIGITS, LEVELS, strict=True):
        x[pos : pos + on] = dtmf_tone(d, on, lv, twist_db=2.0, start=pos)
        spans.append((pos, pos + on))
        pos += on + off
    return x, spans


@pytest.mark.parametrize(("path", "erl_db", "on_ms"), [("d2", 6.0, 60), ("d4", 9.0, 80), ("d7", 12.0, 60),
                                                       ("d9", 6.0, 100)])
def test_every_digit_once_as_rfc4733_while_the_prompt_echoes(path: str, erl_db: float, on_ms: int) -> None:
    _run(path, erl_db, on_ms, echo=True)


def _run(path: str, erl_db: float, on_ms: int, echo: bool) -> None:
    h = model(path)
    h = h * 10 ** (-erl_db / 20) / np.sqrt(np.sum(h**2))
    seconds = 6.0
    n = int(seconds * 8000)
    prompt = scale_to(speech_like(seconds + 1, seed=7), -15.0)
    on, off = on_ms * 8, 60 * 8
    tones, spans = _digits(n, 2 * 8000, on, off)  # after 2 s of prompt: the canceller has converged
    hs = Harness(echo=echo)

    def sip(i: int) -> list[bytes]:
        return [hs.peer.packet(hs._enc(prompt[i * 160 : (i + 1) * 160]).tobytes(), 160)]

    def pbx(k: int, prev: np.ndarray) -> np.ndarray:
        echo = np.zeros(B) if len(prev) < B else np.convolve(prev, h)[len(prev) - B : len(prev)]
        noise = np.random.default_rng(k).standard_normal(B) * 3
        return echo + tones[k * B : (k + 1) * B] + noise

    hs.run(n // B, pbx, sip)
    evs = [p for p in hs.out if p.payload_type == 101]
    by_ts: dict[int, list[tuple[bool, de.TelephoneEvent]]] = {}
    for p in evs:
        for blk in de.decode(p.payload):
            by_ts.setdefault(p.timestamp, []).append((p.marker, blk))
    got = "".join(de.event_to_digit(v[0][1].event) or "?" for _ts, v in sorted(by_ts.items()))
    assert got == DIGITS  # each digit once, in order, nothing else
    for (a, b), v in zip(spans, (by_ts[t] for t in sorted(by_ts)), strict=True):
        assert abs(v[-1][1].duration - (b - a)) <= 240  # the tone's length within 30 ms
        assert v[0][0] and not any(m for m, _b in v[1:])  # the marker on the first packet only
        assert [b.end for _m, b in v][-3:] == [True] * 3 and not any(b.end for _m, b in v[:-3])
        assert len({b.event for _m, b in v}) == 1
    inband = [e for e in hs.e.take_events() if e["event"] == "dtmf" and e["phase"] == "start"]
    assert "".join(e["digit"] for e in inband) == DIGITS


def test_the_echo_would_hide_digits_without_the_canceller() -> None:
    """The test above is not passed by the detector alone: without the canceller the same
    prompt's echo (ERL 6 dB) makes digits go missing or split."""
    with pytest.raises(AssertionError):
        _run("d2", 6.0, 60, echo=False)


@pytest.mark.parametrize("onset", [0, 20, 60, 100, 140])
def test_dtmf_mute_leaks_at_most_one_window_of_tone(onset: int) -> None:
    """Muting starts on the detector's first good window (not the Q.24 confirmation 20 ms
    later): at most about 31 ms of a digit's tone reaches SIP as audio (it was 33-50 ms when
    muting waited for the digit), with nothing added to the audio path's delay."""
    hs = Harness()
    digit = np.concatenate([np.zeros(2400 + onset), dtmf_tone("5", 960, -10.0), np.zeros(4000)])
    hs.run(len(digit) // B, lambda k, prev: digit[k * B : (k + 1) * B])
    leaked_ms = np.sum(np.abs(hs.audio_out()) > 300) / 8.0
    assert 5.0 < leaked_ms <= 32.0
    assert [p.payload_type for p in hs.out].count(101) >= 3


def test_speech_is_not_muted_by_the_early_dtmf_mute() -> None:
    """Speech and music whose windows never pass the detector's checks go out unchanged with
    muting on: the early mute costs no talk-off dropouts on them."""
    sigs = [speech_like(6.0, s, level_dbov=-15.0) for s in range(3)]
    for sig in sigs:
        outs = []
        for mute in (False, True):
            hs = Harness(echo=False, dtmf_mute=mute)
            hs.run(len(sig) // B, lambda k, prev, x=sig: x[k * B : (k + 1) * B])
            outs.append([bytes(p.payload) for p in hs.out])
        assert outs[0] == outs[1]
