"""Non-linear processor and comfort noise of the line echo canceller (G.168 3.18, 3.4).

What: after the linear canceller, what is left of the echo on a real line
(G.711 quantisation of the echo, a few dB of misadjustment) is still
audible; the NLP removes it while the far end talks alone and replaces it
with comfort noise matched in level and spectrum to the line's background
(G.168 test 9), so the caller hears no gating.  When the caller talks
(double talk) the NLP passes the error untouched: the caller is never
clipped.

How (per channel, all channels as arrays, per call of any length):

* Residual echo expected in this call: the echo estimate's power divided by
  the ERLE the canceller has shown in single talk (a tracker that follows
  the worst recent blocks), plus the G.711 quantisation of the echo (-30 dB
  of the echo estimate).
* Caller present: the error's power is well above that expected residual
  plus the background (12 dB), or the filter flags double talk, or the error
  holds power at frequencies the far end has not sent within the tail
  (`near`; the canceller also stops the filter adapting on it): an echo path
  is linear, so what the error holds outside the far end's spectrum over
  the tail (Hann windows of 20 ms every 10 ms, the older ones weighed down
  6 dB over the tail), beyond the echo's G.711 quantisation and the
  background, is the caller's.  It works before anything is learnt: a PBX's
  tone under the voice AI's prompt, with no echo path at all, was taken for
  echo and muted for half a second, then gated; a -25 dBm0 digit under a
  prompt's echo was suppressed.  It is evaluated only where it can matter
  (the far end active, the error above -45 dBm0 and the background: a
  converged call in far-end single talk costs nothing).  The decision
  is made on the same call's samples, so nothing is delayed; it holds
  ``CALLER_HOLD`` after the caller was last seen, and the gain goes up to
  the caller within ``_UP`` samples (a digit's or a word's start is not
  ramped away).  The ERLE tracker learns after the decision and not from
  blocks with a caller in them (a caller the filter's detectors missed, e.g.
  a DTMF digit quieter than the echo, must not lower it and then be taken
  for residual echo).
* NLP on: the far end was active within the tail and no caller: the output
  is comfort noise; transitions are ramped over the call (no clicks).
* Background: the error's power spectrum (320-point frames, back to back,
  sqrt-Hann) averaged over frames within 3 dB of the minimum-statistics
  floor of the frame power where the echo estimate is under a tenth of the
  error (echo would leave its residual and G.711 quantisation in it), or
  the far end is silent.  Comfort noise is synthesised from it with random
  phases and overlap-add, which gives the same level and spectral shape.

Limits: 8 kHz.  The comfort noise is stationary noise shaped like the
background; it does not reproduce tonal hum exactly.  A caller whose sound
lies only where the far end's recent sound does (speech over speech) is
left to the power test and the filter's double-talk detectors.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import scipy.fft as sfft

F32 = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

FRAME: Final = 160  # comfort noise hop; frames are 2 * FRAME long
_WIN: Final = np.sqrt(np.hanning(2 * FRAME + 1)[:-1]).astype(np.float32)
_QUANT: Final = 10 ** (-30 / 10)  # G.711 quantisation noise relative to the echo
_MARGIN: Final = 16.0  # caller present: error 12 dB above what is expected
SEG: Final = 160  # samples per NLP decision (at most one block: shorter calls decide per call)
CALLER_HOLD: Final = 160  # samples (20 ms) the NLP stays open after a caller
_UP: Final = 4.0  # samples of the ramp up to the caller
_FAR_HANG: Final = 0.15  # s the NLP stays armed after the far end stops
SPEC_N: Final = 160  # samples per spectrum of the off-spectrum caller test, on a fixed grid
SPEC_HOP: Final = SPEC_N // 2  # the far end's windows every 10 ms over the tail
_SPEC_WIN: Final = np.hanning(SPEC_N + 2)[1:-1].astype(np.float32)
# spectra scaled so that their bins sum to the window's mean power per sample
_SPEC_SCALE: Final = np.float32(2.0 / (SPEC_N * float(np.sum(_SPEC_WIN**2))))
_SPEC_MARGIN: Final = 4.0  # 6 dB above what the far end can explain at a frequency
_NEAR_FLOOR: Final = (16020.7 * 10 ** (-45 / 20)) ** 2  # -45 dBm0: below it, nothing is decided
_PHASES: Final = np.exp(2j * np.pi * np.random.default_rng(0x9168).random((509, FRAME + 1))).astype(np.complex64)
# The table twice along the bins: a rotation by any offset is one slice.
_PHASES2: Final = np.concatenate([_PHASES, _PHASES], axis=1)


class Nlp:
    """Residual echo suppressor with comfort noise for ``channels`` channels."""

    def __init__(self, channels: int, seed: int = 0x168, tail: int = 1024) -> None:
        c = channels
        self.channels = c
        self._rng = np.random.default_rng(seed)
        self.erle_db = np.zeros(c, np.float32)
        self.active = np.zeros(c, bool)
        self.caller = np.zeros(c, bool)
        self._gain = np.ones(c, np.float32)
        self._far_hang = np.zeros(c, np.int32)
        self._hold = np.zeros(c, np.int32)
        # Background estimate.
        self._frame = np.zeros((c, 2 * FRAME), np.float32)
        self._fpos = 0
        self._bg = np.zeros((c, FRAME + 1), np.float32)
        self._bg_seen = np.zeros(c, np.float32)
        # Caches of the background's power and comfort noise magnitudes
        # (it changes once per frame).
        self._bg_pow: F32 | None = None
        self._cn_mag: F32 | None = None
        self._floor = np.full(c, 1e9, np.float32)
        self._quiet = np.ones(c, bool)
        self._fecho = np.zeros(c, np.float32)
        self._ferr = np.zeros(c, np.float32)
        # Comfort noise synthesis (overlap-add queue).
        self._cn_tail = np.zeros((c, FRAME), np.float32)
        self._cn_queue = np.zeros((c, 0), np.float32)
        # Off-spectrum test: the far end's last `tail` + SPEC_N samples as of the last grid
        # point, the grid window being filled (far end and error), its fill.
        n_r = -(-tail // SPEC_N) * SPEC_N + SPEC_N
        self._rbuf = np.zeros((c, n_r), np.float32)
        self._rcur = np.zeros((c, SPEC_N), np.float32)
        self._ecur = np.zeros((c, SPEC_N), np.float32)
        self._spos = 0
        self._slots = n_r // SPEC_N
        self._slot = 0
        self._grid = 0  # grid points passed: window j ends at sample j * SPEC_HOP
        self._nwin = (n_r - SPEC_N) // SPEC_HOP + 1
        # the far end's window spectra, computed once per window and row when first needed
        # (a row is tested grid after grid while it matters: two new windows each time)
        self._wspec = np.zeros((c, self._nwin, SPEC_N // 2 + 1), np.float32)
        self._wnum = np.full((c, self._nwin), -1, np.int64)
        # older windows weighed down: 6 dB over the tail (oldest first)
        age = (SPEC_HOP * np.arange(self._nwin - 1, -1, -1)).astype(np.float64)
        self._age_w = np.exp(-age * np.log(4.0) / max(tail, 1)).astype(np.float32)[None, :, None]
        self.near = np.zeros(c, bool)  # the test's last decision: a caller

    def reset(self, mask: BoolArray) -> None:
        for a in (self.erle_db, self._far_hang, self._hold, self._frame, self._bg, self._bg_seen,
                  self._cn_tail, self._rbuf, self._rcur, self._ecur, self._wspec):
            a[mask] = 0
        self._gain[mask] = 1
        self._floor[mask] = 1e9
        self._quiet[mask] = True
        self._fecho[mask] = 0
        self._ferr[mask] = 0
        self.active[mask] = False
        self.caller[mask] = False
        self.near[mask] = False
        self._wnum[mask] = -1
        self._cn_queue[mask] = 0
        self._bg_pow = None
        self._cn_mag = None

    @property
    def background(self) -> F32:
        """Mean power (16-bit scale) of the background estimate per channel."""
        if self._bg_pow is None:
            self._bg_pow = (self._bg.sum(axis=1) * 2 / (2 * FRAME * FRAME)).astype(np.float32)
        return self._bg_pow

    def learn_erle(self, sin_pow: F32, err_pow: F32, single_talk: BoolArray) -> None:
        """Track the canceller's ERLE (dB) over completed blocks of far-end single talk.

        The tracker falls fast and rises slowly, so it follows the worst
        recent blocks (voiced sounds are cancelled less well than noise-like
        ones early on) and the NLP does not mistake residual echo for a caller.
        """
        erle = 10 * np.log10((sin_pow + 1.0) / (err_pow + 1.0))
        rate = np.where(erle < self.erle_db, 0.5, 0.03)
        self.erle_db = np.where(single_talk, self.erle_db + rate * (erle - self.erle_db),
                                self.erle_db).astype(np.float32)

    def process(self, err: F32, echo_est: F32, far_active: BoolArray, double_talk: BoolArray,
                enabled: BoolArray, cng: bool, samples_per_s: int = 8000,
                e2: F32 | None = None, rin: F32 | None = None) -> F32:
        """Return the NLP output for the error ``err`` (channels, n); ``e2`` is err**2 if known;
        ``rin``, the far end's samples of the same call, feeds the off-spectrum test."""
        n = err.shape[1]
        if e2 is None:
            e2 = err * err
        y2 = echo_est * echo_est
        self._far_hang = np.where(far_active, int(_FAR_HANG * samples_per_s),
                                  np.maximum(self._far_hang - n, 0)).astype(np.int32)
        armed = self._far_hang > 0
        bg = self.background
        resid = 10 ** (-np.maximum(self.erle_db, 0) / 10) + _QUANT
        # Decisions per SEG samples of the call, held CALLER_HOLD after the
        # caller was last seen (a digit's or a word's fading tail stays under
        # the threshold).  Shorter segments let more residual echo through
        # (the 20 ms power is the steadier test on a real line).
        starts = np.arange(0, n, SEG)
        lens = np.diff(np.append(starts, n)).astype(np.float32)
        e_seg = np.add.reduceat(e2, starts, axis=1) / lens
        y_seg = np.add.reduceat(y2, starts, axis=1) / lens
        seen = double_talk[:, None] | (e_seg > _MARGIN * (y_seg * resid[:, None] + bg[:, None]) + 1.0)
        if rin is not None:
            seen |= self._off_spectrum(rin, err, armed, bg)[:, None]
        gain = np.empty_like(err)
        any_caller = np.zeros(self.channels, bool)
        for j, a in enumerate(starts):
            m = int(lens[j])
            self._hold = np.where(seen[:, j], CALLER_HOLD, np.maximum(self._hold - m, 0))
            caller = self._hold > 0
            any_caller |= caller
            active = enabled & armed & ~caller
            target = np.where(active, 0.0, 1.0).astype(np.float32)
            # Up at once (a caller's first syllable or digit is not cut),
            # down over the segment (no click into the comfort noise).
            up = np.minimum(1.0, np.arange(1, m + 1, dtype=np.float32) / _UP)
            down = np.arange(1, m + 1, dtype=np.float32) / m
            ramp = np.where((target > self._gain)[:, None], up[None, :], down[None, :])
            gain[:, a:a + m] = self._gain[:, None] + (target - self._gain)[:, None] * ramp
            self._gain = target
        self.caller = any_caller
        self.active = active
        self._learn_background(err, e2, y2)
        if not (gain < 1).any():
            return err.copy()
        out = err * gain
        if cng:
            out += self._comfort_noise(n) * (1 - gain)
        return out

    def _off_spectrum(self, rin: F32, err: F32, armed: BoolArray, bg: F32) -> BoolArray:
        """The off-spectrum caller test, at each grid point (every SPEC_N samples of the call,
        so the filter's freeze on `near` does not depend on how the call is cut into blocks).
        Returns whether a grid window completed in this call saw a caller (else the last
        decision)."""
        n = rin.shape[1]
        seen = np.zeros(self.channels, bool)
        decided = False
        done = 0
        while done < n:
            take = min(n - done, SPEC_N - self._spos)
            self._rcur[:, self._spos:self._spos + take] = rin[:, done:done + take]
            self._ecur[:, self._spos:self._spos + take] = err[:, done:done + take]
            self._spos += take
            done += take
            if self._spos < SPEC_N:
                break
            self._spos = 0
            # a ring of SPEC_N-sample slots: the oldest gives way to this window
            k = self._slot
            self._rbuf[:, k * SPEC_N:(k + 1) * SPEC_N] = self._rcur
            self._slot = (k + 1) % self._slots
            self._grid += 1
            e_ms = np.einsum("ij,ij->i", self._ecur, self._ecur) / SPEC_N
            rows = np.flatnonzero(armed & (e_ms > 4.0 * bg + _NEAR_FLOOR))
            now = np.zeros(self.channels, bool)
            if len(rows):
                now[rows] = self._off_rows(rows, bg[rows])
            self.near = now
            seen |= now
            decided = True
        return seen if decided else self.near

    def _off_rows(self, rows: npt.NDArray[np.intp], bg: F32) -> BoolArray:
        n_r = self._rbuf.shape[1]
        j_new = 2 * self._grid  # SPEC_N == 2 * SPEC_HOP: two new windows per grid point
        wins = np.arange(j_new - self._nwin + 1, j_new + 1)  # oldest first
        slots = wins % self._nwin
        mr, mw = np.nonzero(self._wnum[rows][:, slots] != wins[None, :])
        if len(mr):
            rr, ss = rows[mr], slots[mw]
            idx = (wins[mw][:, None] * SPEC_HOP - SPEC_N + np.arange(SPEC_N)) % n_r
            r = sfft.rfft(self._rbuf[rr[:, None], idx] * _SPEC_WIN, axis=1, workers=1)
            self._wspec[rr, ss] = (r.real**2 + r.imag**2) * _SPEC_SCALE
            self._wnum[rr, ss] = wins[mw]
        rp = (self._wspec[rows[:, None], slots[None, :]] * self._age_w).max(axis=1)
        e = sfft.rfft(self._ecur[rows] * _SPEC_WIN, axis=1, workers=1)
        ep = (e.real**2 + e.imag**2) * _SPEC_SCALE
        floor = (_QUANT * rp.sum(axis=1) + bg) / rp.shape[1]
        u = np.maximum(ep - _SPEC_MARGIN * (rp + floor[:, None]), 0.0).sum(axis=1)
        out: BoolArray = (u > 4.0 * bg + _NEAR_FLOOR) & (u > 0.25 * ep.sum(axis=1))
        return out

    def _learn_background(self, err: F32, e2: F32, y2: F32) -> None:
        # Frames of 2 * FRAME samples, back to back.
        n, done = err.shape[1], 0
        while done < n:
            take = min(n - done, 2 * FRAME - self._fpos)
            seg = slice(done, done + take)
            self._frame[:, self._fpos:self._fpos + take] = err[:, seg]
            self._fecho += y2[:, seg].sum(axis=1)
            self._ferr += e2[:, seg].sum(axis=1)
            self._fpos += take
            done += take
            if self._fpos == 2 * FRAME:
                # Until the canceller has converged the echo estimate says
                # nothing: only far-end silence counts then.
                self._quiet = (((self._fecho < 0.1 * self._ferr) & (self.erle_db >= 10.0))
                               | (self._far_hang == 0))
                self._background_frame()
                self._fecho[:] = 0
                self._ferr[:] = 0
                self._fpos = 0

    def _background_frame(self) -> None:
        spec = sfft.rfft(self._frame * _WIN, axis=1, workers=1)
        p = (spec.real**2 + spec.imag**2).astype(np.float32)
        frame_pow = p.sum(axis=1)
        self._floor = np.minimum(frame_pow, self._floor * 1.04 + 1.0)
        # Background: frames at the floor of the error power in which the
        # echo estimate is under a tenth of the error (no echo to leave a
        # residual, e.g. its G.711 quantisation; the far end's pauses).
        at_floor = frame_pow < 2.0 * self._floor + 1.0
        use = at_floor & self._quiet
        rate = np.maximum(0.05, 1.0 / (1.0 + self._bg_seen))
        self._bg = np.where(use[:, None], self._bg + rate[:, None] * (p - self._bg),
                            self._bg).astype(np.float32)
        self._bg_seen += use
        # Never above the floor: an estimate learnt too early comes down.
        high = self._bg.sum(axis=1) > 2.0 * self._floor + 1.0
        self._bg[high] *= 0.95
        self._bg_pow = None
        self._cn_mag = None

    def _comfort_noise(self, n: int) -> F32:
        while self._cn_queue.shape[1] < n:
            # Random phases from a table (rows picked at random per channel,
            # rotated by a random bin offset): cheaper than exp() per bin.
            rows = self._rng.integers(0, _PHASES.shape[0], self.channels)
            shift = int(self._rng.integers(0, FRAME + 1))
            # (np.roll's rotation: bin j takes the phase of bin j - shift)
            start = (FRAME + 1 - shift) % (FRAME + 1)
            phase = _PHASES2[rows, start:start + FRAME + 1]
            if self._cn_mag is None:
                self._cn_mag = np.sqrt(self._bg * 2.0, dtype=np.float32)
            mag = self._cn_mag
            frame = sfft.irfft(mag * phase, n=2 * FRAME, axis=1, workers=1) * _WIN
            hop: F32 = frame[:, :FRAME] + self._cn_tail
            self._cn_tail = frame[:, FRAME:]
            if n == FRAME and self._cn_queue.shape[1] == 0:
                return hop  # a whole hop per call: no queue
            self._cn_queue = np.concatenate([self._cn_queue, hop], axis=1)
        out = self._cn_queue[:, :n]
        self._cn_queue = self._cn_queue[:, n:]
        return out
