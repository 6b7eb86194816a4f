"""Line echo canceller to ITU-T G.168, batched over the channels of one or more spans.

What: ``EchoCanceller(channels, tail_ms=128, *, nlp=True, cng=True,
tone_disabler=True)`` removes the hybrid echo of the gateway's own signal
(Rin, towards the PBX) from what comes back (Sin), for every channel of a
span in one call:

* ``process(rin, sin) -> sout``: int16 arrays (channels, n), 8 <= n <= 160,
  n may change between calls; ``rin[c, i]`` and ``sin[c, i]`` are the same
  instant on the line.  Sout is Sin less the echo, int16 with saturation, no
  added delay.
* ``reset(channel=None)``: forget the echo path (new call on the channel).
* ``set_enabled(channel, on)``: bypass (Sout = Sin) or cancel.
* ``set_nlp(on, channel=None)``: the non-linear processor on or off.
* ``metrics(channel) -> EchoMetrics`` with ``erl_db``, ``erle_db``,
  ``double_talk``, ``converged``, ``model_resets`` and more.

How: three parts, each array code over (channels, ...):

* ``dsp.echo_filter.AdaptiveFilter``: the echo path model (partitioned-block
  frequency-domain adaptive filter, 1,024 taps by default) with its double
  talk detector, step control and narrow-band guard (G.168 tests 2, 3, 4, 6).
* ``dsp.echo_fore.Foreground``: a 160-tap filter at the echo's bulk delay
  (estimated from the Rin/Sin cross-correlation, then from the full
  filter's taps) that converges several times faster and deeper; Sout
  takes whichever of the two leaves less error in single talk.
* ``dsp.echo_nlp.Nlp``: the non-linear processor with comfort noise matched
  to the background (G.168 3.18, test 9).
* The tone disabler (G.168 clause 7) here, on ``dsp.answer_tone``'s
  detector on Sin: on this gateway the answering modem or fax is always
  on the PBX side (the voice AI sends no answer tones), so Sin is where the
  tone appears.  2100 Hz with phase reversals (V-series
  modems, ANS/ANSam) disables the canceller (Sout = Sin); 2100 Hz without
  (fax CED) disables only the NLP; the detector releases 250 ms +/- 150 ms
  after the tone or the modem's signal stops, and the canceller comes back.

A guard in the linear part: when the error of a call is 3 dB louder than
Sin itself (the model is worse than none, e.g. the echo path was just
opened, G.168 test 5), Sin is sent instead.

Limits: 8 kHz linear int16 (decode G.711 first).  Echo path capacity up to
``tail_ms`` (rounded up to 20 ms steps).  Pure delay beyond the tail is not
handled (G.168 3.10).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dsp.answer_tone import AnswerTone, AnswerToneDetector
from dsp.echo_filter import BLOCK, AdaptiveFilter
from dsp.echo_fore import Foreground
from dsp.echo_nlp import Nlp

__all__ = ["EchoCanceller", "EchoMetrics"]

Int16Array = npt.NDArray[np.int16]
SAMPLE_RATE = 8000
MIN_BLOCK = 8
MAX_BLOCK = 160
_DBM0_RMS = 16020.7
_ECHO_FLOOR = (_DBM0_RMS * 10 ** (-45 / 20)) ** 2
TONE_HOLD = SAMPLE_RATE // 10  # samples (100 ms) a channel is fed to the tone detector after a possible tone
_TONE_MIN_POWER = (_DBM0_RMS * 10 ** (-40 / 20)) ** 2


@dataclass(frozen=True)
class EchoMetrics:
    """State of one channel of the canceller (levels in dB, mu-law dBm0 scale)."""

    erl_db: float  # echo return loss: Rin power over echo estimate power
    erle_db: float  # enhancement: Sin power over error power, far-end single talk
    double_talk: bool
    converged: bool  # ERLE >= 20 dB and the filter trained
    enabled: bool
    nlp_on: bool  # the NLP is enabled for the channel
    nlp_active: bool  # the NLP is suppressing residual echo right now
    tone: int  # dsp.answer_tone.AnswerTone value (NONE, TONE, TONE_PR)
    background_dbm0: float  # comfort noise level estimate
    model_resets: int = 0  # echo path models cleared by the divergence guard since reset()


class EchoCanceller:
    """G.168 line echo canceller for ``channels`` channels (see the module docstring)."""

    def __init__(self, channels: int, tail_ms: int = 128, *, nlp: bool = True, cng: bool = True,
                 tone_disabler: bool = True) -> None:
        if channels < 1:
            raise ValueError("EchoCanceller: channels must be >= 1")
        if not 1 <= tail_ms <= 512:
            raise ValueError("EchoCanceller: tail_ms must be 1..512")
        self.channels = channels
        self.tail_ms = tail_ms
        self._filter = AdaptiveFilter(channels, tail_ms * SAMPLE_RATE // 1000)
        self._fore = Foreground(self._filter)
        self._nlp = Nlp(channels, tail=self._filter.taps)
        self._cng = cng
        self._nlp_on = np.full(channels, nlp)
        self._enabled = np.ones(channels, bool)
        self._tones = AnswerToneDetector(channels) if tone_disabler else None
        self._tone = np.zeros(channels, np.int8)
        self._tone_hold = np.zeros(channels, np.int64)  # samples a channel is still fed after a possible tone
        self._tone_fed = np.zeros(channels, bool)  # the channels fed to the detector in the last block
        self._probes: dict[int, npt.NDArray[np.float32]] = {}
        self._erl_db = np.zeros(channels, np.float32)
        self._srin = np.zeros(channels, np.float32)
        self._secho = np.zeros(channels, np.float32)
        self._blocks_seen = 0
        self._caller_blk = np.zeros(channels, bool)
        self._post_cancel: npt.NDArray[np.bool_] | None = None  # a block's bookkeeping for finish()

    # -- control ----------------------------------------------------------
    def _mask(self, channel: int | None) -> npt.NDArray[np.bool_]:
        mask = np.zeros(self.channels, bool)
        if channel is None:
            mask[:] = True
        else:
            if not 0 <= channel < self.channels:
                raise IndexError(f"EchoCanceller: channel {channel} not in 0..{self.channels - 1}")
            mask[channel] = True
        return mask

    def reset(self, channel: int | None = None) -> None:
        """Forget the echo path of one channel or all (a new call on the channel)."""
        self.finish()
        mask = self._mask(channel)
        self._filter.reset(mask)
        self._fore.reset(mask)
        self._nlp.reset(mask)
        self._erl_db[mask] = 0
        self._srin[mask] = 0
        self._secho[mask] = 0
        self._tone[mask] = 0
        self._caller_blk[mask] = False
        self._tone_hold[mask] = 0
        self._tone_fed[mask] = False
        if self._tones is not None:
            if channel is None:
                self._tones.reset()
            else:
                self._tones.reset(channel)

    def set_enabled(self, channel: int, on: bool) -> None:
        """Cancel on ``channel`` (True) or pass Sin through untouched (False)."""
        self.finish()
        self._enabled[self._mask(channel)] = on

    def set_nlp(self, on: bool, channel: int | None = None) -> None:
        """Enable or disable the non-linear processor for one channel or all."""
        self.finish()
        self._nlp_on[self._mask(channel)] = on

    def metrics(self, channel: int) -> EchoMetrics:
        """The canceller's view of ``channel``."""
        self.finish()
        c = int(np.flatnonzero(self._mask(channel))[0])
        f = self._filter
        erle = float(self._nlp.erle_db[c])
        bg = float(self._nlp.background[c])
        return EchoMetrics(
            erl_db=float(self._erl_db[c]),
            erle_db=erle,
            double_talk=bool(f.double_talk[c] or self._nlp.caller[c]),
            converged=bool(erle >= 20.0 and f.trained[c] > 25),
            enabled=bool(self._enabled[c]),
            nlp_on=bool(self._nlp_on[c]),
            nlp_active=bool(self._nlp.active[c]),
            tone=int(self._tone[c]),
            background_dbm0=10 * np.log10(bg / _DBM0_RMS**2 + 1e-12),
            model_resets=int(f.cleared[c]),
        )

    def _tone_gate(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.intp] | None:
        """The channels the answer tone detector must see in this block of Sin ``x`` (as
        float32; None: none).

        It costs as much as a fifth of the canceller when fed every call, and
        answer tones are rare: a channel is fed while the detector follows a
        tone on it (``AnswerToneDetector.busy``), and for TONE_HOLD after its
        call had a 2100 Hz component within 7 dB of a pure tone's share (a
        Hann-windowed DFT bin at 2100 Hz over the block: main lobe +/-100 Hz
        at 20 ms, +/-400 Hz at 5 ms) above -40 dBm0.  A tone must last 250 ms
        to operate the disabler, so it is always seen from its start; once the
        detector's run is under way (a block or two) it keeps the channel fed
        through the dips of the bin at phase reversals.  A channel fed again
        after a pause starts from rest (``reset``): it was not followed.
        Speech passes the bin test on about 1 % of blocks; with the hold,
        about a tenth of speech channels are fed instead of all of them.
        """
        assert self._tones is not None
        n = x.shape[1]
        probe = self._probes.get(n)
        if probe is None:
            t = np.arange(n)
            win = np.hanning(n + 2)[1:-1]
            ph = 2 * np.pi * 2100 * t / SAMPLE_RATE
            # Scaled so that a pure 2100 Hz tone's bin power equals its
            # sum of squares (|sum w x e^-jwt|^2 = A^2 sum(w)^2 / 4).
            scale = np.sqrt(2 * n) / np.sum(win)
            probe = (scale * np.stack([win * np.cos(ph), win * np.sin(ph)], axis=1)).astype(np.float32)
            self._probes[n] = probe
        z = x @ probe
        bin_pow = np.einsum("ij,ij->i", z, z)
        total = np.einsum("ij,ij->i", x, x)
        possible = (bin_pow > 0.2 * total) & (total > n * _TONE_MIN_POWER)
        hold = self._tone_hold
        hold[possible] = TONE_HOLD
        fed = (hold > 0) | self._tones.busy
        np.subtract(hold, n, out=hold, where=hold > 0)
        back = fed & ~self._tone_fed
        if back.any():
            self._tones.reset(back)
        self._tone_fed = fed
        if not fed.any():
            return None
        return np.flatnonzero(fed)

    # -- processing -------------------------------------------------------
    def process(self, rin: Int16Array, sin: Int16Array, defer: bool = False) -> Int16Array:
        """Cancel the echo of ``rin`` in ``sin`` (both int16 (channels, n)); return Sout.

        ``defer``: the work of a 160-sample block that ends with the call and that
        Sout does not need (the filters' adaptation, the foreground's choice and
        delay estimates, the ERL/ERLE bookkeeping: about a third of the canceller) is
        left for ``finish()``, so that a caller can send Sout first.  The next
        ``process`` (or ``reset``, ``metrics``, ``set_*``) makes it first when the
        caller has not: the results are those of ``defer=False``, sample for sample.
        """
        for name, a in (("rin", rin), ("sin", sin)):
            if not isinstance(a, np.ndarray) or a.dtype != np.int16:
                raise TypeError(f"EchoCanceller.process: {name} must be an int16 ndarray")
            if a.ndim != 2 or a.shape[0] != self.channels:
                raise ValueError(f"EchoCanceller.process: {name} must be ({self.channels}, n), "
                                 f"got {a.shape}")
        if rin.shape != sin.shape:
            raise ValueError(f"EchoCanceller.process: rin {rin.shape} and sin {sin.shape} differ")
        n = rin.shape[1]
        if not MIN_BLOCK <= n <= MAX_BLOCK:
            raise ValueError(f"EchoCanceller.process: n = {n}, must be {MIN_BLOCK}..{MAX_BLOCK}")
        self.finish()  # the previous block's, with the state it was left in
        first = BLOCK - self._filter.pos
        if n <= first:
            return self._process(rin, sin, defer)
        # split where the filters' block ends: that block adapts after the NLP has judged it
        return np.concatenate([self._process(rin[:, :first], sin[:, :first], False),
                               self._process(rin[:, first:], sin[:, first:], defer)], axis=1)

    def _process(self, rin: Int16Array, sin: Int16Array, defer: bool) -> Int16Array:
        """`process` of samples that end at or before the filters' block boundary."""
        n = rin.shape[1]
        x = rin.astype(np.float32)
        d = sin.astype(np.float32)
        if self._tones is not None:
            rows = self._tone_gate(d)
            if rows is None:
                self._tones.skip(n)
            elif len(rows) == self.channels:
                self._tone = self._tones.process(sin)
            else:
                self._tone = self._tones.process_rows(rows, sin[rows])
        modem = self._tone == AnswerTone.TONE_PR
        cancel = self._enabled & ~modem
        f = self._filter
        done_before = f.blocks_done
        # a block that ends here adapts in finish(), after the NLP's decisions on it
        err, est = f.filter(x, d, True)
        err, est = self._fore.filter(x, d, cancel, err, est, True)
        # A model clearly worse than none (an opened echo path): send Sin.
        e2 = err * err
        e_sum = np.einsum("ij->i", e2)
        worse = (f.trained > 25) & (e_sum > np.einsum("ij,ij->i", d, d) * 2.0 + n)
        if worse.any():
            err = np.where(worse[:, None], d, err)
            e2 = err * err
        nlp_ok = self._nlp_on & (self._tone == AnswerTone.NONE)
        out = self._nlp.process(err, est, f.far_active, f.double_talk, nlp_ok & cancel, self._cng,
                                e2=e2, rin=x)
        # The NLP's caller decisions over the block: its ERLE is learnt
        # after the decision and not on blocks with a caller in them (a
        # digit or a quiet caller the filter's detectors missed would
        # otherwise lower it at once and be taken for echo, G.168 3B).
        self._caller_blk |= self._nlp.caller
        if f.blocks_done != done_before:
            # no adaptation while the NLP's off-spectrum test hears the caller in this block
            # (its grid is the filters' blocks): what Sin holds where the far end sent nothing
            # cannot be echo, and would only teach the filter a wrong path.  Judged on the
            # block itself, a caller's first block (a digit, a word) is not learnt at the
            # untrained filter's full step before the test hears it.  Its power test is not
            # used here: before convergence it takes echo for a caller.
            f.adapt = cancel & ~self._nlp.near
            self._post_cancel = cancel
            if not defer:
                self.finish()
        if not cancel.all():
            out = np.where(cancel[:, None], out, d)
        np.rint(out, out=out)
        np.clip(out, -32768, 32767, out=out)
        return out.astype(np.int16)

    def finish(self) -> None:
        """The block work a ``process(defer=True)`` left pending, if any (cheap otherwise)."""
        f = self._filter
        f.finish()
        self._fore.finish()
        if self._post_cancel is not None:
            cancel, self._post_cancel = self._post_cancel, None
            use = self._fore.use
            g = self._fore.f
            block_err = np.where(use, g.block_err, f.block_err)
            block_echo = np.where(use, g.block_echo, f.block_echo)
            single = f.far_active & ~f.double_talk & cancel
            # Learn the ERLE on blocks with real echo in them (not the tails
            # of bursts): Sin above -45 dBm0 and mostly explained.
            loud_echo = (f.block_sin > _ECHO_FLOOR) & (block_echo > 0.25 * f.block_sin)
            self._nlp.learn_erle(f.block_sin, block_err, single & loud_echo & ~self._caller_blk)
            self._caller_blk = self._nlp.caller.copy()
            # ERL from smoothed powers (block ratios are biased by pauses:
            # the echo of a burst outlasts it).
            self._srin = np.where(single, 0.98 * self._srin + 0.02 * f.block_rin, self._srin)
            self._secho = np.where(single, 0.98 * self._secho + 0.02 * block_echo, self._secho)
            self._erl_db = (10 * np.log10((self._srin + 1.0) / (self._secho + 1.0))).astype(np.float32)
