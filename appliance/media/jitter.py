"""Adaptive jitter buffer for every channel of a span, played out by the span clock.

How: each channel has a playout ring of linear samples indexed by its RTP
timestamp (mod `ring`), a "valid" flag per sample, and a read cursor in the
same (extended) timestamp space.  `put()` writes a packet's decoded samples
at their timestamp, so reordering costs nothing, a duplicate finds its
samples already valid, and a packet whose samples the cursor has passed is
late.  `read(n)`, called once per span block, gathers `n` samples from every
channel at its cursor in one array operation and advances the cursors: the
span is the only clock.  Samples never written come back flagged `missing`
(the caller conceals them, G.711 Appendix I, or fills comfort noise).

Adaptation: at arrival a packet's *slack* is how far its first sample lies
ahead of the cursor.  Over a window of recent packets the largest slack is
the buffer's depth for the least-delayed packets and (largest - smallest)
is the jitter spread.  The target depth is the spread (held at its peak and
decaying slowly: halved in 4 s; not held over a stream's first 50
packets) plus a margin of one read block, clamped to
[`min_depth`, `max_depth`], with `min_depth` at least one ptime (issue 9).
When the depth is off target by more than `hysteresis`, the correction
waits for a quiet block (low energy, concealment or comfort noise) and is
then applied at once: the cursor skips samples (shrink) or holds while
silence is played (grow).  A far end whose clock runs 100 ppm fast or slow
moves the depth by 0.8 samples a second; those small errors are absorbed in
the pauses of speech.  If no quiet block comes (a continuous tone), one
sample per `trickle` samples is skipped or repeated, so the delay stays
bounded for hours.  A depth more than `max_depth` above the target is a
backlog (the span clock stalled while packets kept coming), not jitter: the
excess is dropped at once.

Limits: one stream per channel; the ring bounds every buffer (a packet more
than the ring ahead resynchronises the stream, counted).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

QUIET_RMS = 90.0  # about -45 dBm0 in the 16-bit scale: adjusting here is inaudible
SETTLE_PACKETS = 50  # packets before a stream's jitter peak is held (see _adapt)
PEAK_HALF_LIFE = 4 * 8000  # samples of stream: a jitter peak's hold halves in 4 s


@dataclass
class JitterStats:
    """Per-channel counters (samples are 8 kHz)."""

    packets: int = 0
    late: int = 0
    duplicate: int = 0
    reordered: int = 0
    resyncs: int = 0
    concealed: int = 0  # samples missing at playout (loss or late)
    comfort_noise: int = 0  # samples filled with RFC 3389 noise (the far end's silence)
    inserted: int = 0  # samples of delay added by adaptation
    dropped: int = 0  # samples skipped by adaptation
    depth: int = 0  # slack of the last packet, samples
    target: int = 0
    spread: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Chan:
    ptime: int
    min_depth: int
    max_depth: int
    started: bool = False
    target: int = 0
    hi_end: int = 0  # extended timestamp after the newest sample written
    window: deque[int] = field(default_factory=lambda: deque(maxlen=50))  # slack - wofs
    wofs: int = 0  # cursor moves by adaptation since the window began (added back when read)
    spread_peak: float = 0.0
    decay: float = 1.0  # spread_peak's factor per _adapt() (every 4 packets)
    settled: bool = False  # past the first SETTLE_PACKETS: peaks are held
    pending: int = 0  # + samples to insert, - samples to drop
    since_trickle: int = 0
    n_put: int = 0
    stats: JitterStats = field(default_factory=JitterStats)


class JitterBuffer:
    """Playout rings for `channels` streams; `read(n)` once per span block."""

    def __init__(self, channels: int, *, ring: int = 8192, block: int = 160, trickle: int = 80) -> None:
        if ring & (ring - 1):
            raise ValueError("ring must be a power of two")
        self.channels = channels
        self.ring = ring
        self.mask = ring - 1
        self.block = block
        self.trickle = trickle
        self.hysteresis = 40  # 5 ms: how far the depth may sag before the target allows for it
        self.quiet_step = 8  # 1 ms: smallest correction made in a quiet block
        self.audio = np.zeros((channels, ring), dtype=np.int16)
        self.valid = np.zeros((channels, ring), dtype=bool)
        self.cursor = np.zeros(channels, dtype=np.int64)
        self.active = np.zeros(channels, dtype=bool)
        self.quiet = np.ones(channels, dtype=bool)
        self.lossy = np.zeros(channels, dtype=bool)
        self._rows = np.arange(channels)[:, None]
        self._base = (np.arange(channels, dtype=np.int64) * ring)[:, None]  # row starts, flat
        self._audio_flat = self.audio.reshape(-1)  # views: 1-D take is about twice as fast
        self._valid_flat = self.valid.reshape(-1)
        self._ar = np.arange(block, dtype=np.int64)
        self.chans: list[_Chan | None] = [None] * channels
        # rows whose stream has an adaptation pending (`_Chan.pending` != 0): the only
        # ones read() visits one by one (most rows, most blocks, have none)
        self._adjusting: set[int] = set()

    # ------------------------------------------------------------ streams

    def open(self, ch: int, ptime: int, min_depth: int, max_depth: int) -> None:
        """Start a stream on `ch` (all in samples); the first packet sets the cursor."""
        lo = max(min_depth, ptime)
        hi = max(lo, min(max_depth, self.ring - 2 * ptime - 2 * self.block))
        lo = max(lo, self.block + self.hysteresis)
        hi = max(hi, lo)
        self._adjusting.discard(ch)
        c = _Chan(ptime=ptime, min_depth=lo, max_depth=hi, target=lo,
                  decay=0.5 ** (4 * ptime / PEAK_HALF_LIFE))
        self.chans[ch] = c
        self.valid[ch] = False
        self.active[ch] = False
        c.stats.target = lo

    def close(self, ch: int) -> None:
        self._adjusting.discard(ch)
        self.chans[ch] = None
        self.active[ch] = False
        self.valid[ch] = False

    def stats(self, ch: int) -> JitterStats:
        c = self.chans[ch]
        return c.stats if c is not None else JitterStats()

    def extend(self, ch: int, ts: int) -> int:
        """`ts` (32 bits) in the channel's extended timestamp space, nearest the cursor."""
        cur = int(self.cursor[ch])
        return cur + (((ts - cur + 0x80000000) & 0xFFFFFFFF) - 0x80000000)

    # ------------------------------------------------------------ arrival

    def put(self, ch: int, ts: int, samples: npt.NDArray[np.int16], marker: bool = False,
            elapsed: float = 0.0) -> str:
        """Store one packet's samples; returns "ok", "late", "duplicate" or "resync".

        `elapsed` is the time since the last `read()`, in samples: the slack is
        measured against where the cursor is at the packet's arrival, at a finer
        grain than the span block.
        """
        c = self.chans[ch]
        if c is None:
            raise KeyError(f"channel {ch} has no open stream")
        n = len(samples)
        st = c.stats
        st.packets += 1
        verdict = "ok"
        if not c.started:
            self._preroll(ch, c, ts, elapsed)
            c.started = True
            c.hi_end = ts
            self.active[ch] = True
        ext = self.extend(ch, ts)
        cur = int(self.cursor[ch])
        # the packet's playout delay: the last read's samples play over the block after it
        slack = ext - cur + self.block - int(elapsed)
        if slack > self.ring - n - self.block or (marker and slack > c.max_depth + c.ptime):
            # far ahead of anything we can hold (a far-end restart, or a talkspurt
            # after a clock jump): start again from this packet
            self._preroll(ch, c, ext, elapsed)
            cur = int(self.cursor[ch])
            slack = c.target
            c.window.clear()
            c.wofs = 0
            self._set_pending(ch, c, 0)
            st.resyncs += 1
            verdict = "resync"
        if ext + n <= cur:
            st.late += 1
            c.window.append(slack - c.wofs)
            self._adapt(ch, c)
            return "late"
        start = max(ext, cur)
        pos = start & self.mask
        if self.valid[ch, pos]:
            st.duplicate += 1
            return "duplicate"
        skip = start - ext
        m = n - skip
        first = min(m, self.ring - pos)
        self.audio[ch, pos : pos + first] = samples[skip : skip + first]
        self.valid[ch, pos : pos + first] = True
        if first < m:
            self.audio[ch, : m - first] = samples[skip + first :]
            self.valid[ch, : m - first] = True
        if ext < c.hi_end:
            st.reordered += 1
        else:
            c.hi_end = ext + n
        if skip:
            st.late += 1
            verdict = "late"
        c.window.append(slack - c.wofs)
        st.depth = slack
        c.n_put += 1
        if c.n_put % 4 == 0 or slack < 0:
            self._adapt(ch, c)
        return verdict

    def position(self, ch: int, ts: int) -> int:
        """The ring position of timestamp `ts` on `ch`."""
        return self.extend(ch, ts) & self.mask

    def reserve(self, ch: int, ts: int, n: int, marker: bool = False, elapsed: float = 0.0,
                cur: int | None = None) -> int:
        """`put()` of the common packet without its samples: the caller writes them with
        `write_many()` (all packets of a drain at once).  Returns the ring position of the
        packet's first sample, or -1 when the packet is not the common case (the stream's
        first packet, a resync, a late or duplicate packet): then `put()` it instead.
        The state and statistics are `put()`'s for an "ok" packet."""
        c = self.chans[ch]
        if c is None or not c.started:
            return -1
        if cur is None:  # `cur`: the channel's cursor, when the caller has it as an int already
            cur = int(self.cursor[ch])
        ext = cur + (((ts - cur + 0x80000000) & 0xFFFFFFFF) - 0x80000000)
        slack = ext - cur + self.block - int(elapsed)
        if ext < cur or slack > self.ring - n - self.block or (marker and slack > c.max_depth + c.ptime):
            return -1
        pos = ext & self.mask
        if self._valid_flat[ch * self.ring + pos]:
            return -1
        st = c.stats
        st.packets += 1
        if ext < c.hi_end:
            st.reordered += 1
        else:
            c.hi_end = ext + n
        c.window.append(slack - c.wofs)
        st.depth = slack
        c.n_put += 1
        if c.n_put % 4 == 0 or slack < 0:
            self._adapt(ch, c)
        return pos

    def write_many(self, chs: npt.NDArray[np.intp], pos: npt.NDArray[np.int64],
                   samples: npt.NDArray[np.int16]) -> None:
        """The samples (k, n) of k `reserve()`d packets (distinct channels) into the rings."""
        n = samples.shape[1]
        idx = (pos[:, None] + np.arange(n, dtype=np.int64)) & self.mask
        idx += self._base[chs]
        self._audio_flat[idx] = samples
        self._valid_flat[idx] = True

    def _preroll(self, ch: int, c: _Chan, ts: int, elapsed: float) -> None:
        # place the cursor so that the first sample plays `target` after its arrival;
        # until then: silence
        self.valid[ch] = False
        lead = max(0, c.target - self.block + int(elapsed))
        self.cursor[ch] = ts - lead
        pos = (ts - lead + np.arange(lead)) & self.mask
        self.audio[ch, pos] = 0
        self.valid[ch, pos] = True

    def _set_pending(self, ch: int, c: _Chan, pending: int) -> None:
        c.pending = pending
        if pending:
            self._adjusting.add(ch)
        else:
            self._adjusting.discard(ch)

    def _adapt(self, ch: int, c: _Chan) -> None:
        w = c.window
        if len(w) < 4:
            return
        hi, lo = max(w) + c.wofs, min(w) + c.wofs
        spread = hi - lo
        # the peak decays by stream time, not per packet, so that the hold is the same at
        # every ptime: 4 s to halve (a spike is remembered for a few of its recurrences,
        # but a call that began in a burst does not carry that delay for long)
        if c.settled:
            c.spread_peak = max(float(spread), c.spread_peak * c.decay)
        else:
            # the stream's first second: its spread is used, not held, and its window is
            # dropped at the end of it.  A call's media often starts in a burst (the far
            # end's first packets queued behind call set-up, 240 streams opened at once);
            # held, that burst kept the delay up for tens of seconds
            c.spread_peak = float(spread)
            if c.n_put >= SETTLE_PACKETS:
                c.settled = True
                w.clear()
                c.wofs = 0
                c.spread_peak = 0.0
        # on time needs slack >= one read block; the hysteresis lets it sag that far first
        target = int(min(c.max_depth, max(c.min_depth, c.spread_peak + self.block + self.hysteresis)))
        c.target = target
        c.stats.target = target
        c.stats.spread = spread
        err = hi - target
        # in a quiet block any error above 1 ms is corrected (inaudible there); outside
        # them only the trickle acts, and only beyond half the hysteresis (see read())
        self._set_pending(ch, c, -err if abs(err) > self.quiet_step or (lo < 0 and err < 0) else 0)

    # ------------------------------------------------------------ playout

    def read(self, n: int | None = None) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.bool_]]:
        """(audio, missing) for the next `n` samples of every channel; cursors advance by `n`.

        `missing` is only set on channels with a started stream.
        """
        n = self.block if n is None else n
        ar = self._ar if n == self.block else np.arange(n, dtype=np.int64)
        inserts: list[tuple[int, int]] = []
        for i in sorted(self._adjusting):
            c = self.chans[i]
            assert c is not None  # close() and open() take the row out of the set
            if -c.pending > c.max_depth:
                # a backlog, not jitter: the span clock stalled (or skipped ahead) while
                # packets kept coming, so the depth is more than the maximum above its
                # target; drop the excess now (one discontinuity) rather than carry
                # the extra delay for the seconds the trickle would take
                amount = c.pending
            elif self.quiet[i]:
                amount = max(-4 * n, min(n - 1, c.pending))
            else:
                c.since_trickle += n
                if c.since_trickle < self.trickle or abs(c.pending) <= self.hysteresis // 2:
                    continue
                c.since_trickle = 0
                amount = 1 if c.pending > 0 else -1
            self._set_pending(i, c, c.pending - amount)
            # the packets in the window now lie `amount` further ahead of the cursor
            c.wofs += amount
            if amount < 0:
                self._skip(i, -amount)
                c.stats.dropped -= amount
            else:
                # hold the cursor: gather from `amount` samples back, those become the insert
                self.cursor[i] -= amount
                inserts.append((i, amount))
                c.stats.inserted += amount
        idx = (self.cursor[:, None] + ar) & self.mask
        idx += self._base
        audio: npt.NDArray[np.int16] = self._audio_flat.take(idx)
        ok: npt.NDArray[np.bool_] = self._valid_flat.take(idx)
        self._valid_flat[idx] = False
        self.cursor += n
        for i, k in inserts:
            audio[i, :k] = 0
            # during concealment the insert is concealed too (the loss is stretched);
            # otherwise it is silence, which is what the quiet block held
            ok[i, :k] = not self.lossy[i]
        missing = ~ok & self.active[:, None]
        lossy = missing.any(axis=1)
        self.lossy = np.asarray(lossy, dtype=bool)
        power = np.einsum("ij,ij->i", audio, audio, dtype=np.float64) / n
        self.quiet = (power < QUIET_RMS * QUIET_RMS) | lossy
        if lossy.any():
            # the counts of every row in one array operation; a plain add per lossy row
            lost = np.count_nonzero(missing, axis=1).tolist()
            chans = self.chans
            for j in np.flatnonzero(lossy).tolist():
                cj = chans[j]
                if cj is not None:
                    cj.stats.concealed += lost[j]
        return audio, missing

    def _skip(self, ch: int, k: int) -> None:
        pos = (int(self.cursor[ch]) + np.arange(k)) & self.mask
        self.valid[ch, pos] = False
        self.cursor[ch] += k
