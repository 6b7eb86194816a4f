"""Calls through the whole gateway: setup time, sustained calls per second, 240 calls held.

The rig is tests/e2e/multirig.py: the core with the gateway part in this process, 8
virtual E1 spans (EuroISDN, 30 B-channels each, gateway user side) hosted by the media
processes (`media.processes` = auto: 2 on this 2-core machine, 4 spans each), a libpri
simulated PBX (network side) at the far end of each span, all 8 in one process of their
own, and sipp on the SIP side: its built-in UAS with -rtp_echo answers PBX -> SIP calls
(sipp echoes every call's RTP from one port, so each PBX hears its own tone back), its
built-in UAC with -rtp_echo places SIP -> PBX calls.  Everything shares this 2-core
machine (and the other work on it: see the load average), so CPU is reported per process.

- Setup time inside the gateway: a D-channel frame carrying SETUP handed to the core by
  a media process -> the INVITE handed to the SIP endpoint, and a 200 OK's event on the
  core's loop -> CONNECT handed to Q.921 (`GatewayPart.setup_ms`, `.answer_ms`); one
  call at a time, then again under the 240-call load.  The PBX's own view (SETUP sent ->
  CONNECT received, through the gateway and sipp) is shown beside it.
- Sustained rate: the PBXs place calls at a fixed rate for a fixed time over the 8
  spans, each held HOLD_S with the tone running both ways; a call fails if it is not
  answered or does not end with cause 16, or anything is left afterwards.
- 240 calls: 40 SIP -> PBX calls from sipp's UAC, then 200 PBX -> SIP calls (25 cps),
  every B-channel of the 8 spans busy, held LOAD_HOLD_S with media both ways, then all
  released; held count, failures, setup times at that load, CPU per process, how far the
  media processes kept up with the span clocks (reported; the media targets are
  bench_media's), and that every B-channel ends idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.bench.report import Table
from tests.e2e.multirig import MultiRig
from tests.peers.sipp.runner import Sipp, free_udp_port

SPANS = 8
SETUP_CALLS = 60
RATES: tuple[int, ...] = (10, 30, 60)
SECONDS = 8.0
HOLD_S = 0.2
LOAD_OUT = 40  # SIP -> PBX
LOAD_IN = 200  # PBX -> SIP
LOAD_HOLD_S = 30.0
TICK = os.sysconf("SC_CLK_TCK")
if os.environ.get("BENCH_CALLS_QUICK"):  # a short run of every step, to try the rig
    SETUP_CALLS, RATES, SECONDS, LOAD_HOLD_S = 5, (30,), 3.0, 5.0


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def cpu_s(pid: int | None) -> float:
    """utime + stime of a process (and its reaped children: none here), in seconds."""
    if pid is None:
        return float("nan")
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / TICK


class Meter:
    """CPU cores used by each process between `start()` and `stop()`."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = pids

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.c0 = {k: cpu_s(p) for k, p in self.pids.items()}

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self.t0
        return {k: (cpu_s(p) - self.c0[k]) / wall for k, p in self.pids.items()}


