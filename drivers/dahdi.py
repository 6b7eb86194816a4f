"""The DAHDI span driver: one file descriptor per channel on /dev/dahdi/channel.

Each channel is opened as ``/dev/dahdi/channel`` (non-blocking) and bound
with ``DAHDI_SPECIFY`` to channel ``basechan + timeslot - 1``.

B-channels (clear channels, ``bchan=`` in system.conf):

* ``DAHDI_SET_BLOCKSIZE`` = the span block (default 40 samples, 5 ms).  A
  read returns one block per channel, so one read per channel per block;
  the block is also the transmit granularity, so the transmit queue holds
  5 ms instead of the 20 ms of chan_dahdi's 160.  40 keeps Python's cost
  at 200 reads and 200 writes per channel per second; 16 (2 ms, the least
  DAHDI_SET_BLOCKSIZE accepts) would cost 2.5 times that for 3 ms less
  (make bench BENCH=spans measures it).
* ``DAHDI_SET_BUFINFO``: ``txbufpolicy = DAHDI_POLICY_IMMEDIATE`` (transmit
  starts with the first buffer written: no fill-up delay; ``WHEN_FULL``
  would add numbufs blocks of latency), ``numbufs = 4`` of ``bufsize`` =
  the block.  We write one block per block read after a one-block
  prefill, so the queue stays at one block (5 ms) and the other three
  absorb up to 15 ms of event-loop lateness before a read overrun or a
  transmit underrun (both counted from DAHDI's events).
* ``DAHDI_SETLAW`` to the span's law, ``DAHDI_AUDIOMODE`` on (so an
  underrun sends that law's silence, not 0xFF), ``DAHDI_SETLINEAR`` off
  (reads and writes are G.711 codes), and ``DAHDI_ECHOCANCEL`` 0: tdmgw
  cancels echo itself.

D-channel (``hardhdlc=`` on cards, or ``dchan=`` for DAHDI's software
HDLC): a read returns one frame followed by 2 FCS octets, which are
stripped; a write needs 2 trailing placeholder octets, which the HDLC
engine replaces with the FCS (the behaviour libpri's q921.c relies on).

Events: while an event is pending, read and write fail with errno ELAST
(500) and ``DAHDI_GETEVENT`` fetches it.  DAHDI signals events with
POLLPRI, which asyncio's ``add_reader`` never reports, so the driver polls
its channels itself: all channel fds are in one epoll set with
``EPOLLIN | EPOLLPRI``, and only the epoll fd is given to ``add_reader``.

Alarms and counters come from ``DAHDI_SPANSTAT`` (on ALARM/NOALARM events
and once a second); clock slips only from ``/proc/dahdi/<span>``
("Timing slips: N"), since dahdi_spaninfo has no field for them.

The syscalls go through :class:`DahdiOps`, so the tests run this loop
against file descriptors standing in for the device.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import select
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from . import dahdi_abi as abi
from .span import (
    Alarm,
    Block,
    FrameError,
    Span,
    SpanError,
    SpanParams,
    Timing,
    TimingWarning,
    check_frame,
)

log = logging.getLogger(__name__)

DEVICE = "/dev/dahdi/channel"
SYSFS_SPANS = "/sys/bus/dahdi_spans/devices"
PROC_DAHDI = "/proc/dahdi"
POLLIN = select.POLLIN
POLLPRI = select.POLLPRI
POLLERR = select.POLLERR
POLLHUP = select.POLLHUP
#: DAHDI_SET_BUFINFO numbufs for B-channels (see the module docstring).
B_NUMBUFS = 4
#: D-channel buffers: chan_dahdi's 1024 octets (> 264 + FCS), 16 of them.
D_BUFSIZE, D_NUMBUFS = 1024, 16
FCS_LEN = 2
SPANSTAT_INTERVAL = 1.0


# ---------------------------------------------------------------- syscalls


class Poller(Protocol):
    def fileno(self) -> int: ...
    def register(self, fd: int, events: int) -> None: ...
    def unregister(self, fd: int) -> None: ...
    def poll(self) -> list[tuple[int, int]]: ...
    def close(self) -> None: ...


class DahdiOps(Protocol):
    """The system calls the driver makes; OsOps does them for real."""

    def open_channel(self, channo: int) -> int: ...
    def close(self, fd: int) -> None: ...
    def read(self, fd: int, n: int) -> bytes: ...
    def write(self, fd: int, data: bytes) -> int: ...
    def ioctl(self, fd: int, request: int, arg: bytes) -> bytes: ...
    def poller(self) -> Poller: ...
    def read_text(self, path: str) -> str: ...


class EpollPoller:
    """An epoll set; its fd is readable whenever a member has POLLIN *or* POLLPRI."""

    def __init__(self) -> None:
        self._ep = select.epoll()

    def fileno(self) -> int:
        return self._ep.fileno()

    def register(self, fd: int, events: int) -> None:
        self._ep.register(fd, events)

    def unregister(self, fd: int) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._ep.unregister(fd)

    def poll(self) -> list[tuple[int, int]]:
        return self._ep.poll(0)

    def close(self) -> None:
        self._ep.close()


class OsOps:
    """The real thing: /dev/dahdi/channel, fcntl.ioctl, epoll."""

    def __init__(self, device: str = DEVICE) -> None:
        self.device = device

    def open_channel(self, channo: int) -> int:
        fd = os.open(self.device, os.O_RDWR | os.O_NONBLOCK)
        try:
            self.ioctl(fd, abi.DAHDI_SPECIFY, abi.pack_int(channo))
        except OSError:
            os.close(fd)
            raise
        return fd

    def close(self, fd: int) -> None:
        os.close(fd)

    def read(self, fd: int, n: int) -> bytes:
        return os.read(fd, n)

    def write(self, fd: int, data: bytes) -> int:
        return os.write(fd, data)

    def ioctl(self, fd: int, request: int, arg: bytes) -> bytes:
        import fcntl

        buf = bytearray(arg)
        fcntl.ioctl(fd, request, buf, True)
        return bytes(buf)

    def poller(self) -> Poller:
        return EpollPoller()

    def read_text(self, path: str) -> str:
        return Path(path).read_text()


# ---------------------------------------------------------------- sans-I/O pieces


def strip_fcs(data: bytes) -> bytes:
    """A D-channel read: the frame without its 2 trailing FCS octets."""
    if len(data) < FCS_LEN:
        raise FrameError(f"D-channel read of {len(data)} octets: shorter than the FCS")
    frame = data[:-FCS_LEN]
    check_frame(frame)
    return frame


def with_fcs_room(frame: bytes) -> bytes:
    """A D-channel write: the frame plus 2 placeholder octets the HDLC engine overwrites."""
    check_frame(frame)
    return frame + b"\x00\x00"


_ALARM_MAP = [(abi.SpanAlarm.RED, Alarm.RED), (abi.SpanAlarm.YELLOW, Alarm.YELLOW),
              (abi.SpanAlarm.BLUE, Alarm.BLUE), (abi.SpanAlarm.LOS, Alarm.LOS),
              (abi.SpanAlarm.LFA, Alarm.LOF), (abi.SpanAlarm.LMFA, Alarm.LOF),
              (abi.SpanAlarm.NOTOPEN, Alarm.RED)]


def alarms_from_dahdi(bits: int) -> Alarm:
    """dahdi_spaninfo.alarms to span alarms (NOTOPEN, a span not running, is red)."""
    out = Alarm.NONE
    for dahdi_bit, ours in _ALARM_MAP:
        if bits & dahdi_bit:
            out |= ours
    return out


_SLIPS = re.compile(r"^\s*Timing slips:\s*(\d+)", re.M)
_IRQ = re.compile(r"^\s*IRQ misses:\s*(\d+)", re.M)


def parse_proc_span(text: str) -> dict[str, int]:
    """Counters only /proc/dahdi/<span> shows (a missing line means 0)."""
    s, i = _SLIPS.search(text), _IRQ.search(text)
    return {"timing_slips": int(s.group(1)) if s else 0, "irq_misses": int(i.group(1)) if i else 0}


def bchannel_setup(blocksize: int, law: int) -> list[tuple[str, int, bytes]]:
    """The ioctls that set up one B-channel, in order (name, request, argument)."""
    bi = abi.BufferInfo(abi.Policy.IMMEDIATE, abi.Policy.IMMEDIATE, B_NUMBUFS, blocksize)
    return [
        ("DAHDI_SET_BLOCKSIZE", abi.DAHDI_SET_BLOCKSIZE, abi.pack_int(blocksize)),
        ("DAHDI_SET_BUFINFO", abi.DAHDI_SET_BUFINFO, bi.pack()),
        ("DAHDI_SETLAW", abi.DAHDI_SETLAW, abi.pack_int(law)),
        ("DAHDI_AUDIOMODE", abi.DAHDI_AUDIOMODE, abi.pack_int(1)),
        ("DAHDI_SETLINEAR", abi.DAHDI_SETLINEAR, abi.pack_int(0)),
        ("DAHDI_ECHOCANCEL", abi.DAHDI_ECHOCANCEL, abi.pack_int(0)),
    ]


class BlockAssembler:
    """Collects per-channel reads into (channels, block) span blocks.

    All channels of a span are filled by the same DAHDI tick, so normally
    every channel has delivered block k before any delivers k+1.  A channel
    that falls ``max_lag`` blocks behind the others (a stuck channel) is
    padded with the idle code so the span's clock keeps running; the padding
    is counted in ``padded`` samples.
    """

    def __init__(self, channels: int, block: int, idle: int, max_lag: int = 3) -> None:
        self.channels, self.block, self.idle, self.max_lag = channels, block, idle, max_lag
        self._rows = [bytearray() for _ in range(channels)]
        self.padded = 0

    def feed(self, row: int, data: bytes) -> None:
        self._rows[row] += data

    def pop(self) -> Block | None:
        """The next complete block, or None."""
        if not self.channels:
            return None
        have = [len(r) for r in self._rows]
        if min(have) == max(have) == self.block:  # the usual case: one block each
            out = np.frombuffer(b"".join(self._rows), dtype=np.uint8).reshape(self.channels, self.block)
            for r in self._rows:
                r.clear()
            return out
        if min(have) < self.block:
            if max(have) < self.block * self.max_lag:
                return None
            for r in self._rows:
                if len(r) < self.block:
                    self.padded += self.block - len(r)
                    r += bytes([self.idle]) * (self.block - len(r))
        out = np.empty((self.channels, self.block), dtype=np.uint8)
        for i, r in enumerate(self._rows):
            out[i] = np.frombuffer(bytes(r[:self.block]), dtype=np.uint8)
            del r[:self.block]
        return out


# ---------------------------------------------------------------- the driver


class DahdiSpan(Span):
    """A DAHDI span (see the module docstring for the settings and why)."""

    def __init__(self, params: SpanParams, ops: DahdiOps | None = None,
                 sysfs: str = SYSFS_SPANS, proc: str = PROC_DAHDI,
                 clock: Callable[[], float] | None = None) -> None:
        super().__init__(params)
        if params.block_samples < abi.DAHDI_MIN_BLOCKSIZE:
            raise SpanError(f"span {params.name}: DAHDI blocksize {params.block_samples} is below "
                            f"DAHDI's minimum of {abi.DAHDI_MIN_BLOCKSIZE}")
        self.ops: DahdiOps = ops or OsOps()
        self.sysfs, self.proc = sysfs, proc
        self._now = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: Poller | None = None
        self._bfds: list[int] = []
        self._row: dict[int, int] = {}
        self._dfd: int | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.asm = BlockAssembler(self.channels, self.block_samples, self.law.idle)
        self.spanno = params.number
        self.basechan = 0
        self.spaninfo: abi.SpanInfo | None = None
        self.events_seen: dict[str, int] = {}
        self.tx_full = 0
        self._spanstat_due = False
        self._clock_warned = False
        self.running = False

    def now(self) -> float:
        if self._now is not None:
            return self._now()
        return self._loop.time() if self._loop else 0.0

    # ------------------------------------------------------------ life cycle

    def find_basechan(self) -> int:
        """The span's first channel: configured, or from sysfs span-<n>/basechan."""
        if self.params.dahdi and self.params.dahdi.basechan:
            return self.params.dahdi.basechan
        path = f"{self.sysfs}/span-{self.spanno}/basechan"
        try:
            return int(self.ops.read_text(path).strip())
        except (OSError, ValueError) as e:
            raise SpanError(f"span {self.name}: no basechan configured and {path} unreadable "
                            f"({e}); is DAHDI span {self.spanno} assigned?") from e

    async def start(self) -> None:
        if self.running:
            return
        self._loop = asyncio.get_running_loop()
        self.open()
        assert self._poller is not None
        self._loop.add_reader(self._poller.fileno(), self.on_ready)
        self._timer = self._loop.call_later(SPANSTAT_INTERVAL, self._periodic)

    def open(self) -> None:
        """Open and set up every channel, prefill transmit, read the span's state."""
        if self.state.timing_warning:
            self._emit([TimingWarning(self.name, self.now(), self.state.timing_warning)])
        self.basechan = self.find_basechan()
        poller = self.ops.poller()
        try:
            if self.params.dchannel:
                self._dfd = self._open_dchannel(self.basechan + self.params.dchannel - 1)
                poller.register(self._dfd, POLLIN | POLLPRI)
            law = abi.DahdiLaw.MULAW if self.law.value == "mulaw" else abi.DahdiLaw.ALAW
            for row, ts in enumerate(self.params.bchannels):
                fd = self.ops.open_channel(self.basechan + ts - 1)
                self._bfds.append(fd)
                self._row[fd] = row
                for name, req, arg in bchannel_setup(self.block_samples, law):
                    try:
                        self.ops.ioctl(fd, req, arg)
                    except OSError as e:
                        if name == "DAHDI_ECHOCANCEL":
                            continue  # no echo canceller attached: nothing to turn off
                        raise SpanError(f"span {self.name}: {name} on channel "
                                        f"{self.basechan + ts - 1}: {e}") from e
                poller.register(fd, POLLIN | POLLPRI)
        except Exception:
            poller.close()
            self._close_fds()
            raise
        self._poller = poller
        self.running = True
        idle = bytes([self.law.idle]) * self.block_samples
        for fd in self._bfds:
            self._write(fd, idle)
        self.poll_spanstat()

    def _open_dchannel(self, channo: int) -> int:
        fd = self.ops.open_channel(channo)
        try:
            p = abi.ChanParams.unpack(self.ops.ioctl(fd, abi.DAHDI_GET_PARAMS, abi.ChanParams.request()))
            sig = p.sigtype
            if sig not in (abi.Sig.HARDHDLC, abi.Sig.HDLCFCS):
                raise SpanError(f"span {self.name}: channel {channo} is not an HDLC D-channel "
                                f"(sigtype {sig:#x}); system.conf needs hardhdlc={channo} or "
                                f"dchan={channo}")
            self.spanno = p.spanno or self.spanno
            bi = abi.BufferInfo(abi.Policy.IMMEDIATE, abi.Policy.IMMEDIATE, D_NUMBUFS, D_BUFSIZE)
            self.ops.ioctl(fd, abi.DAHDI_SET_BUFINFO, bi.pack())
        except Exception:
            self.ops.close(fd)
            raise
        return fd

    async def stop(self) -> None:
        self.close()

    def close(self) -> None:
        self.running = False
        if self._timer:
            self._timer.cancel()
            self._timer = None
        if self._poller is not None:
            if self._loop:
                with contextlib.suppress(ValueError, OSError):
                    self._loop.remove_reader(self._poller.fileno())
            self._poller.close()
            self._poller = None
        self._close_fds()

    def _close_fds(self) -> None:
        for fd in [*self._bfds, *([self._dfd] if self._dfd is not None else [])]:
            with contextlib.suppress(OSError):
                self.ops.close(fd)
        self._bfds, self._row, self._dfd = [], {}, None

    # ------------------------------------------------------------ the loop

    def on_ready(self) -> None:
        """The epoll fd is readable: serve events (POLLPRI), frames and audio (POLLIN)."""
        if self._poller is None:
            return
        for fd, mask in self._poller.poll():
            if mask & POLLPRI:
                self.service_events(fd)
            if mask & (POLLERR | POLLHUP) and not mask & POLLIN:
                self._device_gone(fd)
                continue
            if fd == self._dfd:
                self._read_dchannel()
            elif fd in self._row and mask & POLLIN:
                self._read_bchannel(fd)
        if self._spanstat_due:
            self.poll_spanstat()
        self._deliver()

    def _read(self, fd: int, n: int) -> bytes | None:
        for _ in range(2):
            try:
                return self.ops.read(fd, n)
            except BlockingIOError:
                return None
            except OSError as e:
                if e.errno != abi.ELAST:
                    raise
                self.service_events(fd)  # then the read works again
        return None

    def _write(self, fd: int, data: bytes) -> bool:
        for _ in range(2):
            try:
                self.ops.write(fd, data)
                return True
            except BlockingIOError:
                return False
            except OSError as e:
                if e.errno != abi.ELAST:
                    raise
                self.service_events(fd)
        return False

    def _read_dchannel(self) -> None:
        while self._dfd is not None:
            data = self._read(self._dfd, D_BUFSIZE)
            if not data:
                return
            try:
                frame = strip_fcs(data)
            except FrameError:
                self.state.count(dchannel_dropped=1)
                continue
            self.listener.span_frame(self, frame)

    def _read_bchannel(self, fd: int) -> None:
        # One read per readiness: epoll is level-triggered, so a backlog makes the
        # poller fd readable again at once, and the common case costs no EAGAIN.
        data = self._read(fd, self.block_samples)
        if data:
            self.asm.feed(self._row[fd], data)

    def _deliver(self) -> None:
        while self.running:
            rx = self.asm.pop()
            if rx is None:
                break
            index = self.blocks
            self.blocks += 1
            self.listener.span_block(self, rx, index)
            tx = self.take_tx()
            for fd, row in zip(self._bfds, tx, strict=True):
                if not self._write(fd, row.tobytes()):
                    self.tx_full += 1  # DAHDI's queue is full: we are ahead, drop this block
        self._emit(self.state.flush_counters(self.now()))

    def send_frame(self, frame: bytes) -> None:
        data = with_fcs_room(frame)
        if self._dfd is None or not self.running:
            self.state.count(dchannel_dropped=1)
            return
        if not self._write(self._dfd, data):
            self.state.count(dchannel_dropped=1)  # HDLC queue full: LAPD retransmits

    # ------------------------------------------------------------ events, alarms, counters

    def service_events(self, fd: int) -> None:
        """Fetch every pending event with DAHDI_GETEVENT (which clears ELAST)."""
        for _ in range(64):  # DAHDI_MAX_EVENTSIZE
            try:
                ev = abi.unpack_int(self.ops.ioctl(fd, abi.DAHDI_GETEVENT, abi.pack_int(0)))
            except OSError as e:
                log.warning("span %s: DAHDI_GETEVENT on fd %d: %s", self.name, fd, e)
                return
            if ev == abi.Event.NONE:
                return
            self._on_event(fd, ev)

    def _on_event(self, fd: int, ev: int) -> None:
        try:
            name = abi.Event(ev).name
        except ValueError:
            name = f"EVENT_{ev:#x}"
        self.events_seen[name] = self.events_seen.get(name, 0) + 1
        if ev in (abi.Event.ALARM, abi.Event.NOALARM):
            self._spanstat_due = True  # every channel gets it: read SPANSTAT once, after
        elif ev == abi.Event.BADFCS:
            self.state.count(dchannel_bad_fcs=1)
        elif ev in (abi.Event.ABORT, abi.Event.OVERRUN):
            self.state.count(dchannel_dropped=1)
        elif ev == abi.Event.READ_OVERRUN:
            self.state.count(rx_overruns=1)
        elif ev == abi.Event.WRITE_UNDERRUN:
            self.state.count(tx_underruns=1)
        elif ev == abi.Event.REMOVED:
            self._device_gone(fd)
        else:
            log.debug("span %s: DAHDI event %s on fd %d", self.name, name, fd)

    def _device_gone(self, fd: int) -> None:
        if not self.running:
            return
        log.error("span %s: DAHDI channel on fd %d went away (device removed?)", self.name, fd)
        self._emit(self.state.set_alarms(self.state.alarms | Alarm.RED, self.now()))
        if self._poller is not None:
            self._poller.unregister(fd)

    def poll_spanstat(self) -> None:
        """DAHDI_SPANSTAT (and /proc for slips): update alarms and counters, emit changes."""
        fd = self._dfd if self._dfd is not None else (self._bfds[0] if self._bfds else None)
        if fd is None:
            return
        try:
            info = abi.SpanInfo.unpack(self.ops.ioctl(fd, abi.DAHDI_SPANSTAT, abi.SpanInfo.request(0)))
        except OSError as e:
            log.warning("span %s: DAHDI_SPANSTAT: %s", self.name, e)
            return
        self._spanstat_due = False
        self.spaninfo = info
        self.spanno = info.spanno or self.spanno
        try:
            extra = parse_proc_span(self.ops.read_text(f"{self.proc}/{self.spanno}"))
        except OSError:
            extra = {"timing_slips": self.state.counters.slips}
        self.state.set_counters(bipolar_violations=info.bpvcount, crc_errors=info.crc4count,
                                fas_errors=info.fascount, slips=extra["timing_slips"])
        now = self.now()
        self._emit(self.state.set_alarms(alarms_from_dahdi(info.alarms), now))
        self._emit(self.state.flush_counters(now))
        self._check_clock(info, now)

    def _check_clock(self, info: abi.SpanInfo, now: float) -> None:
        """Line-timed, no alarm, yet DAHDI free-runs (syncsrc 0): system.conf gave timing 0."""
        free = (self.state.timing is Timing.LINE and not info.alarms and info.syncsrc == 0)
        if free and not self._clock_warned:
            msg = (f"span {self.name} should take timing from the line, but DAHDI runs on its "
                   "own clock (syncsrc 0): give it a non-zero timing in system.conf "
                   "(tdmgw dahdi-config does)")
            log.warning("%s", msg)
            self._emit([TimingWarning(self.name, now, msg)])
        self._clock_warned = free

    def _periodic(self) -> None:
        if not self.running or self._loop is None:
            return
        self.poll_spanstat()
        self._timer = self._loop.call_later(SPANSTAT_INTERVAL, self._periodic)

    def detail(self) -> dict[str, Any]:
        info = self.spaninfo
        return {
            "spanno": self.spanno,
            "basechan": self.basechan,
            "dchannel": (self.basechan + self.params.dchannel - 1) if self.params.dchannel else None,
            "description": info.desc if info else None,
            "syncsrc": info.syncsrc if info else None,  # span DAHDI takes its clock from; 0: own
            "dahdi_alarms": f"{info.alarms:#x}" if info else None,
            "events": dict(self.events_seen),
            "padded_samples": self.asm.padded,
            "tx_queue_full": self.tx_full,
        }
