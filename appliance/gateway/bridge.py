"""The call bridge: one ISDN call leg joined to one SIP call leg, sans-I/O, as a table.

What: the interworking of call progress between Q.931 and SIP for one call,
either way:

- PBX to SIP ("in"): SETUP -> CALL PROCEEDING at once, before any routing
  lookup (the PBX's T303/T310 are short, Q.931 5.2.5.2), then the route, an RTP
  port from the media plane, and the INVITE.  180 without SDP -> ALERTING with
  progress indicator 8 and ringback generated locally toward the PBX; 180 or
  183 with SDP -> ALERTING / PROGRESS with PI 8 and the peer's early media cut
  through; 200 -> CONNECT; a final failure -> DISCONNECT with the Reason
  header's cause or the RFC 3398 s8.2.6.1 mapping of the status.
- SIP to PBX ("out"): INVITE -> route -> SETUP on the first span with a free
  B-channel, and the RTP port; ALERTING without in-band information -> 180
  without SDP; ALERTING or PROGRESS with PI 1 or 8 -> 183 with SDP, audio cut
  through; CONNECT -> 200; DISCONNECT before answer -> the RFC 3398 s7.2.4.1
  status with a Reason header (RFC 6432), except that a DISCONNECT with PI 8
  keeps the early media (an announcement) until the caller CANCELs or
  `early_disconnect_s` ends it (Q.931 5.4, RFC 3398 s7.2.4.1 note).
- either way: BYE, CANCEL or DISCONNECT clear the other leg with the cause
  mapped (Reason: Q.850 in BYE/CANCEL per RFC 3326); a re-INVITE or UPDATE
  (hold, a new address) re-points the media and keeps the B-channel; the call
  is over (`State.DONE`, one `CallEvent("call.ended")`) only when the ISDN leg
  is released, the SIP leg gone and the media stream closed, so every call
  ends with its B-channel idle.

How: `Bridge.handle(event, now)` looks up (direction, state, event type) in
`TABLE`; a pair not in it raises `BridgeError` carrying Q.850 cause 101 and
SIP status 500 (the runtime then clears the call).  Outputs are `Action`
values for the runtime to carry out, in order.  Time is only the `now` passed
in; `get_timer()` / `handle_timer(now)` run the media-open guard and the early
media timer.  Actions that need our SDP wait until the media plane has
given the RTP port (`MediaOpened`).

Facts (`appliance.interwork.facts.CallFacts`) go across unchanged and into the
call's CTI events (`CallEvent`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from enum import StrEnum
from typing import Any, Literal

from appliance.gateway.bridge_events import (
    Action,
    CallEvent,
    Direction,
    Event,
    IsdnAlerting,
    IsdnAlertingReq,
    IsdnConnected,
    IsdnConnectReq,
    IsdnDisconnected,
    IsdnDisconnectReq,
    IsdnLateFacts,
    IsdnPlaced,
    IsdnProceeding,
    IsdnProceedingReq,
    IsdnProgress,
    IsdnProgressReq,
    IsdnReleased,
    IsdnReleaseReq,
    IsdnSetup,
    IsdnSetupFailed,
    IsdnSetupReq,
    MediaClosed,
    MediaCloseReq,
    MediaFailed,
    MediaModifyReq,
    MediaMoveReq,
    MediaOpened,
    MediaOpenReq,
    SipAnswered,
    SipAnswerReq,
    SipFailed,
    SipHangup,
    SipHangupReq,
    SipInvite,
    SipInviteReq,
    SipMediaChanged,
    SipProvisional,
    SipProvisionalReq,
    SipRejectReq,
)
from appliance.gateway.routing import NoRoute, Router
from appliance.interwork.causes import cause_for_status, status_for_cause
from appliance.interwork.facts import CallFacts, CauseFact
from appliance.isdn.cause import CauseValue as C
from appliance.sip.sdp import RemoteMedia

MEDIA_OPEN_S = 5.0
# NI-2 "name information follows" (T1.641 / NIS A211-1): the INVITE waits this long
# for the FACILITY with the calling name; the PBX has its CALL PROCEEDING already
NAME_WAIT_S = 0.5
EARLY_DISCONNECT_S = 30.0


class State(StrEnum):
    IDLE = "idle"
    SETUP = "setup"  # both legs being set up, nothing relayed back yet
    EARLY = "early"  # alerting / early media relayed
    ACTIVE = "active"
    EARLY_DISCONNECT = "early-disconnect"  # PBX disconnected with PI 8: announcement kept
    CLEARING = "clearing"  # waiting for the legs and the stream to be gone
    DONE = "done"


class BridgeError(Exception):
    """An event the bridge has no transition for: clear the call with these."""

    def __init__(self, detail: str, cause: int = C.MESSAGE_NOT_COMPATIBLE_WITH_CALL_STATE_101,
                 status: int = 500) -> None:
        super().__init__(detail)
        self.cause = int(cause)
        self.status = status


# ---------------------------------------------------------------- inputs

# ---------------------------------------------------------------- the machine

Handler = Callable[["Bridge", Any, float], None]
S = State


class Bridge:
    """One call across the gateway."""

    def __init__(self, call_id: str, router: Router, *,
                 early_disconnect_s: float | None = None,
                 media_open_s: float | None = None) -> None:
        self.call_id = call_id
        self.router = router
        # None: the module's values as they are now (a test or tool may lower them)
        self.early_disconnect_s = EARLY_DISCONNECT_S if early_disconnect_s is None \
            else early_disconnect_s
        self.media_open_s = MEDIA_OPEN_S if media_open_s is None else media_open_s
        self.state = State.IDLE
        self.direction: Direction = "in"
        self.span: str | None = None
        self.channel: int | None = None
        self.trunk: str | None = None
        self.facts = CallFacts()
        self.cause: CauseFact | None = None
        self.isdn_live = False
        self.sip_live = False
        self.media: Literal["none", "opening", "open", "closing", "closed"] = "none"
        self.remote: RemoteMedia | None = None
        self.alerted = False  # ALERTING sent (in) / 18x sent (out)
        self.sdp_sent = False  # out: our SDP reached the caller (183 or 200)
        self.answered = False
        self._deferred: list[Action] = []
        self._out: list[Action] = []
        self._timers: dict[str, float] = {}
        self._held_invite: SipInviteReq | None = None  # waiting for a name that follows
        self.t_created: float | None = None

    # -------------------------------------------------------------- interface

    def handle(self, event: Event, now: float) -> list[Action]:
        """Feed one event; returns the actions to carry out, in order."""
        handler = TABLE.get((self.direction, self.state, type(event)))
        if handler is None and self.state is S.IDLE:
            handler = TABLE.get(("out" if isinstance(event, SipInvite) else "in",
                                 self.state, type(event)))
        if handler is None:
            raise BridgeError(f"{type(event).__name__} in state {self.state} "
                              f"({self.direction} call {self.call_id})")
        self._out = []
        handler(self, event, now)
        self._check_done()
        return self._take()

    def get_timer(self) -> float | None:
        return min(self._timers.values(), default=None)

    def handle_timer(self, now: float) -> list[Action]:
        self._out = []
        for name, at in sorted(self._timers.items(), key=lambda kv: kv[1]):
            if at <= now:
                del self._timers[name]
                if name == "media":
                    self._fail(CauseFact(C.RESOURCE_UNAVAILABLE_UNSPECIFIED), 503,
                               "no RTP port from the media plane in time")
                elif name == "early":
                    self._end_early_disconnect()
                elif name == "name":
                    self._release_invite()
        self._check_done()
        return self._take()

    def abort(self, cause: int, now: float) -> list[Action]:
        """Clear both legs (a `BridgeError`, shutdown): whatever state the call is in."""
        self._out = []
        if self.state is not S.DONE:
            self._fail(CauseFact(cause), status_for_cause(cause), "aborted")
        self._check_done()
        return self._take()

    @property
    def done(self) -> bool:
        return self.state is S.DONE

    # -------------------------------------------------------------- helpers

    def _emit(self, *actions: Action) -> None:
        self._out.extend(actions)

    def _take(self) -> list[Action]:
        out, self._out = self._out, []
        return out

    def _needs_sdp(self, action: Action) -> None:
        if self.media == "open":
            self._emit(action)
        else:
            self._deferred.append(action)

    def _event(self, kind: str, **data: Any) -> None:
        self._emit(CallEvent(kind, {"call": self.call_id, **data}))

    def _open_media(self, now: float) -> None:
        assert self.span is not None and self.channel is not None
        self.media = "opening"
        self._timers["media"] = now + self.media_open_s
        self._emit(MediaOpenReq(self.span, self.channel, self.remote))

    def _close_media(self) -> None:
        self._timers.pop("media", None)
        if self.media == "open":
            self.media = "closing"
            self._emit(MediaCloseReq())
        elif self.media == "none":
            self.media = "closed"
        # "opening": closed as soon as MediaOpened/MediaFailed says what there is

    def _set_cause(self, cause: CauseFact | None) -> None:
        if self.cause is None and cause is not None:
            self.cause = cause

    def _clearing(self) -> None:
        self.state = S.CLEARING
        self._timers.pop("early", None)
        self._timers.pop("name", None)
        self._held_invite = None
        self._deferred.clear()
        self._close_media()

    def _fail(self, cause: CauseFact, status: int, why: str) -> None:
        """Clear every live leg from here (routing refusals, timeouts, errors)."""
        self._set_cause(cause)
        if self.sip_live:
            self.sip_live = False
            if self.direction == "out" and not self.answered:
                self._emit(SipRejectReq(status, cause))
            else:
                self._emit(SipHangupReq(cause))
        if self.isdn_live and self.state is not S.CLEARING:
            self._emit(IsdnDisconnectReq(cause))
        self._event("call.failing", why=why, cause=cause.to_event())
        self._clearing()

    def _check_done(self) -> None:
        if (self.state is S.CLEARING and not self.isdn_live and not self.sip_live
                and self.media in ("closed", "none")):
            self.state = S.DONE
            self._timers.clear()
            if self.trunk is not None:
                self.router.release(self.trunk)
            cause = self.cause or CauseFact(C.NORMAL_CALL_CLEARING)
            self._event("call.ended", cause=cause.to_event(), answered=self.answered)

    # -------------------------------------------------------------- PBX -> SIP

    def _in_setup(self, ev: IsdnSetup, now: float) -> None:
        self.direction = "in"
        self.t_created = now
        self.span, self.channel, self.facts = ev.span, ev.channel, ev.facts
        self.isdn_live = True
        self.state = S.SETUP
        self._emit(IsdnProceedingReq())  # before any lookup: the PBX's T310 is short
        self._event("call.started", direction="in", span=ev.span, channel=ev.channel,
                    facts=ev.facts.to_event())
        try:
            d = self.router.inbound(ev.span, ev.facts.called, ev.facts.calling)
        except NoRoute as nr:
            self._fail(CauseFact(nr.cause), nr.status, nr.why)
            return
        self.trunk = d.trunk
        self.router.acquire(d.trunk)
        self._event("call.routed", rule=d.rule, trunk=d.trunk, request_user=d.request_user)
        self._open_media(now)
        invite = SipInviteReq(d.trunk, d.request_user, ev.facts)
        if ev.name_follows:
            self._held_invite = invite
            self._timers["name"] = now + NAME_WAIT_S
        else:
            self._deferred.append(invite)

    def _release_invite(self) -> None:
        """The held INVITE goes (its name came, or NAME_WAIT_S passed without it)."""
        held, self._held_invite = self._held_invite, None
        self._timers.pop("name", None)
        if held is None:
            return
        invite = replace(held, facts=self.facts)
        if self.media == "open":
            self.sip_live = True
            self._emit(invite)
        else:
            self._deferred.append(invite)

    def _late_facts(self, ev: IsdnLateFacts, now: float) -> None:
        """Facts after the SETUP: merged into the call's, to CTI as they come; a held
        INVITE goes once the calling name is there."""
        new = {f.name: getattr(ev.facts, f.name) for f in fields(ev.facts)
               if getattr(ev.facts, f.name) not in (None, (), "", {})}
        if not new:
            return
        self.facts = replace(self.facts, **new)
        self._event("call.facts", facts=ev.facts.to_event())
        if self._held_invite is not None and ev.facts.calling_name is not None:
            self._release_invite()

    def _in_provisional(self, ev: SipProvisional, now: float) -> None:
        if ev.status == 100:
            return
        if ev.remote is not None:
            self.remote = ev.remote
            self._emit(MediaModifyReq(remote=ev.remote, tone=None))
            if ev.status == 180 and not self.alerted:
                self._emit(IsdnAlertingReq(inband=True))
                self.alerted = True
            else:
                self._emit(IsdnProgressReq())
        elif ev.status == 180 and not self.alerted:
            self._emit(MediaModifyReq(tone="ringback"), IsdnAlertingReq(inband=True))
            self.alerted = True
        self.state = S.EARLY
        self._event("call.progress", status=ev.status, early_media=ev.remote is not None)

    def _in_answered(self, ev: SipAnswered, now: float) -> None:
        if ev.remote is not None:
            self.remote = ev.remote
        self._emit(MediaModifyReq(remote=self.remote, tone=None), IsdnConnectReq())
        self.answered = True
        self.state = S.ACTIVE
        self._event("call.answered")

    def _in_sip_failed(self, ev: SipFailed, now: float) -> None:
        self.sip_live = False
        cause = ev.cause or CauseFact(cause_for_status(ev.status))
        self._set_cause(cause)
        self._emit(IsdnDisconnectReq(cause))
        self._event("call.progress", status=ev.status, final=True)
        self._clearing()

    # -------------------------------------------------------------- SIP -> PBX

    def _out_invite(self, ev: SipInvite, now: float) -> None:
        self.direction = "out"
        self.t_created = now
        self.facts, self.remote = ev.facts, ev.remote
        self.sip_live = True
        self.state = S.SETUP
        self._event("call.started", direction="out", trunk=ev.trunk,
                    request_user=ev.request_user, facts=ev.facts.to_event())
        try:
            d = self.router.outbound(ev.trunk, ev.request_user)
        except NoRoute as nr:
            self._fail(CauseFact(nr.cause), nr.status, nr.why)
            return
        self.trunk = ev.trunk
        self.router.acquire(ev.trunk)
        called = d.called
        self.facts = CallFacts(calling=ev.facts.calling, calling_name=ev.facts.calling_name,
                               called=called, redirection=ev.facts.redirection,
                               uui=ev.facts.uui, extra=ev.facts.extra)
        self._event("call.routed", rule=d.rule, spans=list(d.spans), called=called.to_event())
        self.isdn_live = True  # until IsdnSetupFailed says otherwise
        self._emit(IsdnSetupReq(d.spans, called, self.facts))

    def _out_placed(self, ev: IsdnPlaced, now: float) -> None:
        moved = self.channel is not None and (ev.span, ev.channel) != (self.span, self.channel)
        self.span, self.channel = ev.span, ev.channel
        if self.media == "none":
            self._open_media(now)
        elif moved:
            self._emit(MediaMoveReq(ev.channel))

    def _out_setup_failed(self, ev: IsdnSetupFailed, now: float) -> None:
        self.isdn_live = False
        self._fail(CauseFact(ev.cause), status_for_cause(ev.cause), "no span took the call")

    def _out_proceeding(self, ev: IsdnProceeding, now: float) -> None:
        pass  # 100 Trying went already; a 183 without media would say nothing more

    def _out_alerting(self, ev: IsdnAlerting, now: float) -> None:
        if ev.inband:
            self._early_media()
        elif not self.alerted:
            self._emit(SipProvisionalReq(180, sdp=False))
        self.alerted = True
        self.state = S.EARLY
        self._event("call.progress", isdn="alerting", inband=ev.inband)

    def _out_progress(self, ev: IsdnProgress, now: float) -> None:
        if ev.inband:
            self._early_media()
            self.state = S.EARLY
        self._event("call.progress", isdn="progress", inband=ev.inband)

    def _early_media(self) -> None:
        if not self.sdp_sent:
            self.sdp_sent = True
            self._needs_sdp(SipProvisionalReq(183, sdp=True))

    def _out_connected(self, ev: IsdnConnected, now: float) -> None:
        self.answered = True
        self.sdp_sent = True
        self.state = S.ACTIVE
        self._needs_sdp(SipAnswerReq())
        self._event("call.answered")

    def _out_cancel(self, ev: SipHangup, now: float) -> None:
        self.sip_live = False
        cause = ev.cause or CauseFact(C.NORMAL_CALL_CLEARING)
        self._set_cause(cause)
        self._emit(IsdnDisconnectReq(cause))
        self._clearing()

    def _out_disconnected_early(self, ev: IsdnDisconnected, now: float) -> None:
        self._set_cause(ev.cause)
        if ev.inband:
            # Q.931 5.4 / RFC 3398 s7.2.4.1: an announcement follows; keep it
            self._early_media()
            self.state = S.EARLY_DISCONNECT
            self._timers["early"] = now + self.early_disconnect_s
            self._event("call.progress", isdn="disconnect", inband=True,
                        cause=ev.cause.to_event())
            return
        self._disconnected(ev)

    def _end_early_disconnect(self) -> None:
        cause = self.cause or CauseFact(C.NORMAL_UNSPECIFIED)
        self._emit(IsdnReleaseReq())
        if self.sip_live:
            self.sip_live = False
            self._emit(SipRejectReq(status_for_cause(cause.value), cause))
        self._clearing()

    def _out_cancel_early_disconnect(self, ev: SipHangup, now: float) -> None:
        self.sip_live = False
        self._emit(IsdnReleaseReq())
        self._clearing()

    # -------------------------------------------------------------- either way

    def _media_opened(self, ev: MediaOpened, now: float) -> None:
        self._timers.pop("media", None)
        self.media = "open"
        if self.state is S.CLEARING:
            self._close_media()
            return
        if any(isinstance(a, SipInviteReq) for a in self._deferred):
            self.sip_live = True
        out, self._deferred = self._deferred, []
        self._emit(*out)

    def _media_opened_late(self, ev: MediaOpened, now: float) -> None:
        self.media = "open"
        self._close_media()

    def _media_failed(self, ev: MediaFailed, now: float) -> None:
        self.media = "closed"
        self._fail(CauseFact(C.RESOURCE_UNAVAILABLE_UNSPECIFIED), 503, f"media: {ev.why}")

    def _media_failed_late(self, ev: MediaFailed, now: float) -> None:
        self.media = "closed"

    def _media_closed(self, ev: MediaClosed, now: float) -> None:
        self.media = "closed"
        if ev.stats:
            self._event("call.media", stats=ev.stats)

    def _media_changed(self, ev: SipMediaChanged, now: float) -> None:
        self.remote = ev.remote
        self._emit(MediaModifyReq(remote=ev.remote, tone=None))
        self._event("call.media_changed", hold=ev.remote.on_hold)

    def _disconnected(self, ev: IsdnDisconnected, now: float = 0.0) -> None:
        """The PBX cleared: the SIP leg follows with the cause (CANCEL/BYE/final)."""
        self._set_cause(ev.cause)
        if ev.inband:
            self._emit(IsdnReleaseReq())
        if self.sip_live:
            self.sip_live = False
            if self.direction == "out" and not self.answered:
                self._emit(SipRejectReq(status_for_cause(ev.cause.value), ev.cause))
            else:
                self._emit(SipHangupReq(ev.cause))
        self._clearing()

    def _sip_bye(self, ev: SipHangup, now: float) -> None:
        self.sip_live = False
        cause = ev.cause or CauseFact(C.NORMAL_CALL_CLEARING)
        self._set_cause(cause)
        self._emit(IsdnDisconnectReq(cause))
        self._clearing()

    def _released(self, ev: IsdnReleased, now: float) -> None:
        self.isdn_live = False
        cause = ev.cause or CauseFact(C.NORMAL_CALL_CLEARING)
        if self.state is not S.CLEARING:
            self._disconnected(IsdnDisconnected(cause, False))
        else:
            self._set_cause(cause)

    def _released_clearing(self, ev: IsdnReleased, now: float) -> None:
        self.isdn_live = False
        self._set_cause(ev.cause)

    def _released_clearing_setup(self, ev: IsdnSetupFailed, now: float) -> None:
        self.isdn_live = False

    def _sip_gone(self, ev: SipFailed | SipHangup, now: float) -> None:
        self.sip_live = False

    def _sip_answered_late(self, ev: SipAnswered, now: float) -> None:
        # 200 crossed our CANCEL: the dialog exists, end it (RFC 3261 s9.1)
        self._emit(SipHangupReq(self.cause))

    def _ignore(self, ev: Event, now: float) -> None:
        pass


def _table() -> dict[tuple[Direction, State, type[Event]], Handler]:
    B = Bridge
    t: dict[tuple[Direction, State, type[Event]], Handler] = {
        ("in", S.IDLE, IsdnSetup): B._in_setup,
        ("out", S.IDLE, SipInvite): B._out_invite,
    }
    setup_like = (S.SETUP, S.EARLY)
    for st in setup_like:
        t |= {
            ("in", st, SipProvisional): B._in_provisional,
            ("in", st, SipAnswered): B._in_answered,
            ("in", st, SipFailed): B._in_sip_failed,
            ("in", st, IsdnDisconnected): B._disconnected,
            ("out", st, IsdnPlaced): B._out_placed,
            ("out", st, IsdnSetupFailed): B._out_setup_failed,
            ("out", st, IsdnProceeding): B._out_proceeding,
            ("out", st, IsdnAlerting): B._out_alerting,
            ("out", st, IsdnProgress): B._out_progress,
            ("out", st, IsdnConnected): B._out_connected,
            ("out", st, IsdnDisconnected): B._out_disconnected_early,
            ("out", st, SipHangup): B._out_cancel,
            ("out", st, SipFailed): B._out_cancel,
        }
    for d in ("in", "out"):
        for st in (S.SETUP, S.EARLY, S.ACTIVE, S.EARLY_DISCONNECT):
            t |= {
                (d, st, MediaOpened): B._media_opened,
                (d, st, MediaFailed): B._media_failed,
                (d, st, MediaClosed): B._media_closed,
                (d, st, IsdnReleased): B._released,
                (d, st, SipMediaChanged): B._media_changed,
                (d, st, IsdnLateFacts): B._late_facts,
            }
        t |= {
            (d, S.ACTIVE, IsdnDisconnected): B._disconnected,
            (d, S.ACTIVE, SipHangup): B._sip_bye,
            (d, S.ACTIVE, IsdnProgress): B._ignore,  # PROGRESS/NOTIFY mid-call: nothing to relay
            (d, S.ACTIVE, SipProvisional): B._ignore,  # a stray 18x after 200
            (d, S.CLEARING, IsdnReleased): B._released_clearing,
            (d, S.CLEARING, IsdnDisconnected): B._ignore,  # crossed our DISCONNECT
            (d, S.CLEARING, IsdnSetupFailed): B._released_clearing_setup,
            (d, S.CLEARING, SipFailed): B._sip_gone,
            (d, S.CLEARING, SipHangup): B._sip_gone,
            (d, S.CLEARING, SipProvisional): B._ignore,
            (d, S.CLEARING, SipAnswered): B._sip_answered_late,
            (d, S.CLEARING, SipMediaChanged): B._ignore,
            (d, S.CLEARING, MediaOpened): B._media_opened_late,
            (d, S.CLEARING, MediaFailed): B._media_failed_late,
            (d, S.CLEARING, MediaClosed): B._media_closed,
            (d, S.CLEARING, IsdnPlaced): B._ignore,
            (d, S.CLEARING, IsdnAlerting): B._ignore,
            (d, S.CLEARING, IsdnProgress): B._ignore,
            (d, S.CLEARING, IsdnProceeding): B._ignore,
            (d, S.CLEARING, IsdnConnected): B._ignore,  # our DISCONNECT follows it
            (d, S.CLEARING, IsdnLateFacts): B._late_facts,  # still to CTI
        }
    t |= {
        ("in", S.ACTIVE, IsdnConnected): B._ignore,  # CONNECT ACKNOWLEDGE of our CONNECT
        ("out", S.EARLY_DISCONNECT, SipHangup): B._out_cancel_early_disconnect,
        ("out", S.EARLY_DISCONNECT, SipFailed): B._out_cancel_early_disconnect,
        ("out", S.EARLY_DISCONNECT, IsdnProgress): B._ignore,
    }
    return t


TABLE = _table()
"""(direction, state, event type) -> handler; every other triple is a BridgeError."""
