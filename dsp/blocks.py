"""Checking the (channels, samples) blocks the detectors and meters take.

One rule for every ``process(block)`` in dsp: a numpy array of int16 or
floating-point samples on the 16-bit scale, shaped (channels, samples) - or
(samples,) for one channel - with every value finite.  Anything else raises
TypeError (wrong type or dtype) or ValueError (wrong shape, NaN or inf)
before any state changes, so a bad block loses nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["as_block", "matmul_rows"]


def as_block(block: Any, channels: int | None, name: str) -> npt.NDArray[np.float64]:
    """The block as float64 (channels, samples), or a clear TypeError/ValueError."""
    if not isinstance(block, np.ndarray):
        raise TypeError(f"{name}: expected a numpy ndarray, got {type(block).__name__}")
    if block.dtype != np.int16 and not np.issubdtype(block.dtype, np.floating):
        raise TypeError(f"{name}: expected int16 or floating samples, got {block.dtype}")
    x = block[None, :] if block.ndim == 1 else block
    if x.ndim != 2 or (channels is not None and x.shape[0] != channels):
        want = f"({channels}, samples)" if channels is not None else "(channels, samples)"
        raise ValueError(f"{name}: expected {want}, got shape {block.shape}")
    out = x.astype(np.float64)
    if x.dtype != np.int16 and not np.isfinite(out).all():
        raise ValueError(f"{name}: samples must be finite (NaN or inf in the block)")
    return out


# OpenBLAS hands products above a size threshold to its thread pool, whose
# spinning threads cost far more CPU than these small products save on a
# 2-core box that also runs the media plane; rows in chunks stay below it.
_ROWS_PER_PRODUCT = 128


def matmul_rows(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """a @ b for a (rows, k) and b (k, m), computed in row chunks that BLAS runs on one thread."""
    if a.shape[0] <= _ROWS_PER_PRODUCT:
        return np.asarray(a @ b, dtype=np.float64)
    out = np.empty((a.shape[0], b.shape[1]))
    for r in range(0, a.shape[0], _ROWS_PER_PRODUCT):
        np.matmul(a[r : r + _ROWS_PER_PRODUCT], b, out=out[r : r + _ROWS_PER_PRODUCT])
    return out
