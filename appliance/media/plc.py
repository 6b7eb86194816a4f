"""Packet loss concealment for G.711 after ITU-T G.711 Appendix I, over all channels.

What: `G711Plc(channels).process(audio, missing)` takes a (channels, n)
int16 block and a same-shaped mask of samples that never arrived, and
returns the block with the missing samples synthesised.  Every channel's
history (the last 48.75 ms it played) is kept in one array and updated for
all channels in one operation; the per-channel work happens only on rows
with a loss or a recovery in the block.

How (G.711 Appendix I, I.2): at the start of an erasure the pitch period
(5..15 ms, 40..120 samples) is found by normalised cross-correlation of the
last 20 ms of history against itself; the erasure is filled by repeating the
last pitch period, with the cycle's wrap smoothed by a 1/4-period overlap-add
with the samples before it (I.2.2).  After 10 ms the repeated segment grows
to two periods and after 20 ms to three (blended over 1/4 period, to avoid
a buzzy tone); from 10 ms on the signal is attenuated by 20 % per 10 ms, so
that it reaches silence at 60 ms (I.2.3).  On the first good samples after
an erasure, the synthetic continuation is overlap-added with them over 4 ms,
plus 4 ms per further 10 ms of erasure, at most 10 ms (I.2.4).

Difference from Appendix I: the reference delays its output by 3.75 ms so
that the start of the synthetic signal can be overlap-added into samples
already produced.  That delay would come out of the latency budget (issue
9), so here the synthetic signal starts in phase from the history (the
pitch-aligned continuation) without the extra delay; the cycle wrap and the
period-count transitions are still smoothed.
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

PITCH_MIN = 40  # 200 Hz
PITCH_MAX = 120  # 66.7 Hz
OVERLAP_MAX = PITCH_MAX // 4
HISTORY = 3 * PITCH_MAX + OVERLAP_MAX  # 390 samples, 48.75 ms
CORR_LEN = 160  # 20 ms correlation window
FRAME = 80  # 10 ms: the Appendix's unit for the schedule below
SILENT_AFTER = 6 * FRAME  # 60 ms
_J3 = np.arange(3 * PITCH_MAX)


def _gain_table() -> npt.NDArray[np.float64]:
    """The erasure's gain at sample t (I.2.3), for t = 0..SILENT_AFTER (silent from there on):
    1 for 10 ms, then 20 % less per 10 ms."""
    t = np.arange(SILENT_AFTER + 1)
    g = np.clip(1.0 - 0.2 * (t - FRAME) / FRAME, 0.0, 1.0)
    g[t < FRAME] = 1.0
    g[t >= SILENT_AFTER] = 0.0
    return g


_GAIN = _gain_table()


def find_pitch(hist: npt.NDArray[np.float64]) -> int:
    """Pitch period (samples) maximising normalised cross-correlation (G.711 I.2.1)."""
    return int(find_pitch_many(hist[None, :])[0])


def find_pitch_many(hist: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """`find_pitch` for every row of a (rows, HISTORY) array at once: after a network stall
    every call starts an erasure in the same block, and 240 one-by-one searches took
    50 ms, ten blocks."""
    r, n = hist.shape
    target = hist[:, -CORR_LEN:]
    # candidate lag L starts at n - CORR_LEN - L: windows in order of the lag, a view
    s0, s1 = hist.strides  # (sliding_window_view's checks cost more than the view itself)
    win = as_strided(hist, (r, n - PITCH_MIN - CORR_LEN + 1, CORR_LEN), (s0, s1, s1), writeable=False)
    cand = win[:, n - CORR_LEN - PITCH_MAX : n - CORR_LEN - PITCH_MIN + 1][:, ::-1]
    corr = np.einsum("rkj,rj->rk", cand, target)
    sq = np.concatenate([np.zeros((r, 1)), np.cumsum(hist * hist, axis=1)], axis=1)
    starts = n - CORR_LEN - np.arange(PITCH_MIN, PITCH_MAX + 1)
    energy = sq[:, starts + CORR_LEN] - sq[:, starts] + 1e-9
    tt = sq[:, n] - sq[:, n - CORR_LEN] + 1e-9
    score = corr / np.sqrt(np.maximum(energy, 1e-9) * tt[:, None])
    # a periodic signal scores (nearly) the same at multiples of its period: take the
    # shortest local maximum close to the best
    best = score.max(axis=1, keepdims=True)
    pad = np.full((r, 1), -np.inf)
    padded = np.concatenate([pad, score, pad], axis=1)
    peak = (score >= padded[:, :-2]) & (score >= padded[:, 2:]) & (score >= best - 0.05)
    out: npt.NDArray[np.intp] = PITCH_MIN + np.argmax(peak, axis=1)
    return out


def _cycles(hist: npt.NDArray[np.float64], p: int) -> list[npt.NDArray[np.float64]]:
    """The 1, 2 and 3-period cycles, each with its wrap smoothed (I.2.2)."""
    n = len(hist)
    q = max(1, p // 4)
    w = np.arange(1, q + 1) / (q + 1)
    out = []
    for m in (1, 2, 3):
        c = hist[n - m * p :].copy()
        # blend the end of the cycle toward the samples just before its start
        c[-q:] = c[-q:] * (1.0 - w) + hist[n - m * p - q : n - m * p] * w
        out.append(c)
    return out


class _Loss:
    __slots__ = ("cyc", "erased", "p", "ready", "rec_left", "rec_len", "rec_synth")

    def __init__(self) -> None:
        self.ready = False  # started by _start_many for this block's first missing run
        self.erased = 0
        self.p = PITCH_MIN
        self.cyc: npt.NDArray[np.float64] = np.zeros((3, 0))  # a view of G711Plc.cyc[row]
        self.rec_left = 0
        self.rec_len = 0
        self.rec_synth: npt.NDArray[np.float64] = np.zeros(0)


class G711Plc:
    """Concealment state for `channels` rows (G.711 Appendix I)."""

    def __init__(self, channels: int) -> None:
        self.channels = channels
        # the last HISTORY samples of every row, a ring: the oldest at column `_hpos` (a block
        # is written in place of the oldest, not shifted in: at 120 rows the shift was the
        # concealer's largest cost in a block without loss)
        self.hist = np.zeros((channels, HISTORY), dtype=np.float64)
        self._hpos = 0
        self._ring = np.arange(HISTORY)
        # each row's 1, 2 and 3-period cycles (the first m * p samples of [row, m - 1] are used)
        self.cyc = np.zeros((channels, 3, 3 * PITCH_MAX), dtype=np.float64)
        self.pitch = np.full(channels, PITCH_MIN, dtype=np.intp)
        self._loss: dict[int, _Loss] = {}

    def reset(self, ch: int | None = None) -> None:
        if ch is None:
            self.hist[:] = 0
            self._hpos = 0
            self._loss.clear()
        else:
            self.hist[ch] = 0
            self._loss.pop(ch, None)

    def process(self, audio: npt.NDArray[np.int16], missing: npt.NDArray[np.bool_]) -> npt.NDArray[np.int16]:
        """Fill the missing samples of every row; returns a new (channels, n) int16 block."""
        if not self._loss and not missing.any():
            self._push(audio)
            return audio
        rows = set(np.flatnonzero(missing.any(axis=1)).tolist()) | set(self._loss)
        out = audio.astype(np.float64)
        n = audio.shape[1]
        whole: npt.NDArray[np.bool_] = np.asarray(missing.all(axis=1))
        # rows whose erasure starts with this block: started with those starting inside it,
        # one pitch search for both (`_start_partial`)
        fresh = []
        for r in np.flatnonzero(whole).tolist():
            st = self._loss.get(r)
            if st is None or st.erased == 0:
                fresh.append(r)
        going: list[int] = []
        done = self._start_partial(out, missing, whole, np.array(fresh, dtype=np.intp))
        done |= self._end_many(out, missing, done)
        for r in sorted(rows - done):
            st = self._loss.get(r)
            if whole[r]:
                assert st is not None  # (started above)
                if st.erased >= SILENT_AFTER:
                    # past 60 ms the erasure is silence (I.2.3): no synthesis to run.  A
                    # stream that stopped (or a far end that stalled) costs this, per block,
                    # on every one of its rows at once: it must stay cheap
                    out[r] = 0.0
                    st.erased += n
                else:
                    going.append(r)
                continue
            out[r] = self._row(r, out[r], missing[r])
        if going:
            # rows missing the whole block, in one go: a network stall makes every call
            # lose the same packets, and row by row that cost 50 ms a block at 240 calls
            batch = np.array(going, dtype=np.intp)
            t0 = np.array([self._loss[int(r)].erased for r in batch], dtype=np.int64)
            out[batch] = self._synth_many(batch, t0, n)
            for r in batch.tolist():
                st = self._loss[r]
                st.erased += n
                st.rec_left = 0
        self._push(out)
        res: npt.NDArray[np.int16] = np.clip(np.rint(out), -32768, 32767).astype(np.int16)
        return res

    def _push(self, block: npt.NDArray[np.float64] | npt.NDArray[np.int16]) -> None:
        n = block.shape[1]
        if n >= HISTORY:
            self.hist[:] = block[:, -HISTORY:]
            self._hpos = 0
            return
        a = self._hpos
        k = min(n, HISTORY - a)
        self.hist[:, a : a + k] = block[:, :k]
        if k < n:
            self.hist[:, : n - k] = block[:, k:]
        self._hpos = (a + n) % HISTORY

    def _history(self, rows: npt.NDArray[np.intp] | list[int]) -> npt.NDArray[np.float64]:
        """The (len(rows), HISTORY) histories of `rows`, oldest sample first."""
        order = self._ring if self._hpos == 0 else (self._ring + self._hpos) % HISTORY
        return self.hist[np.asarray(rows, dtype=np.intp)[:, None], order]

    def _start_partial(self, out: npt.NDArray[np.float64], missing: npt.NDArray[np.bool_],
                       whole: npt.NDArray[np.bool_], fresh: npt.NDArray[np.intp]) -> set[int]:
        """The pitch searches of the rows whose loss starts inside this block (a late or
        lost packet whose samples begin mid-block: the common partial loss), in one go;
        `_row` then synthesises from the state made here.  One by one they cost 0.1 ms
        a row: a block in which 120 calls each lost part of a packet took 20 ms, longer
        than four blocks, and the media process fell behind (more packets late, more
        concealment).  Rows still recovering from a loss take the rest of the recovery
        first (`_recover_prefix`); rows already concealing keep the one-row path.

        The rows whose block ends missing (good, then missing to its end) are synthesised
        here too and returned (done); the others (the loss also ends in this block) are
        left to `_row`, which starts from this state (`ready`).  The rows in `fresh` (missing
        the whole block, their erasure starting with it) are started in the same search."""
        partial = missing.any(axis=1) & ~whole
        cand = partial.copy()
        rec: list[int] = []
        if self._loss:
            cand[list(self._loss)] = False
            # rows still overlap-adding a recovery (I.2.4) when a new loss begins: their good
            # samples before it take the rest of the recovery, then the loss starts like the
            # others' (the one-row path does the same; a loss every packet, the jitter
            # buffer's cursor a little ahead of a jittery stream, keeps rows in this state)
            rec = [r for r, st in self._loss.items()
                   if partial[r] and st.erased == 0 and st.rec_left and not st.ready]
            cand[rec] = True
        rows = np.flatnonzero(cand)
        if len(rows) < 2:
            if len(fresh):
                self._start_many(fresh)
            return set()
        n = missing.shape[1]
        m = missing[rows]
        a = np.argmax(m, axis=1)  # each row's first missing sample
        if rec:
            self._recover_prefix(out, np.array(rec, dtype=np.intp), np.argmax(missing[rec], axis=1))
        both = np.concatenate([self._history(rows), out[rows]], axis=1)
        # the history up to the first missing sample: stored history plus the block's good part
        h = np.take_along_axis(both, a[:, None] + np.arange(HISTORY), axis=1)
        if len(fresh):
            self._start_many(np.concatenate([rows, fresh]), np.concatenate([h, self._history(fresh)]))
        else:
            self._start_many(rows, h)
        j = np.arange(n)
        tail = (m == (j >= a[:, None])).all(axis=1)  # missing from a to the end, nothing else
        if tail.any():
            tr, ta = rows[tail], a[tail]
            y = self._synth_many(tr, np.zeros(len(tr), dtype=np.int64), n)
            # row i's erasure sample t sits at block position ta[i] + t
            src = np.clip(j - ta[:, None], 0, n - 1)
            sy = np.take_along_axis(y, src, axis=1)
            o = out[tr]
            out[tr] = np.where(j >= ta[:, None], sy, o)
            for r, k in zip(tr.tolist(), (n - ta).tolist(), strict=True):
                st = self._loss[r]
                st.erased = k
                st.rec_left = 0
        for r in rows[~tail].tolist():
            self._loss[r].ready = True
        return set(rows[tail].tolist())

    def _recover_prefix(self, out: npt.NDArray[np.float64], rows: npt.NDArray[np.intp],
                        a: npt.NDArray[np.intp]) -> list[int]:
        """The recoveries of `rows` overlap-added into each row's first `a` (good) samples;
        returns how many samples of each recovery that took (its state is the caller's)."""
        sts = [self._loss[r] for r in rows.tolist()]
        rec_len = np.array([st.rec_len for st in sts], dtype=np.int64)
        left = np.array([st.rec_left for st in sts], dtype=np.int64)
        rs = np.zeros((len(rows), FRAME))
        for i, st in enumerate(sts):
            rs[i, : st.rec_len] = st.rec_synth
        j = np.arange(out.shape[1])
        idx = (rec_len - left)[:, None] + j
        k = np.minimum(left, a)
        w = (idx + 1) / (rec_len[:, None] + 1)
        o = out[rows]
        syn = np.take_along_axis(rs, np.clip(idx, 0, FRAME - 1), axis=1)
        out[rows] = np.where(j < k[:, None], o * w + syn * (1.0 - w), o)
        taken: list[int] = k.tolist()
        return taken

    def _end_many(self, out: npt.NDArray[np.float64], missing: npt.NDArray[np.bool_],
                  started: set[int]) -> set[int]:
        """The rows whose erasure ends in this block (missing up to sample b, good after it;
        b = 0 when it ended with the last block) and the rows still overlap-adding a
        recovery into a good block (I.2.4), in one go; returns them.  The same arithmetic
        as `_row`, for the other half of every partial loss."""
        if not self._loss:
            return set()
        n = missing.shape[1]
        j = np.arange(n)
        ends: list[int] = []
        recs: list[int] = []
        for r, st in self._loss.items():
            if st.ready or r in started:  # began in this block: _start_partial's or _row's
                continue
            if st.erased:
                ends.append(r)
            elif st.rec_left:
                recs.append(r)
        done: set[int] = set()
        if ends:
            er = np.array(ends, dtype=np.intp)
            m = missing[er]
            b = np.where(m.all(axis=1), n, np.argmax(~m, axis=1))
            ok = (b < n) & (m == (j < b[:, None])).all(axis=1)
            er, b = er[ok], b[ok]
            if len(er) >= 2:
                e = np.array([self._loss[r].erased for r in er.tolist()], dtype=np.int64)
                y1 = self._synth_many(er, e, n)
                o = np.where(j < b[:, None], y1, out[er])
                e2 = e + b
                rec_len = np.minimum(FRAME, 32 * (1 + (e2 - 1) // FRAME))
                y2 = self._synth_many(er, e2, FRAME)
                k = np.minimum(rec_len, n - b)
                idx = j - b[:, None]
                w = (idx + 1) / (rec_len[:, None] + 1)
                ola = (idx >= 0) & (idx < k[:, None])
                rs = np.take_along_axis(y2, np.clip(idx, 0, FRAME - 1), axis=1)
                out[er] = np.where(ola, o * w + rs * (1.0 - w), o)
                for i, r in enumerate(er.tolist()):
                    st = self._loss[r]
                    st.erased = 0
                    st.rec_len = int(rec_len[i])
                    st.rec_synth = y2[i, : st.rec_len]
                    st.rec_left = st.rec_len - int(k[i])
                    done.add(r)
        if recs:
            rr = np.array(recs, dtype=np.intp)
            rr = rr[~missing[rr].any(axis=1)]
            if len(rr) >= 2:
                taken = self._recover_prefix(out, rr, np.full(len(rr), n, dtype=np.intp))
                for r, kk in zip(rr.tolist(), taken, strict=True):
                    self._loss[r].rec_left -= kk
                done.update(rr.tolist())
        for r in done:
            if self._loss[r].rec_left == 0:
                del self._loss[r]
        return done

    def _row(self, r: int, x: npt.NDArray[np.float64], miss: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        st = self._loss.get(r)
        n = len(x)
        # split the block into runs of good and missing samples
        edges = np.flatnonzero(np.diff(miss.astype(np.int8))) + 1
        bounds = [0, *edges.tolist(), n]
        done = 0  # samples of x whose output is final
        for a, b in itertools.pairwise(bounds):
            if miss[a]:
                if st is None or (st.erased == 0 and not st.ready):
                    st = self._start(r, x, a)
                st.ready = False
                x[a:b] = self._synth(st, st.erased, b - a)
                st.erased += b - a
                st.rec_left = 0
            elif st is not None:
                if st.erased:
                    # I.2.4: overlap-add the continuation into the first good samples
                    st.rec_len = min(FRAME, 32 * (1 + (st.erased - 1) // FRAME))
                    st.rec_synth = self._synth(st, st.erased, st.rec_len)
                    st.rec_left = st.rec_len
                    st.erased = 0
                if st.rec_left:
                    k = min(st.rec_left, b - a)
                    i0 = st.rec_len - st.rec_left
                    w = (np.arange(i0, i0 + k) + 1) / (st.rec_len + 1)
                    x[a : a + k] = x[a : a + k] * w + st.rec_synth[i0 : i0 + k] * (1.0 - w)
                    st.rec_left -= k
            done = b
        assert done == n
        if st is not None and st.erased == 0 and st.rec_left == 0:
            self._loss.pop(r, None)
        return x

    def _start(self, r: int, x: npt.NDArray[np.float64], a: int) -> _Loss:
        # history up to the first missing sample: the stored history plus this block's good part
        h = np.concatenate([self._history([r])[0], x[:a]])[-HISTORY:]
        st = _Loss()
        st.p = find_pitch(h)
        self.pitch[r] = st.p
        for m, c in enumerate(_cycles(h, st.p)):
            self.cyc[r, m, : len(c)] = c
        st.cyc = self.cyc[r]
        self._loss[r] = st
        return st

    def _start_many(self, rows: npt.NDArray[np.intp], h: npt.NDArray[np.float64] | None = None) -> None:
        """`_start` for every row of `rows` (I.2.1, I.2.2): at the block's first sample, or
        after the (rows, HISTORY) histories `h`."""
        if h is None:
            h = self._history(rows)
        n = h.shape[1]
        p = find_pitch_many(h)
        self.pitch[rows] = p
        j = _J3
        q = np.maximum(1, p // 4)[:, None]
        for m in (1, 2, 3):
            span = (m * p)[:, None]
            src = np.minimum(n - span + j, n - 1)  # past m * p: unused, any sample will do
            c = np.take_along_axis(h, src, axis=1)
            k = j - (span - q)  # the cycle's last q samples blend toward those before its start
            tail = (k >= 0) & (j < span)
            w = (k + 1) / (q + 1)
            before = np.take_along_axis(h, np.clip(n - 2 * span + j, 0, n - 1), axis=1)
            self.cyc[rows, m - 1] = np.where(tail, c * (1.0 - w) + before * w, c)
        for row, pr in zip(rows.tolist(), p.tolist(), strict=True):
            st = _Loss()
            st.p = int(pr)
            st.cyc = self.cyc[row]
            self._loss[row] = st

    def _synth_many(self, rows: npt.NDArray[np.intp], t0: npt.NDArray[np.int64], k: int) -> npt.NDArray[np.float64]:
        """`_synth` for every row of `rows`, row i from its erasure sample t0[i] on."""
        t = t0[:, None] + np.arange(k)
        m = np.minimum(3, 1 + t // FRAME)
        p = self.pitch[rows][:, None]
        cyc = self.cyc
        ri = rows[:, None]
        y = cyc[ri, m - 1, (t + (m - 1) * p) % (m * p)]
        q = np.maximum(1, p // 4)
        for mi in (2, 3):
            into = t - (mi - 1) * FRAME
            blend = (m == mi) & (into < q)
            if blend.any():
                w = (into + 1) / (q + 1)
                prev = cyc[ri, mi - 2, (t + (mi - 2) * p) % ((mi - 1) * p)]
                y = np.where(blend, prev * (1 - w) + y * w, y)
        res: npt.NDArray[np.float64] = y * _GAIN[np.minimum(t, SILENT_AFTER)]
        return res

    @staticmethod
    def _synth(st: _Loss, t0: int, k: int) -> npt.NDArray[np.float64]:
        """Samples t0..t0+k-1 of the erasure (I.2.2, I.2.3)."""
        p = st.p
        t = np.arange(t0, t0 + k)
        m = np.minimum(3, 1 + t // FRAME)  # periods repeated: 1, then 2 after 10 ms, 3 after 20 ms
        y = np.zeros(k)
        for mi in (1, 2, 3):
            sel = m == mi
            if sel.any():
                ti = t[sel]
                y[sel] = st.cyc[mi - 1][(ti + (mi - 1) * p) % (mi * p)]
                if mi > 1:
                    # blend in the longer cycle over 1/4 period after each switch
                    q = max(1, p // 4)
                    into = ti - (mi - 1) * FRAME
                    blend = into < q
                    if blend.any():
                        tb = ti[blend]
                        w = (into[blend] + 1) / (q + 1)
                        prev = st.cyc[mi - 2][(tb + (mi - 2) * p) % ((mi - 1) * p)]
                        y[np.flatnonzero(sel)[blend]] = prev * (1 - w) + y[np.flatnonzero(sel)[blend]] * w
        return y * _GAIN[np.minimum(t, SILENT_AFTER)]
