"""G.711 compliance: exhaustive against Python's audioop and spandsp, Tables 3-6."""

from __future__ import annotations

import audioop
import ctypes
import ctypes.util
import math
from collections.abc import Callable

import numpy as np
import pytest

from dsp import g711

ALL_LINEAR = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = np.arange(256, dtype=np.uint8)


def _audioop_codes(fn: Callable[[bytes, int], bytes], x: np.ndarray) -> np.ndarray:
    return np.frombuffer(fn(x.tobytes(), 2), np.uint8)


def _audioop_linear(fn: Callable[[bytes, int], bytes], c: np.ndarray) -> np.ndarray:
    return np.frombuffer(fn(c.tobytes(), 2), np.int16)


@pytest.mark.parametrize(
    ("ours", "ref"), [(g711.ulaw_encode, audioop.lin2ulaw), (g711.alaw_encode, audioop.lin2alaw)]
)
def test_encode_equals_audioop_for_all_65536_inputs(ours, ref) -> None:
    np.testing.assert_array_equal(ours(ALL_LINEAR), _audioop_codes(ref, ALL_LINEAR))


@pytest.mark.parametrize(
    ("ours", "ref"), [(g711.ulaw_decode, audioop.ulaw2lin), (g711.alaw_decode, audioop.alaw2lin)]
)
def test_decode_equals_audioop_for_all_256_codes(ours, ref) -> None:
    expected = _audioop_linear(ref, ALL_CODES)
    np.testing.assert_array_equal(ours(ALL_CODES), expected)
    # the paired (2 codes per look-up) path and the single-code path agree
    pairs = np.stack(np.meshgrid(ALL_CODES, ALL_CODES, indexing="ij"), -1).reshape(256, 512)
    np.testing.assert_array_equal(ours(pairs), _audioop_linear(ref, pairs).reshape(256, 512))
    odd = ALL_CODES[:255].reshape(15, 17)
    np.testing.assert_array_equal(ours(odd), expected[:255].reshape(15, 17))
    strided = ALL_CODES[::-3]
    np.testing.assert_array_equal(ours(strided), expected[::-3])


@pytest.mark.parametrize(
    "fn", [g711.ulaw_encode, g711.alaw_encode]
)
def test_encode_shape_strides_and_out(fn) -> None:
    x = np.random.default_rng(7).integers(-32768, 32768, (3, 30, 160)).astype(np.int16)
    full = fn(x)
    assert full.shape == x.shape and full.dtype == np.uint8
    np.testing.assert_array_equal(fn(x[:, ::2, 1::3]), full[:, ::2, 1::3])
    np.testing.assert_array_equal(fn(x.T), full.T)
    out = np.empty(x.shape, np.uint8)
    assert fn(x, out=out) is out
    np.testing.assert_array_equal(out, full)
    assert fn(np.array(-5, np.int16)).shape == ()
    assert fn(np.zeros((0, 160), np.int16)).shape == (0, 160)


@pytest.mark.parametrize(
    "fn", [g711.ulaw_decode, g711.alaw_decode, g711.ulaw_to_alaw, g711.alaw_to_ulaw]
)
def test_code_input_shapes_and_out(fn) -> None:
    c = np.random.default_rng(8).integers(0, 256, (30, 160)).astype(np.uint8)
    full = fn(c)
    assert full.shape == c.shape
    np.testing.assert_array_equal(fn(c.T), full.T)
    np.testing.assert_array_equal(fn(c[:, 1:]), full[:, 1:])
    out = np.empty_like(full)
    assert fn(c, out=out) is out
    np.testing.assert_array_equal(out, full)
    assert fn(np.ones((), np.uint8)).shape == ()
    with pytest.raises(ValueError):
        fn(c, out=np.empty((30, 161), full.dtype))


