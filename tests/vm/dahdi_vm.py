"""Helpers for the in-guest tests: two local dynamic DAHDI spans, back to back.

``dahdi_dynamic_loc`` joins dynamic spans that share a key: ``loc,1:0`` and
``loc,1:1`` are two ends of one cable.  Each 1 ms chunk one span transmits is
what the other receives (``dahdi_dynamic_local_transmit``), so one span plays
the gateway's line and the other the PBX's.  Timing comes from DAHDI's core
timer (both spans have timing priority 0; ``dahdi_dynamic_loc`` cannot
provide timing anyway).

What the kernel does, read from dahdi-linux 2.11 (``dahdi_dynamic.c``) and
checked by these tests:

* ``dahdi_cfg`` first destroys every dynamic span its configuration names
  (``DAHDI_DYNAMIC_DESTROY``; refused with EBUSY while a channel is open),
  then creates them.  ``dahdi_cfg -s`` destroys them and stops there.
* A dynamic span that has received nothing for more than a second goes into
  RED alarm (a 1 Hz timer), and a span in RED sets the "yellow" flag in what
  it sends, so its peer shows YELLOW.  Destroying one span of the pair
  unlinks its peer, which then goes RED; creating it again links them and
  the first message received clears RED.  DAHDI_SHUTDOWN does not stop a
  dynamic span from sending, so it raises no alarm on the far end.

These helpers use ``drivers.dahdi_abi`` for the ioctl numbers and layouts.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from drivers import dahdi_abi as abi
from dsp import g711

CONF = Path("/etc/dahdi/system.conf")
CTL = Path("/dev/dahdi/ctl")
CHANNEL = Path("/dev/dahdi/channel")
SYSFS_SPANS = Path("/sys/bus/dahdi_spans/devices")
#: dahdi_dynamic_loc's key shared by both ends; ids 0 (span "a") and 1 ("b").
LOC_KEY = 1

T = TypeVar("T")


def in_vm() -> bool:
    """True inside the tdmgw test VM with the DAHDI modules loaded."""
    return os.environ.get("TDMGW_IN_VM") == "1" and CTL.exists()


@dataclass(frozen=True)
class Plan:
    """One line type's layout of a dynamic PRI span."""

    type: str  # "T1" | "E1"
    numchans: int  # channels of the dynamic span: 24 (TS1-24) or 31 (TS1-31)
    dchan: int  # D-channel position in the span
    law: str  # "ulaw" | "alaw"

    @property
    def bchans(self) -> tuple[int, ...]:
        return tuple(p for p in range(1, self.numchans + 1) if p != self.dchan)


PLANS = {
    "T1": Plan("T1", 24, 24, "ulaw"),
    "E1": Plan("E1", 31, 16, "alaw"),
}


def _ranges(positions: Iterable[int], base: int) -> str:
    """Channel numbers as dahdi_cfg ranges: 1-15,17-31."""
    nums = sorted(base + p - 1 for p in positions)
    out: list[str] = []
    start = prev = nums[0]
    for n in nums[1:]:
        if n != prev + 1:
            out.append(f"{start}-{prev}" if prev != start else f"{start}")
            start = n
        prev = n
    out.append(f"{start}-{prev}" if prev != start else f"{start}")
    return ",".join(out)


def system_conf(plan: Plan, ends: Iterable[int], basechans: dict[int, int] | None = None) -> str:
    """A system.conf with the dynamic spans ``ends`` (loc ids) and their channels.

    ``basechans`` maps each end to the channel number its position 1 gets;
    without it, the file only creates the spans.
    """
    lines = ["# written by tests/vm (tdmgw in-guest tests)"]
    ends = list(ends)
    for end in ends:
        lines.append(f"dynamic=loc,{LOC_KEY}:{end},{plan.numchans},0")
    for end in ends:
        if basechans is None:
            break
        base = basechans[end]
        lines.append(f"bchan={_ranges(plan.bchans, base)}")
        lines.append(f"dchan={base + plan.dchan - 1}")
        if plan.law == "alaw":
            lines.append(f"alaw={_ranges(range(1, plan.numchans + 1), base)}")
    lines += ["loadzone=us", "defaultzone=us", ""]
    return "\n".join(lines)


