"""The virtual span's far end: what the demo's simulated PBX and the tests plug in.

:class:`VirtualFarEnd` is a :class:`drivers.span.Span` like the gateway's, so
a simulated PBX drives it through the same listener interface: it connects
to the gateway's D-channel socket (retrying every ``retry`` seconds while
the path is missing or refuses, and again after end of file), and exchanges
B-channel packets over UDP with the gateway side.  Not connected is a red
alarm here too.

``python -m drivers.virtual_farend --socket PATH --local H:P --remote H:P``
runs a loopback far end (a software loopback plug): every D-channel frame
and all B-channel audio are sent back as received.  Handy for checking a
gateway's virtual span set-up by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket

from .span import Block, Side, Span, SpanEvent, SpanParams, SpanType, Timing, VirtualParams
from .virtual import VirtualEndpoint

log = logging.getLogger(__name__)


class VirtualFarEnd(VirtualEndpoint):
    """Far-end side: connects to the gateway's D-channel socket and keeps reconnecting."""

    def __init__(self, params: SpanParams, retry: float = 0.1) -> None:
        super().__init__(params)
        self.retry = retry
        self._retry_timer: asyncio.TimerHandle | None = None
        self.connects = 0

    def _start_dchannel(self) -> None:
        self._try_connect()

    def _stop_dchannel(self) -> None:
        if self._retry_timer:
            self._retry_timer.cancel()
            self._retry_timer = None

    def _try_connect(self) -> None:
        self._retry_timer = None
        if self._conn is not None or self._loop is None:
            return
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            s.connect(self.vp.dchannel_socket)
        except OSError:  # missing path, refused, or the listener's backlog is full
            s.close()
            if self._udp is not None:  # started: keep trying
                self._retry_timer = self._loop.call_later(self.retry, self._try_connect)
            return
        self.connects += 1
        if self.connects > 1:
            self.state.count(reconnects=1)
        self._use_conn(s)

    def _lost_conn(self) -> None:
        super()._lost_conn()
        if self.running and self._loop and self._retry_timer is None:
            self._retry_timer = self._loop.call_later(self.retry, self._try_connect)

    def reconnect(self) -> None:
        """Pull the cable and plug it back in: close the D-channel and connect again."""
        self._lost_conn()

    @property
    def connected(self) -> bool:
        return self._conn is not None


class _Loopback:
    """Listener that sends every frame and block straight back (a loopback plug)."""

    def span_frame(self, span: Span, frame: bytes) -> None:
        span.send_frame(frame)

    def span_block(self, span: Span, rx: Block, index: int) -> None:
        span.write_block(rx.copy())

    def span_event(self, span: Span, event: SpanEvent) -> None:
        log.info("%s", event)


def _addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return (host.strip("[]") or "127.0.0.1", int(port))


async def _run(args: argparse.Namespace) -> None:
    params = SpanParams(
        name="farend", number=1, driver="virtual", type=SpanType(args.type.upper()),
        side=Side.NETWORK, timing=Timing(args.timing),
        block_samples=args.block,
        virtual=VirtualParams(args.socket, _addr(args.local), _addr(args.remote),
                              args.frames_per_packet, args.playout_ms))
    far = VirtualFarEnd(params)
    far.set_listener(_Loopback())
    await far.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"far end up: B-channels on {far.bchannel_address}", flush=True)
    await stop.wait()
    await far.stop()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m drivers.virtual_farend", description=__doc__)
    ap.add_argument("--socket", required=True, help="the gateway's D-channel socket path")
    ap.add_argument("--local", required=True, help="B-channel UDP address to bind, HOST:PORT")
    ap.add_argument("--remote", required=True, help="the gateway's B-channel address, HOST:PORT")
    ap.add_argument("--type", default="T1", choices=["T1", "E1", "t1", "e1"])
    ap.add_argument("--timing", default="auto", choices=[t.value for t in Timing])
    ap.add_argument("--block", type=int, default=40)
    ap.add_argument("--frames-per-packet", type=int, default=8)
    ap.add_argument("--playout-ms", type=int, default=4)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(args))


if __name__ == "__main__":
    main()