@pytest.mark.parametrize(
    ("fn", "bad"),
    [
        (g711.ulaw_encode, np.zeros(4, np.int32)),
        (g711.ulaw_encode, np.zeros(4, np.uint16)),
        (g711.alaw_encode, np.zeros(4, np.float32)),
        (g711.alaw_encode, np.zeros(4, ">i2")),
        (g711.ulaw_decode, np.zeros(4, np.int8)),
        (g711.alaw_decode, np.zeros(4, np.int16)),
        (g711.ulaw_to_alaw, np.zeros(4, np.uint16)),
        (g711.alaw_to_ulaw, b"\x00\x01"),
        (g711.ulaw_decode, [1, 2, 3]),
    ],
)
def test_wrong_dtype_raises_type_error(fn, bad) -> None:
    with pytest.raises(TypeError):
        fn(bad)


def test_wrong_out_dtype_raises_type_error() -> None:
    with pytest.raises(TypeError):
        g711.ulaw_decode(ALL_CODES, out=np.empty(256, np.int32))


def _spandsp() -> ctypes.CDLL:
    name = ctypes.util.find_library("spandsp") or "libspandsp.so.2"
    lib = ctypes.CDLL(name)
    for f in (lib.ulaw_to_alaw, lib.alaw_to_ulaw):
        f.restype = ctypes.c_uint8
        f.argtypes = [ctypes.c_uint8]
    return lib


@pytest.mark.peer
def test_transcoding_equals_spandsp_except_the_g711_note_3_points() -> None:
    """spandsp uses the optimum conversion at mu-80/A-80; G.711 Note 3 moves those two."""
    sp = _spandsp()
    theirs_u2a = np.array([sp.ulaw_to_alaw(i) for i in range(256)], np.uint8)
    theirs_a2u = np.array([sp.alaw_to_ulaw(i) for i in range(256)], np.uint8)
    mu80 = [0xFF ^ 80, 0x7F ^ 80]  # positive, negative mu-law codes of value number 80
    a80 = [(79 | 0x80) ^ 0x55, 79 ^ 0x55]  # A-law codes of value number 80
    assert sorted(np.flatnonzero(g711.ulaw_to_alaw(ALL_CODES) != theirs_u2a)) == sorted(mu80)
    assert sorted(np.flatnonzero(g711.alaw_to_ulaw(ALL_CODES) != theirs_a2u)) == sorted(a80)
    # ours: mu-80 -> A-81 and A-80 -> mu-79 (G.711 Note 3); spandsp: A-80 and mu-80
    assert g711.ulaw_to_alaw(np.array(mu80, np.uint8)).tolist() == [(80 | 0x80) ^ 0x55, 80 ^ 0x55]
    assert theirs_u2a[mu80].tolist() == a80
    assert g711.alaw_to_ulaw(np.array(a80, np.uint8)).tolist() == [0xFF ^ 79, 0x7F ^ 79]


def test_table3_table4_differ_from_decode_then_encode_where_g711_says() -> None:
    """G.711 Tables 3/4 map value numbers; they are not decode-then-encode.

    mu-law value numbers 0..15 (the 16 smallest magnitudes) share A-law
    numbers pairwise (Table 3: 0,1 -> 1; 2,3 -> 2 ...), while
    decode-then-encode quantises the decoded value again; and Note 3 moves
    mu-80 to A-81 (the optimum is A-80).
    """
    via_linear_u2a = g711.alaw_encode(g711.ulaw_decode(ALL_CODES))
    via_linear_a2u = g711.ulaw_encode(g711.alaw_decode(ALL_CODES))
    u2a = g711.ulaw_to_alaw(ALL_CODES)
    a2u = g711.alaw_to_ulaw(ALL_CODES)
    diff_u = set(np.flatnonzero(u2a != via_linear_u2a).tolist())
    diff_a = set(np.flatnonzero(a2u != via_linear_a2u).tolist())
    assert len(diff_u) == 46 and len(diff_a) == 34
    assert {0xFF ^ 80, 0x7F ^ 80} <= diff_u
    assert {(79 | 0x80) ^ 0x55, 79 ^ 0x55} <= diff_a
    # mu-law number 0, the smallest magnitude: Table 3 -> A-law number 1 of the same sign
    assert u2a[0xFF] == 0xD5 and u2a[0x7F] == 0x55
    assert via_linear_u2a[0x7F] == 0xD5  # decoded mu-law "-0" is 0, which encodes as A-law +
    # A-law number 1 (0xD5 / 0x55): Table 4 -> mu-law number 1 (0xFE / 0x7E)
    assert a2u[0xD5] == 0xFE and a2u[0x55] == 0x7E


