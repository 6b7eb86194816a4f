"""Q.931 call control for one PRI D-channel, user side or network side, sans-I/O.

`Controller` is the interface the rest of the gateway uses:

- inputs: `receive(message, now)` for every Q.931 message layer 2 delivers,
  `l2_up(now)` / `l2_down(now)` for DL-ESTABLISH / DL-RELEASE indications,
  `handle_timer(now)` when `get_timer()` says so, and the user requests
  `setup()`, `info()`, `setup_ack()`, `proceeding()`, `alerting()`,
  `progress()`, `connect()`, `disconnect()`, `release()`, `notify()`,
  `facility()`, `status_enquiry()`, `restart()` and `service()`;
- outputs: each returns an `Output` with the events for the upper layer
  (`appliance.isdn.cc.events`) and the messages to hand to layer 2, in order.

Besides the per-call tables (`appliance.isdn.cc.states`, run by
`appliance.isdn.cc.call.CallMachine`) it does what belongs to the whole
interface: call references (Q.931 4.3), messages for unknown call
references and the global one (5.8.3), RESTART (5.5, T316), SERVICE
(T1.607 / GR-4434), and the data link indications (5.8.8, 5.8.9).  Time is
only ever the `now` passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from appliance.isdn.cause import CauseValue as C
from appliance.isdn.cc import events as E
from appliance.isdn.cc.call import Call, CallMachine
from appliance.isdn.cc.channels import ChannelPool, ChannelState, ChannelUnavailable, Hunting
from appliance.isdn.cc.msg import SERVICE, SERVICE_ACKNOWLEDGE, ChannelSel, Msg
from appliance.isdn.cc.states import CallStateError, Ev, UnexpectedMessage
from appliance.isdn.cc.timers import Timers, default_duration
from appliance.isdn.cc.variants import RestartOnUp, VariantProfile
from appliance.isdn.cc.wire import from_message, to_message
from appliance.isdn.errors import Q931Error
from appliance.isdn.q931 import Message, decode_message
from appliance.isdn.q931.codes import CallStateValue as S
from appliance.isdn.q931.codes import RestartClass, ServiceStatus
from appliance.isdn.q931.ies import ChannelId

_CALL_MESSAGES = frozenset(e.value for e in Ev if e.kind == "message")
_MAX_CREF = 0x7FFF  # two-octet call reference on a PRI (Q.931 4.3)


class UnknownCall(KeyError):
    """A request named a call id this controller does not have (any more)."""


@dataclass
class _Pending:
    """A RESTART or SERVICE waiting for its acknowledgement."""

    kind: str  # "restart" | "service"
    channels: tuple[int, ...]
    klass: int  # restart class, or the change status for SERVICE
    msg: Msg
    deadline: float
    tries: int = 0


class Controller:
    """Call control of one D-channel (Q.931 clause 5), either side."""

    def __init__(self, profile: VariantProfile, *, network: bool,
                 hunting: Hunting | None = None, timers: dict[str, float] | None = None,
                 b_channels: Iterable[int] | None = None) -> None:
        self.profile = profile
        self.network = network
        self.role = "network" if network else "user"
        if hunting is None:
            hunting = Hunting.ASCENDING if network else Hunting.DESCENDING
        self.pool = ChannelPool(b_channels if b_channels is not None else profile.b_channels,
                                hunting)
        self._timer_overrides = {**profile.timers, **(timers or {})}
        self.link_up = False
        self._was_up = False
        self._machine = CallMachine(self)
        self._calls: dict[tuple[int, bool], Call] = {}
        self._by_id: dict[int, Call] = {}
        self._next_id = 1
        self._next_cref = 1
        self._pending: list[_Pending] = []
        self._out = E.Output()

    # -- Context for the call machine --------------------------------------------------
    def send(self, msg: Msg) -> None:
        self._out.messages.append(msg)

    def emit(self, event: E.Event) -> None:
        self._out.events.append(event)

    def new_cref(self) -> int:
        for _ in range(_MAX_CREF):
            cref = self._next_cref
            self._next_cref = cref % _MAX_CREF + 1
            if (cref, True) not in self._calls:
                return cref
        raise RuntimeError("all call references in use")

    def rekey(self, call: Call, cref: int) -> None:
        self._calls.pop((call.cref, call.ours), None)
        call.cref = cref
        self._calls[(cref, call.ours)] = call

    def schedule_restart(self, channel: int) -> None:
        if self.link_up:
            self._send_restart((channel,), RestartClass.INDICATED_CHANNELS, self._now)
        else:
            self.pool.mark_needs_restart(channel)

    def call_by_id(self, call_id: int) -> Call:
        try:
            return self._by_id[call_id]
        except KeyError:
            raise UnknownCall(call_id) from None

    # -- queries --------------------------------------------------------------------
    def calls(self) -> dict[int, tuple[S, int | None]]:
        """Live calls: call id -> (state, channel)."""
        return {cid: (c.state, c.channel) for cid, c in self._by_id.items()}

    def call_state(self, call_id: int) -> S:
        return self.call_by_id(call_id).state

    def check(self) -> None:
        """Raise `ChannelInvariantError` unless channels and calls agree."""
        self.pool.check({cid: c.channel for cid, c in self._by_id.items()})

    # -- run one step -------------------------------------------------------------------
    _now = 0.0

    def _begin(self, now: float) -> E.Output:
        self._now = now
        self._out = E.Output()
        return self._out

    def _end(self) -> E.Output:
        for call in [c for c in self._by_id.values() if c.state is S.NULL]:
            del self._by_id[call.call_id]
            if self._calls.get((call.cref, call.ours)) is call:
                del self._calls[(call.cref, call.ours)]
        out, self._out = self._out, E.Output()
        return out

    def _new_call(self, cref: int, ours: bool) -> Call:
        call = Call(self._next_id, cref, ours,
                    Timers(self.network, self._timer_overrides))
        self._next_id += 1
        self._calls[(cref, ours)] = call
        self._by_id[call.call_id] = call
        return call

    # -- layer 3 input -------------------------------------------------------------
    def receive_bytes(self, data: bytes, now: float) -> E.Output:
        """One layer-3 message as octets (a DL-DATA / DL-UNIT-DATA indication)."""
        try:
            m = decode_message(data, variant=self.profile.variant)
        except Q931Error as exc:
            self._begin(now)
            self.emit(E.ProtocolError(None, exc.cause, f"message ignored: {exc.detail}"))
            return self._end()
        return self.receive(m, now)

    def encode(self, msg: Msg) -> bytes:
        """The octets of an outgoing `Msg` (for layer 2)."""
        return to_message(msg, self.profile, network=self.network).encode()

    def receive(self, message: Msg | Message, now: float) -> E.Output:
        """One message from layer 2 (Q.931 5.8 decides what an unexpected one gets)."""
        msg = from_message(message) if isinstance(message, Message) else message
        self._begin(now)
        if msg.mt in (SERVICE, SERVICE_ACKNOWLEDGE):
            self._rx_service(msg, now)
        elif msg.cref == 0:
            self._rx_global(msg, now)
        else:
            self._rx_call(msg, now)
        return self._end()

    def _rx_call(self, msg: Msg, now: float) -> None:
        ours = not msg.from_originator
        call = self._calls.get((msg.cref, ours))
        if call is None:
            self._rx_unknown_cref(msg, now)
            return
        if msg.mt not in _CALL_MESSAGES:
            # Q.931 5.8.4: message type non-existent or not implemented: STATUS, cause 97.
            self._status(call, C.MESSAGE_TYPE_NON_EXISTENT, msg)
            return
        if msg.mandatory_error is not None and msg.mt not in ("DISCONNECT", "STATUS"):
            # Q.931 5.8.6.1 / 5.8.6.2: a mandatory IE missing or wrong: STATUS, 96 / 100.
            self._status(call, msg.mandatory_error[1], msg)
            return
        try:
            self._machine.dispatch(call, Ev(msg.mt), now, msg)
        except UnexpectedMessage as exc:
            self._status(call, exc.cause, msg)
            return
        self._report_ie_errors(call, msg)

    def _report_ie_errors(self, call: Call, msg: Msg) -> None:
        """Q.931 5.8.7.1 / 5.8.7.2: the message was acted on; tell the sender what of it
        was not understood (STATUS, cause 99 or 100, diagnostic: the IE identifier).
        Clearing messages are exempt: the call is going anyway."""
        if not msg.ie_errors or msg.mt in ("DISCONNECT", "RELEASE", "RELEASE_COMPLETE"):
            return
        ie, cause = msg.ie_errors[0]
        if self.profile.report_ie_errors and call.state is not S.NULL:
            self.send(call.msg("STATUS", cause=cause, call_state=int(call.state)))
        self.emit(E.ProtocolError(call.call_id, cause, f"{msg.mt}: IE 0x{ie:02x} not "
                                  "understood", msg))

    def _status(self, call: Call, cause: int, msg: Msg) -> None:
        self.send(call.msg("STATUS", cause=cause, call_state=int(call.state)))
        self.emit(E.ProtocolError(call.call_id, cause, f"{msg.mt} in state {call.state.value}",
                                  msg))

    def _channel_error(self, msg: Msg) -> tuple[int, int] | None:
        """Q.931 3.1.14: channel identification is mandatory in a SETUP from the network
        (user side here); from the user it is optional, but one that is present and
        cannot be read is a content error either way (5.8.6.2: 100; missing 5.8.6.1: 96)."""
        if msg.channel is not None:
            return None
        unreadable = any(ie == ChannelId.ID for ie, _ in msg.ie_errors)
        if unreadable:
            return ChannelId.ID, int(C.INVALID_IE_CONTENTS)
        if not self.network:
            return ChannelId.ID, int(C.MANDATORY_IE_MISSING)
        return None

    def _rx_unknown_cref(self, msg: Msg, now: float) -> None:
        """Q.931 5.8.3.2: messages whose call reference names no call here."""
        reply = Msg  # answers go back on the same reference, flag inverted
        if msg.mt == "SETUP" and msg.from_originator:
            error = msg.mandatory_error or self._channel_error(msg)
            if error is not None:  # Q.931 5.8.6: RELEASE COMPLETE, 96/100
                ie, cause = error
                self.send(reply("RELEASE_COMPLETE", msg.cref, False, cause=cause))
                self.emit(E.ProtocolError(None, cause, f"SETUP: mandatory IE 0x{ie:02x}", msg))
                return
            call = self._new_call(msg.cref, False)
            self._machine.dispatch(call, Ev.SETUP, now, msg)
            self._report_ie_errors(call, msg)
            return
        if msg.mt in ("RELEASE_COMPLETE", "SETUP"):
            return  # 5.8.3.2 b, and a SETUP that claims to answer us
        if msg.mt == "STATUS_ENQUIRY":
            self.send(reply("STATUS", msg.cref, not msg.from_originator,
                            cause=C.RESPONSE_TO_STATUS_ENQUIRY, call_state=0))
            return
        if msg.mt == "STATUS":
            if msg.call_state in (None, 0):
                return  # 5.8.3.2 f
            cause = int(C.MESSAGE_NOT_COMPATIBLE_WITH_CALL_STATE_101)
        else:
            cause = int(C.INVALID_CALL_REFERENCE_VALUE)
        self.send(reply("RELEASE_COMPLETE", msg.cref, not msg.from_originator, cause=cause))
        self.emit(E.ProtocolError(None, cause, f"{msg.mt} for unknown call reference "
                                               f"{msg.cref}", msg))

    # -- user requests --------------------------------------------------------------
    def setup(self, now: float, *, called: str | None = None, channel: int | None = None,
              exclusive: bool | None = None, sending_complete: bool | None = None,
              ies: tuple[object, ...] = ()) -> tuple[int, E.Output]:
        """Place a call (Q.931 5.1.1 user side, 5.2.1 network side); returns its call id.

        `channel` asks for one B-channel (else the pool hunts); `exclusive`
        defaults to the variant's convention for this side; en-bloc sending
        (`sending_complete`, default: variant decides) or overlap (False:
        further digits with `info()`).
        """
        self._begin(now)
        call = self._new_call(self.new_cref(), True)
        if exclusive is None:
            exclusive = (self.profile.channel_exclusive_from_network if self.network
                         else self.profile.channel_exclusive_from_user)
        if sending_complete is None:
            sending_complete = self.profile.sending_complete_en_bloc
        if not self.link_up:
            self.emit(E.Released(call.call_id, C.NETWORK_OUT_OF_ORDER,
                                 "data link is down"))
        else:
            req = Msg("SETUP", call.cref, True, called=called,
                      sending_complete=sending_complete, ies=tuple(ies))
            self._machine.dispatch(call, Ev.REQ_SETUP, now, None, setup=req, channel=channel,
                                   exclusive=exclusive)
        return call.call_id, self._end()

    def _request(self, call_id: int, ev: Ev, now: float, **kw: Any) -> E.Output:
        self._begin(now)
        call = self.call_by_id(call_id)
        try:
            self._machine.dispatch(call, ev, now, None, **kw)
        except CallStateError:
            self._out = E.Output()
            raise
        return self._end()

    def info(self, call_id: int, now: float, digits: str | None = None, *,
             sending_complete: bool = False, ies: tuple[object, ...] = ()) -> E.Output:
        return self._request(call_id, Ev.REQ_INFO, now, digits=digits,
                             sending_complete=sending_complete, ies=ies)

    def setup_ack(self, call_id: int, now: float, *, ies: tuple[object, ...] = ()) -> E.Output:
        return self._request(call_id, Ev.REQ_SETUP_ACK, now, ies=ies)

    def proceeding(self, call_id: int, now: float, *, ies: tuple[object, ...] = ()) -> E.Output:
        return self._request(call_id, Ev.REQ_PROCEEDING, now, ies=ies)

    def alerting(self, call_id: int, now: float, *, inband: bool = False,
                 ies: tuple[object, ...] = ()) -> E.Output:
        return self._request(call_id, Ev.REQ_ALERTING, now, inband=inband, ies=ies)

    def progress(self, call_id: int, now: float, *, description: int = 8,
                 ies: tuple[object, ...] = ()) -> E.Output:
        return self._request(call_id, Ev.REQ_PROGRESS, now, description=description, ies=ies)

    def connect(self, call_id: int, now: float, *, ies: tuple[object, ...] = ()) -> E.Output:
        return self._request(call_id, Ev.REQ_CONNECT, now, ies=ies)

    def disconnect(self, call_id: int, now: float, cause: int = C.NORMAL_CALL_CLEARING, *,
                   inband: bool = False, ies: tuple[object, ...] = (),
                   location: int | None = None) -> E.Output:
        """Clear (or refuse, before answering) a call with `cause` (Q.931 5.3).

        `location` (Q.850 2.2.5, 0-15) is where the clearing came from when it is not
        this side (a SIP Reason's RFC 8606 location); by default this side's own."""
        self._set_location(call_id, location)
        return self._request(call_id, Ev.REQ_DISCONNECT, now, cause=int(cause),
                             inband=inband, ies=ies)

    def release(self, call_id: int, now: float, cause: int | None = None, *,
                location: int | None = None) -> E.Output:
        """Finish clearing after `Disconnected` with in-band tones, or refuse a call."""
        self._set_location(call_id, location)
        kw: dict[str, Any] = {} if cause is None else {"cause": int(cause)}
        return self._request(call_id, Ev.REQ_RELEASE, now, **kw)

    def _set_location(self, call_id: int, location: int | None) -> None:
        if location is None:
            return
        if not 0 <= location <= 15:
            raise ValueError(f"Q.850 location {location} is not 0..15")
        self.call_by_id(call_id).cause_location = location

    def notify(self, call_id: int, now: float, *, ies: tuple[object, ...] = ()) -> E.Output:
        return self._request(call_id, Ev.REQ_NOTIFY, now, ies=ies)

    def facility(self, call_id: int, now: float, *, ies: tuple[object, ...] = ()) -> E.Output:
        return self._request(call_id, Ev.REQ_FACILITY, now, ies=ies)

    def status_enquiry(self, call_id: int, now: float) -> E.Output:
        return self._request(call_id, Ev.REQ_STATUS_ENQUIRY, now)

    # -- restart (Q.931 5.5) ------------------------------------------------------------
    def restart(self, now: float, channels: Iterable[int] | None = None, *,
                one_message: bool = True) -> E.Output:
        """Restart some channels (class 0) or, with None, the whole interface (class 7).

        Calls on those channels are cleared here at once (`Released`, cause 41).
        """
        self._begin(now)
        if channels is None:
            self._clear_all_calls("interface restarted here")
            self._send_restart(self.pool.numbers(), RestartClass.ALL_INTERFACES, now)
        else:
            chans = tuple(dict.fromkeys(channels))
            for n in chans:
                if n not in self.pool:
                    raise ChannelUnavailable(C.IDENTIFIED_CHANNEL_DOES_NOT_EXIST,
                                             f"no channel {n} on this interface")
            self._clear_calls_on(chans, "channel restarted here")
            groups = [chans] if one_message else [(n,) for n in chans]
            for group in groups:
                self._send_restart(group, RestartClass.INDICATED_CHANNELS, now)
        return self._end()

    def _send_restart(self, channels: tuple[int, ...], klass: int, now: float) -> None:
        chans = tuple(n for n in channels if self.pool.state(n) is not ChannelState.RESTARTING
                      or klass != RestartClass.INDICATED_CHANNELS)
        if not chans:
            return
        self._clear_calls_on(chans, "channel restarted here")
        self.pool.begin_restart(chans)
        chan_ie = None if klass != RestartClass.INDICATED_CHANNELS \
            else ChannelSel(chans, exclusive=True)
        msg = Msg("RESTART", 0, True, channel=chan_ie, restart_class=int(klass))
        self.send(msg)
        self._pending.append(_Pending("restart", chans, int(klass), msg,
                                      now + self._duration("T316")))

    def _clear_calls_on(self, channels: Iterable[int], reason: str) -> None:
        for n in channels:
            owner = self.pool.owner(n)
            if owner is not None:
                call = self._by_id[owner]
                call.timers.stop_all()
                self.pool.release(n, owner)
                call.channel = None
                call.state = S.NULL
                self.emit(E.Released(owner, C.TEMPORARY_FAILURE, reason))

    def _clear_all_calls(self, reason: str) -> None:
        self._clear_calls_on(self.pool.numbers(), reason)
        for call in self._by_id.values():
            if call.state is not S.NULL:
                call.timers.stop_all()
                call.state = S.NULL
                self.emit(E.Released(call.call_id, C.TEMPORARY_FAILURE, reason))

    def _duration(self, name: str) -> float:
        return default_duration(name, self.network, self._timer_overrides)

    def _rx_global(self, msg: Msg, now: float) -> None:
        """Q.931 5.8.3.1: the global call reference is for RESTART, RESTART ACK and STATUS."""
        if msg.mt in ("RESTART", "RESTART_ACKNOWLEDGE") and msg.mandatory_error is not None:
            cause = msg.mandatory_error[1]
            self.send(Msg("STATUS", 0, not msg.from_originator, cause=cause, call_state=0))
            self.emit(E.ProtocolError(None, cause, f"{msg.mt} without a valid restart "
                                      "indicator", msg))
        elif msg.mt == "RESTART":
            self._rx_restart(msg)
        elif msg.mt == "RESTART_ACKNOWLEDGE":
            self._rx_restart_ack(msg)
        elif msg.mt == "STATUS":
            if msg.cause not in (None, C.RESPONSE_TO_STATUS_ENQUIRY):
                self.emit(E.ProtocolError(None, msg.cause, "STATUS on the global call "
                                          "reference", msg))
        else:
            cause = int(C.INVALID_CALL_REFERENCE_VALUE)
            self.send(Msg("STATUS", 0, not msg.from_originator, cause=cause, call_state=0))
            self.emit(E.ProtocolError(None, cause, f"{msg.mt} on the global call reference",
                                      msg))

    def _restart_channels(self, msg: Msg) -> tuple[int, ...]:
        if msg.restart_class == RestartClass.INDICATED_CHANNELS and msg.channel is not None:
            return tuple(n for n in msg.channel.channels if n in self.pool)
        return self.pool.numbers()

    def _rx_restart(self, msg: Msg) -> None:
        """Q.931 5.5.2: return the channels and their calls to idle, then acknowledge."""
        chans = self._restart_channels(msg)
        klass = msg.restart_class if msg.restart_class is not None else 0
        if klass == RestartClass.INDICATED_CHANNELS and not chans:
            cause = int(C.IDENTIFIED_CHANNEL_DOES_NOT_EXIST)
            self.send(Msg("STATUS", 0, False, cause=cause, call_state=0))
            self.emit(E.ProtocolError(None, cause, "RESTART for no channel we have", msg))
            return
        if klass == RestartClass.INDICATED_CHANNELS:
            self._clear_calls_on(chans, "restarted by the far end")
        else:
            self._clear_all_calls("interface restarted by the far end")
        self.pool.end_restart(chans)
        for p in [p for p in self._pending if p.kind == "restart"
                  and set(p.channels) <= set(chans)]:
            self._pending.remove(p)  # crossing restarts: theirs covers ours
        self.send(Msg("RESTART_ACKNOWLEDGE", 0, False, channel=msg.channel,
                      restart_class=klass))
        self.emit(E.ChannelRestarted(chans, True, klass))

    def _rx_restart_ack(self, msg: Msg) -> None:
        chans = set(self._restart_channels(msg))
        for p in self._pending:
            if p.kind != "restart":
                continue
            if (p.klass != RestartClass.INDICATED_CHANNELS and msg.restart_class == p.klass) \
                    or (p.klass == RestartClass.INDICATED_CHANNELS and chans & set(p.channels)):
                self._pending.remove(p)
                self.pool.end_restart(p.channels)
                self.emit(E.ChannelRestarted(p.channels, False, p.klass))
                return
        self.emit(E.ProtocolError(None, C.MESSAGE_NOT_COMPATIBLE_WITH_CALL_STATE_101,
                                  "RESTART ACKNOWLEDGE for no RESTART of ours", msg))

    # -- SERVICE (T1.607 / GR-4434) ---------------------------------------------------
    def service(self, now: float, channel: int, status: ServiceStatus) -> E.Output:
        """Put `channel` in or out of service here and tell the far end (SERVICE)."""
        self._begin(now)
        if self.profile.service_pd is None:
            raise ValueError(f"{self.profile.title} has no SERVICE message")
        if channel not in self.pool:
            raise ChannelUnavailable(C.IDENTIFIED_CHANNEL_DOES_NOT_EXIST,
                                     f"no channel {channel} on this interface")
        self.pool.set_service(channel, ServiceStatus(status), far=False)
        msg = Msg(SERVICE, 0, True, channel=ChannelSel((channel,), exclusive=True),
                  change_status=int(status), pd=self.profile.service_pd)
        self.send(msg)
        self._pending.append(_Pending("service", (channel,), int(status), msg,
                                      now + self._duration("T3M1")))
        return self._end()

    def _rx_service(self, msg: Msg, now: float) -> None:
        if msg.mt == SERVICE and msg.mandatory_error is not None:
            self.emit(E.ProtocolError(None, msg.mandatory_error[1], "SERVICE without a valid "
                                      "change status", msg))
            return
        if self.profile.service_pd is None or msg.channel is None or not msg.channel.channels:
            self.emit(E.ProtocolError(None, C.MESSAGE_TYPE_NON_EXISTENT,
                                      f"{msg.mt} not used here", msg))
            return
        chans = tuple(n for n in msg.channel.channels if n in self.pool)
        status = msg.change_status if msg.change_status is not None else 0
        if msg.mt == SERVICE:
            for n in chans:
                self.pool.set_service(n, ServiceStatus(status) if status in (0, 1, 2)
                                      else ServiceStatus.OUT_OF_SERVICE, far=True)
                self.emit(E.ServiceChanged(n, status, True))
            self.send(Msg(SERVICE_ACKNOWLEDGE, msg.cref, not msg.from_originator,
                          channel=msg.channel, change_status=status, pd=msg.pd))
            return
        for p in self._pending:
            if p.kind == "service" and set(p.channels) & set(chans):
                self._pending.remove(p)
                for n in p.channels:
                    self.emit(E.ServiceChanged(n, p.klass, False))
                return

    # -- data link (Q.931 5.8.8, 5.8.9) -------------------------------------------
    def l2_up(self, now: float) -> E.Output:
        """DL-ESTABLISH indication or confirmation."""
        self._begin(now)
        ev = Ev.DL_RESET if self.link_up else Ev.DL_UP
        self.link_up = True
        for call in list(self._by_id.values()):
            if call.state is not S.NULL and (ev is Ev.DL_RESET or call.timers.running("T309")):
                self._machine.dispatch(call, ev, now)
        again = [p for p in self._pending if p.kind == "restart"]
        for p in self._pending:
            # A RESTART or SERVICE may have been lost with the link (or in the frames a
            # reset discards): send it again now rather than a whole T316/T3M1 later.
            self.send(p.msg)
            p.deadline = now + self._duration("T316" if p.kind == "restart" else "T3M1")
        if ev is Ev.DL_UP:
            stuck = tuple(n for n in self.pool.needing_restart()
                          if self.pool.state(n) is ChannelState.IDLE)
            policy = self.profile.restart_on_up.get(self.role, RestartOnUp.NONE)
            idle = tuple(n for n in self.pool.numbers()
                         if self.pool.state(n) is ChannelState.IDLE and n not in stuck)
            if policy is RestartOnUp.INTERFACE and not self._by_id and not again:
                self._send_restart(self.pool.numbers(), RestartClass.ALL_INTERFACES, now)
            else:
                todo = stuck + (idle if policy in (RestartOnUp.EACH_CHANNEL,
                                                   RestartOnUp.CHANNEL_LIST) else ())
                if policy is RestartOnUp.CHANNEL_LIST and todo:
                    self._send_restart(todo, RestartClass.INDICATED_CHANNELS, now)
                else:
                    for n in todo:
                        self._send_restart((n,), RestartClass.INDICATED_CHANNELS, now)
        self._was_up = True
        return self._end()

    def l2_down(self, now: float) -> E.Output:
        """DL-RELEASE indication: keep active calls under T309, clear the rest (5.8.8)."""
        self._begin(now)
        self.link_up = False
        for call in list(self._by_id.values()):
            if call.state is not S.NULL:
                self._machine.dispatch(call, Ev.DL_FAIL, now)
        return self._end()

    # -- timers ---------------------------------------------------------------------
    def get_timer(self) -> float | None:
        """When `handle_timer` must next be called (None: no timer running)."""
        deadlines = [d for c in self._by_id.values()
                     if (d := c.timers.next_deadline()) is not None]
        deadlines += [p.deadline for p in self._pending]
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> E.Output:
        """Fire every timer due at `now`, earliest first."""
        self._begin(now)
        for _ in range(10_000):
            due: list[tuple[float, int, Any]] = []
            for c in self._by_id.values():
                d = c.timers.next_deadline()
                if d is not None and d <= now and c.state is not S.NULL:
                    due.append((d, 0, c))
            for p in self._pending:
                if p.deadline <= now:
                    due.append((p.deadline, 1, p))
            if not due:
                break
            _, kind, item = min(due, key=lambda t: (t[0], t[1]))
            if kind == 0:
                name = item.timers.pop_expired(now)
                if name is not None:
                    self._machine.dispatch(item, Ev(name), now)
            else:
                self._pending_expired(item, now)
        return self._end()

    def _pending_expired(self, p: _Pending, now: float) -> None:
        retries = self.profile.restart_retries if p.kind == "restart" else 1
        if p.tries < retries:
            p.tries += 1
            p.deadline = now + self._duration("T316" if p.kind == "restart" else "T3M1")
            self.send(p.msg)
            return
        self._pending.remove(p)
        if p.kind == "restart":
            self.pool.restart_failed(p.channels)
            self.emit(E.RestartFailed(p.channels))
        else:
            self.emit(E.ProtocolError(None, C.RECOVERY_ON_TIMER_EXPIRY,
                                      f"no SERVICE ACKNOWLEDGE for {p.channels}"))
