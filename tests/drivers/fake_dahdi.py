"""A stand-in for /dev/dahdi/channel: real file descriptors, DAHDI's rules in the ioctls.

Each opened channel is one end of a unix SOCK_SEQPACKET socket pair (one
read returns one block or one HDLC frame, as on DAHDI); the test holds the
other end as "the line".  The ioctls keep DAHDI's checks from dahdi-base.c
(blocksize 16..8192, AUDIOMODE only on clear channels, SETLINEAR only in
audio mode...), and a pending event makes read and write fail with ELAST
until DAHDI_GETEVENT has fetched it.  DAHDI raises POLLPRI for an event;
:class:`FakePoller` reports it the same way through a real epoll set (an
eventfd rings it, since a socket cannot raise POLLPRI on demand).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import select
import socket
import struct
from dataclasses import dataclass, field

from drivers import dahdi_abi as abi

NAMES = {v: k for k, v in abi.IOCTLS.items()}


@dataclass
class FakeChannel:
    channo: int
    chanpos: int
    sigtype: int
    fd: int = -1
    line: socket.socket | None = None
    drv: socket.socket | None = None
    events: collections.deque[int] = field(default_factory=collections.deque)
    blocksize: int = abi.DAHDI_DEFAULT_MTU_MRU
    bufinfo: abi.BufferInfo | None = None
    law: int = 0
    audio: bool = False
    linear: bool = False


class FakeDahdi:
    """One DAHDI span's channels, configured like system.conf would (bchan= / hardhdlc=)."""

    def __init__(self, timeslots: int = 24, dchannel: int = 24, basechan: int = 1, spanno: int = 1,
                 dsig: int = abi.Sig.HARDHDLC) -> None:
        self.spanno = spanno
        self.channels: dict[int, FakeChannel] = {}
        for ts in range(1, timeslots + 1):
            sig = dsig if ts == dchannel else abi.Sig.CLEAR
            self.channels[basechan + ts - 1] = FakeChannel(basechan + ts - 1, ts, sig)
        self.by_fd: dict[int, FakeChannel] = {}
        self.ioctl_log: list[tuple[int, str, bytes]] = []
        self.alarms = 0
        self.bpv = self.crc4 = self.fas = 0
        self.syncsrc = spanno  # the span DAHDI takes its clock from (0: its own)
        self.proc_text = f"Span {spanno}: FAKE/0 \"Fake span\"\n\n"
        self.files: dict[str, str] = {}
        self.doorbell = os.eventfd(0, os.EFD_NONBLOCK)
        self.pollers: list[FakePoller] = []

    # ------------------------------------------------------------ DahdiOps

    def open_channel(self, channo: int) -> int:
        ch = self.channels.get(channo)
        if ch is None:
            raise OSError(errno.EINVAL, f"DAHDI_SPECIFY {channo}: no such channel")
        if ch.drv is not None:
            raise OSError(errno.EBUSY, f"channel {channo} already open")
        drv, line = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        drv.setblocking(False)
        line.setblocking(False)
        ch.drv, ch.line, ch.fd = drv, line, drv.fileno()
        self.by_fd[ch.fd] = ch
        self.ioctl_log.append((channo, "DAHDI_SPECIFY", abi.pack_int(channo)))
        return ch.fd

    def close(self, fd: int) -> None:
        ch = self.by_fd.pop(fd)
        assert ch.drv is not None and ch.line is not None
        ch.drv.close()
        ch.line.close()
        ch.drv = ch.line = None

    def read(self, fd: int, n: int) -> bytes:
        ch = self.by_fd[fd]
        if ch.events:
            raise OSError(abi.ELAST, "event pending")
        return os.read(fd, n)

    def write(self, fd: int, data: bytes) -> int:
        ch = self.by_fd[fd]
        if ch.events:
            raise OSError(abi.ELAST, "event pending")
        return os.write(fd, data)

    def ioctl(self, fd: int, request: int, arg: bytes) -> bytes:
        ch = self.by_fd[fd]
        name = NAMES.get(request)
        if name is None:
            raise OSError(errno.ENOTTY, f"unknown ioctl {request:#x}")
        self.ioctl_log.append((ch.channo, name, arg))
        val = abi.unpack_int(arg) if len(arg) == abi.SIZEOF_INT else 0
        if name == "DAHDI_SET_BLOCKSIZE":
            if not abi.DAHDI_MIN_BLOCKSIZE <= val <= abi.DAHDI_MAX_BLOCKSIZE:
                raise OSError(errno.EINVAL, "blocksize")
            ch.blocksize = val
        elif name == "DAHDI_SET_BUFINFO":
            bi = abi.BufferInfo.unpack(arg)
            if not 16 <= bi.bufsize <= abi.DAHDI_MAX_BLOCKSIZE or (
                    bi.bufsize * bi.numbufs > abi.DAHDI_MAX_BUF_SPACE):
                raise OSError(errno.EINVAL, "bufinfo")
            ch.bufinfo, ch.blocksize = bi, bi.bufsize
        elif name == "DAHDI_SETLAW":
            if not 0 <= val <= 2:
                raise OSError(errno.EINVAL, "law")
            ch.law = val
        elif name == "DAHDI_AUDIOMODE":
            if ch.sigtype != abi.Sig.CLEAR:
                raise OSError(errno.EINVAL, "audio mode on a non-clear channel")
            ch.audio = bool(val)
        elif name == "DAHDI_SETLINEAR":
            if not ch.audio:
                raise OSError(errno.EINVAL, "linear needs audio mode")
            ch.linear = bool(val)
        elif name == "DAHDI_ECHOCANCEL":
            if not ch.audio:
                raise OSError(errno.EINVAL, "echocancel needs audio mode")
        elif name == "DAHDI_GETEVENT":
            return abi.pack_int(ch.events.popleft() if ch.events else 0)
        elif name == "DAHDI_GET_PARAMS":
            raw = bytearray(abi.ChanParams.request(ch.channo))
            struct.pack_into("=4i", raw, 0, ch.channo, self.spanno, ch.chanpos, ch.sigtype)
            return bytes(raw)
        elif name == "DAHDI_SPANSTAT":
            info = abi.SpanInfo.unpack(abi.SpanInfo.request(self.spanno))
            from dataclasses import replace
            return replace(info, name="FAKE/0", desc="Fake span", alarms=self.alarms,
                           bpvcount=self.bpv, crc4count=self.crc4, fascount=self.fas,
                           syncsrc=self.syncsrc,
                           totalchans=len(self.channels)).pack()
        elif name == "DAHDI_SPECIFY":
            raise OSError(errno.EINVAL, "already specified")
        return arg

    def poller(self) -> FakePoller:
        p = FakePoller(self)
        self.pollers.append(p)
        return p

    def read_text(self, path: str) -> str:
        if path.endswith(f"/{self.spanno}") and "/proc/" in path:
            return self.proc_text
        if path in self.files:
            return self.files[path]
        raise FileNotFoundError(path)

    # ------------------------------------------------------------ the line side

    def chan(self, channo: int) -> FakeChannel:
        return self.channels[channo]

    def send(self, channo: int, data: bytes) -> None:
        line = self.channels[channo].line
        assert line is not None, f"channel {channo} not open"
        line.send(data)

    def received(self, channo: int) -> list[bytes]:
        line = self.channels[channo].line
        assert line is not None
        out = []
        while True:
            try:
                out.append(line.recv(65536))
            except BlockingIOError:
                return out

    def event(self, channo: int, ev: int) -> None:
        self.channels[channo].events.append(ev)
        os.eventfd_write(self.doorbell, 1)

    def all_events(self, ev: int) -> None:
        for ch in self.channels.values():
            if ch.drv is not None:
                ch.events.append(ev)
        os.eventfd_write(self.doorbell, 1)


class FakePoller:
    """A real epoll set; reports POLLPRI for channels with a pending event, as DAHDI does."""

    def __init__(self, dev: FakeDahdi) -> None:
        self.dev = dev
        self._ep = select.epoll()
        self._ep.register(dev.doorbell, select.EPOLLIN)
        self.fds: dict[int, int] = {}

    def fileno(self) -> int:
        return self._ep.fileno()

    def register(self, fd: int, events: int) -> None:
        self._ep.register(fd, events)
        self.fds[fd] = events

    def unregister(self, fd: int) -> None:
        self._ep.unregister(fd)
        self.fds.pop(fd, None)

    def poll(self) -> list[tuple[int, int]]:
        ready = {fd: m for fd, m in self._ep.poll(0) if fd != self.dev.doorbell}
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(self.dev.doorbell)
        for fd, want in self.fds.items():
            ch = self.dev.by_fd.get(fd)
            if ch is not None and ch.events and want & select.POLLPRI:
                ready[fd] = ready.get(fd, 0) | select.POLLPRI
        return sorted(ready.items())

    def close(self) -> None:
        self._ep.close()
