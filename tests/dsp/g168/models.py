"""Echo path models of ITU-T G.168 Annex D, read as test data from spandsp.

Debian's ``libspandsp-dev`` ships the coefficient tables of G.168 clauses D.2
to D.9 as ``/usr/include/spandsp/g168models.h`` (``line_model_dN_coeffs`` with
a ``LINE_MODEL_DN_GAIN`` scale).  We parse that header rather than copy the
numbers, so the data stays the spec's.  The header also carries the G.168
Annex C composite source voiced segment (``css_c1``) and the test 6 tone
list (``tones_6_4_2_7``).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

HEADER = Path("/usr/include/spandsp/g168models.h")
MODELS = ("d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9")

FloatArray = npt.NDArray[np.float64]


def _array(text: str, name: str) -> list[int]:
    m = re.search(rf"{name}\s*\[\]\s*(?:\[\d+\])?\s*=\s*\{{(.*?)\}};", text, re.S)
    if m is None:
        raise LookupError(f"{HEADER}: no table {name}")
    body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
    return [int(v) for v in re.findall(r"-?\d+", body)]


@cache
def _text() -> str:
    return HEADER.read_text()


@cache
def model(name: str) -> FloatArray:
    """Impulse response of Annex D model ``name`` ("d2".."d9"), as the spec scales it."""
    text = _text()
    coeffs = _array(text, f"line_model_{name}_coeffs")
    m = re.search(rf"LINE_MODEL_{name.upper()}_GAIN\s+([0-9.Ee+-]+)f?", text)
    if m is None:
        raise LookupError(f"{HEADER}: no gain for {name}")
    return np.asarray(coeffs, dtype=np.float64) * float(m.group(1).rstrip("f"))


@cache
def css_voiced() -> FloatArray:
    """The voiced segment of the composite source signal (G.168 table C.1)."""
    return np.asarray(_array(_text(), "css_c1"), dtype=np.float64)


@cache
def test6_tones() -> list[tuple[int, int]]:
    """Tones and tone pairs of G.168 test 6 (6.4.2.7), (f1, f2) with f2 = 0 for one tone."""
    flat = _array(_text(), "tones_6_4_2_7")
    pairs = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
    return [p for p in pairs if p != (0, 0)]