async def until(cond: Any, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if await cond():
            return True
        await asyncio.sleep(0.05)
    return False


async def _setup_times(rig: MultiRig) -> dict[str, list[float]]:
    part = rig.part
    part.setup_ms.clear()
    part.answer_ms.clear()
    part.media_open_ms.clear()
    await rig.farm.call("clear")
    for _ in range(SETUP_CALLS):
        await rig.farm.call("ramp", calls=1, rate=1, hold_s=0.0)
        await until(lambda: _ended(rig), 10)
        await until(rig.idle, 10)
    recs = await rig.farm.call("records")
    return {"setup": list(part.setup_ms), "answer": list(part.answer_ms),
            "media": list(part.media_open_ms),
            "pbx": [(r["answered"] - r["t0"]) * 1000 for r in recs if r["answered"]]}


async def _ended(rig: MultiRig) -> bool:
    st = await rig.farm.call("status")
    return bool(st["ramp_done"] and st["live"] == 0)


async def _rate(rig: MultiRig, cps: int) -> dict[str, Any]:
    part = rig.part
    total = int(cps * SECONDS)
    await rig.farm.call("clear")
    part.setup_ms.clear()
    errors0 = part.counters["bridge_errors"]
    meter = Meter({"core": os.getpid(), "pbx": rig.farm.pid})
    meter.start()
    await rig.farm.call("ramp", calls=total, rate=cps, hold_s=HOLD_S)
    peak = 0
    end = time.monotonic() + SECONDS + 20
    while time.monotonic() < end:
        peak = max(peak, len(part.calls))
        if await _ended(rig):
            break
        await asyncio.sleep(0.05)
    cpu = meter.stop()
    wall = time.monotonic() - meter.t0
    idle = await until(rig.idle, 10)
    recs = await rig.farm.call("records")
    st = await rig.farm.call("status")
    ok = sum(1 for r in recs if r["out"] and r["answered"] and r["cause"] == 16)
    return {"cps": cps, "offered": total, "placed": st["placed"], "refused": st["refused"],
            "answered": st["answered"], "failed": total - ok + (0 if idle else 1),
            "peak": peak, "errors": part.counters["bridge_errors"] - errors0,
            "core_ms_per_call": 1000 * cpu["core"] * wall / max(1, total),
            "pbx_ms_per_call": 1000 * cpu["pbx"] * wall / max(1, total),
            "setup_p99": pct(list(part.setup_ms), 99), "idle": idle,
            "farm_lag_ms": st["lag_max_ms"]}


def _kept_up(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, float, float, int]]:
    """(spans, media seconds per wall second, longest block ms, skipped) per engine group."""
    out = []
    for pa, pb in zip(a["processes"], b["processes"], strict=True):
        wall = pb.get("monotonic", 0) - pa.get("monotonic", 0)
        for ga, gb in zip(pa.get("groups", []), pb.get("groups", []), strict=True):
            media = (gb["blocks"] - ga["blocks"]) * gb["block_s"]
            out.append(("+".join(gb["spans"]), media / wall if wall > 0 else float("nan"),
                        gb["max_tick_ms"], gb["skipped"] - ga["skipped"]))
    return out


