"""Bench ISDN part 1: Q.931 codec and Q.921 cost per message, against libpri.

Figures: microseconds per Q.931 decode and encode over every libpri vector;
microseconds per I frame through our Lapd plus the Q.931 decode; the same
frames through libpri's pri_check_event (its Q.921 and Q.931 in C) in the
same run, as the peer reference; and how many D-channels at full 64 kbit/s
line rate one core keeps up with.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from appliance.isdn.q921 import Lapd, Side
from appliance.isdn.q921_frames import Frame, FrameType
from appliance.isdn.q931 import decode_message
from tests.appliance.isdn.test_q931_vectors import VARIANTS, load
from tests.bench.report import Table


def _per_call(fn: Callable[[], int], min_s: float = 0.5) -> float:
    """Seconds per item: fn() processes some items and returns how many."""
    n = 0
    t0 = time.perf_counter()
    while True:
        n += fn()
        dt = time.perf_counter() - t0
        if dt >= min_s:
            return dt / n


def run() -> list[Table]:
    msgs = [(VARIANTS[name], raw) for name in VARIANTS for _, _, raw in load(name)]
    decoded = [decode_message(raw, variant=v) for v, raw in msgs]

    def dec() -> int:
        for v, raw in msgs:
            decode_message(raw, variant=v)
        return len(msgs)

    def enc() -> int:
        for m in decoded:
            m.encode()
        return len(decoded)

    t_dec, t_enc = _per_call(dec), _per_call(enc)

    payloads = [raw for _, raw in msgs if raw[0] == 0x08]
    frames = [Frame(FrameType.I, True, False, i % 128, 0, p).encode(Side.USER)
              for i, p in enumerate(payloads * 4)]

    def ours() -> int:
        link = Lapd(Side.NETWORK, 0.0)
        link.receive(Frame(FrameType.SABME, True, True).encode(Side.USER), 0.0)
        for fr in frames:
            for ev in link.receive(fr, 0.0):
                payload = getattr(ev, "payload", None)
                if payload is not None:
                    decode_message(payload)
            link.frames_to_send()
        return len(frames)

    t_ours = _per_call(ours)

    rows = [["Q.931 decode (libpri vectors, all variants)", t_dec * 1e6, "-"],
            ["Q.931 encode", t_enc * 1e6, "-"],
            ["I frame: our Q.921 + Q.931 decode", t_ours * 1e6, "-"]]
    notes = [f"{len(msgs)} messages from libpri for 7 switch types; "
             f"{len(frames)} I frames per Q.921 pass"]
    try:
        from tests.peers.libpri import LibPri, Node, Switch
    except OSError:
        t_lib = float("nan")
        notes.append("libpri not loadable: no peer figure")
    else:
        def theirs() -> int:
            p = LibPri(Node.NETWORK, Switch.NI2)
            p.feed(Frame(FrameType.SABME, True, True).encode(Side.USER))
            for fr in frames:
                p.feed(fr)
            p.close()
            return len(frames)
        t_lib = _per_call(theirs)
        rows.append(["I frame: libpri pri_check_event (Q.921 + Q.931 + call state, C)",
                     t_lib * 1e6, "1"])
        rows[2][2] = f"{t_ours / t_lib:.2f}"
        notes.append("libpri also runs its call state machine and answers unknown calls; "
                     "ours is layer 2 plus the codec only, in Python")
    avg = sum(len(f) for f in frames) / len(frames) + 4  # + flags and FCS
    line_fps = 64000 / 8 / avg
    channels = 1 / (t_ours * line_fps)
    table = Table("ISDN D-channel cost per message", ["path", "us/message", "ratio to libpri"],
                  rows, [*notes, f"a 64 kbit/s D-channel carries at most {line_fps:.0f} "
                                 f"frames/s of this mix (avg {avg:.0f} octets)"],
                  [f"{'PASS' if channels >= 24 else 'FAIL'} one core keeps up with "
                   f"{channels:.0f} D-channels at full line rate (want >= 24: a 24-span box)"])
    return [table]
