"""spandsp 0.0.6 line echo canceller (Debian libspandsp-dev) as a peer, through a C harness.

The harness (our calling code only, compiled with gcc when first used) runs
``echo_can_update`` sample by sample over whole signals, one fresh state per
case: adaption only for the linear part, plus NLP and CNG when ``nlp`` is
set.  It reports the process CPU time spent inside spandsp's calls.
Debian's 0.0.6 build prints debug lines from ``echo_can_update``; the
harness sends stdout to /dev/null meanwhile (that cost is in its timing).
"""

from __future__ import annotations

import ctypes
from functools import cache

import numpy as np
import numpy.typing as npt

from tests.peers._build import build

_SOURCE = r"""
#include <stdint.h>
#include <spandsp/telephony.h>
#include <spandsp/echo.h>
#include <time.h>
#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double tdmgw_spandsp_run(const int16_t *rin, const int16_t *sin, int16_t *sout, int n,
                         int frame, int taps, int nlp) {
    int mode = ECHO_CAN_USE_ADAPTION;
    if (nlp) mode |= ECHO_CAN_USE_NLP | ECHO_CAN_USE_CNG;
    echo_can_state_t *ec = echo_can_init(taps, mode);
    /* Debian's 0.0.6 build prints debug lines from echo_can_update: send
       them to /dev/null while it runs (their cost stays in the timing). */
    fflush(stdout);
    int saved = dup(1), nul = open("/dev/null", O_WRONLY);
    dup2(nul, 1);
    double t0 = cpu_now();
    /* frame only groups the calls; spandsp works sample by sample. */
    for (int i = 0; i + frame <= n; i += frame)
        for (int j = i; j < i + frame; j++)
            sout[j] = echo_can_update(ec, rin[j], sin[j]);
    double t1 = cpu_now();
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    close(nul);
    echo_can_free(ec);
    return t1 - t0;
}
"""

Int16Array = npt.NDArray[np.int16]


@cache
def _lib() -> ctypes.CDLL:
    lib = build("spandsp_echo", _SOURCE, "spandsp")
    p16 = ctypes.POINTER(ctypes.c_int16)
    lib.tdmgw_spandsp_run.argtypes = [p16, p16, p16, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                      ctypes.c_int]
    lib.tdmgw_spandsp_run.restype = ctypes.c_double
    return lib


def run(rin: Int16Array, sin: Int16Array, frame: int = 160, taps: int = 1024,
        nlp: bool = False) -> tuple[Int16Array, float]:
    """Cancel each case (row) of ``rin``/``sin`` (cases, n) with a fresh spandsp state.

    Returns (sout, CPU seconds inside spandsp for all cases).
    """
    lib = _lib()
    rin = np.ascontiguousarray(rin, dtype=np.int16)
    sin = np.ascontiguousarray(sin, dtype=np.int16)
    out = np.zeros_like(sin)
    p16 = ctypes.POINTER(ctypes.c_int16)
    cpu = 0.0
    for c in range(rin.shape[0]):
        cpu += lib.tdmgw_spandsp_run(rin[c].ctypes.data_as(p16), sin[c].ctypes.data_as(p16),
                                     out[c].ctypes.data_as(p16), rin.shape[1], frame, taps,
                                     int(nlp))
    return out, cpu
