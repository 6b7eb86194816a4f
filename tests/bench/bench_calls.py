"""Calls through the whole gateway: setup time inside it, sustained calls per second.

The rig is tests/e2e/rig.py: the core with the gateway part (its span hosted by
the media process), the simulated PBX on libpri at the far end of a virtual T1
(NI-2, gateway user side), and sipp's built-in UAS (with -rtp_echo) as the SIP
peer.  Everything runs on this 2-core machine together, so the figures include
the far ends' load.

- Setup time inside the gateway: a D-channel frame carrying SETUP handed to the
  core by the media process -> the INVITE handed to the SIP endpoint, and a 200
  OK's event on the core's loop -> CONNECT handed to Q.921 (`GatewayPart.setup_ms`,
  `.answer_ms`).  The hop from the span through the media process to the core is
  not in these figures; it is one unix-socket message.
- Sustained rate: the PBX places calls at a fixed rate for a fixed time, each
  held HOLD_S with the tone running both ways; a call fails if it is not answered
  or does not end with cause 16 and every channel idle afterwards.

Not measured here: 240 concurrent calls.  One virtual T1 has 23 B-channels; the
rig would need 11 spans with 11 simulated PBXs (see the report in this file's
results).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench.report import Table
from tests.e2e.rig import Rig, wait_for
from tests.peers.sipp.runner import Sipp

SETUP_CALLS = 60
RATES = (10, 30)
SECONDS = 8.0
HOLD_S = 0.2


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def _setup_times(tmp: Path) -> tuple[list[float], list[float], list[float]]:
    uas = Sipp(tmp / "sipp-setup", "uas", calls=SETUP_CALLS * 2, timeout_s=120)
    try:
        async with Rig(tmp / "setup", uas.address) as rig:
            part = rig.part
            for i in range(SETUP_CALLS):
                call = rig.pbx.place_call(f"2{i % 1000:03d}")
                await wait_for(lambda c=call: c.state in ("answered", "gone"), 10, "answer")
                rig.pbx.hangup(call, 16)
                await wait_for(rig.idle, 10, "idle")
            return list(part.setup_ms), list(part.answer_ms), list(part.media_open_ms)
    finally:
        uas.kill()


async def _rate(tmp: Path, cps: int) -> dict[str, Any]:
    total = int(cps * SECONDS)
    uas = Sipp(tmp / f"sipp-{cps}", "uas", calls=total * 2, timeout_s=120,
               extra=["-rtp_echo"])
    try:
        async with Rig(tmp / f"rate{cps}", uas.address) as rig:
            part = rig.part
            calls: list[Any] = []
            refused = 0
            t0 = time.monotonic()
            cpu0 = time.process_time()
            peak = 0
            for i in range(total):
                at = t0 + i / cps
                while time.monotonic() < at:
                    await asyncio.sleep(0.001)
                try:
                    calls.append(rig.pbx.place_call(f"2{i % 1000:03d}"))
                except RuntimeError:
                    refused += 1  # all 23 channels busy at the PBX
                for c in calls:
                    if c.state == "answered" and not hasattr(c, "answered_at"):
                        c.answered_at = time.monotonic()
                    if c.state == "answered" and time.monotonic() - c.answered_at > HOLD_S:
                        rig.pbx.hangup(c, 16)
                peak = max(peak, len(part.calls))
            end = time.monotonic() + 15
            while time.monotonic() < end and any(c.state not in ("gone",) for c in calls):
                for c in calls:
                    if c.state == "answered" and not hasattr(c, "answered_at"):
                        c.answered_at = time.monotonic()
                    if c.state == "answered" and time.monotonic() - c.answered_at > HOLD_S:
                        rig.pbx.hangup(c, 16)
                await asyncio.sleep(0.01)
            wall = time.monotonic() - t0
            cpu = time.process_time() - cpu0
            with contextlib.suppress(AssertionError):
                await wait_for(rig.idle, 10, "idle")
            stuck = [(x.bridge.state.value, x.bridge.isdn_live, x.bridge.sip_live, x.bridge.media)
                     for x in part.calls.values()]
            pbx_left = [c.state for c in calls if c.state != "gone"]
            answered = sum(1 for c in calls if hasattr(c, "answered_at"))
            bad_cause = sum(1 for c in calls if c.cause not in (None, 16))
            return {"cps": cps, "offered": total, "placed": len(calls), "refused": refused,
                    "answered": answered,
                    "failed": len(calls) - answered + bad_cause + len(stuck),
                    "stuck": stuck[:5], "pbx_left": pbx_left[:5],
                    "peak": peak, "errors": part.counters["bridge_errors"],
                    "cpu_per_call_ms": 1000 * cpu / max(1, len(calls)), "wall": wall}
    finally:
        uas.kill()


def run() -> list[Table]:
    with tempfile.TemporaryDirectory(prefix="bench-calls-") as d:
        tmp = Path(d)
        setup, answer, media = asyncio.run(_setup_times(tmp))
        rates = [asyncio.run(_rate(tmp, r)) for r in RATES]
    rows = [["SETUP received -> INVITE sent", len(setup), statistics.median(setup) if setup else 0,
             pct(setup, 99), max(setup, default=0)],
            ["(RTP stream opened in the media process, in parallel)", len(media),
             statistics.median(media) if media else 0, pct(media, 99), max(media, default=0)],
            ["200 OK received -> CONNECT sent", len(answer),
             statistics.median(answer) if answer else 0, pct(answer, 99), max(answer, default=0)]]
    return [
        Table("Call setup time inside the gateway (ms; core process, one call at a time)",
              ["step", "calls", "p50", "p99", "max"], rows,
              notes=["From the core's handling of the D-channel frame (or SIP event) to the "
                     "request handed to the SIP endpoint (or Q.921); the media-process hop "
                     "of the frame is not included.",
                     "The RTP port comes from the core's own pool, so the INVITE does not wait "
                     "for the media process to open the stream (that round trip is the third "
                     "row, off the setup path)."],
              targets=["p99 <= 10 ms"]),
        Table(f"Sustained calls per second through the gateway ({SECONDS:.0f} s per rate, "
              f"calls held {HOLD_S} s with media both ways)",
              ["cps", "offered", "placed", "refused (no channel at PBX)", "answered", "failed",
               "peak concurrent", "bridge errors", "core CPU per call (ms)"],
              [[r["cps"], r["offered"], r["placed"], r["refused"], r["answered"], r["failed"],
                r["peak"], r["errors"], r["cpu_per_call_ms"]] for r in rates],
              notes=[f"{r['cps']} cps: calls left in the gateway {r['stuck']}, at the PBX "
                     f"{r['pbx_left']}" for r in rates if r["stuck"] or r["pbx_left"]] + [
                     "Core CPU includes the simulated PBX (libpri) running in the same "
                     "process and loop as the core in this rig.",
                     "240 concurrent calls: not measured (one virtual T1 = 23 channels)."],
              targets=[">= 30 cps with no failure"]),
    ]
