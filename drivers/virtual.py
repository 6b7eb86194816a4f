"""The virtual span, gateway side: a span made of a unix socket and UDP on loopback.

The wire format and the playout/clock cores are in drivers.virtual_proto;
this module is the asyncio edge.  :class:`VirtualEndpoint` is what both ends
share (B-channel UDP, playout buffer, frame clock, span blocks);
:class:`VirtualSpan` adds the gateway's D-channel side: it removes a stale
socket path, listens, and accepts one far end at a time (a new connection
replaces the old one, like re-plugging a cable; counted as ``reconnects``).
Connected means layer 1 is up; no far end, or end of file, is a red alarm.
The far end is drivers.virtual_farend.VirtualFarEnd (or any program that
speaks the format in the README).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import stat
from typing import Any

import numpy as np

from .span import (
    Alarm,
    Block,
    FrameError,
    Span,
    SpanError,
    SpanParams,
    Timing,
    TimingWarning,
    VirtualParams,
    check_frame,
)
from .virtual_proto import (
    FrameClock,
    Packet,
    PlayoutBuffer,
    ProtocolError,
    TimeslotMap,
    decode_packet,
)

#: Read at most this many octets per D-channel message: anything longer than
#: 264 is counted and dropped, so only the length matters.
_DRECV = 4096


class VirtualEndpoint(Span):
    """What both ends of a virtual span do: B-channels, clock, blocks, D-channel I/O."""

    def __init__(self, params: SpanParams) -> None:
        super().__init__(params)
        if params.virtual is None:
            raise SpanError(f"span {params.name}: no [virtual] section")
        self.vp: VirtualParams = params.virtual
        n = self.vp.frames_per_packet
        if n < 1 or self.block_samples % n:
            raise SpanError(f"span {params.name}: frames_per_packet {n} must divide the block "
                            f"({self.block_samples} samples)")
        self.map = TimeslotMap(params.type, params.bchannels, self.law.idle)
        self.playout = PlayoutBuffer(params.type.timeslots, self.law.idle,
                                     target=max(1, self.vp.playout_ms * 8))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._udp: socket.socket | None = None
        self._conn: socket.socket | None = None
        self._clock: FrameClock | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._rx = np.full((self.channels, self.block_samples), self.law.idle, dtype=np.uint8)
        self._txblk: Block = self.idle_block()
        self._pos = 0
        self._tx_seq = 0
        self._pending = 0
        self.packets_sent = 0
        self._local_slips = 0
        self.running = False
        self.master: VirtualEndpoint | None = None
        self.followers: list[VirtualEndpoint] = []

    def follow(self, master: VirtualEndpoint) -> None:
        """Step inside `master`'s clock instead of a frame clock of its own: one timing
        source for the spans of a group, as the spans of a DAHDI card are clocked by one
        line.  Each span's blocks then come in the same tick, so the group's engine runs
        once per block; without it, a group's clocks steered each to its own far end and
        drifted apart by up to a block within a second, and the engine ran without one
        span or another about once every four blocks.  This span's playout buffer absorbs
        its far end's rate (slips, counted, if it differs from the master's line)."""
        if master is self or master.master is not None or self.followers or self.running:
            raise SpanError(f"span {self.name}: cannot follow {master.name}")
        if (master.vp.frames_per_packet, master.block_samples) != \
                (self.vp.frames_per_packet, self.block_samples):
            raise SpanError(f"span {self.name}: cannot follow {master.name}: packets of "
                            f"{self.vp.frames_per_packet} frames, blocks of {self.block_samples} "
                            f"(its: {master.vp.frames_per_packet}, {master.block_samples})")
        self.master = master
        master.followers.append(self)

    # ------------------------------------------------------------ life cycle

    async def start(self) -> None:
        if self.running:
            return
        self._loop = asyncio.get_running_loop()
        if self.state.timing_warning:
            self._emit([TimingWarning(self.name, self._loop.time(), self.state.timing_warning)])
        udp = socket.socket(socket.AF_INET6 if ":" in self.vp.bchannel_local[0] else socket.AF_INET,
                            socket.SOCK_DGRAM)
        udp.setblocking(False)
        try:
            udp.bind(self.vp.bchannel_local)
        except OSError as e:
            udp.close()
            raise SpanError(f"span {self.name}: cannot bind B-channel UDP "
                            f"{self.vp.bchannel_local[0]}:{self.vp.bchannel_local[1]}: {e}") from e
        self._udp = udp
        self._loop.add_reader(udp.fileno(), self._on_udp)
        try:
            self._start_dchannel()
        except Exception as e:
            await self.stop()  # nothing left bound or registered
            if isinstance(e, OSError):
                raise SpanError(f"span {self.name}: D-channel socket {self.vp.dchannel_socket}: "
                                f"{e}") from e
            raise
        self._emit(self.state.set_alarms(Alarm.RED if self._conn is None else Alarm.NONE,
                                         self._loop.time()))
        self.running = True
        if self.master is None:  # a follower steps in its master's ticks
            self._clock = FrameClock(self._loop.time())
            self._schedule()

    async def stop(self) -> None:
        self.running = False
        if self._timer:
            self._timer.cancel()
            self._timer = None
        if self._loop and self._udp:
            self._loop.remove_reader(self._udp.fileno())
            self._udp.close()
            self._udp = None
        self._drop_conn()
        self._stop_dchannel()

    @property
    def bchannel_address(self) -> tuple[str, int]:
        """The UDP address actually bound (useful with port 0)."""
        if self._udp is None:
            raise SpanError(f"span {self.name}: not started")
        addr = self._udp.getsockname()
        return (str(addr[0]), int(addr[1]))

    def set_remote(self, remote: tuple[str, int]) -> None:
        """Change where B-channel packets go (tests bind port 0 first, then pair up)."""
        self.vp = VirtualParams(self.vp.dchannel_socket, self.vp.bchannel_local, remote,
                                self.vp.frames_per_packet, self.vp.playout_ms)

    def _start_dchannel(self) -> None:
        raise NotImplementedError

    def _stop_dchannel(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------ D-channel

    def send_frame(self, frame: bytes) -> None:
        check_frame(frame)
        if self._conn is None:
            self.state.count(dchannel_dropped=1)
            return
        try:
            self._conn.send(frame)
        except BlockingIOError:
            self.state.count(dchannel_dropped=1)  # far end not reading: LAPD retransmits
        except OSError:
            self.state.count(dchannel_dropped=1)
            self._lost_conn()

    def _use_conn(self, conn: socket.socket) -> None:
        assert self._loop is not None
        conn.setblocking(False)
        self._conn = conn
        self._loop.add_reader(conn.fileno(), self._on_dchannel)
        self._emit(self.state.set_alarms(Alarm.NONE, self._loop.time()))

    def _drop_conn(self) -> None:
        if self._conn is not None:
            if self._loop:
                self._loop.remove_reader(self._conn.fileno())
            self._conn.close()
            self._conn = None

    def _lost_conn(self) -> None:
        self._drop_conn()
        if self._loop and self.running:
            self._emit(self.state.set_alarms(Alarm.RED, self._loop.time()))
            self._emit(self.state.flush_counters(self._loop.time()))

    def _on_dchannel(self) -> None:
        conn = self._conn
        while conn is not None and conn is self._conn:
            try:
                data = conn.recv(_DRECV)
            except BlockingIOError:
                return
            except OSError:
                self._lost_conn()
                return
            if not data:  # end of file: the far end is gone
                self._lost_conn()
                return
            try:
                check_frame(data)
            except FrameError:
                self.state.count(dchannel_dropped=1)
                continue
            self.listener.span_frame(self, data)

    # ------------------------------------------------------------ B-channels and clock

    def _on_udp(self) -> None:
        udp = self._udp
        while udp is not None:
            try:
                data = udp.recv(65536)
            except BlockingIOError:
                return
            except OSError as e:  # ICMP port unreachable from an earlier send
                if e.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH):
                    continue
                return
            try:
                self.playout.push(decode_packet(data, self.map.timeslots))
            except ProtocolError:
                self.playout.stats.bad_packets += 1

    def _schedule(self) -> None:
        assert self._loop is not None and self._clock is not None
        n = self.vp.frames_per_packet
        when = self._clock.next_time(n - self._pending, self._loop.time())
        self._timer = self._loop.call_at(when, self._tick)

    def _tick(self) -> None:
        if not self.running or self._loop is None or self._clock is None:
            return
        now = self._loop.time()
        skipped = self._clock.skipped
        self._pending += self._clock.due(now)
        if self._clock.skipped != skipped:
            # This end stalled: keep the sequence on the 8 kHz time line, so the
            # far end sees a gap (lost frames), not a stream that fell behind.
            for sp in (self, *self.followers):
                sp._local_slips += 1
                sp._tx_seq = (sp._tx_seq + self._clock.skipped - skipped) % (1 << 32)
        n = self.vp.frames_per_packet
        while self._pending >= n and self.running:
            self._pending -= n
            self._step(n, now)
            for f in self.followers:
                if f.running:
                    f._step(n, now)
        if self.state.timing is Timing.LINE:
            self._clock.steer(self.playout.depth, self.playout.target)
        if self.running:
            self._schedule()

    def _step(self, n: int, now: float) -> None:
        if self._pos == 0:
            self._txblk = self.take_tx()
        p = self._pos
        frames = self.map.to_frames(self._txblk[:, p:p + n])
        if self._udp is not None:
            try:
                self._udp.sendto(Packet(self._tx_seq, frames).encode(), self.vp.bchannel_remote)
                self.packets_sent += 1
            except OSError:
                pass  # nobody listening yet: the far end's playout counts the gap
        self._tx_seq = (self._tx_seq + n) % (1 << 32)
        self._rx[:, p:p + n] = self.map.from_frames(self.playout.pull(n))
        self._pos = p + n
        if self._pos >= self.block_samples:
            self._pos = 0
            index = self.blocks
            self.blocks += 1
            self.listener.span_block(self, self._rx, index)
            self._sync_counters(now)

    def _sync_counters(self, now: float) -> None:
        s = self.playout.stats
        self.state.set_counters(lost_frames=s.lost_frames, reordered_packets=s.reordered_packets,
                                slips=self._local_slips + s.slips)
        self._emit(self.state.flush_counters(now))

    @property
    def skipped(self) -> int:
        """Span blocks this end's clock skipped because it stalled (ClockSpan's unit)."""
        clock = self.master._clock if self.master is not None else self._clock
        return clock.skipped // self.block_samples if clock is not None else 0

    def detail(self) -> dict[str, Any]:
        s = self.playout.stats
        return {
            "dchannel_socket": self.vp.dchannel_socket,
            "bchannel_local": list(self.vp.bchannel_local),
            "bchannel_remote": list(self.vp.bchannel_remote),
            "connected": self._conn is not None,
            "playout_depth_frames": self.playout.depth,
            "packets_sent": self.packets_sent,
            "packets_received": s.packets,
            "bad_packets": s.bad_packets,
            "late_frames": s.late_frames,
            "overflow_slips": s.overflow_slips,
            "underflow_slips": s.underflow_slips,
            "resyncs": s.resyncs,
            "clock_rate": round(self._clock.rate, 3) if self._clock else None,
            "clock_master": self.master.name if self.master is not None else None,
        }


class VirtualSpan(VirtualEndpoint):
    """Gateway side: listens on the D-channel socket path, one far end at a time."""

    def __init__(self, params: SpanParams) -> None:
        super().__init__(params)
        self._listener_sock: socket.socket | None = None
        self._connections = 0

    def _start_dchannel(self) -> None:
        assert self._loop is not None
        path = self.vp.dchannel_socket
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.stat(path).st_mode):
                os.unlink(path)  # stale socket from an earlier run
            else:
                raise SpanError(f"span {self.name}: {path} exists and is not a socket")
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ls.setblocking(False)
        ls.bind(path)
        ls.listen(1)
        self._listener_sock = ls
        self._loop.add_reader(ls.fileno(), self._on_accept)

    def _stop_dchannel(self) -> None:
        if self._listener_sock is not None:
            if self._loop:
                self._loop.remove_reader(self._listener_sock.fileno())
            self._listener_sock.close()
            self._listener_sock = None
            with contextlib.suppress(OSError):
                os.unlink(self.vp.dchannel_socket)

    def _on_accept(self) -> None:
        ls = self._listener_sock
        if ls is None:
            return
        try:
            conn, _ = ls.accept()
        except (BlockingIOError, InterruptedError):
            return
        if self._conn is not None:
            self._drop_conn()  # re-plugged: the new far end replaces the old one
        self._connections += 1
        if self._connections > 1:
            self.state.count(reconnects=1)
        self._use_conn(conn)
