"""G.711 Appendix I packet loss concealment (adapted without the 3.75 ms delay)."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.media.plc import FRAME, HISTORY, G711Plc, find_pitch


def _voiced(n: int, f0: float, seed: int = 0) -> np.ndarray:
    """A harmonic "vowel": f0 with decaying harmonics, about -10 dBm0."""
    t = np.arange(n) / 8000
    x = sum((0.6 ** k) * np.sin(2 * np.pi * f0 * (k + 1) * t + k) for k in range(6))
    return (x / np.max(np.abs(x)) * 8000).astype(np.float64)


@pytest.mark.parametrize("f0, period", [(200.0, 40), (100.0, 80), (80.0, 100)])
def test_pitch_i2_1(f0: float, period: int) -> None:
    h = _voiced(HISTORY, f0)
    assert find_pitch(h) == period


def _run(x: np.ndarray, lost: np.ndarray, block: int = 40) -> np.ndarray:
    plc = G711Plc(1)
    out = []
    for i in range(0, len(x), block):
        a = x[i : i + block].astype(np.int16)[None, :].copy()
        m = lost[i : i + block][None, :]
        a[m] = 0
        out.append(plc.process(a, m)[0])
    return np.concatenate(out).astype(np.float64)


def _snr(ref: np.ndarray, y: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum((ref - y) ** 2), 1e-9)))


def test_10ms_erasure_is_concealed_well_and_beats_silence() -> None:
    x = _voiced(4000, 125.0)
    lost = np.zeros(len(x), dtype=bool)
    lost[1600:1680] = True  # one 10 ms packet
    y = _run(x, lost)
    seg = slice(1600, 1680)
    assert _snr(x[seg], y[seg]) > 10  # silence would be 0 dB
    # no click at the recovery: the first good samples are OLA'd (I.2.4)
    d = np.abs(np.diff(y[1670:1720]))
    assert d.max() < 1.5 * np.abs(np.diff(x)).max()
    assert np.array_equal(y[:1600], x[:1600].astype(np.int16))
    assert np.array_equal(y[1712:], x[1712:].astype(np.int16))  # OLA over 4 ms only


def test_long_erasure_attenuates_to_silence_after_60ms_i2_3() -> None:
    x = _voiced(8000, 100.0)
    lost = np.zeros(len(x), dtype=bool)
    lost[2000:2800] = True  # 100 ms
    y = _run(x, lost)
    rms = lambda s: float(np.sqrt(np.mean(s**2)))  # noqa: E731
    assert rms(y[2000:2080]) > 0.7 * rms(x[2000:2080])  # first 10 ms at full level
    assert rms(y[2240:2320]) < 0.85 * rms(y[2000:2080])  # decaying
    assert not y[2000 + 480 : 2800].any()  # silent after 60 ms
    assert np.array_equal(y[2800 + 80 :], x[2800 + 80 :].astype(np.int16))  # recovery <= 10 ms


def test_all_channels_at_once_match_one_by_one() -> None:
    rng = np.random.default_rng(5)
    C, n = 6, 1600
    xs = np.stack([_voiced(n, f) for f in (90, 110, 130, 150, 170, 190)])
    lost = np.zeros((C, n), dtype=bool)
    for c in range(C):
        for s in rng.choice(np.arange(2, 18), 3, replace=False):
            lost[c, s * 80 : s * 80 + 80] = True
    lost[0] = False
    plc = G711Plc(C)
    out = []
    for i in range(0, n, 16):
        a = xs[:, i : i + 16].astype(np.int16)
        m = lost[:, i : i + 16]
        a = np.where(m, 0, a).astype(np.int16)
        out.append(plc.process(a, m))
    together = np.concatenate(out, axis=1)
    for c in range(C):
        alone = _run(xs[c], lost[c], block=16)
        assert np.array_equal(together[c], alone.astype(np.int16))
    assert np.array_equal(together[0], xs[0].astype(np.int16))


def test_untouched_when_nothing_missing() -> None:
    plc = G711Plc(3)
    a = (np.arange(3 * FRAME).reshape(3, FRAME) * 7).astype(np.int16)
    assert plc.process(a, np.zeros_like(a, dtype=bool)) is a


def _row_by_row(plc: G711Plc, a: np.ndarray, m: np.ndarray) -> np.ndarray:
    """`G711Plc.process` with every row through the one-row path (`_row`), the reference
    for the batch of rows that miss a whole block."""
    out = a.astype(np.float64)
    for r in sorted(set(np.flatnonzero(m.any(axis=1)).tolist()) | set(plc._loss)):
        out[r] = plc._row(r, out[r], m[r])
    plc._push(out)
    return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


def test_rows_missing_whole_blocks_together_equal_the_one_row_path() -> None:
    """A stall that loses every call's packets at once takes the batch path
    (pitch search and synthesis for all those rows in one go); its output is the one-row
    path's, sample for sample, through starts, continuations, the 10/20 ms period switches,
    silence after 60 ms and recovery, mixed with rows losing part of a block."""
    rng = np.random.default_rng(11)
    C, n, blk = 40, 4000, 40
    xs = np.stack([_voiced(n, f, seed=c) * rng.uniform(0.1, 1.0)
                   for c, f in enumerate(rng.uniform(70, 210, C))])
    lost = np.zeros((C, n), dtype=bool)
    for c in range(C):
        for _ in range(4):
            s = int(rng.integers(HISTORY, n - 800))
            lost[c, s : s + int(rng.integers(1, 700))] = True
    lost[:, 2000:2400] = True  # all at once, block-aligned: 50 ms
    a_plc, b_plc = G711Plc(C), G711Plc(C)
    batched = 0
    for i in range(0, n, blk):
        m = lost[:, i : i + blk]
        a = np.where(m, 0, xs[:, i : i + blk]).astype(np.int16)
        batched += int(m.all(axis=1).sum())
        assert np.array_equal(a_plc.process(a, m), _row_by_row(b_plc, a, m)), f"block at {i}"
    assert batched >= C * 10  # the batch path ran
    assert set(a_plc._loss) == set(b_plc._loss)


def test_pitch_of_many_rows_at_once() -> None:
    from appliance.media.plc import find_pitch_many

    h = np.stack([_voiced(HISTORY, f) for f in (200.0, 100.0, 80.0)])
    assert find_pitch_many(h).tolist() == [40, 80, 100]
    assert find_pitch_many(np.zeros((2, HISTORY))).tolist() == [40, 40]  # silence: the shortest


def test_rows_starting_a_loss_mid_block_together_equal_the_one_row_path() -> None:
    """Every call loses a packet whose samples begin at its own point inside a block (the
    jitter buffers' cursors are not aligned to the packets): the pitch searches of those
    rows, and the synthesis of the ones whose block ends missing, run in one go
    (`_start_partial`); the output is the one-row path's, sample for sample, through the
    loss, its end inside a later block and the recovery."""
    rng = np.random.default_rng(5)
    C, n, blk = 48, 3200, 40
    xs = np.stack([_voiced(n, f, seed=c) * rng.uniform(0.2, 1.0)
                   for c, f in enumerate(rng.uniform(70, 210, C))])
    lost = np.zeros((C, n), dtype=bool)
    for start in (800, 1600, 2400):  # a stall: every row loses 160 samples from its own phase
        for c in range(C):
            s = start + int(rng.integers(0, blk))
            lost[c, s : s + int(rng.choice([160, 100, 25]))] = True
    a_plc, b_plc = G711Plc(C), G711Plc(C)
    fresh = 0
    for i in range(0, n, blk):
        m = lost[:, i : i + blk]
        a = np.where(m, 0, xs[:, i : i + blk]).astype(np.int16)
        before = set(a_plc._loss)
        got = a_plc.process(a, m)
        fresh += len(set(a_plc._loss) - before)
        assert np.array_equal(got, _row_by_row(b_plc, a, m)), f"block at {i}"
        assert set(a_plc._loss) == set(b_plc._loss)
        for r, st in a_plc._loss.items():
            ref = b_plc._loss[r]
            assert (st.erased, st.p, st.rec_left, st.ready) == (ref.erased, ref.p, ref.rec_left, False)
    assert fresh >= 2 * C  # the batch started most of the losses


def test_rows_losing_again_while_recovering_together_equal_the_one_row_path() -> None:
    """A loss every few milliseconds (a jittery stream whose buffer cursor runs just ahead
    of it): the next loss begins while the row still overlap-adds the last one's recovery.
    Those rows take the rest of the recovery and start the new loss in one go with the
    others (`_start_partial`, `_recover_prefix`); the output is the one-row path's, sample
    for sample, and no row is left to the one-row path for it."""
    rng = np.random.default_rng(9)
    C, n, blk = 32, 3200, 40
    xs = np.stack([_voiced(n, f, seed=c) * rng.uniform(0.2, 1.0)
                   for c, f in enumerate(rng.uniform(70, 210, C))])
    lost = np.zeros((C, n), dtype=bool)
    for c in range(C):
        s = 400 + int(rng.integers(0, blk))
        while s < n - 100:
            ln = int(rng.integers(8, 25))
            lost[c, s : s + ln] = True
            s += ln + int(rng.integers(10, 30))  # the recovery after <= 80 lost samples is 32 long
    a_plc, b_plc = G711Plc(C), G711Plc(C)
    one_row: list[int] = []
    orig = a_plc._row

    def counted(r: int, x: np.ndarray, miss: np.ndarray) -> np.ndarray:
        st = a_plc._loss.get(r)
        if st is not None and st.erased == 0 and st.rec_left and not st.ready and miss.any():
            one_row.append(r)
        return orig(r, x, miss)

    a_plc._row = counted  # type: ignore[method-assign]
    recovering = 0
    for i in range(0, n, blk):
        m = lost[:, i : i + blk]
        a = np.where(m, 0, xs[:, i : i + blk]).astype(np.int16)
        recovering += sum(1 for r, st in a_plc._loss.items() if st.rec_left and m[r].any() and not m[r].all())
        got = a_plc.process(a, m)
        assert np.array_equal(got, _row_by_row(b_plc, a, m)), f"block at {i}"
        assert set(a_plc._loss) == set(b_plc._loss)
        for r, st in a_plc._loss.items():
            ref = b_plc._loss[r]
            assert (st.erased, st.p, st.rec_left, st.rec_len) == (ref.erased, ref.p, ref.rec_left, ref.rec_len)
    assert recovering >= C  # the case came up, often
    assert one_row == []  # ... and went to the batch


def test_losses_starting_at_and_inside_a_block_share_one_pitch_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stall seen by calls at every phase: in one block some rows lose it whole (their
    packets end on the block's edge) and others from a point inside it.  All their pitch
    searches run as one (`find_pitch_many` once per block: each call of it costs a few
    dozen numpy operations whatever the rows), and the output is the one-row path's,
    sample for sample."""
    from appliance.media import plc as plcmod

    rng = np.random.default_rng(21)
    C, n, blk = 40, 2400, 40
    xs = np.stack([_voiced(n, f, seed=c) * rng.uniform(0.2, 1.0)
                   for c, f in enumerate(rng.uniform(70, 210, C))])
    lost = np.zeros((C, n), dtype=bool)
    for start in (800, 1600):
        for c in range(C):
            s = start if c % 2 else start + int(rng.integers(1, blk))
            lost[c, s : s + 240] = True
    calls: list[int] = []
    real = plcmod.find_pitch_many

    def counted(h: np.ndarray) -> np.ndarray:
        calls.append(len(h))
        return real(h)

    monkeypatch.setattr(plcmod, "find_pitch_many", counted)
    a_plc, b_plc = G711Plc(C), G711Plc(C)
    for i in range(0, n, blk):
        m = lost[:, i : i + blk]
        a = np.where(m, 0, xs[:, i : i + blk]).astype(np.int16)
        calls.clear()
        got = a_plc.process(a, m)
        if i in (800, 1600):
            assert calls == [C]  # both kinds of start, one search
        assert np.array_equal(got, _row_by_row(b_plc, a, m)), f"block at {i}"
        assert set(a_plc._loss) == set(b_plc._loss)