def dahdi_cfg(conf: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Write ``conf`` to /etc/dahdi/system.conf and run dahdi_cfg on it."""
    CONF.parent.mkdir(parents=True, exist_ok=True)
    CONF.write_text(conf)
    res = subprocess.run(["dahdi_cfg", "-vv", "-c", str(CONF), *args],
                         capture_output=True, text=True, timeout=60)
    if check and res.returncode != 0:
        raise RuntimeError(f"dahdi_cfg {' '.join(args)} failed ({res.returncode}):\n"
                           f"{conf}\n{res.stdout}\n{res.stderr}")
    return res


@dataclass(frozen=True)
class SysSpan:
    """A registered span as sysfs shows it."""

    spanno: int
    name: str
    basechan: int
    channels: int
    alarms: str


def sysfs_spans() -> dict[str, SysSpan]:
    """Registered spans by name (``DYN/loc/1:0``)."""
    out: dict[str, SysSpan] = {}
    if not SYSFS_SPANS.exists():
        return out
    for d in SYSFS_SPANS.iterdir():
        def attr(name: str, d: Path = d) -> str:
            return (d / name).read_text().strip()
        s = SysSpan(int(d.name.split("-")[1]), attr("name"), int(attr("basechan")),
                    int(attr("channels")), attr("alarms"))
        out[s.name] = s
    return out


def span_name(end: int) -> str:
    return f"DYN/loc/{LOC_KEY}:{end}"


def wait_for(what: str, fn: Callable[[], T | None], timeout: float = 10.0,
             interval: float = 0.05) -> T:
    """Poll ``fn`` until it returns something truthy (real kernel time, not a protocol timer)."""
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def open_channel(channo: int, blocksize: int | None = None) -> int:
    """Open DAHDI channel ``channo`` (``/dev/dahdi/channel`` + DAHDI_SPECIFY), non-blocking."""
    fd = os.open(CHANNEL, os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, abi.DAHDI_SPECIFY, abi.pack_int(channo))
        if blocksize is not None:
            fcntl.ioctl(fd, abi.DAHDI_SET_BLOCKSIZE, abi.pack_int(blocksize))
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_dchannel(channo: int) -> int:
    """Open a dchan= channel with buffers for whole LAPD frames, as chan_dahdi sets them for
    a PRI D-channel: 32 buffers of 1024 octets, immediate policy both ways."""
    fd = open_channel(channo)
    try:
        bi = abi.BufferInfo(abi.Policy.IMMEDIATE, abi.Policy.IMMEDIATE, 32, 1024)
        fcntl.ioctl(fd, abi.DAHDI_SET_BUFINFO, bi.pack())
    except BaseException:
        os.close(fd)
        raise
    return fd


def chan_params(fd: int) -> abi.ChanParams:
    buf = bytearray(abi.ChanParams.request())
    fcntl.ioctl(fd, abi.DAHDI_GET_PARAMS, buf)
    return abi.ChanParams.unpack(bytes(buf))


def spanstat(fd: int, spanno: int) -> abi.SpanInfo:
    buf = bytearray(abi.SpanInfo.request(spanno))
    fcntl.ioctl(fd, abi.DAHDI_SPANSTAT, buf)
    return abi.SpanInfo.unpack(bytes(buf))


#: user.h: DAHDI_SHUTDOWN _IOW(DAHDI_CODE, 100, int), DAHDI_STARTUP (..., 99, int).
DAHDI_SHUTDOWN = (1 << 30) | (abi.SIZEOF_INT << 16) | (abi.DAHDI_CODE << 8) | 100
DAHDI_STARTUP = (1 << 30) | (abi.SIZEOF_INT << 16) | (abi.DAHDI_CODE << 8) | 99


def get_event(fd: int) -> int:
    buf = bytearray(abi.SIZEOF_INT)
    fcntl.ioctl(fd, abi.DAHDI_GETEVENT, buf)
    return abi.unpack_int(bytes(buf))


def read_ready(fd: int, timeout: float) -> int:
    """poll() the fd for input or a DAHDI event (POLLPRI); returns the revents."""
    p = select.poll()
    p.register(fd, select.POLLIN | select.POLLPRI)
    got = p.poll(timeout * 1000)
    return got[0][1] if got else 0


def read_frame(fd: int, timeout: float = 5.0) -> bytes:
    """One HDLC frame from a dchan= channel (with DAHDI's 2 trailing FCS bytes)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no HDLC frame within the timeout")
        if read_ready(fd, left) & select.POLLIN:
            try:
                return os.read(fd, 1024)
            except BlockingIOError:
                continue


def drain_events(fd: int) -> list[int]:
    """Every pending DAHDI event on the channel, oldest first."""
    events: list[int] = []
    while True:
        ev = get_event(fd)
        if ev == abi.Event.NONE:
            return events
        events.append(ev)


def read_audio(fd: int, nbytes: int, timeout: float = 10.0) -> tuple[bytes, list[int]]:
    """Read ``nbytes`` of B-channel samples; events met on the way (ELAST) are fetched."""
    out = bytearray()
    events: list[int] = []
    deadline = time.monotonic() + timeout
    while len(out) < nbytes:
        if time.monotonic() > deadline:
            raise AssertionError(f"read {len(out)} of {nbytes} bytes within {timeout} s")
        read_ready(fd, 0.1)
        try:
            out += os.read(fd, nbytes - len(out))
        except BlockingIOError:
            continue
        except OSError as e:
            if e.errno != abi.ELAST:
                raise
            events += drain_events(fd)
    return bytes(out), events


def write_all(fd: int, data: bytes, timeout: float = 10.0) -> None:
    """Write B-channel samples, waiting for buffer space (POLLOUT)."""
    view = memoryview(data)
    deadline = time.monotonic() + timeout
    p = select.poll()
    p.register(fd, select.POLLOUT)
    while view:
        if time.monotonic() > deadline:
            raise AssertionError("write timed out")
        p.poll(100)
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            continue
        except OSError as e:
            if e.errno != abi.ELAST:
                raise
            drain_events(fd)
            continue
        view = view[n:]


def fcs16(data: bytes) -> bytes:
    """HDLC FCS-16 (ISO/IEC 13239, RFC 1662 C.2): reflected 0x8408, init and xorout 0xFFFF,
    sent low octet first."""
    fcs = 0xFFFF
    for b in data:
        fcs ^= b
        for _ in range(8):
            fcs = (fcs >> 1) ^ 0x8408 if fcs & 1 else fcs >> 1
    fcs ^= 0xFFFF
    return bytes((fcs & 0xFF, fcs >> 8))


def _dbm0_rms(law: str) -> float:
    """RMS of a 0 dBm0 sine on the 16-bit scale (G.711 clause 3; dsp.g711's constants).

    (dsp.levels has the same measure but imports scipy, which the guest does without: it
    takes minutes to import on an emulated CPU.)"""
    return float(g711.DBM0_RMS_ALAW if law == "alaw" else g711.DBM0_RMS_ULAW)


def tone(law: str, freq: float, level_dbm0: float, samples: int, phase: float = 0.0) -> bytes:
    """A sine at ``level_dbm0`` coded in ``law``."""
    amp = _dbm0_rms(law) * 10.0 ** (level_dbm0 / 20.0) * np.sqrt(2)
    t = np.arange(samples) / 8000.0
    x = np.round(amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.int16)
    enc = g711.alaw_encode if law == "alaw" else g711.ulaw_encode
    return bytes(enc(x))


def analyse(law: str, codes: bytes) -> tuple[float, float]:
    """(level in dBm0, strongest frequency in Hz) of G.711 codes."""
    dec = g711.alaw_decode if law == "alaw" else g711.ulaw_decode
    x = dec(np.frombuffer(codes, dtype=np.uint8)).astype(np.float64)
    level = float(10.0 * np.log10(max(float(np.mean(x * x)), 1e-12) / _dbm0_rms(law) ** 2))
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freq = float(np.argmax(spec) * 8000.0 / len(x))
    return level, freq


def exchange(chan0: int, chan1: int, law: str, seconds: float) -> dict[int, bytes]:
    """Play a 1004 Hz tone at -10 dBm0 on end 0 and 697 Hz at -16 dBm0 on end 1, on the
    channels ``chan0`` and ``chan1``, both at once; returns what each end received."""
    n = int(seconds * 8000)
    send = {0: tone(law, 1004.0, -10.0, n), 1: tone(law, 697.0, -16.0, n)}
    fds = {0: open_channel(chan0, blocksize=160), 1: open_channel(chan1, blocksize=160)}
    # 32 buffers of 20 ms: the emulated guest may stall for a while on a busy host.
    bi = abi.BufferInfo(abi.Policy.IMMEDIATE, abi.Policy.IMMEDIATE, abi.DAHDI_MAX_NUM_BUFS, 160)
    for fd in fds.values():
        fcntl.ioctl(fd, abi.DAHDI_SET_BUFINFO, bi.pack())
    sent = dict.fromkeys(fds, 0)
    got: dict[int, bytearray] = {end: bytearray() for end in fds}
    poller = select.poll()
    for fd in fds.values():
        poller.register(fd, select.POLLIN | select.POLLOUT | select.POLLPRI)
    by_fd = {fd: end for end, fd in fds.items()}
    # Queue as much as DAHDI takes (32 x 20 ms) before the loop: a stall of this process
    # early on would otherwise underrun the transmit side and shift the audio.
    for end, fd in fds.items():
        with contextlib.suppress(BlockingIOError):
            while sent[end] < n:
                sent[end] += os.write(fd, send[end][sent[end]:sent[end] + 160])
        if sent[end] >= n:
            poller.modify(fd, select.POLLIN | select.POLLPRI)
    deadline = time.monotonic() + seconds * 4 + 10
    try:
        while any(len(g) < n for g in got.values()):
            assert time.monotonic() < deadline, {e: len(g) for e, g in got.items()}
            for fd, ev in poller.poll(200):
                end = by_fd[fd]
                try:
                    if ev & select.POLLOUT and sent[end] < n:
                        sent[end] += os.write(fd, send[end][sent[end]:sent[end] + 160])
                        if sent[end] >= n:
                            poller.modify(fd, select.POLLIN | select.POLLPRI)
                    if ev & select.POLLIN:
                        got[end] += os.read(fd, 1024)
                except BlockingIOError:
                    pass
    finally:
        for fd in fds.values():
            os.close(fd)
    return {end: bytes(g) for end, g in got.items()}


__all__ = [
    "CHANNEL",
    "CONF",
    "CTL",
    "LOC_KEY",
    "PLANS",
    "Plan",
    "SysSpan",
    "analyse",
    "chan_params",
    "dahdi_cfg",
    "drain_events",
    "exchange",
    "fcs16",
    "get_event",
    "in_vm",
    "open_channel",
    "open_dchannel",
    "read_audio",
    "read_frame",
    "read_ready",
    "span_name",
    "spanstat",
    "sysfs_spans",
    "system_conf",
    "tone",
    "wait_for",
    "write_all",
]
