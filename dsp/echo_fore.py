"""Short foreground filter at the echo's bulk delay: fast (re)convergence of the line echo canceller.

What: the G.168 Annex D echo paths (and real hybrids behind a PBX) are a
pure (bulk) delay anywhere in the 128 ms tail followed by a short dispersive
response (a few ms to about 12 ms).  A gradient filter's convergence speed
falls with its length, so besides the full-tail filter
(``dsp.echo_filter.AdaptiveFilter``, the background, which always adapts,
each channel every other block) a one-partition filter of ``FORE_TAPS``
taps (``ShortFilter``) runs on Rin delayed by the bulk delay estimate (the
foreground).  It converges several times faster (0.25-0.9 s to 20 dB on the
composite source instead of 0.6-1.2 s) and, its gradient noise being that
of 160 taps rather than 1,120, it also ends deeper (about 8 dB in -60 dBm0
noise).

How, per channel, in arrays over all channels:

* Bulk delay: while the background is young (its first ``YOUNG`` blocks
  learnt) the whitened Rin/Sin cross-correlation is summed per partition
  (``AdaptiveFilter.corr``, the first gradient step without feedback) and
  read at ages ``EST_BLOCKS``, x ``GROW``, ...; once trained, the
  background's own taps are read every ``RECHECK`` blocks.  The
  ``WINDOW``-tap window with most energy is the echo's peak; the foreground
  starts ``PRE`` taps before it.  When the estimate moves by more than
  ``MOVE`` taps (another echo path), the foreground restarts there.
* The foreground takes the background's double talk decision (its own
  Geigel detector would only see ``FORE_TAPS`` of Rin) and restarts its
  step schedule when the background sees a new echo path.
* Double talk is recognised a block or two after it starts (a syllable or
  a digit rises from silence): at its onset the foreground's weights of
  ``ROLLBACK - 1`` blocks before come back (the two-path protection of
  G.168 implementations), so the undetected first blocks leave no trace.
* Sout uses the filter with the smaller smoothed error power (compared in
  single talk only, with ``HYST`` hysteresis: in double talk both errors
  are the caller), so an echo path the window does not hold (dispersion
  longer than the window, two reflections far apart) ends at the
  background's full-tail accuracy.

Limits: one window: an echo path with two distant reflections is left to
the background.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import scipy.fft as sfft

from dsp.echo_filter import (
    _SILENCE_BIN_POWER,
    BLOCK,
    BOOT,
    MU_MIN,
    SPARSE_SHARE,
    AdaptiveFilter,
    _irfft,
    _meansq,
    _power,
    _rfft,
)

F32 = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
C64 = npt.NDArray[np.complex64]

FORE_TAPS: Final = BLOCK  # one partition
FORE_MU: Final = 0.9
FORE_PSMOOTH: Final = 0.8
FORE_TAU: Final = 40.0  # blocks: the step schedule's fall (see dsp.echo_filter)
EST_BLOCKS: Final = 6.0  # background blocks learnt before the first delay estimate
RECHECK: Final = 25  # blocks between delay re-estimates once the background is trained
YOUNG: Final = 40.0  # background blocks learnt while the cross-correlation is summed
GROW: Final = 1.15  # ratio of the ages at which the delay is estimated while young
WINDOW: Final = 16  # taps around the echo peak the estimate looks for
PRE: Final = 40  # taps of the foreground before the peak window
MOVE: Final = 24  # a larger move of the estimate restarts the foreground
ROLLBACK: Final = 4  # blocks kept: the weights from 3 blocks before an onset come back
HYST: Final = 1.25  # 1 dB
_SPARE: Final = 8 * BLOCK  # history written ahead before it is moved back
SMOOTH: Final = 0.7  # error power smoothing per block for the choice


class Foreground:
    """The short filter at the bulk delay of ``bg``'s echo path (see the module docstring)."""

    def __init__(self, bg: AdaptiveFilter) -> None:
        c = bg.channels
        self.bg = bg
        self.f = ShortFilter(c, bg)
        # Rin history: written forward, moved back only when full, so a
        # call costs no shift of the whole tail.
        self._hlen = bg.taps + BLOCK
        self._hist = np.zeros((c, self._hlen + _SPARE), np.float32)
        self._hpos = self._hlen
        self._rows = np.arange(c)[:, None] * self._hist.shape[1]
        self.delay = np.zeros(c, np.int64)
        self.located = np.zeros(c, bool)
        self.use = np.zeros(c, bool)
        self._efg = np.zeros(c, np.float32)
        self._ebg = np.zeros(c, np.float32)
        self._age = np.zeros(c, np.float32)
        self._next = np.full(c, EST_BLOCKS, np.float32)
        self._turn = np.arange(c)
        bg.corr_on = np.ones(c, bool)
        # Foreground weights of the last ROLLBACK blocks (ring; _slot newest).
        self._saved = np.zeros((ROLLBACK, *self.f.w.shape), self.f.w.dtype)
        self._slot = 0
        self._dt = np.zeros(c, bool)
        bg.half = True
        # filter(defer=True): the block's `adapt` mask, its adaptation and choice left for finish()
        self._post_adapt: BoolArray | None = None

    def reset(self, mask: BoolArray) -> None:
        self.f.reset(mask)
        self._saved[:, mask] = 0
        self._dt[mask] = False
        self._hist[mask] = 0
        self.delay[mask] = 0
        self.located[mask] = False
        self.use[mask] = False
        self._efg[mask] = 0
        self._ebg[mask] = 0
        self._age[mask] = 0
        self._next[mask] = EST_BLOCKS

    def filter(self, x: F32, d: F32, adapt: BoolArray, err: F32, est: F32,
               defer: bool = False) -> tuple[F32, F32]:
        """Sout's (error, echo estimate) of the new samples, given the background's.

        Call after ``bg.filter``.  The call is split where a block ends, so
        the choice and a restart at a new delay take effect at the same
        sample whatever the call sizes.  ``defer``: a block that ends with the
        call leaves its adaptation and the choice for the next block to
        ``finish()`` (after ``bg.finish()``), as ``AdaptiveFilter.filter`` does.
        """
        self.finish()
        m = x.shape[1]
        h = self._hist
        if self._hpos + m > h.shape[1]:
            h[:, :self._hlen] = h[:, self._hpos - self._hlen:self._hpos]
            self._hpos = self._hlen
        p0 = self._hpos
        h[:, p0:p0 + m] = x
        self._hpos = p0 + m
        f = self.f
        f.adapt = adapt & self.located
        flat = h.reshape(-1)
        a = 0
        while a < m:
            b = min(m, a + BLOCK - f.pos)
            # (the delay may move where a block ends, inside the call)
            base = (self._rows + p0) - self.delay[:, None]
            xd = flat[base + np.arange(a, b)[None, :]]
            done = f.blocks_done
            last = defer and b == m
            fe, fy = f.filter(xd, d[:, a:b], last)
            use = self.use
            if use.any():
                u = use[:, None]
                np.copyto(err[:, a:b], fe, where=u)
                np.copyto(est[:, a:b], fy, where=u)
            if f.blocks_done != done:
                if last:
                    self._post_adapt = adapt
                else:
                    self._block()
                    f.adapt = adapt & self.located
            a = b
        return err, est

    def finish(self) -> None:
        """What a ``filter(defer=True)`` left pending: the short filter's adaptation, the
        choice and the delay estimates.  Call after ``bg.finish()``."""
        if self._post_adapt is not None:
            adapt, self._post_adapt = self._post_adapt, None
            self.f.finish()
            self._block()
            self.f.adapt = adapt & self.located

    def _block(self) -> None:
        bg, f = self.bg, self.f
        restart = bg.age < self._age
        if restart.any():
            # The background saw a new echo path: the foreground's step
            # schedule restarts too (wherever the new path lies).
            bg.corr[:, restart] = 0
            self._next[restart] = EST_BLOCKS
            f.age[restart] = 0
        self._age = bg.age.copy()
        bg.corr_on = bg.age < YOUNG
        # Double talk is seen a block or two after it starts (a syllable
        # rises from silence): at its onset the foreground's last ROLLBACK
        # blocks of adaptation are undone (two-path protection, G.168 3B).
        onset = bg.double_talk & ~self._dt
        self._dt = bg.double_talk.copy()
        if onset.any():
            f.w[onset] = self._saved[(self._slot + 1) % ROLLBACK][onset]
        self._slot = (self._slot + 1) % ROLLBACK
        np.copyto(self._saved[self._slot], f.w)
        # The choice is made in single talk only: in double talk both
        # errors are mostly the caller and say nothing about the models.
        hold = bg.double_talk
        self._efg = np.where(hold, self._efg, SMOOTH * self._efg + (1 - SMOOTH) * f.block_err)
        self._ebg = np.where(hold, self._ebg, SMOOTH * self._ebg + (1 - SMOOTH) * bg.block_err)
        # Hysteresis (HYST either way): the two errors are within a dB of
        # each other once both have converged in background noise.
        ratio = np.where(self.use, HYST, 1 / HYST)
        self.use = self.located & (self._efg < ratio * self._ebg)
        # Estimates at geometrically spaced ages while the background is
        # young (from the cross-correlation), then now and then from its taps.
        due = bg.age >= self._next
        # (channels take turns, so that no block carries all the re-checks)
        due |= self.located & (bg.age >= YOUNG) & ((bg.blocks_done + self._turn) % RECHECK == 0)
        if due.any():
            self._locate(due)
            age = bg.age[due]
            self._next[due] = np.where(age < YOUNG, age * GROW + 1.0, np.inf)

    def _locate(self, due: BoolArray) -> None:
        bg = self.bg
        rows = np.flatnonzero(due)
        young = (bg.age[rows] < YOUNG)[None, :, None]
        src = np.where(young, bg.corr[:, rows], bg.w[:, rows])
        wt = sfft.irfft(src, n=2 * BLOCK, axis=-1, workers=1)[..., :BLOCK]
        taps = np.moveaxis(wt, 0, 1).reshape(len(rows), -1)
        e = np.zeros((len(rows), taps.shape[1] + 1), np.float32)
        np.cumsum(taps * taps, axis=1, out=e[:, 1:])
        win = e[:, WINDOW:] - e[:, :-WINDOW]
        start = np.argmax(win, axis=1)
        new = np.clip(start - PRE, 0, bg.taps - FORE_TAPS)
        moved = ~self.located[rows] | (np.abs(new - self.delay[rows]) > MOVE)
        if moved.any():
            mask = np.zeros(bg.channels, bool)
            mask[rows[moved]] = True
            self.f.reset(mask)
            self._saved[:, mask] = 0
            self._efg[mask] = self._ebg[mask] * 4 + 1.0
            self.use[mask] = False
            self.delay[rows[moved]] = new[moved]
        self.located[rows] = True


