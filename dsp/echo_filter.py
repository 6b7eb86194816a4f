"""Adaptive echo path model of the line echo canceller: a batched, partitioned-block FDAF.

What: the linear part of the G.168 echo canceller (the "H register", G.168
3.15): an estimate of the echo path from Rin to Sin over the echo path
capacity (default 128 ms, 1,024 taps at 8 kHz), adapted while the far end
talks, and the error Sin - echo estimate.  One object holds every channel of
a span (or of several spans); all state is in arrays shaped (channels, ...).

How: a multidelay block frequency-domain adaptive filter (partitioned-block
FDAF, "MDF", Soo and Pang 1990) with block P = 160 samples, FFT size 2P and
K = ceil(taps / P) partitions.

* No added delay whatever the call size: the echo estimate of each call's
  new samples is computed as soon as they arrive (the current block is
  completed with zeros, which a causal filter never looks at, and the
  partitions that see only past blocks are summed once per block).  The
  filter adapts once per completed block.
* Normalisation per bin by the input power over the whole filter span (the
  x^T x of NLMS), itself smoothed over blocks (fast attack, slow decay), so
  colour and pauses of the far-end signal do not upset the step.
  (Proportionate partition gains, IPNLMS-like, were tried and did not
  converge faster on the Annex D paths with 160-sample partitions.)
* Alternately constrained (AUMDF): partition 0 every block (so the
  filter stays causal) and two others in turn have their weights projected
  back to P taps, which saves most FFTs.
* Adaptation only while the far end is active in the span (the echo of a
  burst outlasts it by the echo path delay) and no double talk, with 240 ms
  hangover: Geigel (Sin peak above the Rin peaks over the tail before
  convergence; above 0.71 of them and twice the echo estimate's peak
  after), Sin power far above the echo estimate's, or the error 12 dB above
  the worst error-to-Sin ratio of recent single talk (a caller quieter than
  the echo, which Geigel cannot see).
* Step schedule: MU_MAX while (re)converging, then falling as 1/n with the
  blocks learnt (like a least-squares fit) to MU_MIN, which is what gives
  the deep steady-state cancellation in background noise.  An echo path
  change (another call, a transfer, a slip) is recognised when the error
  stays most of Sin for 25 blocks of far-end speech and is coherent with
  the far end (a caller is not): the schedule and detectors restart, and a
  model that did worse than none over those blocks (error above Sin: it
  learnt a caller the detectors missed, e.g. one as loud as the far end
  from the call's first sample) is cleared.  A model cleared in a block
  adapts in it on Sin, the error of no model, not on the old model's error
  (which, at the fastest step, put back a model as wrong as the old).
* Divergence guard: an echo estimate twice as loud as any Rin peak of the
  tail (a hybrid is passive) with an error above Sin, two blocks running,
  clears the channel's model.  Per-bin normalisation gives a bin with
  little far-end power a large step; a caller as loud as the far end that
  the double talk detectors miss before convergence, over a far end whose
  spectrum is a few lines then changes (the jitter buffer's concealment
  repeating a pitch period), made the model grow without bound.
* Narrow-band guard (G.168 test 6): when the far-end spectrum is
  concentrated in a few bins (tones, DTMF) a trained filter does not adapt;
  any number of filters cancel a tone, and learning one ruins the model.

* ``half``: each channel adapts every other block (its channel parity), a
  strided view of the partition-major arrays, when a faster foreground
  (``dsp.echo_fore``) carries the convergence: half the adaptation cost.
* A block's update and constraint touch only the channels that learn in it
  (gathered when they are fewer than half of those due, ``SPARSE_SHARE``):
  a channel in far-end silence or double talk keeps its weights bit for
  bit, and no channel's output depends on what the others do.

Limits: 8 kHz.  No leakage (G.168 test 4): the model is kept while the far
end is silent.  Convergence is gradient speed: about 1 s (0.6-1.7 s) to
20 dB on the G.168 composite source with 1,024 taps adapting every block,
about twice that at half rate.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import scipy.fft as sfft

F32 = npt.NDArray[np.float32]
C64 = npt.NDArray[np.complex64]
BoolArray = npt.NDArray[np.bool_]

BLOCK: Final = 160
MU_MAX: Final = 1.5
MU_MIN: Final = 0.02
BOOT: Final = 25.0  # blocks at MU_MAX before the schedule starts falling
TAU: Final = 100.0  # blocks: mu = MU_MAX / (1 + (age - BOOT) / TAU)
PSMOOTH: Final = 0.5  # per-bin power smoothing (slow decay) per block
GEIGEL: Final = 0.71  # Sin peak over Rin peak taken for double talk, once converged
HANGOVER: Final = 12  # blocks (240 ms)
CONSTRAIN: Final = 3  # partitions re-constrained per block (0 and two in turn)
NEAR_MARGIN_DB: Final = 12.0  # error above the single-talk ratio taken for a caller
NEAR_MIN_ERLE: Final = -25.0  # that detector works once error/Sin is below this (dB)
PATH_BLOCKS: Final = 25  # suspicious blocks summed before the coherence test
PATH_COHERENCE: Final = 0.15  # error/far-end coherence that means a new echo path
DIVERGED: Final = 2.0  # echo estimate peak over the Rin peaks of the tail (no passive path) ...
DIVERGED_BLOCKS: Final = 2  # ... with the error above Sin, this many blocks in a row: cleared
# the adaptation gathers its channels when fewer than 1/SPARSE_SHARE of those due learn
# (gathering costs more per channel than the strided pass over all of them)
SPARSE_SHARE: Final = 2
_DBM0_RMS: Final = 16020.7
# Far end silent: mean power per bin below about -50 dBm0 (2P-point FFT).
_SILENCE_BIN_POWER: Final = (_DBM0_RMS * 10 ** (-50 / 20)) ** 2 * BLOCK * 2
_SILENCE_BLOCK_POWER: Final = (_DBM0_RMS * 10 ** (-55 / 20)) ** 2


def _power(x: C64) -> F32:
    out: F32 = np.square(x.real)
    out += np.square(x.imag)
    return out


def _meansq(x: F32) -> F32:
    return np.einsum("ij,ij->i", x, x) / np.float32(x.shape[1])  # type: ignore[no-any-return]


def _rfft(x: F32) -> C64:
    return sfft.rfft(x, n=2 * BLOCK, axis=-1, workers=1)  # type: ignore[no-any-return]


def _irfft(x: C64) -> F32:
    return sfft.irfft(x, n=2 * BLOCK, axis=-1, workers=1)  # type: ignore[no-any-return]


class AdaptiveFilter:
    """Partitioned-block FDAF over ``channels`` with ``taps`` taps (see the module docstring).

    ``filter(rin, sin)`` takes float32 blocks (channels, m) of any length and
    returns (error, echo estimate) for them.  ``adapt`` (per channel, set by
    the owner) allows adaptation; ``double_talk``, ``age`` and the block
    powers are read by the owner for its metrics and the NLP.
    """

    def __init__(self, channels: int, taps: int, mu_max: float = MU_MAX,
                 psmooth: float = PSMOOTH, tau: float = TAU) -> None:
        self.channels = channels
        self._tau = tau
        self._mu_max = mu_max
        self._psmooth = psmooth
        self.k = max(1, -(-taps // BLOCK))
        self.taps = self.k * BLOCK
        c, k, f = channels, self.k, BLOCK + 1
        # the FFT window (previous block, current block) and the error padded with zeros in front,
        # each one array, with views of their halves: no concatenation per segment
        self._xwin = np.zeros((c, 2 * BLOCK), np.float32)
        self._xprev = self._xwin[:, :BLOCK]
        self._xcur = self._xwin[:, BLOCK:]
        self._epad = np.zeros((c, 2 * BLOCK), np.float32)
        self._dcur = np.zeros((c, BLOCK), np.float32)
        self._ecur = self._epad[:, BLOCK:]
        self._ycur = np.zeros((c, BLOCK), np.float32)
        self._tail = np.zeros((c, BLOCK), np.float32)
        self._pos = 0
        # Input spectra (and powers) of the last K windows, stored twice so
        # that [:, i:i+K] is always newest-first without copying.
        # Partition-major (K, C, F): each block's writes are contiguous.
        self._xh = np.zeros((2 * k, c, f), np.complex64)
        self._ph = np.zeros((2 * k, c, f), np.float32)
        self._pm = np.zeros((2 * k, c), np.float32)
        self._grad = np.zeros((k, c, f), np.complex64)
        self._xc = np.zeros((2 * k, c, f), np.complex64)
        self._span = np.zeros((c, f), np.float32)
        self._i = 0
        self.w = np.zeros((k, c, f), np.complex64)
        self._rmax = np.zeros((c, k + 1), np.float32)
        self._hang = np.zeros(c, np.int32)
        self._bad = np.zeros(c, np.int32)
        self._worse = np.zeros(c, np.int32)
        self._ypeak = np.zeros(c, np.float32)
        self._rpeak = np.zeros(c, np.float32)
        self.cleared = np.zeros(c, np.int64)  # models cleared by the divergence guard
        self._since_geigel = np.zeros(c, np.int32)
        self._ratio_db = np.zeros(c, np.float32)
        self._cxe = np.zeros((k, c, f), np.complex64)
        self._cxx = np.zeros((k, c, f), np.float32)
        self._cee = np.zeros((c, f), np.float32)
        self._run_gain = np.zeros(c, np.float32)  # error over Sin power, summed over the suspect blocks
        self._zeroed_rows = np.zeros(c, bool)  # models cleared in this block
        self._zeroed = False
        self.adapt = np.ones(c, bool)
        # Adapt each channel every other block only (a background filter
        # behind a faster foreground): half the adaptation cost.
        self.half = False
        # Channels whose Rin/Sin cross-correlation is summed in ``corr`` (K, C, F).
        self.corr_on = np.zeros(c, bool)
        self.corr = np.zeros((k, c, f), np.complex64)
        self.age = np.zeros(c, np.float32)
        self.trained = np.zeros(c, np.float32)
        self.noise = np.zeros(c, np.float32)
        self.double_talk = np.zeros(c, bool)
        self.narrowband = np.zeros(c, bool)
        self.far_active = np.zeros(c, bool)
        # Powers of the last completed block (mean square, 16-bit scale).
        self.block_sin = np.zeros(c, np.float32)
        self.block_err = np.zeros(c, np.float32)
        self.block_echo = np.zeros(c, np.float32)
        self.block_rin = np.zeros(c, np.float32)
        self.blocks_done = 0
        # the block's adaptation left for finish() (filter(defer=True)): its error spectrum
        self._post_ef: C64 | None = None

    def reset(self, mask: BoolArray) -> None:
        """Forget the echo path model and history of the channels in ``mask``."""
        for a in (self._xprev, self._xcur, self._dcur, self._ecur, self._ycur, self._tail,
                  self._span, self._rmax, self._hang, self._bad, self._worse, self.cleared, self.age,
                  self._since_geigel, self._ratio_db, self._run_gain, self._zeroed_rows,
                  self.trained, self.noise, self.block_sin, self.block_err, self.block_echo,
                  self.block_rin):
            a[mask] = 0
        for r in (self._xh, self._xc, self._ph, self._pm, self.w, self._cxe, self._cxx,
                  self.corr):
            r[:, mask] = 0
        self.double_talk[mask] = False
        self.narrowband[mask] = False
        self.far_active[mask] = False

    @property
    def pos(self) -> int:
        """Samples of the current block seen so far (0..BLOCK-1)."""
        return self._pos

    # -- filtering --------------------------------------------------------
    def filter(self, rin: F32, sin: F32, defer: bool = False) -> tuple[F32, F32]:
        """Return (error, echo estimate) for the new samples ``rin``/``sin`` (channels, m).

        ``defer``: when a block ends with the call, its adaptation (the step schedule,
        the noise floor, the cross-correlation and the weight update: nothing the
        block's output or the owner's use of its detectors needs) is left for
        ``finish()``, which the next call makes first if the owner has not.
        """
        self.finish()
        m = rin.shape[1]
        err = np.empty_like(sin)
        est = np.empty_like(sin)
        done = 0
        while done < m:
            take = min(m - done, BLOCK - self._pos)
            s = slice(done, done + take)
            self._segment(rin[:, s], sin[:, s], err[:, s], est[:, s], defer and done + take == m)
            done += take
        return err, est

    def finish(self) -> None:
        """The adaptation a ``filter(defer=True)`` left pending, if any."""
        if self._post_ef is not None:
            ef, self._post_ef = self._post_ef, None
            self._adapt_rest(ef)

    def _window(self) -> C64:
        return _rfft(self._xwin)

    def _segment(self, x: F32, d: F32, e_out: F32, y_out: F32, defer: bool = False) -> None:
        a, m = self._pos, x.shape[1]
        self._xcur[:, a:a + m] = x
        self._dcur[:, a:a + m] = d
        k, i = self.k, self._i
        if a == 0 and m == BLOCK:
            # A whole aligned block: one pass over every partition.
            self._push(self._window())
            xw = self._xh[self._i:self._i + k]
            y = _irfft(np.multiply(xw, self.w, out=self._grad).sum(axis=0))[:, BLOCK:]
        else:
            if a == 0:
                # The partitions that see only past blocks give the same
                # output for the whole block: sum them once.
                if k > 1:
                    past = self._xh[i:i + k - 1]
                    self._tail[:] = _irfft((past * self.w[1:]).sum(axis=0))[:, BLOCK:]
                else:
                    self._tail[:] = 0
            self._xcur[:, a + m:] = 0
            xw0 = self._window()
            y = _irfft(xw0 * self.w[0])[:, BLOCK:] + self._tail
            if a + m == BLOCK:
                self._push(xw0)  # the block's window: the one just transformed
        ys = y[:, a:a + m]
        self._ycur[:, a:a + m] = ys
        e = d - ys
        self._ecur[:, a:a + m] = e
        e_out[:] = e
        y_out[:] = ys
        self._pos = a + m
        if self._pos == BLOCK:
            self._adapt_block(defer)
            self._xprev[:] = self._xcur
            self._pos = 0

    def _push(self, xb: C64) -> None:
        prev = self._ph[self._i]
        self._i = (self._i - 1) % self.k
        i = self._i
        p = _power(xb)
        # Smoothed per-bin power (fast attack, slow decay): an instantaneous
        # |X|^2 would give huge steps in the bins it happens to miss.
        p = np.maximum(p, self._psmooth * prev + (1 - self._psmooth) * p)
        # Slot i held the window now leaving the span: keep the span's
        # power as a running sum (re-summed now and then against drift).
        if self.blocks_done % 64 == 0:
            self._span = self._ph[i + 1:i + self.k].sum(axis=0) + p
        else:
            self._span += p - self._ph[i]
        self._xh[i] = xb
        self._xh[i + self.k] = xb
        xc = np.conjugate(xb)
        self._xc[i] = xc
        self._xc[i + self.k] = xc
        self._ph[i] = p
        self._ph[i + self.k] = p
        pm = p.mean(axis=1)
        self._pm[i] = pm
        self._pm[i + self.k] = pm

    # -- adaptation -------------------------------------------------------
    def _adapt_block(self, defer: bool = False) -> None:
        """The block's powers and detectors (double talk, path change: the owner reads them for
        this block), then its adaptation (`_adapt_rest`, with the narrow-band guard), now or
        deferred."""
        k, i = self.k, self._i
        xc = self._xc[i:i + k]  # the window spectra's conjugates (kept by _push)
        pw = self._ph[i:i + k]
        e = self._ecur
        self.block_sin = _meansq(self._dcur)
        self.block_err = _meansq(e)
        self.block_echo = _meansq(self._ycur)
        self.block_rin = _meansq(self._xcur)
        self.blocks_done += 1

        far_active = self._pm[i:i + k].max(axis=0) > _SILENCE_BIN_POWER
        self.far_active = far_active
        self.trained += far_active
        self._detect_double_talk()
        self._divergence_guard()

        ef = _rfft(self._epad)  # (zeros, e)
        self._path_change(xc, pw, ef, far_active)
        if self._zeroed:
            # a model cleared in this block adapts on the error of the model it now is
            # (none: Sin), not on that of the one it was
            rows = np.flatnonzero(self._zeroed_rows)
            d = self._dcur[rows]
            ef[rows] = _rfft(np.concatenate([np.zeros_like(d), d], axis=1))
            self._zeroed_rows[rows] = False
            self._zeroed = False
        if defer:
            self._post_ef = ef
        else:
            self._adapt_rest(ef)

    def _adapt_rest(self, ef: C64) -> None:
        """The block's adaptation; reads only state that stays as it was until the next block."""
        k, i = self.k, self._i
        far_active = self.far_active
        # (only the adaptation, this one's and the foreground's, reads it)
        self._narrowband_guard(self._ph[i], far_active)
        learn = far_active & ~self.double_talk
        self.age += learn
        # Error floor: minimum statistics (falls at once, rises ~4 dB/s).
        floor = np.minimum(self.block_err, self.noise * 1.02 + 1.0)
        self.noise = np.where(self.double_talk, self.noise, floor).astype(np.float32)

        rows = np.flatnonzero(self.corr_on & learn)
        if len(rows):
            # Whitened Rin/Sin cross-correlation per partition (the first
            # gradient step, summed without feedback): the bulk delay.
            # Young channels only (calls start at any time: few at once).
            # (all channels young, e.g. spans brought up at once: slices)
            yr: slice | npt.NDArray[np.intp] = slice(None) if len(rows) == self.channels else rows
            d0 = self._dcur[yr]
            df = _rfft(np.concatenate([np.zeros_like(d0), d0], axis=1))
            reg = _SILENCE_BIN_POWER * 1e-2 * k
            df /= self._span[yr] + reg
            if isinstance(yr, slice):
                self.corr += np.multiply(self._xc[i:i + k], df[None], out=self._grad)
            else:
                self.corr[:, yr] += self._xc[i:i + k, yr] * df[None]
        on = self.adapt & learn & ~self.narrowband
        # Half rate: every other block, one channel parity adapts (a strided
        # view in the partition-major arrays: half the work per block).
        cs = slice(self.blocks_done % 2, None, 2) if self.half else slice(None)
        if self.half:
            on[1 - self.blocks_done % 2::2] = False
        # Partition 0 is constrained every block: its second-half taps would
        # reach into the current block's future samples (non-causal, and the
        # zero-delay partial-block output could not reproduce them).  The
        # others take turns (alternately updated MDF).
        sel = [0]
        if k > 1:
            sel += [1 + (self.blocks_done * (CONSTRAIN - 1) + j) % (k - 1)
                    for j in range(min(k - 1, CONSTRAIN - 1))]
        rows = np.flatnonzero(on)
        if not len(rows):
            return
        mu = np.maximum(MU_MIN, self._mu_max / (1.0 + np.maximum(self.age - BOOT, 0.0) / self._tau))
        mu = (mu * on).astype(np.float32)
        # NLMS normalisation per bin by the input power over the span: the
        # K partitions' gradients add up, hence the 1/K.
        # Few channels learn in this block (the others in silence, double talk, or on a
        # tone): theirs only, gathered; otherwise the strided pass over the parity.
        gather = len(rows) * SPARSE_SHARE < on[cs].size
        idx: slice | npt.NDArray[np.intp] = rows if gather else cs
        denom = np.maximum(self._span[idx], 0.0) + _SILENCE_BIN_POWER * 1e-2 * k
        step = (mu[idx, None] / denom) * ef[idx]
        w = self.w[:, idx]  # (a view of the parity; gathered rows are a copy, put back below)
        w += np.multiply(self._xc[i:i + k, idx], step[None], out=self._grad[:, :step.shape[0]])
        wt = _irfft(w[sel])
        wt[..., BLOCK:] = 0
        # the constraint written back where the channel learnt only: a channel's weights do
        # not depend on which path its block took, nor on what the other calls do (the
        # constraint of weights its last update constrained would only add rounding)
        ws = _rfft(wt)
        oc = on[idx]
        w[sel] = ws if oc.all() else np.where(oc[None, :, None], ws, w[sel])
        if gather:
            self.w[:, rows] = w

    def _divergence_guard(self) -> None:
        """Clear a diverging model (G.168 3.15: the H register is reset).

        A hybrid is passive: its echo is never louder than what went in.  An echo estimate
        whose peak is DIVERGED times every Rin peak of the tail, while the error is above
        Sin (the model does worse than none), for DIVERGED_BLOCKS blocks, is a model that
        diverges: the per-bin step meets a far end whose spectrum left bins empty (the
        jitter buffer's concealment repeating a pitch period, a tone), then refilled them.
        The channel starts learning again; the foreground and the output guard keep Sout
        meanwhile.
        """
        worse = (self._ypeak > DIVERGED * self._rpeak + 64.0) & (self.block_err > self.block_sin)
        self._worse = np.where(worse, self._worse + 1, 0).astype(np.int32)
        gone = self._worse >= DIVERGED_BLOCKS
        if not gone.any():
            return
        self.w[:, gone] = 0
        self._zeroed_rows |= gone
        self._zeroed = True
        self.age[gone] = 0
        self._ratio_db[gone] = 0
        self._bad[gone] = 0
        self._worse[gone] = 0
        self.cleared += gone

    def _path_change(self, xc: C64, pw: F32, ef: C64, far_active: BoolArray) -> None:
        """Echo path change: a mismatch that is coherent with the far end.

        While the error stays most of Sin (converged filter, far end active),
        the cross-spectra of error and far end are summed per partition.  A
        caller is not coherent with Rin (coherence about 1/blocks); a new
        echo path is.  After PATH_BLOCKS such blocks, a coherence above
        PATH_COHERENCE in some partition restarts the step schedule, double
        talk detectors included.
        """
        suspect = (far_active & (self.age > BOOT)
                   & (self.block_err > 0.5 * self.block_sin)
                   & (self.block_err > 16.0 * self.noise + _SILENCE_BLOCK_POWER))
        # Blocks the model explains end the suspicion; pauses hold it.
        good = far_active & (self.block_err < 0.25 * self.block_sin)
        self._bad = np.where(good, 0, self._bad + suspect).astype(np.int32)
        if not suspect.any():
            return
        fresh = np.flatnonzero(suspect & (self._bad == 1))
        if len(fresh):
            self._cxe[:, fresh] = 0
            self._cxx[:, fresh] = 0
            self._cee[fresh] = 0
            self._run_gain[fresh] = 0
        # Suspect channels only (a path change or a caller: few at once).
        rows = np.flatnonzero(suspect)
        er = ef[rows]
        self._cxe[:, rows] += xc[:, rows] * er[None]
        self._cxx[:, rows] += pw[:, rows]
        self._cee[rows] += _power(er)
        self._run_gain[rows] += self.block_err[rows] - self.block_sin[rows]
        ready = np.flatnonzero(self._bad >= PATH_BLOCKS)
        if not len(ready):
            return
        num = _power(self._cxe[:, ready]).sum(axis=2)
        den = (self._cxx[:, ready] * self._cee[ready][None]).sum(axis=2) + 1e-3
        changed = ready[(num / den).max(axis=0) > PATH_COHERENCE]
        self.age[changed] = 0
        # a model that did worse than none over the suspect blocks (the error above Sin: it
        # was learnt on a caller the detectors missed, or on the old path) is not a start
        # worth keeping: it is cleared, and learnt again from scratch at the fastest step
        worse = changed[self._run_gain[changed] > 0]
        self.w[:, worse] = 0
        if len(worse):
            self._zeroed_rows[worse] = True
            self._zeroed = True
        self._ratio_db[changed] = 0
        self._hang[changed] = 0
        self.double_talk[changed] = False
        self._bad[ready] = 0

    def _detect_double_talk(self) -> None:
        """Geigel, plus two detectors that work once the filter has converged.

        * Sin far louder than the echo estimate (caller louder than the echo);
        * the error well above what the filter has left in single talk
          (ERLE learnt in dB): a caller quieter than the echo, which
          Geigel cannot see, still stands out of a converged error.
        """
        self._rmax[:, self.blocks_done % self._rmax.shape[1]] = np.abs(self._xcur).max(axis=1)
        smax = np.abs(self._dcur).max(axis=1)
        # An ERL 6 dB echo path can put echo peaks above the Geigel line.
        # Once converged, a caller also stands out of the echo estimate's
        # peaks (twice them); an echo path change with a similar loss does
        # not, so it is not taken for double talk and can be re-learnt.
        # Before convergence the line is 0 dB: peaky ERL 6 dB paths must not
        # hold the filter in double talk before it has learnt anything.
        ymax = np.abs(self._ycur).max(axis=1)
        rmax = self._rmax.max(axis=1)
        early = self.age <= BOOT
        geigel = np.where(early, smax > rmax, (smax > GEIGEL * rmax) & (smax > 2.0 * ymax))
        self._ypeak, self._rpeak = ymax, rmax
        self._since_geigel = np.where(geigel, 0, self._since_geigel + 1)
        converged = self.age > BOOT
        floor = 8.0 * self.noise + _SILENCE_BLOCK_POWER
        loud = converged & (self.block_sin > 4.0 * self.block_echo + floor)
        expected = self.block_sin * 10 ** ((self._ratio_db + NEAR_MARGIN_DB) / 10)
        near = converged & (self._ratio_db < NEAR_MIN_ERLE) & (self.block_err > expected + floor)
        self._hang = np.where(geigel | loud | near, HANGOVER, np.maximum(self._hang - 1, 0))
        self.double_talk = self._hang > 0
        # Learn on blocks where the echo stands well above the background.
        single = self.far_active & ~self.double_talk & (self.block_echo > floor)
        # Error-to-Sin ratio of single talk, following the worst recent
        # blocks (it rises fast, falls slowly): voiced sounds are cancelled
        # less well than noise-like ones, and must not look like a caller.
        ratio = 10 * np.log10((self.block_err + 1.0) / (self.block_sin + 1.0))
        rate = np.where(ratio > self._ratio_db, 0.15, 0.03)
        self._ratio_db = np.where(single, self._ratio_db + rate * (ratio - self._ratio_db),
                                  self._ratio_db).astype(np.float32)

    def _narrowband_guard(self, px: F32, far_active: BoolArray) -> None:
        """Spectral flatness of the far-end block over 300-3500 Hz (G.168 test 6)."""
        band = px[:, 12:140] + 1.0
        flat = np.exp(np.mean(np.log(band), axis=1)) / np.mean(band, axis=1)
        self.narrowband = far_active & (flat < 0.05) & (self.trained > BOOT)
