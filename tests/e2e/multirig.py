"""Multi-span end-to-end rig: the gateway on N virtual E1 spans, a simulated PBX (libpri,
network side) at the far end of each, all the PBXs in one process of their own.

`MultiRig(tmp, peer, spans=8)` writes a config (N E1 spans, EuroISDN, gateway user
side hunting descending; one SIP trunk "ai" to `peer`; inbound: everything to "ai";
outbound: any span), runs `appliance.core.app.Core` with the gateway part in this
asyncio loop, and starts `PbxFarm`: a spawned process running one
`appliance.demo.pbx.SimulatedPbx` per span in its own asyncio loop.  The farm is
driven by request/reply messages over a pipe (`await farm.call("op", ...)`), so the
peers' CPU is that process's CPU and not the core's.

Farm requests: "up" (every D-channel up), "ramp" (place calls round robin over the
spans at a rate, on explicit channels from the lowest, as a PBX hunting ascending
would; the gateway hunts descending, so the two never pick the same channel),
"status", "hangup" (every answered call the PBX placed), "measure" (frequency and
level the PBX hears on up to k answered calls: its own tone back from an RTP echo),
"records" (one dict per call), "busy" (channels busy per span), "cpu", "stop".
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from appliance.config.load import loads
from appliance.core.app import Core
from appliance.gateway.runtime import GatewayPart
from drivers.span import Side, SpanParams, SpanType, VirtualParams
from tests.e2e.ports import span_udp_port
from tests.e2e.rig import gateway_part, wait_for

PART = "appliance.gateway.runtime:GatewayPart"
FRAMES = int(os.environ.get("MULTIRIG_FRAMES", "40"))  # B-channel packet = one 5 ms span block: 200 packets/s per span each way
PLAYOUT_MS = 10
FAR_BLOCK = 160  # the PBXs' span block (20 ms): a quarter of the Python work per second


def config_text(tmp: Path, peer: tuple[str, int], ports: list[tuple[int, int]], *,
                processes: int = 0, rtp_base: int = 30000, realtime: int = 0) -> str:
    spans = []
    for i, (gw_b, far_b) in enumerate(ports, 1):
        spans.append(f"""
[[spans]]
name = "span{i}"
number = {i}
driver = "virtual"
type = "E1"
switchtype = "euroisdn_e1"
side = "user"
hunting = "descending"
[spans.virtual]
dchannel_socket = "{tmp}/d{i}.sock"
bchannel_local = "127.0.0.1:{gw_b}"
bchannel_remote = "127.0.0.1:{far_b}"
frames_per_packet = {FRAMES}
playout_ms = {PLAYOUT_MS}
""")
    names = ", ".join(f'"span{i}"' for i in range(1, len(ports) + 1))
    return "".join(spans) + f"""