def test_a_mu_a_is_transparent_for_bits_1_to_7() -> None:
    """G.711 Note 3 to Tables 3/4: A -> mu -> A changes at most bit 8 of an A-law character."""
    round_trip = g711.ulaw_to_alaw(g711.alaw_to_ulaw(ALL_CODES))
    assert ((round_trip ^ ALL_CODES) & 0xFE).max() == 0
    assert (round_trip != ALL_CODES).sum() == 16  # 8 value numbers x 2 signs
    # conversions keep order: larger mu-law magnitudes never map to smaller A-law ones
    lin_u = g711.ulaw_decode(ALL_CODES).astype(int)
    lin_a = g711.alaw_decode(g711.ulaw_to_alaw(ALL_CODES)).astype(int)
    order = np.argsort(lin_u, kind="stable")
    assert (np.diff(lin_a[order]) >= 0).all()


@pytest.mark.peer
def test_spandsp_optimum_tables_break_bits_1_to_7_transparency() -> None:
    """Why Note 3 matters: with the optimum at A-80/mu-80, A-81 -> mu-80 -> A-80 flips 5 bits."""
    sp = _spandsp()
    rt = np.array([sp.ulaw_to_alaw(sp.alaw_to_ulaw(i)) for i in range(256)], np.uint8)
    assert ((rt ^ ALL_CODES) & 0xFE).max() != 0


def _dbm0(x: np.ndarray, rms0: float) -> float:
    v = x.astype(np.float64)
    return 20 * math.log10(math.sqrt(float(np.mean(v * v))) / rms0)


@pytest.mark.parametrize(
    ("seq", "decode", "rms0"),
    [
        (g711.ULAW_DIGITAL_MILLIWATT, g711.ulaw_decode, g711.DBM0_RMS_ULAW),
        (g711.ALAW_DIGITAL_MILLIWATT, g711.alaw_decode, g711.DBM0_RMS_ALAW),
    ],
)
def test_digital_milliwatt_is_0_dbm0(seq, decode, rms0) -> None:
    """G.711 Tables 5 and 6: the digital milliwatt decodes to 0 dBm0."""
    lin = decode(np.tile(np.array(seq, np.uint8), 100))
    assert abs(_dbm0(lin, rms0)) < 0.01
    spectrum = np.abs(np.fft.rfft(lin.astype(float)))
    assert np.argmax(spectrum) * 8000 / len(lin) == pytest.approx(1000.0)


@pytest.mark.parametrize(
    ("encode", "decode", "rms0"),
    [
        (g711.ulaw_encode, g711.ulaw_decode, g711.DBM0_RMS_ULAW),
        (g711.alaw_encode, g711.alaw_decode, g711.DBM0_RMS_ALAW),
    ],
)
@pytest.mark.parametrize("phase", [0.0, 0.3, 1.1])
def test_1khz_at_0_dbm0_measures_0_dbm0(encode, decode, rms0, phase) -> None:
    n = np.arange(8000)
    x = np.round(rms0 * math.sqrt(2) * np.sin(2 * np.pi * 1000 * n / 8000 + phase)).astype(np.int16)
    assert abs(_dbm0(decode(encode(x)), rms0)) < 0.1
    from dsp import levels

    law = "ulaw" if encode is g711.ulaw_encode else "alaw"
    assert abs(float(levels.dbm0(decode(encode(x))[None, :], law=law)[0])) < 0.1


def test_encode_decode_round_trip_is_idempotent() -> None:
    for enc, dec in ((g711.ulaw_encode, g711.ulaw_decode), (g711.alaw_encode, g711.alaw_decode)):
        codes = enc(ALL_LINEAR)
        np.testing.assert_array_equal(enc(dec(codes)), codes)
