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

__all__ = ["as_block"]


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