[sip]
bind = "127.0.0.1"
port = 0
[[sip.trunks]]
name = "ai"
host = "{peer[0]}"
port = {peer[1]}
options_interval_s = 0
[[routes.inbound]]
name = "all"
match = "(.*)"
target = "ai"
[[routes.outbound]]
name = "all"
spans = [{names}]
[media]
processes = {processes}
realtime_priority = {realtime}
rtp_port_min = {rtp_base}
rtp_port_max = {rtp_base + 1000}
[runtime]
dir = "{tmp}/run"
[logging]
journald = false
level = "warning"
"""


def far_params(tmp: Path, i: int, gw_b: int, far_b: int) -> SpanParams:
    return SpanParams(name=f"pbx{i}", number=i, driver="virtual", type=SpanType.E1,
                      switchtype="euroisdn_e1", side=Side.NETWORK, block_samples=FAR_BLOCK,
                      virtual=VirtualParams(f"{tmp}/d{i}.sock", ("127.0.0.1", far_b),
                                            ("127.0.0.1", gw_b), frames_per_packet=FRAMES,
                                            playout_ms=PLAYOUT_MS))


class PbxFarm:
    """The simulated PBXs, one per span, in a spawned process (see the module docstring)."""

    def __init__(self, params: list[SpanParams], realtime: int = 0) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=farm_main, args=(child, params, realtime),
                                name="pbx-farm", daemon=True)
        self._lock = asyncio.Lock()

    def start(self) -> None:
        self.proc.start()

    @property
    def pid(self) -> int | None:
        return self.proc.pid

    async def call(self, op: str, **args: Any) -> Any:
        async with self._lock:
            return await asyncio.get_running_loop().run_in_executor(None, self._rpc, op, args)

    def _rpc(self, op: str, args: dict[str, Any]) -> Any:
        self.conn.send((op, args))
        if not self.conn.poll(60):
            raise TimeoutError(f"PBX farm: no answer to {op}")
        ok, value = self.conn.recv()
        if not ok:
            raise RuntimeError(f"PBX farm: {op}: {value}")
        return value

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.call("stop")
        await asyncio.get_running_loop().run_in_executor(None, self.proc.join, 10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()


class MultiRig:
    def __init__(self, tmp: Path, peer: tuple[str, int], spans: int = 8, *,
                 processes: int = 0, rtp_base: int = 30000, realtime: int = 0,
                 peer_realtime: int = 0) -> None:
        """`realtime`: media.realtime_priority (0: normal scheduling, as tests should on a
        shared machine); `peer_realtime`: SCHED_FIFO priority of the PBXs' process."""
        self.tmp = tmp
        self.ports = [(span_udp_port(), span_udp_port()) for _ in range(spans)]
        text = config_text(tmp, peer, self.ports, processes=processes, rtp_base=rtp_base,
                           realtime=realtime)
        self.loaded = loads(text, source="e2e-multi")
        self.core = Core(self.loaded, lambda: self.loaded, parts=[PART])
        self.farm = PbxFarm([far_params(tmp, i, gw, far)
                             for i, (gw, far) in enumerate(self.ports, 1)], peer_realtime)
        self.task: asyncio.Task[int] | None = None

    @property
    def part(self) -> GatewayPart:
        return gateway_part(self.core)

    @property
    def sip_address(self) -> tuple[str, int]:
        sip = self.part.sip
        assert sip is not None
        return sip.address

    async def __aenter__(self) -> MultiRig:
        self.task = asyncio.create_task(self.core.run())
        await wait_for(lambda: self.core.part_states.get(PART) is not None, 90)
        assert self.core.part_states[PART] == "running", self.core.part_states
        self.farm.start()
        await self.ready(60)
        return self

    async def ready(self, timeout: float, idle: bool = True) -> None:
        """Every PBX and gateway D-channel up, the restarts a link start brings done (and,
        with `idle`, every channel idle)."""
        end = time.monotonic() + timeout
        while True:
            up = await self.farm.call("up")
            if up and all(s.link_up and (s.dch.ctl.pool.all_idle() or not idle)
                          and not s.dch.ctl.pool.restarting()
                          for s in self.part.spans.values()):
                return
            if time.monotonic() > end:
                raise AssertionError(f"spans not up: farm {up}, gateway "
                                     f"{[(n, s.link_up) for n, s in self.part.spans.items()]}")
            await asyncio.sleep(0.1)

    async def __aexit__(self, *exc: object) -> None:
        self.core.stop()
        if self.task is not None:
            await asyncio.wait_for(self.task, 30)
        await self.farm.stop()

    def gateway_idle(self) -> bool:
        part = self.part
        return not part.calls and all(not s.dch.ctl.calls() and s.dch.ctl.pool.all_idle()
                                      for s in part.spans.values())

    async def idle(self) -> bool:
        """No call anywhere: bridges, call control, every B-channel idle at both ends."""
        return self.gateway_idle() and not any((await self.farm.call("busy")).values())


# ---------------------------------------------------------------- the farm process

def farm_main(conn: Connection, params: list[SpanParams], realtime: int = 0) -> None:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if realtime > 0:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(realtime))
    asyncio.run(_Farm(conn, params).run())


