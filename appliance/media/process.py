"""The media process: spans' B-channel clocks, the engines, RTP sockets and the control API.

Why a process of its own: the media loop must never wait for the SIP or
ISDN code.  A busy thread holding the GIL pushed a bridge's p99 to 60 ms
(issue 9); a separate process has its own interpreter and GIL, so signalling
callbacks cannot stall a tick.  The process hosts the spans given to it
(their clocks drive everything), one `SpanEngine` per span, and one UDP
socket pair (RTP on an even port, RTCP on the next) per call.

I/O design: the RTP sockets are not registered with asyncio.  At each span
block the packets the block completes are built and sent first
(`SpanEngine.tick_rtp`), then the engine's sockets are drained with one
`epoll.poll(0)` and `recvmsg` per datagram, with the kernel's arrival time
(SO_TIMESTAMPNS), handed to the engine in one batch, and the block toward
the PBX is played out (`tick_pbx`); DTMF detection and events come last.
Reading at the block costs no latency: the jitter buffer is only read at the
block anyway, and it measures each packet's depth from its kernel arrival
time.  asyncio runs the span clocks, the RTCP/timeout poll and the control
socket.

Control API (appliance.media.control): newline-delimited JSON on a unix
stream socket; requests `{"id", "op", ...}` get `{"id", "ok", "result"|"error"}`;
events are pushed as `{"event": ...}`: dtmf, latched, rtp_timeout,
dframe (D-channel frames of hosted spans), span_event.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from appliance.media.collector import Collector
from appliance.media.engine import SpanEngine
from appliance.media.grouping import BlockAssembler
from appliance.media.stream import Addr, SpecError, Stream, StreamSpec
from drivers.span import Block, Span, SpanError, SpanEvent, SpanParams

log = logging.getLogger(__name__)

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TS = struct.Struct("qq")
MAX_DGRAM = 2048
# load (block time / period) below which real time is taken again ... (at 240 calls on 2 cores
# a process's steady load is 0.6-0.75: with 0.7, one that left real time in a burst, a far end's
# stall concealed on every call, stayed out for the rest of the busy hour)
REALTIME_BACK = 0.85
REALTIME_BACK_S = 10.0  # ... after this long
STAGES = ("packets", "send", "receive", "playout", "detect")
MAX_PER_TICK = 64  # datagrams read per socket per block: a flood cannot starve the tick


@dataclass
class _Call:
    stream: Stream
    engine: SpanEngine
    rtp: socket.socket
    rtcp: socket.socket


@dataclass
class _Group:
    """Spans clocked together (one timing source, as DAHDI cards are) share one engine.

    The engine's rows are the spans' channels one after the other.  The
    engine runs once every span of the group has handed in a block (clock
    spans of a group tick together: `ClockSpan.follow`; other spans' blocks
    queue in `assembler`, appliance.media.grouping), and then writes every
    span's slice of the transmit block; a span that lags is left out of a
    run only after the loop has delivered what was due.  One engine per
    group pays the per-block cost of the DSP once for all its spans.
    """

    spans: list[Span]
    engine: SpanEngine
    epoll: Any
    offsets: dict[str, int]
    rx: Block
    tx: Block
    assembler: BlockAssembler
    check_pending: bool = False  # a take_lagging() is scheduled after the loop's pass
    calls_by_fd: dict[int, tuple[_Call, bool]] = field(default_factory=dict)
    max_tick_ms: float = 0.0
    last_drain: float = 0.0  # when the previous drain polled the sockets (monotonic)
    # CPU seconds of the block's stages (the canceller and the detectors are the engine's
    # own cpu_echo / cpu_dtmf, taken out of "packets" and "detect"): where the time goes
    cpu_stages: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))


def make_span(params: SpanParams, extra: dict[str, Any]) -> Span:
    """The span driver for `params.driver`; "clock" is appliance.media.clockspan."""
    if extra.get("clock"):
        from appliance.media.clockspan import ClockSpan, load_far_end

        fe = extra.get("far_end")
        obj = extra.get("far_end_obj")  # in-process use (tests): the object itself
        if obj is None and fe:
            obj = load_far_end(fe, params, **extra.get("far_end_args", {}))
        return ClockSpan(params, obj)
    if params.driver == "virtual":
        from drivers.virtual import VirtualSpan

        return VirtualSpan(params)
    raise SpecError(f"span {params.name}: driver {params.driver!r} is not available in the media process")


class MediaServer:
    """Everything the media process runs; `serve(path)` until `stop()`."""

    def __init__(self, spans: list[tuple[SpanParams, dict[str, Any]]], *, port_min: int = 10000,
                 port_max: int = 20000, host: str = "0.0.0.0", echo: bool = True,
                 poll_interval: float = 0.05, group: bool = True, phases: int | None = None) -> None:
        self.port_min = port_min + (port_min & 1)
        self.port_max = port_max
        self.host = host
        self._next_port = self.port_min
        self.poll_interval = poll_interval
        self.groups: list[_Group] = []
        self.hosts: dict[str, _Group] = {}
        by_key: dict[tuple[str, int], list[tuple[SpanParams, dict[str, Any]]]] = {}
        for params, extra in spans:
            key = (str(params.span_law), params.block_samples) if group else (params.name, 0)
            by_key.setdefault(key, []).append((params, extra))
        for members in by_key.values():
            offsets, objs, total = {}, [], 0
            for params, extra in members:
                offsets[params.name] = total
                total += params.channels
                objs.append(make_span(params, extra))
            p0, e0 = members[0]
            eng = SpanEngine("+".join(offsets), total, str(p0.span_law), p0.block_samples,
                             echo=e0.get("echo", echo), phases=phases)
            idle = objs[0].law.idle
            g = _Group(objs, eng, select.epoll(), offsets,
                       np.full((total, p0.block_samples), idle, dtype=np.uint8),
                       np.full((total, p0.block_samples), idle, dtype=np.uint8),
                       BlockAssembler(list(offsets)))
            self.groups.append(g)
            for sp in objs:
                self.hosts[sp.name] = g
                sp.set_listener(_Listener(self, g, sp))
            self._one_clock(objs)
        self.calls: dict[str, _Call] = {}
        self._clients: list[asyncio.StreamWriter] = []
        self.realtime = False  # set by child_main when SCHED_FIFO was granted
        self.rt_priority: int | None = None  # its priority (None: never granted, no guard)
        self.rt_drops = 0  # times the guard left real-time scheduling
        self._calm_since: float | None = None
        self.fallback_nice = -10  # the niceness taken when leaving SCHED_FIFO (still ahead of normal work)
        self._load = 0.0  # EWMA of block time / block period
        self._server: asyncio.AbstractServer | None = None
        self._stopped = asyncio.Event()
        self._clock_off = time.time() - time.monotonic()
        self.started = time.monotonic()
        self.cpu0 = time.process_time()
        # set by child_main: the process's own collector schedule (appliance.media.collector);
        # None leaves Python's automatic collection alone (an in-process server in tests)
        self.collector: Collector | None = None
        self._last_run = 0.0

    @staticmethod
    def _one_clock(objs: list[Span]) -> None:
        """Spans of a group that can share a clock (clock spans, virtual spans) step in the
        first one's ticks; the others (DAHDI: the card's clock) hand blocks in as they come,
        and the group's assembler pairs them up."""
        follow = getattr(objs[0], "follow", None)
        if follow is None or any(type(sp) is not type(objs[0]) for sp in objs):
            return
        for sp in objs[1:]:
            try:
                sp.follow(objs[0])  # type: ignore[attr-defined]
            except (SpanError, ValueError) as e:
                log.warning("media: %s keeps its own clock: %s", sp.name, e)

    # ------------------------------------------------------------ life cycle

    async def serve(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self._server = await asyncio.start_unix_server(self._client, path=path, limit=1 << 22)
        for g in self.groups:
            for sp in g.spans:
                await sp.start()
        if self.collector is not None:
            self.collector.start()
        poller = asyncio.get_running_loop().create_task(self._poll())
        try:
            await self._stopped.wait()
        finally:
            poller.cancel()
            if self.collector is not None:
                self.collector.stop()
            for g in self.groups:
                for sp in g.spans:
                    await sp.stop()
            for cid in list(self.calls):
                self._close(cid)
            self._server.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def stop(self) -> None:
        self._stopped.set()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            now = time.monotonic()
            self._clock_off = time.time() - now
            if self.collector is not None and now - self._last_run > 0.5:
                self.collector.run(now)  # no blocks (no spans, or their clock stopped): collect here
            for h in self.groups:
                for st, data, addr in h.engine.poll(now):
                    call = self.calls.get(st.spec.call_id)
                    if call is not None:
                        try:
                            (call.rtp if st.spec.rtcp_mux else call.rtcp).sendto(data, addr)
                        except OSError:
                            st.counters.send_errors += 1
                self._flush_events(h.engine.take_events())

    # ------------------------------------------------------------ the block

    def on_block(self, h: _Group, span: Span, rx: Block) -> None:
        if len(h.spans) == 1:
            h.rx[:] = rx
            self._run(h)
            return
        a = h.assembler
        a.put(span.name, rx)
        ran = self._run_sets(h, a.take_complete())
        if a.waiting():
            if not ran:  # replaced if the run comes before the span sends
                off = h.offsets[span.name]
                span.write_block(h.tx[off : off + span.channels].copy())
            # spans on one clock complete their set in the same tick: no check to schedule
            # until a span has `lag` blocks waiting
            if a.lagging() and not h.check_pending:
                h.check_pending = True
                try:
                    asyncio.get_running_loop().call_soon(self._check_group, h)
                except RuntimeError:  # driven without a loop (tests): decide now
                    self._check_group(h)

    def _check_group(self, h: _Group) -> None:
        """After the loop's pass: what the spans delivered in it is in; run what lags."""
        h.check_pending = False
        self._run_sets(h, h.assembler.take_lagging())

    def _run_sets(self, h: _Group, sets: list[dict[str, Block | None]]) -> bool:
        for blocks in sets:
            for name, blk in blocks.items():
                if blk is not None:  # a span left out keeps its previous rows
                    off = h.offsets[name]
                    h.rx[off : off + blk.shape[0]] = blk
            self._run(h)
        return bool(sets)

    def _run(self, h: _Group) -> None:
        """One block of the group, in the order that keeps the packets' path short: the
        block from the PBX and the packets it completes, sent at once; then the sockets
        read and the block toward the PBX; then what can wait (DTMF detection, events)."""
        now = self._last_run = time.monotonic()
        cpu0 = c0 = time.thread_time()
        eng = h.engine
        cs = h.cpu_stages
        echo0, dtmf0 = eng.cpu_echo, eng.cpu_dtmf
        out = eng.tick_rtp(h.rx, now)
        built = time.monotonic()
        c1 = time.thread_time()
        cs["packets"] += c1 - c0 - (eng.cpu_echo - echo0)
        for st, data in out:
            sock = st.sock
            addr = st.send_addr
            if sock is None or addr is None:
                continue
            if st.srtp is not None:
                data = st.srtp.protect(data)
            try:
                sock.sendto(data, addr)
            except OSError:
                st.counters.send_errors += 1
                continue
            eng.sent(st, built, time.monotonic())

        def write(tx: Block) -> None:
            h.tx = tx
            for sp in h.spans:
                o = h.offsets[sp.name]
                sp.write_block(tx[o : o + sp.channels])

        c0 = time.thread_time()
        cs["send"] += c0 - c1
        self._drain(h, time.monotonic())
        c1 = time.thread_time()
        cs["receive"] += c1 - c0
        eng.tick_pbx(h.rx.shape[1], write)
        c0 = time.thread_time()
        cs["playout"] += c0 - c1
        echo1 = eng.cpu_echo
        eng.after_send()  # the cancellers' deferred adaptation (in cpu_echo) and the detectors
        cs["detect"] += time.thread_time() - c0 - (eng.cpu_dtmf - dtmf0) - (eng.cpu_echo - echo1)
        took = time.monotonic() - now
        h.max_tick_ms = max(h.max_tick_ms, took * 1000.0)
        # the guard weighs this process's own CPU time: time it spent preempted (outside
        # real-time scheduling, other work ran) is not an overload of its making
        self._guard(time.thread_time() - cpu0, eng.block / 8000.0, now)
        if eng.events:
            self._flush_events(eng.take_events())
        if self.collector is not None:
            # right after the block's work: the most time left before the next block
            self.collector.run(time.monotonic())

    def _guard(self, took: float, period: float, now: float) -> None:
        """Real-time overload guard: a SCHED_FIFO process whose blocks take more CPU time
        than the block period on average (EWMA over about 2 s) would starve the machine; it goes
        back to normal scheduling at `fallback_nice` (and says so) instead.  Single long
        blocks do not count.  A burst (240 streams opened at once) is not the steady
        state: once the blocks have taken less than REALTIME_BACK of the period for
        REALTIME_BACK_S, real-time scheduling is taken again."""
        if self.rt_priority is None:
            return
        a = period / 2.0  # time constant of about 2 s of blocks
        self._load = self._load + min(a, 1.0) * (took / period - self._load)
        if self.realtime and self._load > 1.0:
            with contextlib.suppress(OSError, AttributeError):
                os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, 0, self.fallback_nice)
            self.realtime = False
            self.rt_drops += 1
            self._calm_since = None
            log.warning("media: blocks take longer than %.1f ms on average: leaving real-time scheduling",
                        period * 1e3)
            self._flush_events([{"event": "overload", "pid": os.getpid(), "realtime": False}])
        elif not self.realtime:
            if self._load >= REALTIME_BACK:
                self._calm_since = None
            elif self._calm_since is None:
                self._calm_since = now
            elif now - self._calm_since >= REALTIME_BACK_S:
                try:
                    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self.rt_priority))
                except (OSError, AttributeError):
                    self.rt_priority = None  # no longer permitted: stay where we are
                    return
                self.realtime = True
                log.warning("media: blocks fit again (%.0f%% of the period): back to real-time scheduling",
                            self._load * 100)
                self._flush_events([{"event": "overload", "pid": os.getpid(), "realtime": True}])

    def _drain(self, h: _Group, now: float) -> None:
        """Every datagram waiting on the group's sockets, with its kernel arrival time; the
        RTP ones go to the engine in one batch (`SpanEngine.receive_batch`)."""
        # see the loop below (the group's first drain: one block period back)
        fresh = h.last_drain or now - h.engine.block / 8000.0
        h.last_drain = now
        ready = h.epoll.poll(0)
        if not ready:
            return
        off = self._clock_off
        eng = h.engine
        eng.t_now = now
        batch: list[tuple[Stream, bytes, Addr, float]] = []
        ts_unpack = _TS.unpack_from
        # a datagram that arrived after the previous drain's poll is most likely alone in its
        # socket (a stream sends at most one packet per block), so no second recvmsg only
        # to hear EAGAIN; one that waited longer may have others behind it, and a packet left
        # behind is read at the next block (epoll is level triggered) with its kernel arrival
        # time, so its depth is measured right.  (The previous poll, not one block period
        # back: blocks that run late leave more than a period between drains.)
        for fd, _ in ready:
            item = h.calls_by_fd.get(fd)
            if item is None:
                continue
            call, is_rtcp = item
            sock = call.rtcp if is_rtcp else call.rtp
            st = call.stream
            for _ in range(MAX_PER_TICK):
                try:
                    data, anc, _flags, addr = sock.recvmsg(MAX_DGRAM, 64)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as e:
                    if e.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH):
                        continue
                    break
                arrival = now
                for level, typ, cdata in anc:
                    if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS and len(cdata) >= 16:
                        sec, ns = ts_unpack(cdata)
                        arrival = sec + ns * 1e-9 - off
                a: Addr = addr if len(addr) == 2 else (addr[0], addr[1])  # IPv6: 4-tuple
                if is_rtcp:
                    eng.receive_rtcp(st, data, a, now)
                else:
                    batch.append((st, data, a, arrival))
                if arrival > fresh:
                    break
        if batch:
            eng.receive_batch(batch)

    # ------------------------------------------------------------ control

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.append(writer)
        # a new client first hears every span's state as it is now: span events sent
        # before it connected (layer 1 coming up at start) did not reach it
        for g in self.groups:
            for sp in g.spans:
                st = sp.status()
                writer.write(json.dumps({"event": "span_event", "span": sp.name, "type": "Status",
                                         "detail": "state when the client connected",
                                         "layer1_up": st.layer1_up,
                                         "alarms": st.alarms.names()}).encode() + b"\n")
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await self._serve_client(reader, writer)

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    msg = json.loads(line)
                    rid = msg.get("id")
                    result = self.handle(msg)
                    reply = {"id": rid, "ok": True, "result": result}
                except (SpecError, ValueError, KeyError, TypeError, OSError) as e:
                    reply = {"id": msg.get("id") if isinstance(msg, dict) else None, "ok": False,
                             "error": f"{type(e).__name__}: {e}"}
                writer.write(json.dumps(reply, default=_jsonable).encode() + b"\n")
                await writer.drain()
        finally:
            self._clients.remove(writer)
            writer.close()

    def _flush_events(self, events: list[dict[str, Any]]) -> None:
        if not events or not self._clients:
            return
        data = b"".join(json.dumps(e, default=_jsonable).encode() + b"\n" for e in events)
        for w in self._clients:
            w.write(data)

    def handle(self, msg: dict[str, Any]) -> Any:
        op = msg.get("op")
        if op == "open_stream":
            return self._open(StreamSpec.from_dict(msg["spec"]))
        if op == "modify":
            return self._modify(msg["call_id"], msg.get("changes", {}))
        if op == "close":
            return self._close(msg["call_id"])
        if op == "stats":
            cid = msg.get("call_id")
            if cid is not None:
                c = self.calls[cid]
                d = c.engine.stream_stats(c.stream)
                if msg.get("raw"):
                    d["raw_ms"] = c.stream.latency.raw()
                return d
            return self.process_stats()
        if op == "reset_latency":
            for c in self.calls.values():
                c.stream.latency.clear()
            return len(self.calls)
        if op == "play_digits":
            c = self.calls[msg["call_id"]]
            c.engine.play_digits(c.stream.row, str(msg["digits"]))
            return None
        if op == "send_frame":
            g = self.hosts[msg["span"]]
            next(sp for sp in g.spans if sp.name == msg["span"]).send_frame(bytes.fromhex(msg["frame"]))
            return None
        if op == "ping":
            return {"pid": os.getpid(), "uptime_s": time.monotonic() - self.started}
        if op == "shutdown":
            self.stop()
            return None
        raise ValueError(f"unknown op {op!r}")

    def process_stats(self) -> dict[str, Any]:
        """Process figures; `max_tick_ms` is the longest block since the previous call."""
        wall = time.monotonic() - self.started
        out = {
            "pid": os.getpid(),
            "calls": len(self.calls),
            "cpu_s": time.process_time(),
            "cpu_sys_s": os.times().system,
            "monotonic": time.monotonic(),
            "cpu_fraction": (time.process_time() - self.cpu0) / max(wall, 1e-9),
            "realtime": self.realtime, "realtime_drops": self.rt_drops, "load": round(self._load, 3),
            "gc": self.collector.stats() if self.collector is not None else None,
            "groups": [{"spans": list(g.offsets), "blocks": g.spans[0].blocks,
                        "clock_t0": getattr(g.spans[0], "t0", None),
                        "cpu_echo_s": g.engine.cpu_echo, "cpu_dtmf_s": g.engine.cpu_dtmf,
                        "cpu_stages_s": dict(g.cpu_stages),
                        "ticks": g.engine.ticks, "block_s": g.engine.block / 8000.0,
                        "skipped": getattr(g.spans[0], "skipped", 0),
                        "dropped": g.assembler.dropped, "partial": g.assembler.partial,
                        "max_tick_ms": round(g.max_tick_ms, 3), "last_tick_ms": round(g.engine.tick_ms, 3),
                        "calls": sum(1 for s in g.engine.streams if s is not None),
                        # the driver's own figures (a virtual span's playout depth, slips by kind,
                        # clock rate; a DAHDI span's device): what a span's slips come from
                        "span_detail": {sp.name: sp.detail() for sp in g.spans}}
                       for g in self.groups],
        }
        for g in self.groups:
            g.max_tick_ms = 0.0
        return out

    def _bind_pair(self, host: str, port: int) -> tuple[socket.socket, socket.socket]:
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        ports: Iterator[int] = iter([port]) if port else self._candidates()
        last: OSError | None = None
        for p in ports:
            a = socket.socket(fam, socket.SOCK_DGRAM)
            b = socket.socket(fam, socket.SOCK_DGRAM)
            try:
                a.bind((host, p))
                b.bind((host, p + 1))
            except OSError as e:
                a.close()
                b.close()
                last = e
                continue
            for s in (a, b):
                s.setblocking(False)
                s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                # bounded: a flood fills this and the kernel drops the rest
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            if not port:
                self._next_port = p + 2  # the next call tries the pair after this one first
            return a, b
        raise OSError(f"no free RTP port pair: {last}")

    def _candidates(self) -> Iterator[int]:
        """Every even port of the range once, from the pair after the last one taken (made one
        at a time: a list of the whole range cost milliseconds per call, in the media loop)."""
        pairs = (self.port_max - self.port_min) // 2
        first = (self._next_port - self.port_min) // 2
        for i in range(pairs):
            yield self.port_min + 2 * ((first + i) % pairs)

    def _open(self, spec: StreamSpec) -> dict[str, Any]:
        if spec.call_id in self.calls:
            raise SpecError(f"call {spec.call_id} already has a stream")
        h = self.hosts.get(spec.span)
        if h is None:
            raise SpecError(f"no span {spec.span!r} in this media process")
        rtp_s, rtcp_s = self._bind_pair(spec.local_host, spec.local_port)
        port = rtp_s.getsockname()[1]
        sp = next(x for x in h.spans if x.name == spec.span)
        if not 0 <= spec.channel < sp.channels:
            rtp_s.close()
            rtcp_s.close()
            raise SpecError(f"span {spec.span}: no channel {spec.channel} (0..{sp.channels - 1})")
        st = Stream(spec.with_(local_port=port), time.monotonic())
        st.rtcp.wall_offset = time.time() - time.monotonic()  # SR timestamps are wallclock
        st.row = h.offsets[spec.span] + spec.channel
        try:
            h.engine.open(st)
        except ValueError:
            rtp_s.close()
            rtcp_s.close()
            raise
        call = _Call(st, h.engine, rtp_s, rtcp_s)
        st.sock = rtp_s
        self.calls[spec.call_id] = call
        h.calls_by_fd[rtp_s.fileno()] = (call, False)
        h.calls_by_fd[rtcp_s.fileno()] = (call, True)
        h.epoll.register(rtp_s.fileno(), select.EPOLLIN)
        h.epoll.register(rtcp_s.fileno(), select.EPOLLIN)
        return {"local_port": port, "local_ssrc": st.sender.ssrc}

    def _modify(self, call_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        call = self.calls[call_id]
        old = call.stream.spec
        for k in ("call_id", "span", "channel", "local_port", "local_host"):
            if k in changes and changes[k] != getattr(old, k):
                raise SpecError(f"{k} cannot change on a stream (close and open another)")
        changes = dict(changes)
        tone = changes.pop("tone", False)
        d = old.as_dict() | changes
        spec = StreamSpec.from_dict(d)
        if tone is not False:
            call.engine.set_tone(call.stream.row, tone)  # ValueError for an unknown tone
            call.stream.local_tone = tone
        call.stream.modify(spec, time.monotonic())
        call.engine.modified(call.stream)
        return {"local_port": spec.local_port}

    def _close(self, call_id: str) -> dict[str, Any]:
        call = self.calls.pop(call_id)
        st = call.stream
        # a digit still sounding ends first: its events, and its RFC 4733 end packets ahead of
        # the BYE (the far end's receiver need not time the event out)
        ends = call.engine.end_digits(st)
        stats = call.engine.stream_stats(st)
        h = self.hosts[st.spec.span]
        sock, dest = st.sock, st.send_addr
        if sock is not None and dest is not None:
            for data in ends:
                try:
                    sock.sendto(st.srtp.protect(data) if st.srtp else data, dest)
                except OSError:
                    st.counters.send_errors += 1
        addr = st.rtcp_addr
        if addr is not None:
            with contextlib.suppress(OSError):
                r = st.rtcp
                r.we_sent = st.sender.packets > 0  # the last compound is an SR if we sent (RFC 3550 s6.4)
                r.packets_sent, r.octets_sent, r.rtp_ts_now = st.sender.packets, st.sender.octets, st.sender.ts
                bye = r.report(time.monotonic(), bye=True)
                sock = call.rtp if st.spec.rtcp_mux else call.rtcp
                sock.sendto(st.srtp.protect_rtcp(bye) if st.srtp else bye, addr)
        call.engine.close(st.row)
        self._flush_events(call.engine.take_events())  # a digit it cut, ahead of the reply
        st.sock = None
        for s in (call.rtp, call.rtcp):
            h.calls_by_fd.pop(s.fileno(), None)
            with contextlib.suppress(OSError, ValueError):
                h.epoll.unregister(s.fileno())
            s.close()
        return stats


class _Listener:
    """drivers.span.SpanListener for a hosted span."""

    def __init__(self, server: MediaServer, group: _Group, span: Span) -> None:
        self.server = server
        self.group = group

    def span_block(self, span: Span, rx: Block, index: int) -> None:
        self.server.on_block(self.group, span, rx)

    def span_frame(self, span: Span, frame: bytes) -> None:
        self.server._flush_events([{"event": "dframe", "span": span.name, "frame": frame.hex()}])

    def span_event(self, span: Span, event: SpanEvent) -> None:
        status = span.status()
        self.server._flush_events([{"event": "span_event", "span": span.name,
                                    "type": type(event).__name__, "detail": repr(event),
                                    "layer1_up": status.layer1_up,
                                    "alarms": status.alarms.names()}])


def _jsonable(o: Any) -> Any:
    if isinstance(o, float) and o != o:
        return None
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def _die_with_parent(parent: int | None) -> None:
    """End this process when the one that spawned it dies, even by SIGKILL.

    A pidfd of the parent becomes readable when that process exits; a small
    thread waits on it.  prctl(PR_SET_PDEATHSIG) is not used: it fires when the
    parent *thread* that forked ends, and the gateway starts media processes
    from executor threads.  A parent that died before the pidfd was opened is
    caught by the getppid() check.  Without this a killed core leaves its media
    process running its clocks.
    """
    if parent is None:
        return
    try:
        fd = os.pidfd_open(parent)
    except (OSError, AttributeError) as exc:
        log.warning("media: cannot watch the parent process (%s)", exc)
        return
    if os.getppid() != parent:
        os._exit(0)

    def watch() -> None:
        select.select([fd], [], [])
        log.warning("media: the parent process %d is gone, exiting", parent)
        os._exit(0)

    threading.Thread(target=watch, name="tdmgw-media-parent", daemon=True).start()


def child_main(path: str, spans: list[tuple[dict[str, Any], dict[str, Any]]], options: dict[str, Any]) -> None:
    """Entry point of the spawned media process."""
    _die_with_parent(options.get("parent_pid"))
    logging.basicConfig(level=options.get("log_level", "INFO"))
    params = [(SpanParams(**_span_kwargs(p)), extra) for p, extra in spans]
    rt = False
    if options.get("realtime"):
        # SCHED_FIFO keeps other work off the media loop; MediaServer._guard drops it again
        # if the blocks do not fit in real time (an RT process that cannot keep up would
        # starve the machine)
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(int(options.get("rt_priority", 10))))
            rt = True
        except (OSError, AttributeError):
            log.warning("media: no real-time scheduling (not permitted)")
    elif options.get("nice"):
        with contextlib.suppress(OSError):
            os.nice(int(options["nice"]))

    async def main() -> None:
        srv = MediaServer(params, port_min=options.get("port_min", 10000),
                          port_max=options.get("port_max", 20000), host=options.get("host", "0.0.0.0"),
                          echo=options.get("echo", True), group=options.get("group", True),
                          phases=options.get("phases"))
        srv.realtime = rt
        srv.collector = Collector(time.monotonic())
        srv.rt_priority = int(options.get("rt_priority", 10)) if rt else None
        srv.fallback_nice = int(options.get("nice") or -10)
        await srv.serve(path)

    asyncio.run(main())


def _span_kwargs(p: dict[str, Any]) -> dict[str, Any]:
    from drivers.span import DahdiParams, VirtualParams

    d = dict(p)
    if isinstance(d.get("virtual"), dict):
        v = dict(d["virtual"])
        v["bchannel_local"] = tuple(v["bchannel_local"])
        v["bchannel_remote"] = tuple(v["bchannel_remote"])
        d["virtual"] = VirtualParams(**v)
    if isinstance(d.get("dahdi"), dict):
        d["dahdi"] = DahdiParams(**d["dahdi"])
    if "bchannels" in d:
        d["bchannels"] = tuple(d["bchannels"])
    return d
