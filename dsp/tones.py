"""Call progress tones (dial, ringback, busy, congestion) by country: generation and cadence detection.

What: ``TONE_PLANS`` holds the tones of the US, UK, DE and FR networks;
``progress_tone(country, tone, seconds)`` generates one;
``CallProgressGenerator`` plays them into live channels;
``CallProgressDetector(channels, country).process(block)`` returns
``ProgressEvent``s (tone start and end, absolute sample positions) and keeps
the current tone per channel in ``.state``.  The 2100 Hz answer tone
detector for the echo canceller is ``dsp.answer_tone`` (re-exported here).

Tone plans (frequencies in Hz; cadence in ms as on, off, on, off ...; ITU-T
E.180 Supplement 2 (1994 and later updates) and the national specifications
it summarises; levels are per frequency, dBm0):

=======  ==================  ================================  ==================  =======================
country  dial                ringback                          busy                congestion
=======  ==================  ================================  ==================  =======================
US       350+440 continuous  440+480 2000/4000                 480+620 500/500     480+620 250/250
         (Bellcore LSSGR "precise tone plan"; reorder is the congestion tone)
UK       350+440 continuous  400+450 400/200/400/2000          400 375/375         400 400/350/225/525
         (BT SIN 350; congestion is "equipment engaged")
DE       425 continuous      425 1000/4000                     425 480/480         425 240/240
         (Deutsche Telekom)
FR       440 continuous      440 1500/3500                     440 500/500         440 250/250
         (France Telecom)
=======  ==================  ================================  ==================  =======================

How: every 10 ms (80 samples, absolute positions) one matrix product gives the
DFT of those 10 ms at the plan's frequencies, phase-referenced to absolute
time, so a 40 ms window is the sum of four and its halves the sums of two.
A window carries a tone's frequency set ("signature") when those
frequencies hold ``purity`` (60 %) of its power, each is above
``min_level_dbm0`` (-40), within 12 dB of each other, and present in both
halves.  All of that is array code over (channels, windows).  A per-channel
run-length stage (debounced by 30 ms) turns windows into on/off segments; the
cadence matcher keeps, for each channel, the (tone, phase) pairs of the plan
that every segment so far fits within ``tolerance`` (10 % + 50 ms), and
declares a tone when one remains after at least one on and one off segment
(the first, perhaps cut, segment is only checked against its maximum).
Continuous tones are declared after ``continuous_ms`` (1 s) or longer than
any cadenced tone of the same signature.  Only channels whose segments change
reach Python code.

Limits: 8 kHz input on the 16-bit scale, (channels, samples).  One country's
plan per detector (their frequency sets overlap).  Ringback is declared
after its first off period has lasted its minimum (about 5.6 s for the US),
busy and congestion after about one cadence cycle.  Special information
tones (SIT) and call waiting tones are not covered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

import numpy as np
import numpy.typing as npt

from dsp.answer_tone import AnswerTone, AnswerToneDetector, answer_tone
from dsp.blocks import as_block, matmul_rows
from dsp.dtmf import EventKind
from dsp.levels import Law, dbm0_to_rms

__all__ = [
    "TONE_PLANS",
    "AnswerTone",
    "AnswerToneDetector",
    "CallProgressDetector",
    "CallProgressGenerator",
    "EventKind",
    "ProgressEvent",
    "ProgressTone",
    "ToneSpec",
    "answer_tone",
    "progress_tone",
]

SAMPLE_RATE: Final = 8000
SUB: Final = 80  # 10 ms
WINDOW_SUBS: Final = 4  # 40 ms analysis window
_N: Final = SUB * WINDOW_SUBS
_KEEP_SEGMENTS: Final = 12  # completed segments kept per channel (3 cycles of the longest cadence)


class ProgressTone(Enum):
    DIAL = "dial"
    RINGBACK = "ringback"
    BUSY = "busy"
    CONGESTION = "congestion"


@dataclass(frozen=True)
class ToneSpec:
    """One tone: frequencies, cadence (ms: on, off, ...; empty = continuous), level per frequency."""

    freqs: tuple[float, ...]
    cadence: tuple[int, ...] = ()
    level_dbm0: float = -13.0


TONE_PLANS: Final[dict[str, dict[ProgressTone, ToneSpec]]] = {
    "us": {
        ProgressTone.DIAL: ToneSpec((350, 440), (), -13.0),
        ProgressTone.RINGBACK: ToneSpec((440, 480), (2000, 4000), -19.0),
        ProgressTone.BUSY: ToneSpec((480, 620), (500, 500), -24.0),
        ProgressTone.CONGESTION: ToneSpec((480, 620), (250, 250), -24.0),
    },
    "uk": {
        ProgressTone.DIAL: ToneSpec((350, 440), (), -22.0),
        ProgressTone.RINGBACK: ToneSpec((400, 450), (400, 200, 400, 2000), -22.0),
        ProgressTone.BUSY: ToneSpec((400,), (375, 375), -19.0),
        ProgressTone.CONGESTION: ToneSpec((400,), (400, 350, 225, 525), -19.0),
    },
    "de": {
        ProgressTone.DIAL: ToneSpec((425,), (), -10.0),
        ProgressTone.RINGBACK: ToneSpec((425,), (1000, 4000), -10.0),
        ProgressTone.BUSY: ToneSpec((425,), (480, 480), -10.0),
        ProgressTone.CONGESTION: ToneSpec((425,), (240, 240), -10.0),
    },
    "fr": {
        ProgressTone.DIAL: ToneSpec((440,), (), -10.0),
        ProgressTone.RINGBACK: ToneSpec((440,), (1500, 3500), -10.0),
        ProgressTone.BUSY: ToneSpec((440,), (500, 500), -10.0),
        ProgressTone.CONGESTION: ToneSpec((440,), (250, 250), -10.0),
    },
}


def _plan(country: str) -> dict[ProgressTone, ToneSpec]:
    try:
        return TONE_PLANS[country.lower()]
    except KeyError:
        raise ValueError(f"no tone plan for {country!r}; known: {sorted(TONE_PLANS)}") from None


def progress_tone(
    country: str, tone: ProgressTone, seconds: float, level_dbm0: float | None = None,
    start: int = 0, law: Law = "ulaw",
) -> npt.NDArray[np.float64]:  # fmt: skip
    """`seconds` of a call progress tone from its cadence start (float, 16-bit scale)."""
    spec = _plan(country)[tone]
    n = round(seconds * SAMPLE_RATE)
    t = (start + np.arange(n)) / SAMPLE_RATE
    amp = dbm0_to_rms(spec.level_dbm0 if level_dbm0 is None else level_dbm0, law) * math.sqrt(2)
    x = sum(np.sin(2 * np.pi * f * t) for f in spec.freqs) * amp
    if spec.cadence:
        period = sum(spec.cadence)
        edges = np.cumsum((0, *spec.cadence)) * SAMPLE_RATE // 1000
        phase = (start + np.arange(n)) % (period * SAMPLE_RATE // 1000)
        on = np.zeros(n, dtype=bool)
        for k in range(0, len(spec.cadence), 2):
            on |= (phase >= edges[k]) & (phase < edges[k + 1])
        x = x * on
    return np.asarray(x, dtype=np.float64)


class CallProgressGenerator:
    """Plays a country's call progress tones into (channels, samples) blocks, continuous phase."""

    def __init__(self, channels: int, country: str, law: Law = "ulaw") -> None:
        self.channels = channels
        self.country = country
        self._plan = _plan(country)
        self._law: Law = law
        self._tone: list[ProgressTone | None] = [None] * channels
        self._pos = np.zeros(channels, dtype=np.int64)

    def play(self, channel: int, tone: ProgressTone) -> None:
        """Start `tone` on `channel` from the beginning of its cadence."""
        self._tone[channel] = tone
        self._pos[channel] = 0

    def stop(self, channel: int | None = None) -> None:
        for ch in range(self.channels) if channel is None else (channel,):
            self._tone[ch] = None

    reset = stop

    def process(self, n: int) -> npt.NDArray[np.int16]:
        out = np.zeros((self.channels, n))
        for ch, tone in enumerate(self._tone):
            if tone is not None:
                out[ch] = progress_tone(self.country, tone, n / SAMPLE_RATE, start=int(self._pos[ch]), law=self._law)
                self._pos[ch] += n
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """A call progress tone started (``end`` None) or ended on ``channel``; sample positions."""

    channel: int
    tone: ProgressTone
    start: int
    end: int | None = None

    @property
    def kind(self) -> EventKind:
        return EventKind.START if self.end is None else EventKind.END


