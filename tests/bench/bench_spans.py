"""Span drivers: the DAHDI driver's per-block cost and the virtual span's playout cost.

DAHDI: the driver's `on_ready` (epoll, one read per channel, block assembly,
the listener, one write per channel) against the fake device of
tests/drivers/fake_dahdi.py (unix socket pairs).  The peer is the floor: a
hand-written loop making the same system calls with nothing else, in the
same run; the ratio is the driver's overhead.  From the cost per block
follows the CPU share of one span in real time and how many spans one core
could carry.  Blocksizes 8, 40 (the default) and 160 show the cost of
lower latency.

Virtual span: PlayoutBuffer push + pull and the timeslot map per 1 ms packet.
"""

from __future__ import annotations

import os
import select
import time

import numpy as np

from drivers.dahdi import DahdiSpan, EpollPoller
from drivers.span import Block, DahdiParams, Law, Span, SpanEvent, SpanParams, SpanType
from drivers.virtual_proto import Packet, PlayoutBuffer, TimeslotMap, decode_packet
from tests.bench.report import Table
from tests.drivers.fake_dahdi import FakeDahdi


class _LeanDevice(FakeDahdi):
    """The fake device's channels and ioctls, but plain system calls and a plain epoll:
    the fake's event bookkeeping is test scaffolding and must not count as driver cost."""

    def read(self, fd: int, n: int) -> bytes:
        return os.read(fd, n)

    def write(self, fd: int, data: bytes) -> int:
        return os.write(fd, data)

    def poller(self) -> EpollPoller:  # type: ignore[override]
        return EpollPoller()


class _Echo:
    def span_frame(self, span: Span, frame: bytes) -> None:
        pass

    def span_block(self, span: Span, rx: Block, index: int) -> None:
        span.write_block(rx)

    def span_event(self, span: Span, event: SpanEvent) -> None:
        pass


def _dahdi_case(kind: SpanType, block: int, blocks: int) -> tuple[float, float]:
    """(driver µs per block, floor µs per block)."""
    p = SpanParams(name="b", number=1, driver="dahdi", type=kind, block_samples=block,
                   dahdi=DahdiParams(basechan=1, blocksize=block))
    dev = _LeanDevice(timeslots=24 if kind is SpanType.T1 else 31, dchannel=p.dchannel or 0)
    span = DahdiSpan(p, ops=dev, clock=lambda: 0.0)
    span.set_listener(_Echo())
    span.open()
    chans = [dev.chan(ts) for ts in p.bchannels]
    lines = [c.line for c in chans if c.line is not None]
    fds = [c.fd for c in chans]
    ep = select.epoll()
    for fd in fds:
        ep.register(fd, select.POLLIN | select.POLLPRI)
    data = bytes(range(block))

    def feed() -> None:
        for ln in lines:
            ln.send(data)

    def drain() -> None:
        for ln in lines:
            ln.recv(65536)

    drain()  # the prefill
    driver, floor = [], []
    # Alternate driver and floor block by block, so both see the same machine load;
    # report medians (a shared machine has long outliers).
    for _ in range(blocks):
        feed()
        t0 = time.perf_counter()
        span.on_ready()
        driver.append(time.perf_counter() - t0)
        drain()
        feed()
        t0 = time.perf_counter()
        ep.poll(0)
        rows = [os.read(fd, block) for fd in fds]
        for fd, row in zip(fds, rows, strict=True):
            os.write(fd, row)
        floor.append(time.perf_counter() - t0)
        drain()
    ep.close()
    span.close()
    return float(np.median(driver)) * 1e6, float(np.median(floor)) * 1e6


def _playout_case(kind: SpanType, seconds: int) -> float:
    """µs of CPU per second of audio for one direction of a virtual span."""
    ts = kind.timeslots
    law = kind.default_law
    pb = PlayoutBuffer(ts, law.idle, target=32)
    tmap = TimeslotMap(kind, kind.default_bchannels, law.idle)
    block = np.zeros((len(kind.default_bchannels), 8), dtype=np.uint8)
    t0 = time.perf_counter()
    for k in range(0, 8000 * seconds, 8):
        raw = Packet(k, tmap.to_frames(block)).encode()
        pb.push(decode_packet(raw, ts))
        tmap.from_frames(pb.pull(8))
    return (time.perf_counter() - t0) / seconds * 1e6


def run() -> list[Table]:
    rows: list[list[object]] = []
    per_core_t1_40 = 0
    for kind in (SpanType.T1, SpanType.E1):
        for block in (16, 40, 160):
            n = max(200, 40000 // block)
            drv, floor = _dahdi_case(kind, block, n)
            period = block / 8000 * 1e6
            rows.append([str(kind), block, block / 8, round(drv, 1), round(floor, 1),
                         round(drv / floor, 2), round(100 * drv / period, 2), int(period / drv)])
            if kind is SpanType.T1 and block == 40:
                per_core_t1_40 = int(period / drv)
    t1 = Table(
        "DAHDI driver loop per span block (fake device on unix socket pairs)",
        ["span", "blocksize", "block ms", "driver µs/block", "floor µs/block", "ratio",
         "CPU % per span", "spans per core"],
        rows,
        notes=["floor: the same epoll + one read + one write per channel, nothing else (same run, "
               "alternating block by block with the driver); medians",
               "driver: epoll, reads, block assembly, listener (echo), writes, counter flush",
               "blocksize 40 (5 ms) is the default; 16 (2 ms) is the least DAHDI_SET_BLOCKSIZE takes, 160 is chan_dahdi's default"])
    t1.targets.append(
        ("PASS" if per_core_t1_40 >= 8 else "FAIL")
        + f" a TE820's 8 T1 spans on one core at the 5 ms default: {per_core_t1_40} spans per core")
    prow = []
    for kind in (SpanType.T1, SpanType.E1):
        us = _playout_case(kind, 4)
        prow.append([str(kind), round(us / 1000, 2), round(us / 1e4, 3)])
    t2 = Table("Virtual span: encode + decode + playout push/pull + timeslot map, one direction",
               ["span", "ms CPU per s of audio", "CPU %"], prow,
               notes=["1 ms packets (8 frames), 4 ms playout target", f"law idle {Law.ULAW.idle:#x}"])
    return [t1, t2]