class ShortFilter:
    """The foreground itself: a one-partition (``FORE_TAPS``) block FDAF, lean.

    Same algorithm as ``dsp.echo_filter.AdaptiveFilter`` with K = 1 (FFT
    2P, normalisation per bin by the smoothed input power, step schedule
    falling as 1/n to MU_MIN, partition constrained every block), without
    its detectors: double talk and the narrow-band guard are ``bg``'s.
    ``filter`` takes at most the rest of the current block.
    """

    def __init__(self, channels: int, bg: AdaptiveFilter) -> None:
        c, f = channels, BLOCK + 1
        self.bg = bg
        self.w = np.zeros((c, f), np.complex64)
        self._p = np.zeros((c, f), np.float32)
        self._x = np.zeros((c, 2 * BLOCK), np.float32)  # previous block, current block
        self._d = np.zeros((c, BLOCK), np.float32)
        self._e = np.zeros((c, 2 * BLOCK), np.float32)  # zeros, current block's error
        self._y = np.zeros((c, BLOCK), np.float32)
        self.pos = 0
        self.blocks_done = 0
        self.adapt = np.ones(c, bool)
        self.age = np.zeros(c, np.float32)
        self.block_err = np.zeros(c, np.float32)
        self.block_echo = np.zeros(c, np.float32)
        self._post_xf: C64 | None = None  # filter(defer=True): the block's spectrum, to adapt on

    def reset(self, mask: BoolArray) -> None:
        for a in (self.w, self._p, self._x, self._d, self._e, self._y, self.age,
                  self.block_err, self.block_echo):
            a[mask] = 0

    def filter(self, x: F32, d: F32, defer: bool = False) -> tuple[F32, F32]:
        """(error, echo estimate) of ``x``/``d`` (channels, m), m <= BLOCK - pos; ``defer``: a
        block that ends here is counted but adapted on only at ``finish()``."""
        self.finish()
        a, m = self.pos, x.shape[1]
        cur = self._x[:, BLOCK:]
        cur[:, a:a + m] = x
        if a + m < BLOCK:
            cur[:, a + m:] = 0  # the future: a causal filter never looks at it
        xf = _rfft(self._x)
        y = _irfft(xf * self.w)[:, BLOCK + a:BLOCK + a + m]
        e = d - y
        self._y[:, a:a + m] = y
        self._e[:, BLOCK + a:BLOCK + a + m] = e
        self.pos = a + m
        if self.pos == BLOCK:
            self.blocks_done += 1
            if defer:
                self._post_xf = xf
            else:
                self._adapt(xf)
            self._x[:, :BLOCK] = cur
            self.pos = 0
        return e, y

    def finish(self) -> None:
        """The adaptation a ``filter(defer=True)`` left pending, if any."""
        if self._post_xf is not None:
            xf, self._post_xf = self._post_xf, None
            self._adapt(xf)

    def _adapt(self, xf: C64) -> None:
        bg = self.bg
        p = _power(xf)
        p = np.maximum(p, FORE_PSMOOTH * self._p + (1 - FORE_PSMOOTH) * p)
        self._p = p
        self.block_err = _meansq(self._e[:, BLOCK:])
        self.block_echo = _meansq(self._y)
        learn = (p.mean(axis=1) > _SILENCE_BIN_POWER) & ~bg.double_talk
        self.age += learn
        on = self.adapt & learn & ~bg.narrowband
        rows = np.flatnonzero(on)
        if not len(rows):
            return
        mu = np.maximum(MU_MIN, FORE_MU / (1.0 + np.maximum(self.age - BOOT, 0.0) / FORE_TAU))
        mu = (mu * on).astype(np.float32)
        # few channels learn in this block: theirs only, gathered (see AdaptiveFilter._adapt_rest)
        gather = len(rows) * SPARSE_SHARE < len(on)
        idx: slice | npt.NDArray[np.intp] = rows if gather else slice(None)
        step = (mu[idx, None] / (p[idx] + _SILENCE_BIN_POWER * 1e-2)) * _rfft(self._e[idx])
        wt = _irfft(self.w[idx] + np.conjugate(xf[idx]) * step)
        wt[:, BLOCK:] = 0
        ws = _rfft(wt)
        if gather:
            self.w[rows] = ws
        else:  # the constraint written back where the channel learnt only
            self.w = ws if len(rows) == len(on) else np.where(on[:, None], ws, self.w)