@dataclass
class _Run:
    """One channel's segments since the last break: (signature or -1 for off, start, end)."""

    segs: list[tuple[int, int, int]] = field(default_factory=list)
    tone: ProgressTone | None = None
    tone_start: int = 0
    last_on_end: int = 0


class CallProgressDetector:
    """Cadence detector for one country's dial, ringback, busy and congestion tones."""

    def __init__(
        self,
        channels: int,
        country: str,
        *,
        min_level_dbm0: float = -40.0,
        purity: float = 0.6,
        tolerance: float = 0.10,
        slack_ms: float = 50.0,
        continuous_ms: float = 1000.0,
        law: Law = "ulaw",
    ) -> None:
        if channels < 1:
            raise ValueError("CallProgressDetector: channels >= 1")
        self.channels = channels
        self.country = country
        plan = _plan(country)
        self._plan = plan
        freqs = sorted({f for spec in plan.values() for f in spec.freqs})
        self._freqs = np.array(freqs, dtype=np.float64)
        sigs = sorted({spec.freqs for spec in plan.values()}, key=len)
        self._sigs = sigs
        self._sig_masks = np.array([[f in s for f in freqs] for s in sigs], dtype=np.float64)
        self._sig_of = {tone: sigs.index(spec.freqs) for tone, spec in plan.items()}
        basis = np.exp(-2j * np.pi * np.outer(np.arange(SUB), self._freqs) / SAMPLE_RATE)
        self._basis_ri = np.ascontiguousarray(np.concatenate([basis.real, basis.imag], axis=1))
        self._ref = dbm0_to_rms(0.0, law) ** 2
        self._pmin = self._ref * 10 ** (min_level_dbm0 / 10)
        self._purity = purity
        self._tol = tolerance
        self._slack = slack_ms * SAMPLE_RATE / 1000
        # continuous tones: longer than any cadenced on-time of the same signature
        self._cont: dict[ProgressTone, float] = {}
        for tone, spec in plan.items():
            if not spec.cadence:
                longest = max([max(s.cadence[0::2]) for s in plan.values() if s.freqs == spec.freqs and s.cadence],
                              default=0)  # fmt: skip
                self._cont[tone] = max(continuous_ms, self._hi(longest)) * SAMPLE_RATE / 1000
        self._cadenced = [(t, s) for t, s in plan.items() if s.cadence]
        self.reset()

    def _hi(self, ms: float) -> float:
        return ms * (1 + self._tol) + self._slack * 1000 / SAMPLE_RATE

    def reset(self, channel: int | None = None) -> None:
        c = self.channels
        if channel is None:
            self._pos = 0
            self._pending = np.zeros((c, 0))
            self._subs = np.zeros((c, WINDOW_SUBS - 1, len(self._freqs)), dtype=np.complex128)
            self._sube = np.zeros((c, WINDOW_SUBS - 1))
            self._sig = np.full(c, -1, dtype=np.int64)  # debounced signature, -1 = off
            self._sig_since = np.zeros(c, dtype=np.int64)
            self._cand_sig = np.full(c, -1, dtype=np.int64)
            self._cand_count = np.zeros(c, dtype=np.int64)
            self._cand_since = np.zeros(c, dtype=np.int64)
            self._check_at = np.full(c, np.iinfo(np.int64).max, dtype=np.int64)
            self._runs = [_Run() for _ in range(c)]
            return
        self._sig[channel] = -1
        self._cand_sig[channel] = -1
        self._cand_count[channel] = 0
        self._check_at[channel] = np.iinfo(np.int64).max
        self._runs[channel] = _Run()

    @property
    def state(self) -> list[ProgressTone | None]:
        """The tone currently recognised on each channel."""
        return [r.tone for r in self._runs]

    # ----------------------------------------------------------- front end
    def process(self, block: npt.NDArray[np.generic]) -> list[ProgressEvent]:
        x = as_block(block, self.channels, "CallProgressDetector.process")
        data = np.concatenate([self._pending, x], axis=1)
        h = data.shape[1] // SUB
        self._pending = data[:, h * SUB :]
        if h == 0:
            return []
        frames = data[:, : h * SUB].reshape(self.channels, h, SUB)
        starts = self._pos + SUB * np.arange(h)
        self._pos += h * SUB
        phase = np.exp(-2j * np.pi * ((starts[:, None] * self._freqs[None, :]) % SAMPLE_RATE) / SAMPLE_RATE)
        ri = matmul_rows(frames.reshape(-1, SUB), self._basis_ri)
        nf = len(self._freqs)
        s = (ri[:, :nf] + 1j * ri[:, nf:]).reshape(self.channels, h, nf) * phase[None]
        e = np.einsum("chs,chs->ch", frames, frames)
        alls = np.concatenate([self._subs, s], axis=1)
        alle = np.concatenate([self._sube, e], axis=1)
        self._subs, self._sube = alls[:, -(WINDOW_SUBS - 1) :], alle[:, -(WINDOW_SUBS - 1) :]
        win = sum(alls[:, j : j + h] for j in range(WINDOW_SUBS))
        half_a = alls[:, 0:h] + alls[:, 1 : 1 + h]
        half_b = np.asarray(win) - half_a
        energy = sum(alle[:, j : j + h] for j in range(WINDOW_SUBS))
        sig = self._classify(np.asarray(win), half_a, half_b, np.asarray(energy))
        # a window ending at e shows the tone once about 3/4 of it is tone: centre the edges
        ends = starts + SUB - _N // 2
        return self._segments(sig, ends)

    def _classify(
        self,
        win: npt.NDArray[np.complex128],
        half_a: npt.NDArray[np.complex128],
        half_b: npt.NDArray[np.complex128],
        energy: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.int64]:
        p = 2 * (win.real**2 + win.imag**2) / (_N * _N)  # power per frequency
        total = energy / _N
        pa = np.abs(half_a)
        pb = np.abs(half_b)
        lim = 0.3 * np.abs(win)
        present = (p >= self._pmin) & (pa >= lim) & (pb >= lim)  # (c, h, F)
        best = np.full(p.shape[:2], -1, dtype=np.int64)
        best_frac = np.zeros(p.shape[:2])
        for k, mask in enumerate(self._sig_masks):
            m = mask.astype(bool)
            ps = p[:, :, m]
            frac = ps.sum(axis=2) / np.maximum(total, 1e-9)
            ok = present[:, :, m].all(axis=2) & (frac >= self._purity)
            if m.sum() > 1:
                ok &= ps.min(axis=2) * 10 ** 1.2 >= ps.max(axis=2)
            # larger signatures come later: a dual tone wins over its own single component
            take = ok & (frac >= best_frac * 0.9)
            best = np.where(take, k, best)
            best_frac = np.where(take, frac, best_frac)
        return best

    def _segments(self, sig: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]) -> list[ProgressEvent]:
        events: list[ProgressEvent] = []
        h = sig.shape[1]
        # debounce: a new signature must hold 3 windows; it dates from its first
        for k in range(h):
            sk = sig[:, k]
            pos = int(ends[k])
            same_cand = sk == self._cand_sig
            self._cand_count = np.where(same_cand, self._cand_count + 1, 1)
            self._cand_since = np.where(same_cand, self._cand_since, pos - SUB)
            self._cand_sig = sk
            change = (sk != self._sig) & (self._cand_count >= 3)
            due = pos >= self._check_at
            if change.any() or due.any():
                for ch in np.flatnonzero(change | due):
                    if change[ch]:
                        self._on_change(int(ch), int(sk[ch]), int(self._cand_since[ch]), events)
                    else:
                        self._on_due(int(ch), pos, events)
        return events

    # ------------------------------------------------------- cadence logic
    def _on_change(self, ch: int, new_sig: int, at: int, events: list[ProgressEvent]) -> None:
        run = self._runs[ch]
        old = int(self._sig[ch])
        since = int(self._sig_since[ch])
        self._sig[ch] = new_sig
        self._sig_since[ch] = at
        if since < at and (old >= 0 or run.segs):
            run.segs.append((old, since, at))
        if old >= 0:
            run.last_on_end = at
        self._evaluate(ch, at, events)

    def _on_due(self, ch: int, now: int, events: list[ProgressEvent]) -> None:
        self._evaluate(ch, now, events)

    def _evaluate(self, ch: int, now: int, events: list[ProgressEvent]) -> None:
        run = self._runs[ch]
        cur = (int(self._sig[ch]), int(self._sig_since[ch]), now)
        segs = [*run.segs, cur]
        while segs and segs[0][0] < 0:  # a run starts with a tone
            segs.pop(0)
        matches, next_check = self._match(segs)
        while segs and not matches:  # drop old segments until the rest fits something
            segs.pop(0)
            while segs and segs[0][0] < 0:
                segs.pop(0)
            matches, next_check = self._match(segs)
        run.segs = segs[:-1] if segs else []
        if len(run.segs) > _KEEP_SEGMENTS:  # a long tone: its tail decides, keep on/off parity
            drop = len(run.segs) - _KEEP_SEGMENTS
            run.segs = run.segs[drop + (drop % 2) :]
        tones = {t for t, _ in matches}
        found = next(iter(tones)) if len(tones) == 1 and self._established(segs, matches) else None
        if run.tone is not None and run.tone not in tones:
            end = run.last_on_end if cur[0] < 0 else cur[1]
            events.append(ProgressEvent(ch, run.tone, run.tone_start, max(end, run.tone_start)))
            run.tone = None
            # what follows a tone starts afresh: its last segments are not reused
            segs = [cur] if cur[0] >= 0 else []
            matches, next_check = self._match(segs)
            tones = {t for t, _ in matches}
            run.segs = []
            found = None
        if found is not None and run.tone is None:
            run.tone = found
            run.tone_start = segs[0][1]
            events.append(ProgressEvent(ch, found, run.tone_start))
        self._check_at[ch] = next_check if segs else np.iinfo(np.int64).max
        if not segs:
            run.segs = []

    def _fits(self, dur: float, nominal: float, partial: bool, first: bool) -> bool:
        hi = nominal * (1 + self._tol) + self._slack
        lo = nominal * (1 - self._tol) - self._slack
        return dur <= hi and (partial or first or dur >= lo)

    def _match(self, segs: list[tuple[int, int, int]]) -> tuple[list[tuple[ProgressTone, int]], int]:
        """(tone, phase) pairs every segment fits, and when to look again (sample position)."""
        if not segs:
            return [], np.iinfo(np.int64).max
        out: list[tuple[ProgressTone, int]] = []
        next_check = np.iinfo(np.int64).max
        last = len(segs) - 1
        ms = SAMPLE_RATE / 1000
        for tone, limit in self._cont.items():
            sig = self._sig_of[tone]
            if len(segs) == 1 and segs[0][0] == sig:
                out.append((tone, 0))
                start = segs[0][1]
                if segs[0][2] - start < limit:
                    next_check = min(next_check, int(start + limit))
        for tone, spec in self._cadenced:
            sig = self._sig_of[tone]
            cad = spec.cadence
            for phase in range(0, len(cad), 2):  # runs start with an on element
                ok = True
                for i, (s, a, b) in enumerate(segs):
                    el = (phase + i) % len(cad)
                    want = sig if el % 2 == 0 else -1
                    if s != want or not self._fits(b - a, cad[el] * ms, i == last, i == 0):
                        ok = False
                        break
                if ok:
                    out.append((tone, phase))
                    s, a, b = segs[-1]
                    el = (phase + last) % len(cad)
                    lo = a + cad[el] * ms * (1 - self._tol) - self._slack
                    hi = a + cad[el] * ms * (1 + self._tol) + self._slack
                    for t in (lo, hi + 1):
                        if t > b:
                            next_check = min(next_check, int(t))
        return out, next_check

    def _established(self, segs: list[tuple[int, int, int]], matches: list[tuple[ProgressTone, int]]) -> bool:
        tone, phase = matches[0]
        if tone in self._cont:
            s, a, b = segs[0]
            return len(segs) == 1 and b - a >= self._cont[tone]
        cad = self._plan[tone].cadence
        ms = SAMPLE_RATE / 1000
        # at least one on and one off that reached their minimum
        full_on = full_off = False
        for i, (s, a, b) in enumerate(segs):
            el = (phase + i) % len(cad)
            reached = (b - a) >= cad[el] * ms * (1 - self._tol) - self._slack
            if not reached:
                continue
            if s < 0:
                full_off = True
            else:
                full_on = True
        return full_off and full_on
