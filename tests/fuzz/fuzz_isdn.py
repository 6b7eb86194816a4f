"""Fuzz the ISDN decoders: `python -m tests.fuzz isdn` (FUZZ_SECONDS=60 by default).

Seeds are the libpri vectors (tests/appliance/isdn/vectors) and LAPD frames;
each input is a mutation (bit flips, byte changes, insertions, deletions,
truncation, splices of two seeds, length-octet tweaks) or random bytes.
Properties checked per input:

- `decode_message` returns a Message whose `encode()` is the input, or
  raises `Q931Error` with a cause in 1..127 - nothing else, for every variant;
- `q921_frames.decode` returns a frame or raises `Q921Error`;
- `Lapd.receive` / `handle_timer` never raise, on both sides;
- `read_pcap` returns records or raises `PcapError`.

A failure is any other exception or a broken round trip; the first few are
printed with their input in hex.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import time
import traceback
from pathlib import Path

from appliance.isdn.errors import Q921Error, Q931Error
from appliance.isdn.pcap import PcapError, PcapWriter, read_pcap
from appliance.isdn.q921 import Lapd, Side
from appliance.isdn.q921_frames import decode as decode_frame
from appliance.isdn.q931 import Variant, decode_message

VECTORS = Path(__file__).resolve().parents[1] / "appliance" / "isdn" / "vectors"


def seeds() -> list[bytes]:
    out: list[bytes] = []
    for p in sorted(VECTORS.glob("libpri_*.txt")):
        for line in p.read_text().splitlines():
            if line and not line.startswith("#"):
                out.append(bytes.fromhex(line.split()[2]))
    return out or [bytes.fromhex("080200010504038090a21803a98381")]


def mutate(rnd: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(8)
        if op == 0 and b:
            i = rnd.randrange(len(b))
            b[i] ^= 1 << rnd.randrange(8)
        elif op == 1 and b:
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        elif op == 2:
            b.insert(rnd.randrange(len(b) + 1), rnd.randrange(256))
        elif op == 3 and b:
            del b[rnd.randrange(len(b))]
        elif op == 4 and b:
            del b[rnd.randrange(len(b)):]
        elif op == 5:
            other = rnd.choice(pool)
            cut = rnd.randrange(len(b) + 1)
            b = b[:cut] + other[rnd.randrange(len(other) + 1):]
        elif op == 6 and len(b) > 6:
            i = rnd.randrange(5, len(b))
            b[i] = rnd.choice((0, 1, 2, 0x7F, 0x80, 0xFF, len(b) - i, len(b) - i - 2)) & 0xFF
        else:
            b += bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 8)))
    return bytes(b)


def check_q931(data: bytes) -> None:
    for variant in (None, *Variant):
        try:
            m = decode_message(data, variant=variant)
        except Q931Error as e:
            if not 1 <= e.cause <= 127:
                raise AssertionError(f"cause {e.cause} out of range") from e
            continue
        if m.encode() != data:
            raise AssertionError(f"round trip differs (variant {variant})")


def check_q921(frame: bytes, links: list[Lapd], now: float) -> None:
    for side in Side:
        with contextlib.suppress(Q921Error):
            decode_frame(frame, side)
    for link in links:
        link.receive(frame, now)
        link.handle_timer(now)
        link.frames_to_send()


def check_pcap(data: bytes) -> None:
    with contextlib.suppress(PcapError):
        read_pcap(data)


def run(budget_s: float) -> tuple[int, int]:
    seed = int(os.environ.get("FUZZ_SEED", "0")) or random.randrange(1 << 30)
    rnd = random.Random(seed)
    pool = seeds()
    frame_pool = [b"\x00\x01" + bytes([i << 1 & 0xFE, 0]) + s for i, s in enumerate(pool)]
    frame_pool += [b"\x00\x01\x7f", b"\x02\x01\x73", b"\x02\x01\x01\x01", b"\x00\x01\x09\x03"]
    buf = io.BytesIO()
    writer = PcapWriter(buf, network_side=False)
    for i, fr in enumerate(frame_pool[:20]):
        writer.write(fr, 1_800_000_000 + i / 10, outgoing=bool(i & 1))
    pcap_seed = buf.getvalue()
    links = [Lapd(Side.USER), Lapd(Side.NETWORK)]
    for ln in links:
        ln.establish(0.0)
    tried = failed = 0
    shown = 0
    end = time.monotonic() + budget_s
    now = 0.0
    while time.monotonic() < end:
        for _ in range(200):
            kind = rnd.randrange(10)
            if kind < 6:
                base = rnd.choice(pool)
                data = (bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 40)))
                        if kind == 0 else mutate(rnd, base, pool))
            elif kind < 9:
                data = mutate(rnd, rnd.choice(frame_pool), frame_pool)
                now += rnd.random()
            else:
                data = mutate(rnd, pcap_seed, [pcap_seed])
            try:
                if kind < 6:
                    check_q931(data)
                elif kind < 9:
                    check_q921(data, links, now)
                else:
                    check_pcap(data)
            except Exception:
                failed += 1
                if shown < 5:
                    shown += 1
                    print(f"FAIL kind={kind} input={data.hex()}\n{traceback.format_exc()}")
            tried += 1
    print(f"fuzz isdn: seed {seed}")
    return tried, failed
