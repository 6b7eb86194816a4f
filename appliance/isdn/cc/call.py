"""One call's state machine: the actions the state tables name.

Q.931 (05/98) clause 5: 5.1 (call establishment at the originating
interface), 5.2 (at the destination interface), 5.3 (clearing), 5.8
(error handling: 5.8.8 data link failure, 5.8.9 data link reset, 5.8.10
STATUS ENQUIRY, 5.8.11 STATUS).  The same actions serve both sides; where
the sides differ (which side runs a timer, who sends CONNECT ACK, which
state a clearing enters) the action asks `Context.network`.

`CallMachine.dispatch` looks the (state, event) pair up in the side's table
(`appliance.isdn.cc.states`) and runs ``_a_<action>``; an action returns a
state only where it departs from the table's normal next state (a cause-44
retry, an unacceptable channel, clearing while the link is down).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from appliance.isdn.cause import CauseValue as C
from appliance.isdn.cc import events as E
from appliance.isdn.cc.channels import ChannelPool, ChannelState, ChannelUnavailable
from appliance.isdn.cc.msg import ChannelSel, Msg
from appliance.isdn.cc.states import (
    NETWORK_TABLE,
    USER_TABLE,
    Ev,
    InternalStateError,
    Table,
    lookup,
)
from appliance.isdn.cc.timers import Timers
from appliance.isdn.cc.variants import VariantProfile
from appliance.isdn.q931.codes import CallStateValue as S
from appliance.isdn.q931.codes import ChannelSelection

_FIRST_RESPONSES = frozenset({Ev.SETUP_ACKNOWLEDGE, Ev.CALL_PROCEEDING, Ev.ALERTING, Ev.CONNECT})
_ESTABLISHMENT_TIMERS = ("T301", "T302", "T303", "T304", "T310", "T313")


class Context(Protocol):
    """What a call needs from its controller."""

    network: bool
    profile: VariantProfile
    pool: ChannelPool
    link_up: bool

    def send(self, msg: Msg) -> None: ...
    def emit(self, event: E.Event) -> None: ...
    def new_cref(self) -> int: ...
    def rekey(self, call: Call, cref: int) -> None: ...
    def schedule_restart(self, channel: int) -> None: ...
    def call_by_id(self, call_id: int) -> Call: ...


@dataclass
class Call:
    """The state of one call (Q.931 2.1/2.2 plus what the procedures remember)."""

    call_id: int
    cref: int
    ours: bool  # we allocated the call reference (we sent the SETUP)
    timers: Timers
    state: S = S.NULL
    channel: int | None = None
    exclusive: bool = False
    confirmed: bool = False  # channel agreed by both sides (first response sent/received)
    setup: Msg | None = None  # our SETUP, kept for T303 retransmission and cause-44 retry
    tried: set[int] = field(default_factory=set)
    retries_44: int = 0
    t303_count: int = 0
    t308_count: int = 0
    t322_count: int = 0
    cause: int | None = None  # the cause of our DISCONNECT/RELEASE
    release_msg: Msg | None = None
    far_cause: int | None = None  # cause the far end gave
    # Q.850 location for our causes when the clearing came from elsewhere (interworking:
    # the SIP side's Reason location, RFC 8606); None: this side's own location
    cause_location: int | None = None

    def msg(self, mt: str, **kw: Any) -> Msg:
        if kw.get("cause") is not None and self.cause_location is not None:
            kw.setdefault("cause_location", self.cause_location)
        return Msg(mt, self.cref, self.ours, **kw)


class CallMachine:
    """Runs the state table of one side over `Call` records."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.table: Table = NETWORK_TABLE if ctx.network else USER_TABLE

    # -- dispatch ------------------------------------------------------------------
    def dispatch(self, call: Call, ev: Ev, now: float, msg: Msg | None = None,
                 **kw: Any) -> None:
        action, nxt = lookup(self.table, call.state, ev)
        handler = getattr(self, "_a_" + action)
        result: S | None = handler(call, now, msg, **kw)
        new = result if result is not None else nxt
        if new is not None:
            call.state = new

    # -- helpers -------------------------------------------------------------------
    @property
    def _disc_state(self) -> S:
        """State after we send DISCONNECT: U11 on the user side, N12 on the network side."""
        return S.DISCONNECT_INDICATION if self.ctx.network else S.DISCONNECT_REQUEST

    def _chan_ie(self, call: Call) -> ChannelSel | None:
        if call.channel is None:
            return None
        return ChannelSel((call.channel,), exclusive=call.exclusive or self.ctx.network)

    def _free(self, call: Call) -> None:
        call.timers.stop_all()
        if call.channel is not None:
            ch = self.ctx.pool[call.channel]
            if ch.owner == call.call_id:
                self.ctx.pool.release(call.channel, call.call_id)
            call.channel = None

    def _released(self, call: Call, cause: int | None, reason: str,
                  msg: Msg | None = None) -> S:
        self._free(call)
        self.ctx.emit(E.Released(call.call_id, cause, reason, msg))
        return S.NULL

    def _local_clear(self, call: Call, now: float, cause: int, *, notify: bool = True) -> S:
        """Start clearing from here (a timer or procedure decided): DISCONNECT (5.3.2)."""
        if notify:
            self.ctx.emit(E.Disconnected(call.call_id, cause, False, False, None))
        return self._send_disconnect(call, now, cause, inband=False, ies=())

    def _send_disconnect(self, call: Call, now: float, cause: int, inband: bool,
                         ies: tuple[object, ...]) -> S:
        for t in (*_ESTABLISHMENT_TIMERS, "T322"):
            call.timers.stop(t)
        call.cause = cause
        if not self.ctx.link_up:
            # Q.931 5.8.8 leaves this open: nothing can be sent, so clear here and
            # restart the channel once the link is back, so neither end keeps it busy.
            if call.channel is not None:
                self.ctx.pool.mark_needs_restart(call.channel)
            return self._released(call, cause, "cleared while the data link was down")
        tones = inband and self.ctx.network
        call.timers.stop("T309")
        self.ctx.send(call.msg("DISCONNECT", cause=cause, progress=(8,) if tones else (),
                               ies=ies))
        call.timers.start("T306" if tones else "T305", now)
        return self._disc_state

    def _send_release(self, call: Call, now: float, cause: int | None) -> S:
        for t in (*_ESTABLISHMENT_TIMERS, "T305", "T306", "T322"):
            call.timers.stop(t)
        call.cause = cause if cause is not None else call.cause
        call.t308_count = 0
        call.release_msg = call.msg("RELEASE", cause=call.cause)
        self.ctx.send(call.release_msg)
        call.timers.start("T308", now)
        return S.RELEASE_REQUEST

    def _accept_channel(self, call: Call, now: float, msg: Msg | None) -> S | None:
        """First response to our SETUP: agree on its channel (Q.931 5.1.2, 5.2.3.1)."""
        if call.confirmed:
            return None
        pool = self.ctx.pool
        named = msg.channel.channels if msg is not None and msg.channel else ()
        want = named[0] if named else call.channel
        if want is None:
            return self._unacceptable(call, now, "no channel left for the call")
        if want != call.channel:
            if call.exclusive and call.channel is not None:
                return self._unacceptable(call, now, f"exclusive {call.channel}, got {want}")
            if not pool.usable(want):
                return self._unacceptable(call, now, f"offered channel {want} not free here")
            if call.channel is not None:
                pool.release(call.channel, call.call_id)
            pool.seize(want, call.call_id)
            call.channel = want
            self.ctx.emit(E.ChannelChanged(call.call_id, want))
        else:
            pool.seize(want, call.call_id)
        call.confirmed = True
        return None

    def _unacceptable(self, call: Call, now: float, detail: str) -> S:
        """Q.931 5.1.2 / 5.2.3.1: a channel we cannot accept: clear with cause 6."""
        cause = int(C.CHANNEL_UNACCEPTABLE)
        self.ctx.emit(E.ProtocolError(call.call_id, cause, detail))
        self.ctx.emit(E.Disconnected(call.call_id, cause, False, False, None))
        if call.channel is not None and self.ctx.pool.owner(call.channel) == call.call_id:
            self.ctx.pool.release(call.channel, call.call_id)
        call.channel = None
        return self._send_release(call, now, cause)

    def _first_response(self, call: Call, kw: dict[str, Any]) -> ChannelSel | None:
        """The channel IE for our first answer to a SETUP, once (Q.931 5.1.2, 5.2.3.1)."""
        if call.confirmed:
            return None
        call.confirmed = True
        if call.channel is not None and self.ctx.pool.state(call.channel) is ChannelState.RESERVED:
            self.ctx.pool.seize(call.channel, call.call_id)
        return ChannelSel((call.channel,), exclusive=True) if call.channel is not None else None

    # -- establishment: our SETUP ---------------------------------------------------
    def _a_tx_setup(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        req: Msg = kw["setup"]
        call.setup = req
        return self._send_setup(call, now, kw.get("channel"), kw.get("exclusive", False))

    def _send_setup(self, call: Call, now: float, channel: int | None, exclusive: bool) -> S | None:
        pool = self.ctx.pool
        try:
            got = pool.select((channel,) if channel else (), exclusive, exclude=call.tried)
        except ChannelUnavailable as exc:
            return self._released(call, exc.cause, "no channel for the call")
        pool.reserve(got, call.call_id)
        call.channel, call.exclusive, call.confirmed = got, exclusive, False
        call.tried.add(got)
        call.t303_count = 0
        assert call.setup is not None
        self.ctx.send(Msg("SETUP", call.cref, True,
                          channel=ChannelSel((got,), exclusive=exclusive),
                          sending_complete=call.setup.sending_complete,
                          called=call.setup.called, ies=call.setup.ies))
        call.timers.start("T303", now)
        return None

    def _a_t303_expiry(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        """Q.931 5.1.1 / 5.2.1: retransmit SETUP once, then clear with cause 102."""
        call.t303_count += 1
        if call.t303_count < 2 and call.setup is not None and call.channel is not None:
            self.ctx.send(Msg("SETUP", call.cref, True,
                              channel=ChannelSel((call.channel,), exclusive=call.exclusive),
                              sending_complete=call.setup.sending_complete,
                              called=call.setup.called, ies=call.setup.ies))
            call.timers.start("T303", now)
            return None
        self.ctx.send(call.msg("RELEASE_COMPLETE", cause=C.RECOVERY_ON_TIMER_EXPIRY))
        return self._released(call, C.RECOVERY_ON_TIMER_EXPIRY, "no answer to SETUP (T303)")

    def _a_rx_setup_ack(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        call.timers.stop("T303")
        bad = self._accept_channel(call, now, msg)
        if bad is not None:
            return bad
        call.timers.start("T304", now)
        assert msg is not None
        self.ctx.emit(E.SetupAcknowledged(call.call_id, call.channel, msg))
        return None

    def _a_rx_proceeding(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        call.timers.stop("T303", "T304")
        bad = self._accept_channel(call, now, msg)
        if bad is not None:
            return bad
        call.timers.start("T310", now)
        assert msg is not None
        self.ctx.emit(E.Proceeding(call.call_id, call.channel, msg))
        return None

    def _a_rx_alerting(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        call.timers.stop("T303", "T304", "T310")
        bad = self._accept_channel(call, now, msg)
        if bad is not None:
            return bad
        call.timers.start("T301", now)
        assert msg is not None
        self.ctx.emit(E.Alerting(call.call_id, msg.inband, msg))
        return None

    def _a_rx_progress(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        assert msg is not None
        if any(p in (1, 2, 8) for p in msg.progress):  # Q.931 5.1.6: stops T304 / T310
            call.timers.stop("T304", "T310")
        self.ctx.emit(E.Progress(call.call_id, msg.progress, msg))
        return None

    def _a_rx_connect(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        call.timers.stop("T301", "T303", "T304", "T310")
        bad = self._accept_channel(call, now, msg)
        if bad is not None:
            return bad
        if self.ctx.network or self.ctx.profile.connect_ack_by_user:
            self.ctx.send(call.msg("CONNECT_ACKNOWLEDGE"))  # 5.1.8 / 5.2.8
        self.ctx.emit(E.Connected(call.call_id, msg))
        return None

    def _a_t304_expiry(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        return self._local_clear(call, now, C.RECOVERY_ON_TIMER_EXPIRY)

    def _a_t310_expiry(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        return self._local_clear(call, now, C.RECOVERY_ON_TIMER_EXPIRY)

    def _a_t301_expiry(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        return self._local_clear(call, now, C.NO_ANSWER_FROM_USER)

    # -- establishment: their SETUP --------------------------------------------------
    def _a_rx_setup(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        """Q.931 5.1.2 (network) / 5.2.3 (user): pick the channel, or refuse the call."""
        assert msg is not None
        pool = self.ctx.pool
        sel = msg.channel
        requested = sel.channels if sel is not None else ()
        exclusive = bool(sel and sel.exclusive)
        if sel is not None and sel.selection is ChannelSelection.NO_CHANNEL:
            requested = ()
        got: int | None = None
        we_yield = self.ctx.profile.glare_winner != ("network" if self.ctx.network else "user")
        if exclusive and requested and we_yield and requested[0] in pool \
                and pool.state(requested[0]) is ChannelState.RESERVED \
                and pool[requested[0]].in_service:
            # Q.931 5.7: the other side wins the glare; our call must find another channel.
            loser = pool.take_over(requested[0], call.call_id)
            got = requested[0]
            if loser is not None:
                self.ctx.call_by_id(loser).channel = None
                self.ctx.emit(E.ChannelChanged(loser, None))
        else:
            try:
                got = pool.select(requested, exclusive)
            except ChannelUnavailable as exc:
                self.ctx.send(call.msg("RELEASE_COMPLETE", cause=exc.cause))
                self.ctx.emit(E.ProtocolError(call.call_id, exc.cause, str(exc), msg))
                call.timers.stop_all()
                return S.NULL
            pool.reserve(got, call.call_id)  # seized for good with our first response
        call.channel, call.exclusive, call.confirmed = got, exclusive, False
        self.ctx.emit(E.IncomingCall(call.call_id, got, msg.called, msg.sending_complete, msg))
        return None

    def _a_tx_setup_ack(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        self.ctx.send(call.msg("SETUP_ACKNOWLEDGE", channel=self._first_response(call, kw),
                               ies=kw.get("ies", ())))
        call.timers.start("T302", now)
        return None

    def _a_tx_proceeding(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        call.timers.stop("T302")
        self.ctx.send(call.msg("CALL_PROCEEDING", channel=self._first_response(call, kw),
                               ies=kw.get("ies", ())))
        return None

    def _a_tx_alerting(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        call.timers.stop("T302")
        self.ctx.send(call.msg("ALERTING", channel=self._first_response(call, kw),
                               progress=(8,) if kw.get("inband") else (),
                               ies=kw.get("ies", ())))
        return None

    def _a_tx_progress(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        self.ctx.send(call.msg("PROGRESS", progress=(kw.get("description", 8),),
                               ies=kw.get("ies", ())))
        return None

    def _a_tx_connect(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        call.timers.stop("T302")
        self.ctx.send(call.msg("CONNECT", channel=self._first_response(call, kw),
                               ies=kw.get("ies", ())))
        if self.ctx.network:
            self.ctx.emit(E.Connected(call.call_id, None))  # N10 at once (5.1.8)
        else:
            call.timers.start("T313", now)  # 5.2.8
        return None

    def _a_rx_connect_ack(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        call.timers.stop("T313")
        self.ctx.emit(E.Connected(call.call_id, msg))
        return None

    def _a_t313_expiry(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        return self._local_clear(call, now, C.RECOVERY_ON_TIMER_EXPIRY)

    def _a_t302_expiry(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        """Q.931 5.1.3 / 5.2.4: the number stayed incomplete: clear with cause 28."""
        return self._local_clear(call, now, C.INVALID_NUMBER_FORMAT)

    def _a_tx_reject(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        """Refuse an offered call with RELEASE COMPLETE (Q.931 5.2.5.1, 5.1.2)."""
        cause = kw.get("cause", C.CALL_REJECTED)
        self.ctx.send(call.msg("RELEASE_COMPLETE", cause=cause, ies=kw.get("ies", ())))
        return self._released(call, cause, "call refused here")

    # -- information, notify, facility ---------------------------------------------
    def _a_rx_info(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        assert msg is not None
        if call.state is S.OVERLAP_RECEIVING or (self.ctx.network
                                                 and call.state is S.OVERLAP_SENDING):
            if msg.sending_complete:
                call.timers.stop("T302")
            else:
                call.timers.start("T302", now)
        self.ctx.emit(E.InfoReceived(call.call_id, msg.called, msg.sending_complete, msg))
        return None

    def _a_tx_info(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        self.ctx.send(call.msg("INFORMATION", called=kw.get("digits"),
                               sending_complete=kw.get("sending_complete", False),
                               ies=kw.get("ies", ())))
        if call.timers.running("T304"):
            call.timers.start("T304", now)
        return None

    def _a_rx_notify(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        assert msg is not None
        self.ctx.emit(E.Notified(call.call_id, msg))
        return None

    def _a_tx_notify(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        self.ctx.send(call.msg("NOTIFY", ies=kw.get("ies", ())))
        return None

    def _a_rx_facility(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        assert msg is not None
        self.ctx.emit(E.FacilityReceived(call.call_id, msg))
        return None

    def _a_tx_facility(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        self.ctx.send(call.msg("FACILITY", ies=kw.get("ies", ())))
        return None

    def _a_nothing(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        return None

    # -- clearing (Q.931 5.3) --------------------------------------------------------
    def _a_tx_disconnect(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        return self._send_disconnect(call, now, kw.get("cause", C.NORMAL_CALL_CLEARING),
                                     kw.get("inband", False), kw.get("ies", ()))

    def _a_rx_disconnect(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        """5.3.3 (network: N11) / 5.3.4 (user: U12): answer with RELEASE unless tones follow."""
        assert msg is not None
        if self._may_retry_44(call, msg):
            return self._retry_44(call, now, "RELEASE")
        for t in (*_ESTABLISHMENT_TIMERS, "T322"):
            call.timers.stop(t)
        cause = msg.cause if msg.cause is not None else int(C.NORMAL_UNSPECIFIED)
        call.far_cause = cause
        tones = (msg.inband and not self.ctx.network
                 and self.ctx.profile.progress_in_disconnect_means_tones
                 and call.channel is not None)
        self.ctx.emit(E.Disconnected(call.call_id, cause, tones, True, msg))
        if msg.cause is None:  # Q.931 5.8.6: cause missing (96) or invalid (100): RELEASE
            bad = msg.mandatory_error[1] if msg.mandatory_error else C.MANDATORY_IE_MISSING
            return self._send_release(call, now, bad)
        if tones:
            return S.DISCONNECT_INDICATION  # U12: the upper layer plays the tones, then releases
        return self._send_release(call, now, cause)

    def _a_rx_disconnect_collision(self, call: Call, now: float, msg: Msg | None,
                                   **kw: Any) -> S | None:
        """5.3.5 b: both sides sent DISCONNECT: stop T305/T306, send RELEASE."""
        self._send_release(call, now, call.cause)
        return None

    def _a_t305_expiry(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        """5.3.3 / 5.3.4 (T305), 5.3.4.1 (T306): no answer to DISCONNECT: send RELEASE."""
        self._send_release(call, now, call.cause)
        return None

    def _a_tx_release(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        if not self.ctx.link_up:
            if call.channel is not None:
                self.ctx.pool.mark_needs_restart(call.channel)
            return self._released(call, call.far_cause, "cleared while the data link was down")
        self._send_release(call, now, kw.get("cause", call.far_cause))
        return None

    def _a_rx_release(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        """5.3.3 / 5.3.4: RELEASE: answer RELEASE COMPLETE, free channel and reference."""
        assert msg is not None
        if self._may_retry_44(call, msg):
            return self._retry_44(call, now, "RELEASE_COMPLETE")
        self.ctx.send(call.msg("RELEASE_COMPLETE"))
        self._released(call, msg.cause if msg.cause is not None else call.far_cause,
                       "released by the far end", msg)
        return None

    def _a_rx_release_collision(self, call: Call, now: float, msg: Msg | None,
                                **kw: Any) -> S | None:
        """5.3.5 c: RELEASE crossed ours: stop T308, release, no answer."""
        self._released(call, call.cause, "release collision", msg)
        return None

    def _a_rx_release_complete(self, call: Call, now: float, msg: Msg | None,
                               **kw: Any) -> S | None:
        assert msg is not None
        if self._may_retry_44(call, msg):
            return self._retry_44(call, now, None)
        cause = msg.cause if msg.cause is not None else call.cause
        return self._released(call, cause, "release complete", msg)

    def _may_retry_44(self, call: Call, msg: Msg) -> bool:
        """Our SETUP refused for its channel (cause 44) before the call was alerted."""
        early = ((S.CALL_PRESENT, S.OVERLAP_RECEIVING, S.INCOMING_CALL_PROCEEDING)
                 if self.ctx.network else
                 (S.CALL_INITIATED, S.OVERLAP_SENDING, S.OUTGOING_CALL_PROCEEDING))
        return (call.ours and call.state in early and call.setup is not None
                and msg.cause == C.REQUESTED_CIRCUIT_CHANNEL_NOT_AVAILABLE
                and call.retries_44 < self.ctx.profile.cause44_retries
                and self.ctx.pool.hunt(call.tried) is not None)

    def _retry_44(self, call: Call, now: float, finish: str | None) -> S | None:
        """Finish the refused attempt (`finish`: the message that ends it, if any) and
        place the call again on another channel, under a new call reference."""
        if finish is not None:
            self.ctx.send(call.msg(finish, cause=C.REQUESTED_CIRCUIT_CHANNEL_NOT_AVAILABLE))
        call.retries_44 += 1
        call.timers.stop_all()
        if call.channel is not None and self.ctx.pool.owner(call.channel) == call.call_id:
            self.ctx.pool.release(call.channel, call.call_id)
        call.channel = None
        call.state = S.CALL_PRESENT if self.ctx.network else S.CALL_INITIATED
        self.ctx.rekey(call, self.ctx.new_cref())
        result = self._send_setup(call, now, None, call.exclusive)
        if result is None:
            self.ctx.emit(E.ChannelChanged(call.call_id, call.channel))
        return result if result is not None else call.state

    def _a_t308_expiry(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        """5.3.3 / 5.3.4: retransmit RELEASE once; then restart the channel (5.5) and go Null."""
        call.t308_count += 1
        if call.t308_count < 2 and call.release_msg is not None:
            self.ctx.send(call.release_msg)
            call.timers.start("T308", now)
            return None
        channel = call.channel
        self._released(call, call.cause, "no RELEASE COMPLETE (T308 twice)")
        if channel is not None:
            self.ctx.schedule_restart(channel)
        return S.NULL

    # -- status (Q.931 5.8.10, 5.8.11) ----------------------------------------------
    def _a_tx_status(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        self.ctx.send(call.msg("STATUS", cause=C.RESPONSE_TO_STATUS_ENQUIRY,
                               call_state=int(call.state)))
        return None

    def _a_tx_status_enquiry(self, call: Call, now: float, msg: Msg | None,
                             **kw: Any) -> S | None:
        if not call.timers.running("T322"):
            call.t322_count = 0
            self.ctx.send(call.msg("STATUS_ENQUIRY"))
            call.timers.start("T322", now)
        return None

    def _a_t322_expiry(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        """5.8.10: retransmit STATUS ENQUIRY; with no STATUS at all, clear with cause 41."""
        call.t322_count += 1
        if call.t322_count <= self.ctx.profile.status_enquiry_retries:
            self.ctx.send(call.msg("STATUS_ENQUIRY"))
            call.timers.start("T322", now)
            return None
        self.ctx.emit(E.Disconnected(call.call_id, C.TEMPORARY_FAILURE, False, False, None))
        return self._send_release(call, now, C.TEMPORARY_FAILURE)

    def _a_rx_status(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        """5.8.11: compare the far end's state with ours."""
        assert msg is not None
        call.timers.stop("T322")
        far = msg.call_state
        if far == S.NULL:
            return self._released(call, msg.cause, "far end reports no such call", msg)
        if msg.cause is not None and msg.cause != C.RESPONSE_TO_STATUS_ENQUIRY:
            self.ctx.emit(E.StatusReceived(call.call_id, far, msg.cause, msg))
        if far is None or compatible(call.state, far, self.ctx.network):
            return None
        cause = int(C.MESSAGE_NOT_COMPATIBLE_WITH_CALL_STATE_101)
        self.ctx.emit(E.Disconnected(call.call_id, cause, False, False, msg))
        return self._send_release(call, now, cause)

    # -- data link (Q.931 5.8.8, 5.8.9) -------------------------------------------
    def _a_dl_fail_active(self, call: Call, now: float, msg: Msg | None,
                          **kw: Any) -> S | None:
        if not call.timers.running("T309"):
            call.timers.start("T309", now)
        call.timers.stop("T322")
        return None

    def _a_dl_fail_clear(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        cause = int(C.TEMPORARY_FAILURE)
        if call.state not in (S.DISCONNECT_REQUEST, S.DISCONNECT_INDICATION, S.RELEASE_REQUEST):
            self.ctx.emit(E.Disconnected(call.call_id, cause, False, False, None))
        self._released(call, cause, "data link failure (Q.931 5.8.8)")
        return None

    def _a_dl_reset_clear(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        return self._local_clear(call, now, C.TEMPORARY_FAILURE)

    def _a_dl_up(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        if call.timers.running("T309"):
            call.timers.stop("T309")
            if self.ctx.profile.status_enquiry_on_link_up:
                call.t322_count = 0
                self.ctx.send(call.msg("STATUS_ENQUIRY"))
                call.timers.start("T322", now)
        return None

    def _a_t309_expiry(self, call: Call, now: float, msg: Msg | None, **kw: Any) -> S | None:
        """5.8.8: the link stayed down: clear the call with cause 27."""
        cause = int(C.DESTINATION_OUT_OF_ORDER)
        channel = call.channel
        self.ctx.emit(E.Disconnected(call.call_id, cause, False, False, None))
        self._released(call, cause, "data link not back in time (T309)")
        if channel is not None:
            self.ctx.pool.mark_needs_restart(channel)
        return None


_OUT = frozenset({1, 2, 3, 4})
_IN = frozenset({6, 7, 8, 9, 25})
_CLEARING = frozenset({11, 12, 19})


def compatible(ours: S, far: int, network: bool) -> bool:
    """Whether the far end's reported state can belong to the same call (Q.931 5.8.11).

    Both ends number a call's states alike (a call from the user is in 1-4 on
    both sides, a call to the user in 6-9 or 25), so the far end must be in
    the same phase; a message in flight can put it one phase on (to Active),
    and once either end clears, any state is possible.
    """
    mine = int(ours)
    if mine in _CLEARING or far in _CLEARING:
        return True
    if mine == 10:
        return far in _OUT or far in _IN or far == 10
    if mine in _OUT:
        return far in _OUT or far == 10
    if mine in _IN:
        return far in _IN or far == 10
    return False


def all_actions_defined() -> None:
    """Raise unless every action in both tables has a method (checked by the tests)."""
    from appliance.isdn.cc.states import actions

    missing = [a for a in actions(USER_TABLE) | actions(NETWORK_TABLE)
               if not hasattr(CallMachine, "_a_" + a)]
    if missing:
        raise InternalStateError(f"actions without a method: {sorted(missing)}")
