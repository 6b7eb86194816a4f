"""libpri on both ends of the virtual span: a real ISDN stack's LAPD and Q.931 over it.

libpri (Debian libpri, through tests.peers.libpri) runs as the PBX on the
far end (network side, behind drivers.virtual_farend.VirtualFarEnd) and as
the gateway's user side (behind drivers.virtual.VirtualSpan).  Every frame
crosses the unix SOCK_SEQPACKET D-channel of the virtual span; the
D-channel must come up on both, a call must ring and be answered, and after
the far end re-plugs its cable (a red alarm raised and cleared) the next call
must get through.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from drivers.span import (
    Alarm,
    AlarmChanged,
    Block,
    Side,
    Span,
    SpanEvent,
    SpanParams,
    SpanType,
    VirtualParams,
)
from drivers.virtual import VirtualEndpoint, VirtualSpan
from drivers.virtual_farend import VirtualFarEnd
from tests.peers.libpri import Ev, LibPri, Node, Switch

LO = "127.0.0.1"
pytestmark = pytest.mark.peer


class Bridge:
    """Span listener that hands D-channel frames to libpri; B-channels idle."""

    def __init__(self, pri: LibPri) -> None:
        self.pri = pri
        self.events: list[SpanEvent] = []

    def span_frame(self, span: Span, frame: bytes) -> None:
        self.pri.wire.send(frame)

    def span_block(self, span: Span, rx: Block, index: int) -> None:
        span.write_block(np.full_like(rx, span.law.idle))

    def span_event(self, span: Span, event: SpanEvent) -> None:
        self.events.append(event)


def _params(name: str, side: Side, path: str) -> SpanParams:
    return SpanParams(name=name, number=1, driver="virtual", type=SpanType.T1, side=side,
                      block_samples=80, virtual=VirtualParams(path, (LO, 0), (LO, 9), 8, 20))


def _attach(loop: asyncio.AbstractEventLoop, span: VirtualEndpoint, pri: LibPri) -> Bridge:
    def pump() -> None:
        while True:
            try:
                span.send_frame(pri.wire.recv(4096))
            except BlockingIOError:
                return

    bridge = Bridge(pri)
    span.set_listener(bridge)
    loop.add_reader(pri.wire.fileno(), pump)
    return bridge


def test_libpri_on_both_ends(tmp_path: Path) -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        path = str(tmp_path / "d.sock")
        gw, far = VirtualSpan(_params("gw", Side.USER, path)), VirtualFarEnd(
            _params("far", Side.NETWORK, path), retry=0.02)
        cpe, net = LibPri(Node.CPE, Switch.NI2), LibPri(Node.NETWORK, Switch.NI2)
        events: list[tuple[str, Ev]] = []
        got: dict[str, list[Any]] = {"cpe": [], "net": []}

        async def poll() -> None:
            while True:
                for tag, pri in (("cpe", cpe), ("net", net)):
                    for ev in pri.poll():
                        events.append((tag, Ev(ev.e)))
                        got[tag].append(ev)
                await asyncio.sleep(0.005)

        async def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> None:
            end = loop.time() + timeout
            while not cond():
                assert loop.time() < end, "condition not met in time"
                await asyncio.sleep(0.01)

        async def wait(tag: str, e: Ev, after: int = 0, timeout: float = 10.0) -> None:
            end = loop.time() + timeout
            while (tag, e) not in events[after:]:
                assert loop.time() < end, f"no {e.name} on {tag}: {events}"
                await asyncio.sleep(0.01)

        gw_side = _attach(loop, gw, cpe)
        _attach(loop, far, net)
        await gw.start()
        await far.start()
        gw.set_remote(far.bchannel_address)
        far.set_remote(gw.bchannel_address)
        poller = asyncio.create_task(poll())
        try:
            await wait("cpe", Ev.DCHAN_UP)
            await wait("net", Ev.DCHAN_UP)
            call = net.new_call()
            net.setup(call, called="5551234", caller="2125550100", channel=3)
            await wait("cpe", Ev.RING)
            ring = next(ev for ev in got["cpe"] if Ev(ev.e) is Ev.RING)
            assert ring.callednum == "5551234" and ring.channel == 3
            cpe.answer(ring.call, 3)
            await wait("net", Ev.ANSWER)
            # (frames libpri sent before the far end was plugged in were dropped and counted:
            # no layer 1; LAPD's T200 retransmission brought the link up anyway)
            # The PBX re-plugs its cable: the gateway sees red raised and cleared (its
            # ISDN layer would restart LAPD on that; libpri knows no layer 1), and the
            # new connection carries the next call.
            far.reconnect()
            await wait_for(lambda: gw.state.counters.reconnects == 1 and gw.status().layer1_up)
            alarms = [e for e in gw_side.events if isinstance(e, AlarmChanged)]
            assert [bool(a.raised & Alarm.RED) for a in alarms][-2:] == [True, False]
            n = len(events)
            call = net.new_call()
            net.setup(call, called="5550002", channel=5)
            await wait("cpe", Ev.RING, after=n)
        finally:
            poller.cancel()
            await far.stop()
            await gw.stop()
            for pri, span in ((cpe, gw), (net, far)):
                del span
                loop.remove_reader(pri.wire.fileno())
                pri.close()

    asyncio.run(asyncio.wait_for(body(), 60))


def test_nothing_left_listening(tmp_path: Path) -> None:
    """After stop() the D-channel path is gone: a far end cannot connect to a stopped gateway."""

    async def body() -> None:
        gw = VirtualSpan(_params("gw", Side.USER, str(tmp_path / "d.sock")))
        await gw.start()
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        probe.connect(str(tmp_path / "d.sock"))
        probe.close()
        await gw.stop()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with pytest.raises(FileNotFoundError):
            s.connect(str(tmp_path / "d.sock"))
        s.close()

    asyncio.run(body())
