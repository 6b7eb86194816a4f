"""Measurements for the G.168 tests and the echo bench.

Residual echo is measured, as G.168 does, as what the canceller leaves of
the echo: with the linear canceller (NLP off, no codec after the
subtraction) Sout = near end + residual echo exactly, so the residual is
Sout - near end, and the near end (noise, caller) does not count.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tests.dsp.g168.signals import FS, level, windowed_level

FloatArray = npt.NDArray[np.float64]
WIN = 400  # 50 ms windows for ERLE against time


def erle_windows(echo: FloatArray, resid: FloatArray, win: int = WIN) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """ERLE (dB) per window and which windows count (echo within 10 dB of its active level)."""
    el = windowed_level(echo, win)
    rl = windowed_level(resid, win)
    active = np.zeros_like(el, dtype=bool)
    for c in range(el.shape[0]):
        live = el[c] > -60
        if live.any():
            active[c] = el[c] > np.median(el[c][live]) - 10
    erle = np.nan_to_num(el - rl, nan=-np.inf, posinf=-np.inf)
    return erle, active


def time_to(echo: FloatArray, resid: FloatArray, target_db: float, until: int,
            win: int = WIN) -> FloatArray:
    """Seconds until ERLE stays >= target_db in every active window before sample ``until``.

    ``inf`` where the target is not held by then.
    """
    erle, active = erle_windows(echo, resid, win)
    last = until // win
    out = np.full(echo.shape[0], np.inf)
    for c in range(echo.shape[0]):
        bad = np.flatnonzero(active[c, :last] & (erle[c, :last] < target_db))
        t = (bad[-1] + 1) * win if len(bad) else 0
        if t < last * win - 2 * win:
            out[c] = t / FS
    return out


def erle(echo: FloatArray, resid: FloatArray, start: int, stop: int) -> FloatArray:
    """ERLE (dB) over samples [start, stop): echo power over residual echo power."""
    out = np.asarray(level(echo[:, start:stop]) - level(resid[:, start:stop]))
    return np.nan_to_num(out, nan=-np.inf, posinf=-np.inf)
