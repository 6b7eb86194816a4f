"""G.711 A-law and mu-law as table look-ups over arrays of any shape.

What: ``ulaw_encode``/``alaw_encode`` (int16 linear -> uint8 code),
``ulaw_decode``/``alaw_decode`` (uint8 code -> int16 linear) and the direct
code converters ``ulaw_to_alaw``/``alaw_to_ulaw`` (uint8 -> uint8).

How: every table is built once at import from the G.711 segment rules
(ITU-T G.711 (11/88) clause 3, Tables 1a/1b for A-law, 2a/2b for mu-law):

* Linear samples are 16-bit two's complement.  mu-law quantises the top 14
  bits (decision values up to 8159, decoder outputs times 4), A-law the top
  13 bits (up to 4096, decoder outputs times 8), the way Python's ``audioop``
  (``lin2ulaw(x, 2)`` and friends, Sun's reference g711.c) places them, so the
  outputs equal ``audioop`` bit for bit for all 65,536 inputs and 256 codes.
* Encoding is one look-up in a 65,536-entry uint8 table indexed by the int16
  sample viewed as uint16.
* Decoding a C-contiguous array whose last axis is even looks up two codes at
  once: the uint8 codes viewed as uint16 index a 65,536-entry uint32 table
  holding both int16 outputs, so numpy does half the work.  Other layouts use
  the 256-entry int16 table.
* ``ulaw_to_alaw``/``alaw_to_ulaw`` follow G.711 Table 3 (mu -> A) and Table 4
  (A -> mu), which map decoder output value numbers directly (mu-law 0..127,
  A-law 1..128).  They differ from "decode, then encode" for 46 mu-law and
  34 A-law codes (the smallest magnitudes, where the tables pick the other
  neighbour, and at mu-80/A-80).  As G.711 Note 3 to Tables 3 and 4 (1988,
  amended 1992) says, the tables leave the optimum at one point each, mu-80
  -> A-81 and A-80 -> mu-79, so that A -> mu -> A is transparent for bits 1
  to 7 (A -> mu -> A changes at most bit 8, the least significant bit, of
  any A-law character).  spandsp (and the 1994 "corrected" Sun tables) use
  the optimum instead, so they differ from these tables at mu-80 and A-80.

The even-bit inversion of A-law (G.711 Table 1 notes) and the
sign/magnitude inversion of mu-law are in the tables.  The all-zero mu-law
character is produced (no zero-code suppression, as audioop).

Limits: int16 in for the encoders, uint8 in for the rest; any other dtype
(including a byte-swapped int16) raises TypeError.  Output has the input's
shape; pass ``out=`` (same shape, right dtype, C-contiguous) to avoid an
allocation per block.

Levels: G.711 places 0 dBm0 3.17 dB (mu-law) / 3.14 dB (A-law) below the
peak of the largest sine the coder carries (G.711 Tables 5 and 6
give the digital milliwatt).  In this 16-bit scaling a 0 dBm0 sine has an
RMS of ``DBM0_RMS_ULAW`` (16,020.7) or ``DBM0_RMS_ALAW`` (16,141.2); see
``dsp.levels``.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "ALAW_DIGITAL_MILLIWATT",
    "DBM0_RMS_ALAW",
    "DBM0_RMS_ULAW",
    "ULAW_DIGITAL_MILLIWATT",
    "alaw_decode",
    "alaw_encode",
    "alaw_to_ulaw",
    "ulaw_decode",
    "ulaw_encode",
    "ulaw_to_alaw",
]

Int16Array = npt.NDArray[np.int16]
UInt8Array = npt.NDArray[np.uint8]

#: RMS (16-bit scale) of a 0 dBm0 sine, mu-law: peak 4 x 8159 at +3.17 dBm0.
DBM0_RMS_ULAW: Final = 4 * 8159 * 10 ** (-3.17 / 20) / math.sqrt(2)
#: RMS (16-bit scale) of a 0 dBm0 sine, A-law: peak 8 x 4096 at +3.14 dBm0.
DBM0_RMS_ALAW: Final = 8 * 4096 * 10 ** (-3.14 / 20) / math.sqrt(2)

#: G.711 Table 6 (mu-law) and Table 5 (A-law): the digital milliwatt, a
#: 1 kHz sine at 0 dBm0 as an 8-code sequence repeated.
ULAW_DIGITAL_MILLIWATT: Final = (0x1E, 0x0B, 0x0B, 0x1E, 0x9E, 0x8B, 0x8B, 0x9E)
ALAW_DIGITAL_MILLIWATT: Final = (0x34, 0x21, 0x21, 0x34, 0xB4, 0xA1, 0xA1, 0xB4)

# G.711 Table 3: mu-law decoder output value number (0..127, index) ->
# A-law decoder output value number (1..128).
_TABLE3_MU_TO_A: Final = (
    1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8,
    9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
    25, 27, 29, 31, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44,
    46, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62,
    64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79,
    81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96,
    97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112,
    113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127, 128,
)  # fmt: skip

# G.711 Table 4: A-law decoder output value number (1..128, index + 1) ->
# mu-law decoder output value number (0..127).
_TABLE4_A_TO_MU: Final = (
    1, 3, 5, 7, 9, 11, 13, 15, 16, 17, 18, 19, 20, 21, 22, 23,
    24, 25, 26, 27, 28, 29, 30, 31, 32, 32, 33, 33, 34, 34, 35, 35,
    36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 48, 49, 49,
    50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 64,
    65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 79,
    80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95,
    96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127,
)  # fmt: skip


def _segment(magnitude: npt.NDArray[np.int64], first_end: int) -> npt.NDArray[np.int64]:
    """Segment number 0..8 of each magnitude; segment 0 ends at `first_end`, each next doubles."""
    ends = first_end * (1 << np.arange(8, dtype=np.int64)) + (1 << np.arange(8)) - 1
    return np.searchsorted(ends, magnitude, side="left").astype(np.int64)


def _build_ulaw_encode() -> UInt8Array:
    # G.711 Table 2: magnitudes on the 14-bit scale (sample >> 2), biased by
    # 33 so that segment s spans [2^(s+5), 2^(s+6)) and the 4 step bits sit
    # right below the leading one; clip at 8159.
    x = np.arange(65536, dtype=np.int64)
    x = np.where(x >= 32768, x - 65536, x) >> 2
    negative = x < 0
    mag = np.minimum(np.where(negative, -x, x), 8159) + 33
    seg = _segment(mag, 0x3F)
    step = (mag >> (seg + 1)) & 0x0F
    code = np.where(seg >= 8, 0x7F, (np.minimum(seg, 7) << 4) | step)
    code = code ^ np.where(negative, 0x7F, 0xFF)
    return code.astype(np.uint8)


def _build_ulaw_decode() -> Int16Array:
    c = ~np.arange(256, dtype=np.int64) & 0xFF
    seg = (c >> 4) & 0x07
    mag = (((c & 0x0F) << 3) + 0x84) << seg
    return np.where(c & 0x80, 0x84 - mag, mag - 0x84).astype(np.int16)


def _build_alaw_encode() -> UInt8Array:
    # G.711 Table 1: magnitudes on the 13-bit scale (sample >> 3); negative
    # values are one's-complemented so -1 falls in the first interval.
    x = np.arange(65536, dtype=np.int64)
    x = np.where(x >= 32768, x - 65536, x) >> 3
    positive = x >= 0
    mag = np.where(positive, x, -x - 1)
    seg = _segment(mag, 0x1F)
    step = np.where(seg < 2, mag >> 1, mag >> np.maximum(seg, 1)) & 0x0F
    code = np.where(seg >= 8, 0x7F, (np.minimum(seg, 7) << 4) | step)
    code = code ^ np.where(positive, 0xD5, 0x55)
    return code.astype(np.uint8)


def _build_alaw_decode() -> Int16Array:
    c = np.arange(256, dtype=np.int64) ^ 0x55
    seg = (c >> 4) & 0x07
    mag = ((c & 0x0F) << 4) + np.where(seg == 0, 8, 0x108)
    mag = np.where(seg > 1, mag << np.maximum(seg - 1, 0), mag)
    return np.where(c & 0x80, mag, -mag).astype(np.int16)


def _ulaw_number(code: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """mu-law character -> decoder output value number 0..127 (G.711 Table 2)."""
    return ~code & 0x7F


def _alaw_number(code: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """A-law character -> decoder output value number 1..128 (G.711 Table 1)."""
    return ((code ^ 0x55) & 0x7F) + 1


def _build_transcoders() -> tuple[UInt8Array, UInt8Array]:
    codes = np.arange(256, dtype=np.int64)
    positive_mu = (codes & 0x80) != 0
    a_number = np.asarray(_TABLE3_MU_TO_A, dtype=np.int64)[_ulaw_number(codes)]
    u2a = ((a_number - 1) | np.where(positive_mu, 0x80, 0)) ^ 0x55
    positive_a = (codes & 0x80) != 0
    mu_number = np.asarray(_TABLE4_A_TO_MU, dtype=np.int64)[_alaw_number(codes) - 1]
    a2u = (0x7F ^ mu_number) | np.where(positive_a, 0x80, 0)
    return u2a.astype(np.uint8), a2u.astype(np.uint8)


def _pair_table(table: Int16Array) -> npt.NDArray[np.uint32]:
    """65,536-entry table: two native-order uint8 codes (as one uint16) -> two int16 (as uint32)."""
    pair = np.arange(65536, dtype=np.uint16)
    codes = pair.view(np.uint8).reshape(65536, 2)
    return np.ascontiguousarray(table[codes]).view(np.uint32).reshape(65536)


_ULAW_ENC: Final = _build_ulaw_encode()
_ALAW_ENC: Final = _build_alaw_encode()
_ULAW_DEC: Final = _build_ulaw_decode()
_ALAW_DEC: Final = _build_alaw_decode()
_ULAW_DEC2: Final = _pair_table(_ULAW_DEC)
_ALAW_DEC2: Final = _pair_table(_ALAW_DEC)
_U2A, _A2U = _build_transcoders()
for _t in (_ULAW_ENC, _ALAW_ENC, _ULAW_DEC, _ALAW_DEC, _ULAW_DEC2, _ALAW_DEC2, _U2A, _A2U):
    _t.flags.writeable = False

_INT16: Final = np.dtype(np.int16)
_UINT8: Final = np.dtype(np.uint8)


def _check(x: Any, dtype: np.dtype[Any], name: str) -> None:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a numpy ndarray of {dtype}, got {type(x).__name__}")
    if x.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {dtype}, got {x.dtype}")


def _check_out(out: npt.NDArray[Any], shape: tuple[int, ...], dtype: np.dtype[Any], name: str) -> None:
    _check(out, dtype, name + " out")
    if out.shape != shape:
        raise ValueError(f"{name}: out has shape {out.shape}, input has {shape}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name}: out must be C-contiguous")


def _encode(x: Int16Array, table: UInt8Array, out: UInt8Array | None, name: str) -> UInt8Array:
    _check(x, _INT16, name)
    if out is None:
        out = np.empty(x.shape, _UINT8)
    else:
        _check_out(out, x.shape, _UINT8, name)
    np.take(table, x.view(np.uint16), out=out)
    return out


def _decode(
    codes: UInt8Array,
    table: Int16Array,
    pairs: npt.NDArray[np.uint32],
    out: Int16Array | None,
    name: str,
) -> Int16Array:
    _check(codes, _UINT8, name)
    if out is None:
        out = np.empty(codes.shape, _INT16)
    else:
        _check_out(out, codes.shape, _INT16, name)
    if codes.ndim and codes.shape[-1] % 2 == 0 and codes.flags.c_contiguous and codes.size:
        np.take(pairs, codes.view(np.uint16), out=out.view(np.uint32))
    else:
        np.take(table, codes, out=out)
    return out


def ulaw_encode(x: Int16Array, out: UInt8Array | None = None) -> UInt8Array:
    """int16 linear -> mu-law codes (G.711 Table 2), equal to ``audioop.lin2ulaw(x, 2)``."""
    return _encode(x, _ULAW_ENC, out, "ulaw_encode")


def alaw_encode(x: Int16Array, out: UInt8Array | None = None) -> UInt8Array:
    """int16 linear -> A-law codes (G.711 Table 1), equal to ``audioop.lin2alaw(x, 2)``."""
    return _encode(x, _ALAW_ENC, out, "alaw_encode")


def ulaw_decode(codes: UInt8Array, out: Int16Array | None = None) -> Int16Array:
    """mu-law codes -> int16 linear, equal to ``audioop.ulaw2lin(codes, 2)``."""
    return _decode(codes, _ULAW_DEC, _ULAW_DEC2, out, "ulaw_decode")


def alaw_decode(codes: UInt8Array, out: Int16Array | None = None) -> Int16Array:
    """A-law codes -> int16 linear, equal to ``audioop.alaw2lin(codes, 2)``."""
    return _decode(codes, _ALAW_DEC, _ALAW_DEC2, out, "alaw_decode")


def _transcode(codes: UInt8Array, table: UInt8Array, out: UInt8Array | None, name: str) -> UInt8Array:
    _check(codes, _UINT8, name)
    if out is None:
        out = np.empty(codes.shape, _UINT8)
    else:
        _check_out(out, codes.shape, _UINT8, name)
    np.take(table, codes, out=out)
    return out


def ulaw_to_alaw(codes: UInt8Array, out: UInt8Array | None = None) -> UInt8Array:
    """mu-law codes -> A-law codes by G.711 Table 3."""
    return _transcode(codes, _U2A, out, "ulaw_to_alaw")


def alaw_to_ulaw(codes: UInt8Array, out: UInt8Array | None = None) -> UInt8Array:
    """A-law codes -> mu-law codes by G.711 Table 4."""
    return _transcode(codes, _A2U, out, "alaw_to_ulaw")
