"""End-to-end rig: the gateway core (with its gateway part) between a simulated PBX
(libpri, network side, at the far end of the virtual span) and SIP peers on loopback.

`Rig` writes a config (virtual T1 span, NI-2, gateway user side; one SIP trunk to
`sip_peer`; routes), runs `appliance.core.app.Core` in this asyncio loop with the
gateway part, and starts `appliance.demo.pbx.SimulatedPbx` on the span's far end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.config.load import loads
from appliance.core.app import Core
from appliance.demo.pbx import SimulatedPbx
from appliance.gateway.runtime import GatewayPart
from drivers.span import Side, SpanParams, SpanType, VirtualParams

from .codec_pbx import CodecPbx
from .ports import span_udp_port
from .wire import Tap

PART = "appliance.gateway.runtime:GatewayPart"


class SipWire(logging.Handler):
    """Every SIP datagram the gateway sent or received (sippy's message log, which the
    endpoint writes to `tdmgw.sip.wire` at DEBUG), for byte checks on the gateway side."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock:
            self.lines.append(record.getMessage())

    def _pick(self, prefix: str, start: str) -> list[str]:
        with self._lock:
            out = []
            for t in self.lines:
                if t.startswith(prefix):
                    body = t.split(":\n", 1)[1] if ":\n" in t else t
                    if body.startswith(start):
                        out.append(body)
            return out

    def sent(self, start: str) -> list[str]:
        """Messages the gateway sent whose first line starts with `start`."""
        return self._pick("SENDING", start)

    def received(self, start: str) -> list[str]:
        return self._pick("RECEIVED", start)


def gateway_part(core: Core) -> GatewayPart:
    """The GatewayPart a Core runs (found through the shutdown hooks it registered)."""
    for hooks in core.shutdown._hooks.values():
        for _, hook in hooks:
            owner = getattr(hook, "__self__", None)
            if isinstance(owner, GatewayPart):
                return owner
    raise LookupError("no gateway part")


# every PBX call to the trunk "ai", every SIP call to span1
DEFAULT_ROUTES = """
[[routes.inbound]]
name = "all"
match = "(.*)"
target = "ai"
[[routes.outbound]]
name = "all"
spans = ["span1"]
"""


def config_text(tmp: Path, peer: tuple[str, int], *, gw_b: int, far_b: int,
                extra_trunk: str = "", routes: str | None = None,
                trunks: str | None = None, media: str = "") -> str:
    routes = routes if routes is not None else DEFAULT_ROUTES
    trunks = trunks if trunks is not None else f"""
[[sip.trunks]]
name = "ai"
host = "{peer[0]}"
port = {peer[1]}
options_interval_s = 0
{extra_trunk}
"""
    return f"""
[[spans]]
name = "span1"
number = 1
driver = "virtual"
type = "T1"
switchtype = "ni2"
side = "user"
[spans.virtual]
dchannel_socket = "{tmp}/d.sock"
bchannel_local = "127.0.0.1:{gw_b}"
bchannel_remote = "127.0.0.1:{far_b}"
[sip]
bind = "127.0.0.1"
port = 0
{trunks}
{routes}
[media]
rtp_port_min = {10000 + (gw_b % 9000) // 2 * 2}
rtp_port_max = {10000 + (gw_b % 9000) // 2 * 2 + 200}
{media}
[runtime]
dir = "{tmp}/run"
[logging]
journald = false
"""


class Rig:
    def __init__(self, tmp: Path, peer: tuple[str, int], *, far: str = "libpri",
                 **kw: Any) -> None:
        """`far`: "libpri" (the simulated PBX) or "codec" (`tests.e2e.codec_pbx.CodecPbx`,
        our own Q.921/Q.931, for messages libpri will not send)."""
        self.tmp = tmp
        gw_b, far_b = span_udp_port(), span_udp_port()
        self.loaded = loads(config_text(tmp, peer, gw_b=gw_b, far_b=far_b, **kw), source="e2e")
        self.core = Core(self.loaded, lambda: self.loaded, parts=[PART])
        params = SpanParams(name="pbx", number=1, driver="virtual", type=SpanType.T1,
                            side=Side.NETWORK, block_samples=40,
                            virtual=VirtualParams(f"{tmp}/d.sock", ("127.0.0.1", far_b),
                                                  ("127.0.0.1", gw_b)))
        self.pbx: Any = SimulatedPbx(params) if far == "libpri" else CodecPbx(params)
        self.tap = Tap().install(self.pbx)  # every Q.931 message on the span, decoded
        self.task: asyncio.Task[int] | None = None
        self.events: list[Any] = []  # every CTI event the core published
        self.core.bus.subscribe(self.events.append)

    def cti(self, kind: str) -> list[dict[str, Any]]:
        """The data of each published event of `kind` (call.started, call.ended ...)."""
        return [dict(e.data) for e in self.events if e.kind == kind]

    @property
    def part(self) -> GatewayPart:
        return gateway_part(self.core)

    @property
    def sip_address(self) -> tuple[str, int]:
        sip = self.part.sip
        assert sip is not None
        return sip.address  # type: ignore[no-any-return]

    async def __aenter__(self) -> Rig:
        self.wire = SipWire()
        wl = logging.getLogger("tdmgw.sip.wire")
        self._wire_was = (wl.level, wl.propagate)
        wl.addHandler(self.wire)
        wl.setLevel(logging.DEBUG)
        wl.propagate = False  # to this capture only, not through every log handler
        self.task = asyncio.create_task(self.core.run())
        try:
            await wait_for(lambda: self.core.part_states.get(PART) is not None, 60,
                           "the gateway part started")
            assert self.core.part_states[PART] == "running", self.core.part_states
            await self.pbx.start()
            # up, and the restarts of the idle channels a link start brings (NI-2) are done
            await wait_for(lambda: self.pbx.up and all(
                s.link_up and s.dch.ctl.pool.all_idle() and not s.dch.ctl.pool.restarting()
                for s in self.part.spans.values()), 20, "D-channel up, restarts done")
        except BaseException:
            # no media process, sippy socket or capture left behind by a rig that never came up
            with contextlib.suppress(Exception):
                await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        wl = logging.getLogger("tdmgw.sip.wire")
        wl.removeHandler(self.wire)
        wl.setLevel(self._wire_was[0])
        wl.propagate = self._wire_was[1]
        self.core.stop()
        if self.task is not None:
            await asyncio.wait_for(self.task, 15)
        await self.pbx.stop()

    def describe(self) -> str:
        part = self.part
        return (f"bridges {[(c, x.bridge.state, x.bridge.isdn_live, x.bridge.sip_live, x.bridge.media) for c, x in part.calls.items()]}, "
                f"pbx busy {self.pbx.busy}, cc {[s.dch.ctl.calls() for s in part.spans.values()]}")

    def idle(self) -> bool:
        """No call anywhere: the bridge, call control and the PBX's channel map."""
        part = self.part
        return (not part.calls and not self.pbx.busy
                and all(not s.dch.ctl.calls() for s in part.spans.values()))


async def wait_for(cond: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await asyncio.sleep(0.01)