async def _load(rig: MultiRig, tmp: Path, uas: Sipp) -> dict[str, Any]:
    part = rig.part
    assert part.media is not None
    await rig.farm.call("clear")
    part.setup_ms.clear()
    part.answer_ms.clear()
    errors0 = part.counters["bridge_errors"]
    out_rate, in_rate = 10.0, 25.0
    ramp_s = LOAD_OUT / out_rate + LOAD_IN / in_rate
    # each UAC call is held until after the PBX's calls are released
    hold_ms = int((ramp_s + LOAD_HOLD_S + 8) * 1000)
    uac = Sipp(tmp / "uac", "uac", remote=rig.sip_address, calls=LOAD_OUT, rate=out_rate,
               service="3000", timeout_s=300,
               extra=["-rtp_echo", "-mp", str(free_udp_port()), "-d", str(hold_ms)])
    pids = {"core": os.getpid(), "pbx": rig.farm.pid, "sipp uas": uas.proc.pid,
            "sipp uac": uac.proc.pid}
    pids |= {f"media {s.index} ({s.names[0]}..{s.names[-1]})": s.pid for s in part.media.slots}
    try:
        t0 = time.monotonic()
        await until(lambda: _status_at(rig, "incoming", LOAD_OUT), 30)
        await rig.farm.call("ramp", calls=LOAD_IN, rate=in_rate)
        full = await until(lambda: _status_at(rig, "answered_live", LOAD_IN + LOAD_OUT), 60)
        t_full = time.monotonic()
        st_full = await rig.farm.call("status")
        meter = Meter(pids)
        meter.start()
        ms0 = await part.media.stats()
        load0 = os.getloadavg()
        held_min = len(part.calls)
        heard: set[tuple[int, int]] = set()
        measured = 0
        jb: list[dict[str, Any]] = []
        while time.monotonic() < t_full + LOAD_HOLD_S:
            held_min = min(held_min, len(part.calls))
            if time.monotonic() > t_full + 5 and measured < 8:
                measured += 1
                for m in await rig.farm.call("measure", k=1000):
                    if abs(m[2] - 1004) < 12 and m[3] > -30:
                        heard.add((m[0], m[1]))
            await asyncio.sleep(0.5)
        ms1 = await part.media.stats()
        cpu = meter.stop()
        load1 = os.getloadavg()
        for cid in list(part.calls)[:: max(1, len(part.calls) // 24)]:
            with contextlib.suppress(Exception):
                jb.append((await part.media.stats(cid)).get("jitter_buffer", {}))
        st_hold = await rig.farm.call("status")
        setup = list(part.setup_ms)
        answer = list(part.answer_ms)
        # release: the PBX hangs up its calls, sipp's UAC its own after its -d pause
        await rig.farm.call("hangup", cause=16)
        res = await asyncio.get_running_loop().run_in_executor(None, uac.wait, 60)
        idle = await until(rig.idle, 60)
        stuck = Counter(f"{x.bridge.state.value} isdn={x.bridge.isdn_live} "
                        f"sip={x.bridge.sip_live} media={x.bridge.media}"
                        for x in part.calls.values())
        recs = await rig.farm.call("records")
        busy = await rig.farm.call("busy")
    finally:
        uac.kill()
    m = re.search(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", res.stdout)
    uac_failed = int(m.group(1)) if m else (0 if res.ok() else LOAD_OUT)
    pbx_out = [r for r in recs if r["out"]]
    bad = [r for r in pbx_out if not r["answered"] or r["cause"] != 16]
    bad_in = len(bad)
    why = Counter(("answered" if r["answered"] else "not answered") + f", cause {r['cause']}"
                  for r in bad)
    return {"full": full, "ramp_s": t_full - t0, "held_min": held_min,
            "at_full": st_full["answered_live"], "at_end": st_hold["answered_live"],
            "failed_in": bad_in + LOAD_IN - len(pbx_out), "failed_out": uac_failed,
            "refused": st_hold["refused"], "errors": part.counters["bridge_errors"] - errors0,
            "setup": setup, "answer": answer,
            "pbx_setup": [(r["answered"] - r["t0"]) * 1000 for r in pbx_out if r["answered"]],
            "cpu": cpu, "load": (load0, load1), "kept": _kept_up(ms0, ms1),
            "heard": len(heard), "jb": jb, "idle": idle,
            "gateway_idle": rig.gateway_idle(), "pbx_busy": sum(len(v) for v in busy.values()),
            "farm_lag_ms": st_hold["lag_max_ms"], "farm_lags_1s": st_hold["lags_over_1s"],
            "uac_rc": res.rc, "why": dict(why), "stuck": dict(stuck),
            "uac_tail": res.stdout[-1500:] if uac_failed else ""}


async def _status_at(rig: MultiRig, key: str, n: int) -> bool:
    return bool((await rig.farm.call("status"))[key] >= n)


async def _all(tmp: Path) -> tuple[dict[str, list[float]], list[dict[str, Any]], dict[str, Any]]:
    uas = Sipp(tmp / "uas", "uas", calls=100000, timeout_s=900,
               extra=["-rtp_echo", "-mp", str(free_udp_port())])
    try:
        async with MultiRig(tmp / "rig", uas.address, SPANS) as rig:
            setup = await _setup_times(rig)
            rates = [await _rate(rig, r) for r in RATES]
            load = await _load(rig, tmp, uas)
        return setup, rates, load
    finally:
        uas.kill()


def run() -> list[Table]:
    with tempfile.TemporaryDirectory(prefix="bench-calls-") as d:
        tmp = Path(d)
        (tmp / "rig").mkdir()
        setup, rates, load = asyncio.run(_all(tmp))
    la = os.getloadavg()

    clean = [r["cps"] for r in rates if r["failed"] == 0 and r["errors"] == 0]
    best = max(clean, default=0)
    ok30 = best >= 30

    def row(name: str, xs: list[float]) -> list[Any]:
        return [name, len(xs), med(xs), pct(xs, 99), max(xs, default=float("nan"))]

    tables = [
        Table("Call setup time inside the gateway (ms; one call at a time, 8 E1 spans)",
              ["step", "calls", "p50", "p99", "max"],
              [row("SETUP received -> INVITE sent", setup["setup"]),
               row("(RTP stream opened in the media process, in parallel)", setup["media"]),
               row("200 OK received -> CONNECT sent", setup["answer"]),
               row("(PBX: SETUP sent -> CONNECT received, through sipp)", setup["pbx"])],
              notes=["From the core's handling of the D-channel frame (or SIP event) to the "
                     "request handed to the SIP endpoint (or Q.921); the media-process hop "
                     "of the frame is not included.",
                     "The RTP port comes from the core's own pool, so the INVITE does not wait "
                     "for the media process to open the stream.",
                     f"load average at the end of the run: {la[0]:.1f}"],
              targets=[f"{'PASS' if pct(xs, 99) <= 10 else 'FAIL'} {what} p99 "
                       f"{pct(xs, 99):.2f} ms <= 10 ms"
                       for what, xs in (("SETUP -> INVITE", setup["setup"]),
                                        ("200 OK -> CONNECT", setup["answer"]),
                                        ("SETUP -> INVITE at 240 calls", load["setup"]))]),
        Table(f"Sustained calls per second through the gateway ({SECONDS:.0f} s per rate over "
              f"{SPANS} E1 spans, calls held {HOLD_S} s with media both ways)",
              ["cps", "offered", "placed", "refused (no channel)", "answered", "failed",
               "peak concurrent", "bridge errors", "SETUP->INVITE p99 ms",
               "core CPU per call (ms)", "PBXs' CPU per call (ms)", "PBX farm stall ms"],
              [[r["cps"], r["offered"], r["placed"], r["refused"], r["answered"], r["failed"],
                r["peak"], r["errors"], r["setup_p99"], r["core_ms_per_call"],
                r["pbx_ms_per_call"], r["farm_lag_ms"]] for r in rates],
              notes=["failed: not answered, not ended with cause 16, or a call or busy channel "
                     "left anywhere afterwards.",
                     "core CPU: this process (the core, its gateway part and sippy's thread; "
                     "the bench driver is idle in it); the PBXs run in their own process.",
                     "PBX farm stall: the longest its event loop ran late (a 10 ms timer); a "
                     "stall of seconds lets libpri's T303 (4 s) fire before the farm has read "
                     "the gateway's CALL PROCEEDING: that call fails in the rig, not the gateway.",
                     f"load average at the end of the run: {la[0]:.1f}"],
              targets=[f"{'PASS' if ok30 else 'FAIL'} >= 30 cps with no failure "
                       f"(highest rate without failure: {best} cps)"]),
    ]
    cpu = load["cpu"]
    gw = sum(v for k, v in cpu.items() if k == "core" or k.startswith("media"))
    peers = sum(v for k, v in cpu.items() if k not in ("core",) and not k.startswith("media"))
    kept = load["kept"]
    jb = load["jb"]
    depth = [j.get("depth_ms", float("nan")) for j in jb if j]
    total = LOAD_IN + LOAD_OUT
    rows = [["calls held (fewest during the hold)", load["held_min"]],
            ["answered at the PBXs when full / after the hold", f"{load['at_full']} / {load['at_end']}"],
            ["ramp to full (s)", round(load["ramp_s"], 1)],
            ["failed PBX -> SIP (of 200) / SIP -> PBX (of 40, sipp)",
             f"{load['failed_in']} / {load['failed_out']}"],
            ["refused (no channel) / bridge errors", f"{load['refused']} / {load['errors']}"],
            ["SETUP -> INVITE at load p50 / p99 ms",
             f"{med(load['setup']):.2f} / {pct(load['setup'], 99):.2f}"],
            ["200 OK -> CONNECT at load p50 / p99 ms",
             f"{med(load['answer']):.2f} / {pct(load['answer'], 99):.2f}"],
            ["PBX: SETUP -> CONNECT at load p50 / p99 ms",
             f"{med(load['pbx_setup']):.1f} / {pct(load['pbx_setup'], 99):.1f}"],
            ["PBX calls hearing their tone back (1004 Hz, > -30 dBm0) in a 0.5 s window",
             f"{load['heard']} of {total}"]]
    rows += [[f"CPU cores: {k}", round(v, 3)] for k, v in cpu.items()]
    rows += [["CPU cores: gateway (core + media) / peers (PBXs + sipp)",
              f"{gw:.2f} / {peers:.2f}"]]
    rows += [[f"media kept up: spans {g} (media s per wall s; longest block ms; skipped)",
              f"{k:.3f}; {mx:.1f}; {sk}"] for g, k, mx, sk in kept]
    rows += [["jitter buffer depth over sampled calls p50 / max ms",
              f"{med(depth):.1f} / {max(depth, default=float('nan')):.1f}"],
             ["every call ended, every B-channel idle (gateway / PBXs busy channels)",
              f"{load['idle']} ({load['gateway_idle']} / {load['pbx_busy']})"],
             ["PBX farm's event loop: longest stall ms / stalls over 1 s",
              f"{load['farm_lag_ms']:.0f} / {load['farm_lags_1s']}"],
             ["load average at full / after the hold",
              f"{load['load'][0][0]:.1f} / {load['load'][1][0]:.1f}"]]
    kept_min = min((k for _, k, _, _ in kept), default=float("nan"))
    tables.append(Table(
        f"{total} concurrent calls through the whole gateway ({SPANS} E1 spans x 30, "
        f"{LOAD_OUT} SIP -> PBX then {LOAD_IN} PBX -> SIP, held {LOAD_HOLD_S:.0f} s)",
        ["figure", "value"], rows,
        notes=["media processes: media.processes = auto (2 here, 4 spans each); echo canceller "
               "and DTMF detectors on; normal scheduling (no SCHED_FIFO in this rig).",
               "kept up: span blocks processed per wall second times the block time, from each "
               "media process's own counters over the hold; below 1 the media plane fell "
               "behind the span clocks (bench/results/media.md: the full plane needs about "
               "1.4 cores at 240 calls on this machine).",
               "the SIP side is sipp: its UAS and UAC echo RTP (-rtp_echo, one port each), "
               "C code, so its CPU is small; the PBXs are Python + libpri.",
               f"failed PBX -> SIP calls by outcome at the PBX: {load['why'] or 'none'}",
               f"calls left in the gateway 60 s after the release: {load['stuck'] or 'none'}",
               f"media kept up with the span clocks: {kept_min:.3f} (not a target of this bench: the "
               "media plane's 240-call targets are issue 9's, measured in bench/results/media.md with "
               "the media processes at SCHED_FIFO and a lean RTP peer; here they share the 2 cores with "
               "the simulated PBXs (Python + libpri, which also clock the virtual spans), sipp and the "
               "core, at normal scheduling)"],
        targets=[f"{'PASS' if load['held_min'] >= total else 'FAIL'} {load['held_min']} >= "
                 f"{total} calls held for {LOAD_HOLD_S:.0f} s",
                 f"{'PASS' if load['failed_in'] + load['failed_out'] == 0 else 'FAIL'} "
                 f"no failed call ({load['failed_in'] + load['failed_out']})",
                 f"{'PASS' if load['idle'] else 'FAIL'} every B-channel idle afterwards"]))
    return tables
