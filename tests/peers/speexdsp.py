"""speexdsp 1.2.1 MDF echo canceller (Debian libspeexdsp-dev) as a peer, through a C harness.

The harness (our calling code only, compiled with gcc when first used) runs
``speex_echo_cancellation`` over whole signals frame by frame, one fresh
state per case, with ``speex_preprocess`` as its residual echo suppressor
when ``nlp`` is set (denoise and AGC off, so only echo suppression acts),
and reports the process CPU time spent inside speexdsp's calls.
"""

from __future__ import annotations

import ctypes
from functools import cache

import numpy as np
import numpy.typing as npt

from tests.peers._build import build

_SOURCE = r"""
#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>
#include <time.h>

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* One case: n samples (a multiple of frame).  Returns CPU seconds. */
double tdmgw_speex_run(const short *rin, const short *sin, short *sout, int n, int frame,
                       int taps, int nlp) {
    SpeexEchoState *st = speex_echo_state_init(frame, taps);
    SpeexPreprocessState *pp = 0;
    int rate = 8000, off = 0;
    speex_echo_ctl(st, SPEEX_ECHO_SET_SAMPLING_RATE, &rate);
    if (nlp) {
        pp = speex_preprocess_state_init(frame, rate);
        speex_preprocess_ctl(pp, SPEEX_PREPROCESS_SET_DENOISE, &off);
        speex_preprocess_ctl(pp, SPEEX_PREPROCESS_SET_AGC, &off);
        speex_preprocess_ctl(pp, SPEEX_PREPROCESS_SET_DEREVERB, &off);
        speex_preprocess_ctl(pp, SPEEX_PREPROCESS_SET_ECHO_STATE, st);
    }
    double t0 = cpu_now();
    for (int i = 0; i + frame <= n; i += frame) {
        speex_echo_cancellation(st, sin + i, rin + i, sout + i);
        if (pp) speex_preprocess_run(pp, sout + i);
    }
    double t1 = cpu_now();
    if (pp) speex_preprocess_state_destroy(pp);
    speex_echo_state_destroy(st);
    return t1 - t0;
}
"""

Int16Array = npt.NDArray[np.int16]


@cache
def _lib() -> ctypes.CDLL:
    lib = build("speexdsp", _SOURCE, "speexdsp")
    p16 = ctypes.POINTER(ctypes.c_short)
    lib.tdmgw_speex_run.argtypes = [p16, p16, p16, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                    ctypes.c_int]
    lib.tdmgw_speex_run.restype = ctypes.c_double
    return lib


def run(rin: Int16Array, sin: Int16Array, frame: int = 160, taps: int = 1024,
        nlp: bool = False) -> tuple[Int16Array, float]:
    """Cancel each case (row) of ``rin``/``sin`` (cases, n) with a fresh speexdsp state.

    Returns (sout, CPU seconds inside speexdsp for all cases).  Samples past
    the last whole frame are returned as zeros.
    """
    lib = _lib()
    rin = np.ascontiguousarray(rin, dtype=np.int16)
    sin = np.ascontiguousarray(sin, dtype=np.int16)
    out = np.zeros_like(sin)
    p16 = ctypes.POINTER(ctypes.c_short)
    cpu = 0.0
    for c in range(rin.shape[0]):
        cpu += lib.tdmgw_speex_run(rin[c].ctypes.data_as(p16), sin[c].ctypes.data_as(p16),
                                   out[c].ctypes.data_as(p16), rin.shape[1], frame, taps,
                                   int(nlp))
    return out, cpu
