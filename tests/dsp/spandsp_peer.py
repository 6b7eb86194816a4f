"""spandsp as a DTMF peer through ctypes: its generator (dtmf_tx) and receiver (dtmf_rx)."""

from __future__ import annotations

import ctypes

import numpy as np


def spandsp() -> ctypes.CDLL:
    sp = ctypes.CDLL("libspandsp.so.2")
    sp.dtmf_tx_init.restype = ctypes.c_void_p
    sp.dtmf_tx_init.argtypes = [ctypes.c_void_p]
    sp.dtmf_tx_put.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    sp.dtmf_tx_set_level.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    sp.dtmf_tx_set_timing.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    sp.dtmf_tx.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int]
    sp.dtmf_tx_free.argtypes = [ctypes.c_void_p]
    sp.dtmf_rx_init.restype = ctypes.c_void_p
    sp.dtmf_rx_init.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    sp.dtmf_rx.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int]
    sp.dtmf_rx_get.restype = ctypes.c_size_t
    sp.dtmf_rx_get.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    sp.dtmf_rx_free.argtypes = [ctypes.c_void_p]
    return sp


def dtmf_tx(digits: str, level: int, twist: int, on_ms: int, off_ms: int) -> np.ndarray:
    sp = spandsp()
    s = sp.dtmf_tx_init(None)
    sp.dtmf_tx_set_level(s, level, twist)
    sp.dtmf_tx_set_timing(s, on_ms, off_ms)
    sp.dtmf_tx_put(s, digits.encode(), -1)
    buf = np.zeros(len(digits) * (on_ms + off_ms) * 8 + 800, np.int16)
    sp.dtmf_tx(s, buf.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), len(buf))
    sp.dtmf_tx_free(s)
    return buf


def dtmf_rx(x: np.ndarray) -> str:
    sp = spandsp()
    s = sp.dtmf_rx_init(None, None, None)
    x = np.ascontiguousarray(x, np.int16)
    out = ""
    for k in range(0, len(x), 160):
        chunk = np.ascontiguousarray(x[k : k + 160])
        sp.dtmf_rx(s, chunk.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), len(chunk))
        buf = ctypes.create_string_buffer(128)
        n = sp.dtmf_rx_get(s, buf, 127)
        out += buf.raw[:n].decode()
    sp.dtmf_rx_free(s)
    return out
