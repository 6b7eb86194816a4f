"""Adaptive jitter buffer on simulated time: loss, reordering, duplicates, bursts, +/-100 ppm drift."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import pytest

from appliance.media.jitter import JitterBuffer

P = 160  # 20 ms


def _payload(k: int, silent: bool = False) -> np.ndarray:
    if silent:
        return np.zeros(P, dtype=np.int16)
    return (((k * P + np.arange(P)) % 1000) + 1000).astype(np.int16)


class Sim:
    """A far end sending one packet per ptime on its own clock, a network, and our span reads."""

    def __init__(self, channels: int = 1, block: int = 16, min_depth: int = P, max_depth: int = 1600) -> None:
        self.jb = JitterBuffer(channels, block=block)
        self.block = block
        for c in range(channels):
            self.jb.open(c, P, min_depth, max_depth)
        self.out: list[list[np.ndarray]] = [[] for _ in range(channels)]
        self.miss: list[list[np.ndarray]] = [[] for _ in range(channels)]
        self.depths: list[list[int]] = [[] for _ in range(channels)]

    def run(self, seconds: float, *, ppm: Callable[[int], float] = lambda c: 0.0,
            delay: Callable[[int, int], float | None] = lambda c, k: 400.0,
            silent: Callable[[int], bool] = lambda k: False, dup: bool = False,
            ts0: int = 0xFFFF0000, keep: bool = True) -> None:
        C = self.jb.channels
        n_pkts = int(seconds * 8000 / P) + 50
        arrivals: list[tuple[float, int, int]] = []
        for c in range(C):
            rate = 1.0 + ppm(c) * 1e-6
            for k in range(n_pkts):
                d = delay(c, k)
                if d is None:
                    continue
                t = k * P / rate + d
                arrivals.append((t, c, k))
                if dup:
                    arrivals.append((t + 1.0, c, k))
        arrivals.sort()
        ai = 0
        for j in range(int(seconds * 8000 / self.block)):
            now = j * self.block
            while ai < len(arrivals) and arrivals[ai][0] <= now:
                t, c, k = arrivals[ai]
                self.jb.put(c, (ts0 + k * P) & 0xFFFFFFFF, _payload(k, silent(k)),
                            elapsed=max(0.0, t - (now - self.block)))
                ai += 1
            a, m = self.jb.read()
            for c in range(C):
                if keep:
                    self.out[c].append(a[c].copy())
                    self.miss[c].append(m[c].copy())
                if j % 50 == 0:
                    self.depths[c].append(self.jb.stats(c).depth)

    def output(self, c: int = 0) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate(self.out[c]), np.concatenate(self.miss[c])


def _continuous(y: np.ndarray) -> bool:
    # in order, allowing the single samples the adaptation skips (diff 2)
    v = y[y != 0].astype(np.int64)
    return bool(np.all(np.isin(np.diff(v) % 1000, (1, 2))))


def test_steady_stream_plays_at_min_depth_without_loss() -> None:
    s = Sim()
    s.run(10.0)
    y, m = s.output()
    st = s.jb.stats(0)
    first = int(np.flatnonzero(y)[0])
    assert not m[first:].any()
    assert st.late == st.duplicate == st.concealed == 0
    assert st.target == P and st.depth == P  # minimum: one ptime
    assert _continuous(y)
    # the first packet arrives at 400 (50 ms) and plays one ptime later
    assert first == 560


def test_random_loss_is_flagged_exactly() -> None:
    rng = np.random.default_rng(1)
    lost = set(rng.choice(np.arange(10, 490), 25, replace=False).tolist())
    s = Sim()
    s.run(10.0, delay=lambda c, k: None if k in lost else 400.0)
    _y, m = s.output()
    st = s.jb.stats(0)
    assert st.concealed == 25 * P
    assert m.sum() == 25 * P
    assert st.late == 0
    # the missing samples are exactly where the lost packets' samples would play
    start = 560
    for k in lost:
        assert m[start + k * P : start + (k + 1) * P].all()


def test_duplicates_are_dropped_and_counted() -> None:
    s = Sim()
    s.run(5.0, dup=True)
    st = s.jb.stats(0)
    y, _m = s.output()
    assert st.duplicate >= 240 and st.concealed == 0 and _continuous(y)


def test_reordering_adapts_then_plays_everything_in_order() -> None:
    # every 5th packet is overtaken by its successor: 1.5 ptime later than the rest
    s = Sim()
    s.run(20.0, delay=lambda c, k: 400.0 + (1.5 * P if k % 5 == 0 else 0.0))
    st = s.jb.stats(0)
    y, m = s.output()
    assert st.reordered > 100
    assert st.target >= 1.5 * P
    assert not m[8000 * 2 :].any()  # after the first seconds: nothing lost
    assert _continuous(y[8000 * 2 :])
    assert st.late <= 4  # only while adapting


def test_burst_stall_then_recovery_bounded_by_max() -> None:
    # a 300 ms stall at 5 s: 15 packets arrive together when it clears
    def delay(c: int, k: int) -> float:
        t = k * P
        stall_end = 5.3 * 8000
        if 5.0 * 8000 <= t < stall_end:
            return stall_end - t + 400.0
        return 400.0

    s = Sim(max_depth=800)
    s.run(40.0, delay=delay)
    st = s.jb.stats(0)
    assert st.late > 0  # the ones beyond what the buffer held
    assert max(s.depths[0]) <= 800 + 2 * P  # bounded by the configured maximum (plus a packet)
    assert st.target <= 800
    y, m = s.output()
    assert not m[8000 * 8 :].any()
    assert _continuous(y[8000 * 8 :])


@pytest.mark.parametrize("talkspurts", [True, False])
def test_100ppm_drift_both_ways_for_20_minutes(talkspurts: bool) -> None:
    # channel 0's far end runs 100 ppm fast, channel 1's 100 ppm slow; 20 minutes simulated
    silent = (lambda k: (k % 100) >= 75) if talkspurts else (lambda k: False)
    s = Sim(channels=2, block=P)  # 20 ms span blocks (DAHDI's default) keep the run short
    s.run(1200.0, ppm=lambda c: 100.0 if c == 0 else -100.0, silent=silent, keep=False)
    drift = 1200 * 8000 * 100e-6  # 960 samples each way
    fast, slow = s.jb.stats(0), s.jb.stats(1)
    assert fast.target == slow.target == P + s.jb.hysteresis  # one block + hysteresis
    assert fast.dropped - fast.inserted == pytest.approx(drift, rel=0.1)
    assert slow.inserted - slow.dropped == pytest.approx(drift, rel=0.1)
    for c in (0, 1):
        d = s.depths[c][20:]
        # the delay does not grow: it stays within a few ms of the target for the whole run
        assert max(d) - min(d) <= 2 * s.jb.hysteresis + P // 4
        assert max(d) <= fast.target + s.jb.hysteresis + P // 4
    if talkspurts:
        # adjustments went into the pauses: nothing concealed, nothing late
        assert fast.concealed == 0 and fast.late == 0
    assert slow.late <= 2


def test_far_end_restart_resynchronises() -> None:
    jb = JitterBuffer(1, block=P)
    jb.open(0, P, P, 1600)
    for k in range(10):
        jb.put(0, 1000 + k * P, _payload(k))
        jb.read()
    assert jb.put(0, 50_000_000, _payload(0)) == "resync"
    assert jb.stats(0).resyncs == 1
    a, _m = jb.read()  # arrived right at a read: the new stream's target is met at once
    assert (a[0, :P] == _payload(0)[:P]).all() or not a[0, : jb.hysteresis].any()


def test_late_packet_is_counted_not_played() -> None:
    jb = JitterBuffer(1, block=P)
    jb.open(0, P, P, 1600)
    jb.put(0, 0, _payload(0))
    for _ in range(5):
        jb.read()
    assert jb.put(0, P, _payload(1)) == "late"
    assert jb.stats(0).late == 1


def test_span_clock_stall_backlog_dropped_at_once() -> None:
    """The span clock stops reading for 200 ms (a starved media process; the virtual
    span's clock then skips ahead) while a continuous tone keeps arriving: the buffer
    is back near its target within a second, not after the ~12 s the trickle needs."""
    jb = JitterBuffer(1, block=40)
    jb.open(0, P, 20 * 8, 60 * 8)
    ts = 0
    depths: dict[int, int] = {}
    for t in range(0, 8000 * 4, 40):
        if t % P == 0:
            tone = (8000 * np.sin(2 * np.pi * 1004 * (ts + np.arange(P)) / 8000)).astype(np.int16)
            jb.put(0, ts, tone)
            ts += P
        if 8000 <= t < 8000 + 1600:
            continue  # no blocks read
        jb.read(40)
        if t % 4000 == 0:
            depths[t] = jb.stats(0).depth
    st = jb.stats(0)
    assert st.dropped >= 1200  # the 200 ms (1,600 samples) less what the target kept
    assert depths[2 * 8000] <= st.target + P, (depths, st)
    assert depths[3 * 8000] <= st.target + P
    assert st.target <= 60 * 8


def _stall_at(start_s: float, length_s: float) -> Callable[[int, int], float]:
    def delay(c: int, k: int) -> float:
        t = k * P
        end = (start_s + length_s) * 8000
        if start_s * 8000 <= t < end:
            return end - t + 400.0
        return 400.0
    return delay


def test_a_burst_in_the_streams_first_second_is_not_held() -> None:
    """The media of a call often starts in a burst (its first packets queued behind call
    set-up): used while in the window, but not held as the stream's jitter peak, so 3 s
    later the buffer is back at its minimum.  The same burst later in the call is held
    (halving in 4 s): a spike that happened once may come back."""
    early = Sim(block=40)
    early.run(3.5, delay=_stall_at(0.1, 0.2), keep=False)
    late = Sim(block=40)
    late.run(8.5, delay=_stall_at(5.1, 0.2), keep=False)
    base = Sim(block=40)
    base.run(3.5, keep=False)
    floor = base.jb.stats(0).target
    assert early.jb.stats(0).target == floor
    assert late.jb.stats(0).target > floor + 0.1 * 8000  # still holds much of the 200 ms spike


def _reference_read(jb: JitterBuffer, n: int) -> tuple[np.ndarray, np.ndarray]:
    """read() as a plain loop over every row and every lossy row: what read() must equal."""
    inserts: list[tuple[int, int]] = []
    for i, c in enumerate(jb.chans):
        if c is None or not c.pending:
            continue
        if -c.pending > c.max_depth:
            amount = c.pending
        elif jb.quiet[i]:
            amount = max(-4 * n, min(n - 1, c.pending))
        else:
            c.since_trickle += n
            if c.since_trickle < jb.trickle or abs(c.pending) <= jb.hysteresis // 2:
                continue
            c.since_trickle = 0
            amount = 1 if c.pending > 0 else -1
        c.pending -= amount
        c.wofs += amount
        if amount < 0:
            pos = (int(jb.cursor[i]) + np.arange(-amount)) & jb.mask
            jb.valid[i, pos] = False
            jb.cursor[i] -= amount
            c.stats.dropped -= amount
        else:
            jb.cursor[i] -= amount
            inserts.append((i, amount))
            c.stats.inserted += amount
    idx = (jb.cursor[:, None] + np.arange(n)) & jb.mask
    audio = jb.audio[np.arange(jb.channels)[:, None], idx]
    ok = jb.valid[np.arange(jb.channels)[:, None], idx]
    jb.valid[np.arange(jb.channels)[:, None], idx] = False
    jb.cursor += n
    for i, k in inserts:
        audio[i, :k] = 0
        ok[i, :k] = not jb.lossy[i]
    missing = ~ok & jb.active[:, None]
    jb.lossy = missing.any(axis=1)
    power = np.einsum("ij,ij->i", audio, audio, dtype=np.float64) / n
    jb.quiet = (power < 90.0 * 90.0) | jb.lossy
    for j in range(jb.channels):
        cj = jb.chans[j]
        if cj is not None and jb.lossy[j]:
            cj.stats.concealed += int(missing[j].sum())
    return audio, missing


def _row_state(jb: JitterBuffer, c: int) -> tuple[object, ...]:
    ch = jb.chans[c]
    if ch is None:
        return (None,)
    return (ch.pending, ch.wofs, ch.since_trickle, ch.target, tuple(ch.window), jb.stats(c).as_dict())


def test_many_rows_mixed_adaptation_and_loss_match_a_per_row_reference() -> None:
    """48 rows at once, each its own case: no stream, steady, lossy, jittery (the target
    and the pending corrections move), 100 ppm fast or slow, talkspurts (quiet blocks),
    a far-end stall (a burst), a span clock stall (a backlog on every row) and a row
    closed and opened again mid-run.  Every block's
    audio, missing flags, cursors and every row's counters equal the plain per-row loop."""
    rng = np.random.default_rng(20240611)
    C, B, blocks = 48, 40, 1500
    jb = JitterBuffer(C, ring=4096, block=B)
    arrivals: list[tuple[float, int, int]] = []
    for c in range(C):
        if c % 8 == 7:
            continue  # no stream on this row
        jb.open(c, P, P, 1200)
        kind = c % 8
        rate = 1.0 + (100e-6 if kind == 3 else -100e-6 if kind == 4 else 0.0)
        for k in range(blocks * B // P + 20):
            if kind == 1 and rng.random() < 0.15:
                continue  # lost
            d = 200.0
            if kind in (2, 5):
                d += rng.exponential(300.0)  # jitter: the window's spread moves the target
            if kind == 6 and 2000 <= k * P < 2000 + 2400:
                d += 2000 + 2400 - k * P  # a stall: a burst arrives at its end
            arrivals.append((k * P / rate + d, c, k))
    arrivals.sort()
    silent = {5: lambda k: (k % 40) >= 25, 4: lambda k: (k % 60) >= 45}
    concealed = np.zeros(C, dtype=np.int64)
    ai = 0
    saw_pending = saw_lossy = 0
    for j in range(blocks):
        now = j * B
        if j == 600:
            jb.close(9)
            concealed[9] = 0
        if j == 700:
            jb.open(9, P, P, 1200)
        while ai < len(arrivals) and arrivals[ai][0] <= now:
            t, c, k = arrivals[ai]
            ai += 1
            if jb.chans[c] is None:
                continue
            quiet = silent.get(c % 8, lambda k: False)(k)
            jb.put(c, (0xFFFFF000 + 7919 * c + k * P) & 0xFFFFFFFF, _payload(k, quiet),
                   elapsed=max(0.0, t - (now - B)))
        if 1000 <= j < 1060:
            continue  # the span clock stalls while packets keep coming: a backlog
        saw_pending += any(ch is not None and ch.pending for ch in jb.chans)
        ref = copy.deepcopy(jb)
        ra, rm = _reference_read(ref, B)
        a, m = jb.read(B)
        saw_lossy += int(m.any())
        concealed += m.sum(axis=1)
        np.testing.assert_array_equal(a, ra)
        np.testing.assert_array_equal(m, rm)
        np.testing.assert_array_equal(jb.cursor, ref.cursor)
        np.testing.assert_array_equal(jb.valid, ref.valid)
        np.testing.assert_array_equal(jb.quiet, ref.quiet)
        for c in range(C):
            assert _row_state(jb, c) == _row_state(ref, c), (j, c)
            if jb.chans[c] is not None:
                assert jb.stats(c).concealed == concealed[c]
    assert saw_pending > 100 and saw_lossy > 100  # the run exercised both
    assert sum(jb.stats(c).inserted + jb.stats(c).dropped for c in range(C)) > 1000


def test_stats_held_across_close_keep_their_counts() -> None:
    # a JitterStats taken from a stream keeps that stream's counts once it is closed
    jb = JitterBuffer(1, block=P)
    jb.open(0, P, P, 1600)
    jb.put(0, 0, _payload(0))
    for _ in range(6):
        jb.read()  # the packet, then concealment
    st = jb.stats(0)
    held = st.concealed
    assert held > 0
    jb.close(0)
    jb.open(0, P, P, 1600)
    assert jb.stats(0).concealed == 0
    jb.put(0, 0, _payload(0))
    for _ in range(6):
        jb.read()
    assert jb.stats(0).concealed > 0
    assert st.concealed == held and st.as_dict()["concealed"] == held
