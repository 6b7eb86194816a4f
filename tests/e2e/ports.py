"""UDP ports for the rigs' virtual spans (B-channel packets), outside the kernel's
ephemeral range.

`free_udp_port()` probes a port the kernel hands out for port 0 and releases it; by the
time the span binds it, another test's port-0 socket (sipp, a media stream, a peer) may
have been given the same one: a fresh-clone run failed with EADDRINUSE that way.  The
kernel never gives out ports below its ephemeral range (32768 and up here) for port 0,
so these come from 20000-23999, a slice of 500 per pytest-xdist worker (the last one for
a process outside pytest-xdist: a bench), each probed, from a random start so that two
processes on the same slice rarely probe the same port at the same moment.
"""

from __future__ import annotations

import itertools
import os
import random
import socket

BASE = 20000
SLICE = 500


def _worker() -> int:
    w = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(w[2:]) % 7 if w.startswith("gw") and w[2:].isdigit() else 7


_next = itertools.count(random.randrange(SLICE))


def span_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port free now, from this worker's slice (round robin, so a port a test just
    closed is not handed out again at once)."""
    lo = BASE + SLICE * _worker()
    for _ in range(SLICE):
        port = lo + next(_next) % SLICE
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise OSError(f"no free UDP port in {lo}-{lo + SLICE - 1}")
