"""Commissioning check for a DAHDI span: open it with the driver and report what it sees.

    python -m drivers.dahdi_probe --span 1 --type T1 [--basechan N] [--seconds 10]

Opens every B-channel and the D-channel of the span exactly as the gateway
does (drivers.dahdi.DahdiSpan), then prints one JSON line per second:
alarms, counters, span blocks delivered per second (should be 8000 /
blocksize), D-channel frames received (a PBX that is up sends RR frames
every T203, about 10 s, or SABME while it tries to bring layer 2 up), and
DAHDI events seen.  It transmits idle; it answers nothing.  DAHDI lets one
process open a channel, so stop the gateway first.  Exit status: 0 if the
span ended up without alarm, 1 if in alarm, 2 if it could not be opened.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from .dahdi import DahdiOps, DahdiSpan
from .span import Block, DahdiParams, Side, Span, SpanError, SpanEvent, SpanParams, SpanType


class _Count:
    def __init__(self) -> None:
        self.frames = 0
        self.blocks = 0
        self.events: list[str] = []

    def span_frame(self, span: Span, frame: bytes) -> None:
        self.frames += 1

    def span_block(self, span: Span, rx: Block, index: int) -> None:
        self.blocks += 1
        span.write_block(span.idle_block())

    def span_event(self, span: Span, event: SpanEvent) -> None:
        self.events.append(type(event).__name__)


async def probe(params: SpanParams, seconds: float, ops: DahdiOps | None = None,
                out: Any = None) -> int:
    out = out or sys.stdout
    span = DahdiSpan(params, ops=ops)
    count = _Count()
    span.set_listener(count)
    try:
        await span.start()
    except (SpanError, OSError) as e:
        print(json.dumps({"span": params.name, "error": str(e)}), file=out, flush=True)
        return 2
    try:
        last = 0
        for _ in range(max(1, int(seconds))):
            await asyncio.sleep(1.0)
            st = span.status().as_dict()
            st.update(blocks_per_second=count.blocks - last, frames_received=count.frames,
                      span_events=count.events[-5:])
            last = count.blocks
            print(json.dumps(st, default=str), file=out, flush=True)
    finally:
        await span.stop()
    return 0 if span.status().layer1_up else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m drivers.dahdi_probe", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--span", type=int, required=True, help="DAHDI span number")
    ap.add_argument("--type", choices=["T1", "E1"], required=True)
    ap.add_argument("--basechan", type=int, default=None, help="default: from sysfs")
    ap.add_argument("--blocksize", type=int, default=40)
    ap.add_argument("--side", choices=["user", "network"], default="user")
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args(argv)
    params = SpanParams(name=f"span{args.span}", number=args.span, driver="dahdi",
                        type=SpanType(args.type), side=Side(args.side),
                        block_samples=args.blocksize,
                        dahdi=DahdiParams(basechan=args.basechan, blocksize=args.blocksize))
    return asyncio.run(probe(params, args.seconds))


if __name__ == "__main__":
    sys.exit(main())