class _Farm:
    def __init__(self, conn: Connection, params: list[SpanParams]) -> None:
        from appliance.demo.libpri import Switch
        from appliance.demo.pbx import SimulatedPbx

        self.conn = conn
        self.pbxs = [SimulatedPbx(p, Switch.EUROISDN_E1) for p in params]
        self.records: list[dict[str, Any]] = []
        self.by_call: dict[tuple[int, int], dict[str, Any]] = {}
        self.refused = 0
        self.ramp: asyncio.Task[None] | None = None
        self.hold_s: float | None = None
        self.done = asyncio.Event()
        self.lag_max = 0.0  # the farm's own event loop: longest lateness of a 10 ms timer
        self.lags_over_1s = 0
        for i, pbx in enumerate(self.pbxs):
            pbx.on_event = lambda call, ev, i=i: self._event(i, call, ev)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for pbx in self.pbxs:
            await pbx.start()
        loop.add_reader(self.conn.fileno(), self._request)
        lag = loop.create_task(self._watch_lag())
        await self.done.wait()
        lag.cancel()
        loop.remove_reader(self.conn.fileno())
        for pbx in self.pbxs:
            await pbx.stop()
        self.conn.send((True, None))

    async def _watch_lag(self) -> None:
        """How late the farm's loop runs: a stalled farm (CPU starved on the shared machine)
        times the PBXs' libpri timers (T303 4 s, T305, T308) against frames it has not read
        yet, which the bench must tell apart from the gateway's own delays."""
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.01)
            late = time.monotonic() - t - 0.01
            self.lag_max = max(self.lag_max, late)
            if late > 1.0:
                self.lags_over_1s += 1

    def _event(self, i: int, call: Any, ev: Any) -> None:
        from appliance.demo.libpri import Ev

        now = time.monotonic()
        key = (i, call.handle)
        rec = self.by_call.get(key)
        if rec is None and ev.e == Ev.RING:
            rec = {"span": i, "out": False, "channel": call.channel, "t0": now,
                   "answered": None, "end": None, "cause": None}
            self.records.append(rec)
            self.by_call[key] = rec
            if self.pbxs[i].policy == "answer":
                rec["answered"] = now
            return
        if rec is None:
            return
        if ev.e == Ev.ANSWER:
            rec["answered"] = now
            if self.hold_s is not None and rec["out"]:
                pbx = self.pbxs[i]
                asyncio.get_running_loop().call_later(self.hold_s, pbx.hangup, call, 16)
        elif ev.e in (Ev.HANGUP, Ev.HANGUP_ACK):
            rec["end"] = now
            rec["cause"] = call.cause
            self.by_call.pop(key, None)

    def _request(self) -> None:
        while self.conn.poll():
            op, args = self.conn.recv()
            if op == "stop":
                self.done.set()
                return
            try:
                self.conn.send((True, getattr(self, f"op_{op}")(**args)))
            except Exception as e:  # reported to the bench, which fails
                self.conn.send((False, f"{type(e).__name__}: {e}"))

    def op_up(self) -> bool:
        return all(p.up for p in self.pbxs)

    def op_ramp(self, calls: int, rate: float, called: str = "2{n:03d}",
                hold_s: float | None = None) -> None:
        """Place `calls` at `rate` per second, round robin over the spans that have a free
        channel; with `hold_s`, each is hung up (cause 16) that long after its CONNECT."""
        self.hold_s = hold_s
        self.ramp = asyncio.get_running_loop().create_task(self._ramp(calls, rate, called))

    async def _ramp(self, calls: int, rate: float, called: str) -> None:
        t0 = time.monotonic()
        n = len(self.pbxs)
        nxt = 0
        for k in range(calls):
            at = t0 + k / rate
            delay = at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            ch = None
            for j in range(n):
                i = (nxt + j) % n
                pbx = self.pbxs[i]
                ch = next((c for c in pbx.b_channels if c not in pbx.busy), None)
                if ch is not None:
                    nxt = i + 1
                    break
            if ch is None:
                self.refused += 1
                continue
            call = pbx.place_call(called.format(n=k % 1000), channel=ch)
            rec = {"span": i, "out": True, "channel": ch, "t0": time.monotonic(),
                   "answered": None, "end": None, "cause": None}
            self.records.append(rec)
            self.by_call[(i, call.handle)] = rec

    def op_status(self) -> dict[str, Any]:
        out = [r for r in self.records if r["out"]]
        inc = [r for r in self.records if not r["out"]]
        live = [c for p in self.pbxs for c in p.calls.values()]
        return {"placed": len(out), "answered": sum(1 for r in out if r["answered"]),
                "incoming": len(inc), "ramp_done": self.ramp is None or self.ramp.done(),
                "refused": self.refused,
                "answered_live": sum(1 for c in live if c.state == "answered"),
                "live": len(live), "states": dict(Counter(c.state for c in live)),
                "ended": sum(1 for r in self.records if r["end"]),
                "lag_max_ms": round(self.lag_max * 1000, 1), "lags_over_1s": self.lags_over_1s,
                "causes": dict(Counter(str(r["cause"]) for r in self.records if r["end"]))}

    def op_hangup(self, cause: int = 16, outgoing_only: bool = True) -> int:
        k = 0
        for pbx in self.pbxs:
            for call in list(pbx.calls.values()):
                if call.state == "answered" and (call.outgoing or not outgoing_only):
                    pbx.hangup(call, cause)
                    k += 1
        return k

    def op_measure(self, k: int = 16) -> list[tuple[int, int, float, float]]:
        out: list[tuple[int, int, float, float]] = []
        for i, pbx in enumerate(self.pbxs):
            for call in pbx.calls.values():
                if call.state == "answered" and call.channel is not None and len(out) < k:
                    f, lvl = pbx.measure(call.channel, 4000)
                    out.append((i, call.channel, f, lvl))
        return out

    def op_records(self) -> list[dict[str, Any]]:
        return self.records

    def op_clear(self) -> None:
        self.records = []
        self.by_call.clear()
        self.refused = 0
        self.lag_max = 0.0
        self.lags_over_1s = 0

    def op_busy(self) -> dict[int, list[int]]:
        return {i: sorted(p.busy) for i, p in enumerate(self.pbxs)}

    def op_cpu(self) -> float:
        return time.process_time()
