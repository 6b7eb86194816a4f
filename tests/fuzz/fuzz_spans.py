"""Fuzz the span decoders: `python -m tests.fuzz spans` (FUZZ_SECONDS=60 by default).

Inputs are mutations of valid virtual-span B-channel packets (T1 and E1),
D-channel reads as DAHDI delivers them (frame + 2 FCS octets), and random
packet streams into the playout buffer.  Properties:

- `decode_packet` returns a Packet whose `encode()` is the input, or raises
  `ProtocolError`, nothing else;
- `strip_fcs` returns the frame (3..264 octets) or raises `FrameError`;
- `PlayoutBuffer.push`/`pull` never raise and `pull(n)` is always n frames.
"""

from __future__ import annotations

import random
import time
import traceback

import numpy as np

from drivers.dahdi import strip_fcs
from drivers.span import FrameError
from drivers.virtual_proto import Packet, PlayoutBuffer, ProtocolError, decode_packet


def _mutate(rnd: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(6)
        if op == 0 and b:
            b[rnd.randrange(len(b))] ^= 1 << rnd.randrange(8)
        elif op == 1 and b:
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        elif op == 2:
            b.insert(rnd.randrange(len(b) + 1), rnd.randrange(256))
        elif op == 3 and b:
            del b[rnd.randrange(len(b))]
        elif op == 4 and b:
            del b[rnd.randrange(len(b)):]
        else:
            b += bytes(rnd.randrange(256) for _ in range(rnd.randrange(40)))
    return bytes(b)


def run(budget: float) -> tuple[int, int]:
    rnd = random.Random(7)
    end = time.monotonic() + budget
    tried = failed = 0
    seeds = [Packet(rnd.randrange(1 << 32), np.frombuffer(rnd.randbytes(n * ts), dtype=np.uint8)
                    .reshape(n, ts)).encode() for ts in (24, 32) for n in (1, 8, 40)]
    pbs = {24: PlayoutBuffer(24, 0xFF), 32: PlayoutBuffer(32, 0xD5)}
    while time.monotonic() < end:
        tried += 1
        data = _mutate(rnd, rnd.choice(seeds)) if rnd.random() < 0.9 else rnd.randbytes(rnd.randrange(300))
        ts = rnd.choice((24, 32))
        try:
            try:
                p = decode_packet(data, ts)
            except ProtocolError:
                p = None
            if p is not None:
                assert p.encode() == data, "round trip"
                pbs[ts].push(p)
            out = pbs[ts].pull(rnd.randrange(1, 64))
            assert out.shape[1] == ts
            try:
                frame = strip_fcs(data[: rnd.randrange(len(data) + 1)])
                assert 3 <= len(frame) <= 264
            except FrameError:
                pass
        except Exception:
            failed += 1
            if failed <= 5:
                print(f"fuzz spans: failure on {data.hex()}")
                traceback.print_exc()
    return tried, failed
