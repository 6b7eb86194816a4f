"""The gateway part of the core: calls between the PBX's spans and the SIP trunks.

What runs where (the lead's decision, issue 9): the spans' B-channels and
their clock live in media processes (`appliance.media.process`), so
signalling cannot stall media.  This part therefore tells the core's
`SpanManager` to leave the configured spans alone (`host_elsewhere`), shares
the spans out over `media.processes` media processes
(`appliance.gateway.media.MediaPlane`), and reaches their D-channels through
the media control API: received frames arrive as `dframe` events, frames to
send go out with `send_frame`, and alarms come as `span_event` (reported to
the status board and CTI as `span.state`, as the SpanManager would).  A media
process that dies takes its spans' layer 1 with it: those spans go to alarm,
their calls are cleared with cause 41 (temporary failure: BYE with
Reason Q.850 toward SIP; toward the PBX the channels are restarted, Q.931 5.5,
once the new process brings the D-channel back) and the process is restarted.

Per span, Q.921 + Q.931 (`appliance.isdn.cc.dchannel.DChannel`) run here in the
core's asyncio loop on `time.monotonic()`; the SIP side is
`appliance.sip.endpoint.SipEndpoint` (sippy in its own thread, events handed
over with `call_soon_threadsafe`); per call a `bridge.Bridge` decides and this
module does what it asks (`_do`).  The facts cross by
`appliance.gateway.isdnfacts` (ISDN) and the SIP endpoint's header mapping
(`appliance.interwork.sipheaders` under each trunk's `TrunkPolicy`).  CTI gets
`call.*` events with the facts unchanged (`Core.call_started` / `call_ended`
and `core.bus.publish`).

Limits: the RTP address offered in SDP is the SIP bind address (or, bound to 0.0.0.0, the
local address that routes to the first trunk).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from appliance.gateway import bridge as B
from appliance.gateway import bridge_events as BE
from appliance.gateway.isdnfacts import cause_of, facts_in, ies_out
from appliance.gateway.media import MediaPlane, PortPool, finite, media_summary, mirror
from appliance.gateway.routing import Router
from appliance.interwork.facts import CauseFact
from appliance.isdn.cc import events as E
from appliance.isdn.cc import parties
from appliance.isdn.cc.channels import Hunting
from appliance.isdn.cc.dchannel import DChannel
from appliance.isdn.cc.variants import VariantProfile, profile
from appliance.isdn.q921 import Lapd
from appliance.isdn.q931 import Variant
from appliance.logs import get_logger
from appliance.media.control import MediaError
from appliance.media.stream import Codec, StreamSpec
from appliance.sip import events as sev
from appliance.sip import sdp as sdpmod
from appliance.sip.endpoint import SipEndpoint
from appliance.sip.handle import SipCallHandle
from appliance.sip.trunks import EndpointSettings
from drivers.span import SpanParams

if TYPE_CHECKING:
    from appliance.config import SpanConfig
    from appliance.core.app import Core

log = get_logger("gateway")
span_log = get_logger("span")

VARIANTS = {"ni2": Variant.NI2, "4ess": Variant.ATT4ESS, "5ess": Variant.LUCENT5E,
            "dms100": Variant.DMS100, "euroisdn_e1": Variant.EUROISDN_E1,
            "euroisdn_t1": Variant.EUROISDN_T1, "qsig": Variant.QSIG}
HUNTING = {"ascending": Hunting.ASCENDING, "descending": Hunting.DESCENDING,
           "roundrobin": Hunting.ROUND_ROBIN_ASCENDING}


@dataclass
class IsdnSpan:
    """One span's D-channel, run here, with its frames carried by the media process."""

    cfg: SpanConfig
    params: SpanParams
    profile: VariantProfile
    dch: DChannel
    link_up: bool = False
    timer: asyncio.TimerHandle | None = None
    calls: dict[int, str] = field(default_factory=dict)  # ISDN call id -> our call id


@dataclass
class CallCtx:
    bridge: B.Bridge
    span: str | None = None
    isdn_id: int | None = None
    sip: SipCallHandle | None = None
    port: int | None = None
    row: int | None = None
    timer: asyncio.TimerHandle | None = None
    t0: float = 0.0
    marks: dict[str, float] = field(default_factory=dict)


class GatewayPart:
    """`appliance.core.parts` factory: `appliance.gateway.runtime:GatewayPart`."""

    name = "gateway"

    def __init__(self, core: Core) -> None:
        from appliance.core.shutdown import Phase
        from appliance.core.spans import span_params

        self.core = core
        cfg = core.boot
        self.params = {c.name: span_params(c) for c in cfg.spans}
        for c in cfg.spans:
            core.spans.host_elsewhere(c.name)
            core.board.set_span(c.name, "starting", detail={"host": "media process"})
        self.spans: dict[str, IsdnSpan] = {}
        self.calls: dict[str, CallCtx] = {}
        self.by_sip: dict[str, str] = {}
        self._ids = itertools.count(1)
        self.media: MediaPlane | None = None
        self.sip: SipEndpoint | None = None
        self.router: Router | None = None
        self.rtp_host = "127.0.0.1"
        self.counters = {"calls_in": 0, "calls_out": 0, "bridge_errors": 0, "setup_ms": 0.0}
        self.setup_ms: list[float] = []  # SETUP in -> INVITE out, 200 in -> CONNECT out
        self.answer_ms: list[float] = []
        self.media_open_ms: list[float] = []  # open_stream round trip to the media process
        m = core.boot.media
        self.ports = PortPool(self.rtp_host, m.rtp_port_min, m.rtp_port_max)
        core.shutdown.add(Phase.CALLS, "gateway calls", self.clear_calls)
        core.shutdown.add(Phase.SIGNALLING, "gateway signalling", self.stop)
        core.reload_hooks.append(self._reload)

    # -------------------------------------------------------------- life cycle

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.core.boot
        if not cfg.spans:
            log.info("gateway: no spans configured; no calls to carry (SIP not started)")
            return
        self.rtp_host = self.ports.host = _rtp_host(str(cfg.sip.bind), cfg.sip.trunks)
        self.media = MediaPlane(cfg.runtime.dir, list(self.params.values()), cfg.media.processes,
                                on_event=self._on_media_event, on_down=self._media_down,
                                on_up=self._media_up, port_min=cfg.media.rtp_port_min,
                                port_max=cfg.media.rtp_port_max, host=self.rtp_host,
                                # the media processes at SCHED_FIFO too (their guard falls back
                                # to nice -10 if their blocks stop fitting in real time)
                                realtime=cfg.media.realtime_priority > 0,
                                rt_priority=cfg.media.realtime_priority)
        await self.media.start()
        for c in cfg.spans:
            span_log.info("span %s started (%s %s, %s side; hosted by media process pid %s)",
                          c.name, c.driver, c.type, c.side, self.media.pid_of(c.name),
                          extra={"span": c.name})
        settings = EndpointSettings.from_config(cfg.sip)
        self.sip = SipEndpoint(settings, loop, self._on_sip)
        addr = await loop.run_in_executor(None, self.sip.start)
        self.router = Router.from_config(self.core.config.routes, settings.trunks,
                                         self.core.config.sip.trunks)
        now = time.monotonic()
        for c in cfg.spans:
            prof = profile(VARIANTS[c.switchtype], b_channels=self.params[c.name].bchannels)
            hunting = HUNTING.get(str(getattr(c, "hunting", "") or ""))
            dch = DChannel(prof, network=c.side == "network", now=now, hunting=hunting)
            sp = self.spans[c.name] = IsdnSpan(c, self.params[c.name], prof, dch)
            self._isdn_events(sp, dch.start(now))
        self.core.board.set_section("gateway", self.section)
        log.info("gateway: media processes %s, SIP on %s:%d, RTP on %s",
                 "; ".join(f"pid {s.pid}: {', '.join(s.names)}" for s in self.media.slots),
                 addr[0], addr[1], self.rtp_host)

    async def clear_calls(self) -> None:
        """SIGTERM: clear every call toward both sides, wait briefly for them to end."""
        now = time.monotonic()
        for ctx in list(self.calls.values()):
            self._actions(ctx, ctx.bridge.abort(16, now))
        deadline = time.monotonic() + 1.5
        while self.calls and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self.sip is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.sip.close)
        if self.media is not None:
            await self.media.shutdown()
        for name in self.params:
            self.core.board.set_span(name, "stopped")

    def _reload(self, old: Any, new: Any, changes: Any) -> None:
        if self.router is not None and self.sip is not None:
            active = self.router.active
            self.router = Router.from_config(new.routes, self.sip.settings.trunks, new.sip.trunks)
            self.router.active = active
            for ctx in self.calls.values():
                ctx.bridge.router = self.router

    def section(self) -> dict[str, Any]:
        return {
            "spans": {n: {"dchannel": "up" if s.link_up else "down", "calls": len(s.calls)}
                      for n, s in self.spans.items()},
            "calls": len(self.calls), "counters": dict(self.counters),
            "trunk_calls": dict(self.router.active) if self.router else {},
            "sip": dict(self.sip.counters) if self.sip else {},
            "media": self.media.section() if self.media else [],
        }

    # -------------------------------------------------------------- span I/O

    def _on_media_event(self, ev: dict[str, Any]) -> None:
        kind = ev.get("event")
        if kind == "dframe":
            sp = self.spans.get(ev["span"])
            if sp is not None:
                now = time.monotonic()
                self._isdn_events(sp, sp.dch.receive_frame(bytes.fromhex(ev["frame"]), now))
        elif kind == "span_event":
            self._span_event(ev)
        elif kind == "dtmf":
            cid = ev.get("call_id")
            # one call.dtmf per digit, when it ends (duration known): the media process
            # reports start and end, from the PBX (in band) or from SIP (RFC 4733)
            if ev.get("phase", "end") == "end" and ev.get("digit"):
                self.core.bus.publish("call.dtmf", call=cid, digit=ev.get("digit"),
                                      source=ev.get("from", "pbx"),
                                      **{k: v for k, v in ev.items() if k in ("duration_ms", "cut")})
        elif kind in ("rtp_timeout", "latched"):
            self.core.bus.publish(f"call.{kind}", **{k: v for k, v in ev.items() if k != "event"})
            if kind == "rtp_timeout":
                log.warning("call %s: no RTP for %s s", ev.get("call_id"), ev.get("silent_s"),
                            extra={"call": ev.get("call_id")})

    def _span_event(self, ev: dict[str, Any]) -> None:
        name = ev["span"]
        state = "up" if ev.get("layer1_up") else "alarm"
        before = self.core.board.span_state(name)
        self.core.board.set_span(name, state, alarms=list(ev.get("alarms", [])),
                                 detail={"host": "media process", "last_event": ev.get("detail")})
        if before != state:
            self.core.bus.publish("span.state", span=name, state=state, alarms=ev.get("alarms", []))
            log.info("span %s: %s %s", name, state, ",".join(ev.get("alarms", [])),
                     extra={"span": name})
        if state == "alarm" and name in self.spans:
            sp = self.spans[name]
            # layer 1 gone: tell LAPD at once instead of waiting for T200 x N200
            now = time.monotonic()
            if sp.link_up:
                with contextlib.suppress(Exception):
                    self._isdn_events(sp, sp.dch.l2_events(sp.dch.lapd.release(now), now))

    def _media_down(self, spans: list[str], why: str) -> None:
        """A media process died: its spans lost layer 1 and their calls lost their media."""
        now = time.monotonic()
        for name in spans:
            sp = self.spans.get(name)
            if sp is not None:
                # Layer 1 went with the process, so layer 2 is gone now: a fresh LAPD entity
                # (no DISC to wait T200 x N200 for) and DL-RELEASE to call control, which
                # clears calls being set up and keeps active ones under T309 (Q.931 5.8.8)
                sp.dch.lapd = Lapd(sp.dch.lapd.side, now, sp.dch.lapd.config)
                down = sp.dch.run(sp.dch.ctl.l2_down(now), now)
                self._isdn_events(sp, [E.DataLinkDown(why), *down])
            self._span_event({"span": name, "layer1_up": False, "alarms": ["MEDIA"],
                              "detail": why})
            for ctx in [c for c in self.calls.values() if c.span == name]:
                # their audio is gone: BYE toward SIP; toward the PBX, cleared while the
                # link is down, so call control restarts the channel once it is back
                log.warning("call %s: %s; clearing it (cause 41)", ctx.bridge.call_id, why,
                            extra={"call": ctx.bridge.call_id, "cause": 41})
                self._actions(ctx, ctx.bridge.abort(41, now))

    def _media_up(self, spans: list[str], pid: int | None) -> None:
        now = time.monotonic()
        for name in spans:
            # the new process may have reported layer 1 up before this callback ran
            # (_media_down left "alarm"): keep its "up" rather than hide it as "starting"
            if self.core.board.span_state(name) != "up":
                self.core.board.set_span(name, "starting",
                                         detail={"host": f"media process {pid}"})
            sp = self.spans.get(name)
            if sp is not None:
                self._isdn_events(sp, sp.dch.start(now))

    def _flush(self, sp: IsdnSpan) -> None:
        if self.media is not None:
            for f in sp.dch.frames_to_send():
                fut = asyncio.ensure_future(self.media.send_frame(sp.cfg.name, f))
                fut.add_done_callback(_log_failure)
        self._arm_span(sp)

    def _arm_span(self, sp: IsdnSpan) -> None:
        if sp.timer is not None:
            sp.timer.cancel()
            sp.timer = None
        t = sp.dch.get_timer()
        if t is not None:
            sp.timer = asyncio.get_running_loop().call_at(t, self._span_timer, sp)

    def _span_timer(self, sp: IsdnSpan) -> None:
        sp.timer = None
        self._isdn_events(sp, sp.dch.handle_timer(time.monotonic()))

    def _isdn(self, sp: IsdnSpan, out: E.Output) -> None:
        self._isdn_events(sp, sp.dch.run(out, time.monotonic()))

    # -------------------------------------------------------------- ISDN events

    def _isdn_events(self, sp: IsdnSpan, events: list[E.Event]) -> None:
        self._flush(sp)
        for ev in events:
            try:
                self._isdn_event(sp, ev)
            except Exception:
                log.exception("span %s: handling %r failed", sp.cfg.name, ev,
                              extra={"span": sp.cfg.name})
        self._flush(sp)

    def _isdn_event(self, sp: IsdnSpan, ev: E.Event) -> None:
        name = sp.cfg.name
        if isinstance(ev, E.DataLinkUp):
            sp.link_up = True
            log.info("span %s: D-channel up%s", name, " (re-established)" if ev.reestablished
                     else "", extra={"span": name})
            self.core.bus.publish("span.dchannel", span=name, up=True)
            return
        if isinstance(ev, E.DataLinkDown):
            sp.link_up = False
            log.warning("span %s: D-channel down: %s", name, ev.reason, extra={"span": name})
            self.core.bus.publish("span.dchannel", span=name, up=False, reason=ev.reason)
            return
        if isinstance(ev, E.ProtocolError):
            log.warning("span %s: protocol error, cause %d: %s", name, ev.cause, ev.detail,
                        extra={"span": name, "cause": ev.cause})
            return
        if isinstance(ev, E.IncomingCall):
            self._incoming_isdn(sp, ev)
            return
        if not isinstance(ev, E.CallEvent):
            return
        cid = sp.calls.get(ev.call_id)
        ctx = self.calls.get(cid) if cid is not None else None
        if ctx is None:
            return
        b: BE.Event | None = None
        if isinstance(ev, E.Proceeding):
            b = BE.IsdnProceeding()
            if ev.channel is not None:
                self._feed(ctx, BE.IsdnPlaced(name, ev.channel))
        elif isinstance(ev, E.ChannelChanged):
            if ev.channel is not None:
                b = BE.IsdnPlaced(name, ev.channel)
        elif isinstance(ev, E.Alerting):
            b = BE.IsdnAlerting(ev.inband, facts_in(ev.message))
        elif isinstance(ev, E.Progress):
            b = BE.IsdnProgress(any(p in (1, 8) for p in ev.progress))
        elif isinstance(ev, E.Connected):
            b = BE.IsdnConnected(facts_in(ev.message))
        elif isinstance(ev, E.Disconnected):
            cause = cause_of(ev.message, ev.cause) or CauseFact(ev.cause)
            b = BE.IsdnDisconnected(cause, ev.inband)
        elif isinstance(ev, E.FacilityReceived):
            # facts sent after the SETUP (NI-2 "name information follows": the calling
            # name in a FACILITY): the bridge merges them (a held INVITE takes the name)
            b = BE.IsdnLateFacts(facts_in(ev.message))
        elif isinstance(ev, E.Released):
            sp.calls.pop(ev.call_id, None)
            ctx.isdn_id = None
            b = BE.IsdnReleased(cause_of(ev.message, ev.cause))
        if b is not None:
            self._feed(ctx, b)

    def _bridge(self, cid: str) -> B.Bridge:
        assert self.router is not None
        return B.Bridge(cid, self.router,
                        early_disconnect_s=self.core.config.routes.early_disconnect_s)

    def _incoming_isdn(self, sp: IsdnSpan, ev: E.IncomingCall) -> None:
        now = time.monotonic()
        cid = f"{sp.cfg.name}-{next(self._ids)}"
        assert self.router is not None
        ctx = CallCtx(self._bridge(cid), span=sp.cfg.name, isdn_id=ev.call_id, t0=now)
        self.calls[cid] = ctx
        sp.calls[ev.call_id] = cid
        self.counters["calls_in"] += 1
        self._feed(ctx, BE.IsdnSetup(sp.cfg.name, ev.channel, facts_in(ev.message),
                                    name_follows=ev.message is not None
                                    and parties.name_follows(ev.message)))

    # -------------------------------------------------------------- SIP events

    def _on_sip(self, ev: sev.SipEvent) -> None:
        try:
            self._sip_event(ev)
        except Exception:
            log.exception("SIP event %r failed", type(ev).__name__)

    def _sip_event(self, ev: sev.SipEvent) -> None:
        if isinstance(ev, sev.IncomingCall):
            now = time.monotonic()
            assert self.router is not None
            cid = f"sip-{next(self._ids)}"
            ctx = CallCtx(self._bridge(cid), sip=ev.call, t0=now)
            self.calls[cid] = ctx
            self.by_sip[ev.call.id] = cid
            self.counters["calls_out"] += 1
            self._feed(ctx, BE.SipInvite(ev.trunk, ev.request_user, ev.facts, ev.remote))
            return
        if isinstance(ev, sev.TrunkStatus):
            log.log(20 if ev.up else 30, "SIP trunk %s target %s:%d %s%s", ev.trunk,
                    ev.target[0], ev.target[1], "up" if ev.up else "down",
                    f" ({ev.why})" if ev.why else "")
            self.core.bus.publish("trunk.state", trunk=ev.trunk, target=list(ev.target),
                                  up=ev.up, why=ev.why)
            return
        if isinstance(ev, sev.Refused):
            self.core.bus.publish("sip.refused", source=list(ev.source), method=ev.method,
                                  status=ev.status, why=ev.why)
            return
        if isinstance(ev, sev.RegistrationStatus):
            self.core.bus.publish("trunk.registration", trunk=ev.trunk,
                                  registered=ev.registered, status=ev.status)
            return
        sid = self.by_sip.get(ev.call.id)
        sctx = self.calls.get(sid) if sid is not None else None
        if sctx is None:
            return
        ctx = sctx
        b: BE.Event | None = None
        if isinstance(ev, sev.Provisional):
            b = BE.SipProvisional(ev.status, ev.remote)
        elif isinstance(ev, sev.Answered):
            ctx.marks["answered"] = time.monotonic()
            b = BE.SipAnswered(ev.remote)
        elif isinstance(ev, sev.Failed):
            self.by_sip.pop(ev.call.id, None)
            b = BE.SipFailed(ev.status, ev.cause)
        elif isinstance(ev, sev.Hangup):
            self.by_sip.pop(ev.call.id, None)
            b = BE.SipHangup(ev.cause)
        elif isinstance(ev, sev.MediaChanged):
            b = BE.SipMediaChanged(ev.remote)
        elif isinstance(ev, sev.DtmfInfo) and self.media is not None:
            fut = asyncio.ensure_future(self.media.play_digits(ctx.bridge.call_id, ev.digit))
            fut.add_done_callback(_log_failure)
        if b is not None:
            self._feed(ctx, b)

    # -------------------------------------------------------------- the bridge

    def _feed(self, ctx: CallCtx, ev: BE.Event) -> None:
        now = time.monotonic()
        try:
            actions = ctx.bridge.handle(ev, now)
        except B.BridgeError as e:
            self.counters["bridge_errors"] += 1
            log.warning("call %s: %s; clearing it (cause %d)", ctx.bridge.call_id, e, e.cause,
                        extra={"call": ctx.bridge.call_id, "cause": e.cause})
            actions = ctx.bridge.abort(e.cause, now)
        self._actions(ctx, actions)

    def _bridge_timer(self, ctx: CallCtx) -> None:
        ctx.timer = None
        self._actions(ctx, ctx.bridge.handle_timer(time.monotonic()))

    def _actions(self, ctx: CallCtx, actions: list[BE.Action]) -> None:
        for a in actions:
            try:
                self._do(ctx, a)
            except Exception:
                log.exception("call %s: %s failed", ctx.bridge.call_id, type(a).__name__,
                              extra={"call": ctx.bridge.call_id})
        if ctx.timer is not None:
            ctx.timer.cancel()
            ctx.timer = None
        t = ctx.bridge.get_timer()
        if t is not None:
            ctx.timer = asyncio.get_running_loop().call_at(t, self._bridge_timer, ctx)
        if ctx.bridge.done:
            self.calls.pop(ctx.bridge.call_id, None)
            if ctx.sip is not None:
                self.by_sip.pop(ctx.sip.id, None)
            if ctx.span is not None and ctx.isdn_id is not None:
                self.spans[ctx.span].calls.pop(ctx.isdn_id, None)

    def _local(self, ctx: CallCtx) -> sdpmod.LocalMedia:
        assert ctx.port is not None and ctx.span is not None
        law: sdpmod.Law = "alaw" if self.params[ctx.span].span_law.value == "alaw" else "ulaw"
        return sdpmod.LocalMedia(self.rtp_host, ctx.port, law, self.core.config.media.ptime_ms)

    def _do(self, ctx: CallCtx, a: BE.Action) -> None:
        now = time.monotonic()
        b = ctx.bridge
        sp = self.spans.get(ctx.span) if ctx.span is not None else None
        if isinstance(a, BE.CallEvent):
            self._call_event(ctx, a)
        elif isinstance(a, BE.IsdnSetupReq):
            self._place_isdn(ctx, a, now)
        elif sp is not None and ctx.isdn_id is not None and isinstance(
                a, (BE.IsdnProceedingReq, BE.IsdnAlertingReq, BE.IsdnProgressReq, BE.IsdnConnectReq,
                    BE.IsdnDisconnectReq, BE.IsdnReleaseReq)):
            ctl, cid = sp.dch.ctl, ctx.isdn_id
            if isinstance(a, BE.IsdnProceedingReq):
                out = ctl.proceeding(cid, now)
            elif isinstance(a, BE.IsdnAlertingReq):
                out = ctl.alerting(cid, now, inband=a.inband)
            elif isinstance(a, BE.IsdnProgressReq):
                out = ctl.progress(cid, now, description=8)
            elif isinstance(a, BE.IsdnConnectReq):
                out = ctl.connect(cid, now)
                if "answered" in ctx.marks:
                    self.answer_ms.append((now - ctx.marks["answered"]) * 1000)
            elif isinstance(a, BE.IsdnDisconnectReq):
                # the SIP side's Reason location (RFC 8606) kept; 0 (user, also the
                # default of a mapped status) leaves call control's own location
                out = ctl.disconnect(cid, now, a.cause.value,
                                     location=a.cause.location or None)
            else:
                out = ctl.release(cid, now, a.cause)
            self._isdn(sp, out)
        elif isinstance(a, BE.SipInviteReq):
            assert self.sip is not None
            ctx.sip = self.sip.place_call(a.trunk, a.request_user, a.facts, self._local(ctx))
            self.by_sip[ctx.sip.id] = b.call_id
            self.setup_ms.append((time.monotonic() - ctx.t0) * 1000)
        elif ctx.sip is not None and isinstance(a, BE.SipProvisionalReq):
            ctx.sip.provisional(a.status, self._local(ctx) if a.sdp else None)
        elif ctx.sip is not None and isinstance(a, BE.SipAnswerReq):
            ctx.sip.answer(self._local(ctx))
        elif ctx.sip is not None and isinstance(a, BE.SipRejectReq):
            ctx.sip.reject(a.status, a.cause)
        elif ctx.sip is not None and isinstance(a, BE.SipHangupReq):
            ctx.sip.hangup(a.cause)
        elif isinstance(a, BE.MediaOpenReq):
            ctx.marks["media_req"] = now
            ctx.row = self.params[a.span].bchannels.index(a.channel)
            # Our own port pool: the SDP can name the port before the media process has
            # bound it (requests on the control socket are handled in order, so a modify
            # or close never overtakes the open); a port some other program holds is
            # skipped here, and a bind failure in the media process still clears the call.
            port = self.ports.take()
            if port is None:
                self._feed(ctx, BE.MediaFailed("no free RTP port in media.rtp_port_min..max"))
                return
            ctx.port = port
            self._spawn(ctx, self._media_open(ctx, a))
            self._feed(ctx, BE.MediaOpened(ctx.port))
        elif isinstance(a, BE.MediaModifyReq):
            self._spawn(ctx, self._media_modify(ctx, a))
        elif isinstance(a, BE.MediaMoveReq):
            self._spawn(ctx, self._media_move(ctx, a))
        elif isinstance(a, BE.MediaCloseReq):
            self._spawn(ctx, self._media_close(ctx))

    def _place_isdn(self, ctx: CallCtx, a: BE.IsdnSetupReq, now: float) -> None:
        """Try the route's spans in order for a free B-channel (hunting is per span)."""
        cause = 34
        for name in a.spans:
            sp = self.spans.get(name)
            if sp is None or not sp.link_up:
                cause = 27 if sp is not None else cause  # destination out of order
                continue
            ies = ies_out(sp.profile, a.facts, a.called)
            isdn_id, out = sp.dch.ctl.setup(now, called=a.called.digits, ies=ies)
            released = any(isinstance(e, E.Released) for e in out.events)
            setup = next((m for m in out.messages if m.mt == "SETUP"), None)
            if released or setup is None or setup.channel is None or not setup.channel.channels:
                sp.dch.run(out, now)
                continue
            ctx.span, ctx.isdn_id = name, isdn_id
            sp.calls[isdn_id] = ctx.bridge.call_id
            self._feed(ctx, BE.IsdnPlaced(name, setup.channel.channels[0]))
            self._isdn(sp, out)
            return
        self._feed(ctx, BE.IsdnSetupFailed(cause))

    def _call_event(self, ctx: CallCtx, a: BE.CallEvent) -> None:
        d = dict(a.data)
        cid = d.pop("call")
        if a.kind == "call.started":
            self.core.call_started(cid, span=d.pop("span", None) or ctx.span or "",
                                   channel=d.pop("channel", None),
                                   direction="inbound" if d.pop("direction") == "in"
                                   else "outbound", **d)
        elif a.kind == "call.answered":
            self.core.call_answered(cid)
        elif a.kind == "call.ended":
            cause = d.pop("cause")
            self.core.call_ended(cid, cause=cause["value"], cause_fact=cause, **d)
        else:
            self.core.bus.publish(a.kind, call=cid, **d)
            if a.kind in ("call.routed", "call.failing"):
                log.info("call %s %s: %s", cid, a.kind.split(".")[1],
                         ", ".join(f"{k}={v}" for k, v in d.items()), extra={"call": cid})
            elif a.kind == "call.media":
                log.info("call %s media: %s", cid, media_summary(d.get("stats", {})),
                         extra={"call": cid})

    # -------------------------------------------------------------- media

    def _spawn(self, ctx: CallCtx, coro: Any) -> None:
        fut = asyncio.ensure_future(coro)
        fut.add_done_callback(_log_failure)

    def _spec(self, ctx: CallCtx, remote: sdpmod.RemoteMedia | None) -> StreamSpec:
        assert ctx.span is not None and ctx.row is not None
        law = self.params[ctx.span].span_law.value
        codec = Codec.PCMA if law == "alaw" else Codec.PCMU
        kw: dict[str, Any] = {}
        if remote is not None:
            kw = {"remote": (remote.address, remote.port), "codec": Codec(remote.codec),
                  "payload_type": remote.payload_type, "event_pt": remote.dtmf_payload_type,
                  "direction": mirror(remote.direction)}
            if remote.ptime:
                kw["ptime_ms"] = remote.ptime
        m = self.core.config.media
        return StreamSpec(ctx.bridge.call_id, ctx.span, ctx.row, **({  # type: ignore[arg-type]
            "codec": codec, "payload_type": codec.static_pt, "ptime_ms": m.ptime_ms,
            "jitter_min_ms": max(m.jitter_min_ms, m.ptime_ms), "jitter_max_ms": m.jitter_max_ms,
            "local_host": self.rtp_host} | kw))

    async def _media_open(self, ctx: CallCtx, a: BE.MediaOpenReq) -> None:
        assert self.media is not None and ctx.port is not None
        try:
            await self.media.open_stream(self._spec(ctx, a.remote).with_(local_port=ctx.port))
        except (MediaError, ValueError, ConnectionError, OSError) as e:
            self._release_port(ctx)
            self._feed(ctx, BE.MediaFailed(str(e)))
            return
        if "media_req" in ctx.marks:
            self.media_open_ms.append((time.monotonic() - ctx.marks["media_req"]) * 1000)

    async def _media_modify(self, ctx: CallCtx, a: BE.MediaModifyReq) -> None:
        assert self.media is not None
        changes: dict[str, Any] = {"tone": a.tone}
        if a.remote is not None:
            spec = self._spec(ctx, a.remote)
            changes |= {"remote": list(spec.remote or ()), "codec": spec.codec.value,
                        "payload_type": spec.payload_type, "event_pt": spec.event_pt,
                        "direction": spec.direction.value}
        with contextlib.suppress(KeyError):
            await self.media.modify(ctx.bridge.call_id, **changes)

    async def _media_move(self, ctx: CallCtx, a: BE.MediaMoveReq) -> None:
        assert self.media is not None and ctx.span is not None
        await self.media.close(ctx.bridge.call_id)
        ctx.row = self.params[ctx.span].bchannels.index(a.channel)
        spec = self._spec(ctx, ctx.bridge.remote).with_(local_port=ctx.port or 0)
        await self.media.open_stream(spec)

    async def _media_close(self, ctx: CallCtx) -> None:
        assert self.media is not None
        stats: dict[str, Any] = {}
        try:
            stats = await self.media.close(ctx.bridge.call_id)
        except MediaError as e:
            log.warning("call %s: media close: %s", ctx.bridge.call_id, e)
        self._release_port(ctx)
        self._feed(ctx, BE.MediaClosed(finite(stats)))

    def _release_port(self, ctx: CallCtx) -> None:
        if ctx.port is not None:
            self.ports.give_back(ctx.port)
            ctx.port = None


def _rtp_host(bind: str, trunks: Any) -> str:
    if bind not in ("0.0.0.0", "::"):
        return bind
    target = trunks[0].host if trunks else "192.0.2.1"
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((target, 9))
        return str(s.getsockname()[0])
    return "127.0.0.1"


def _log_failure(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.error("gateway task failed: %r", fut.exception())
