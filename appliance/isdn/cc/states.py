"""Q.931 call states and the call-control state tables, user side and network side.

Q.931 (05/98) 2.1 (user states U0-U25), 2.2 (network states N0-N25), clause 5
(procedures) and the Annex A SDL.  PRI is point to point, so the suspend and
resume states (15, 17) and the multipoint call-abort state N22 are never
entered; SUSPEND and RESUME are answered as unimplemented (Q.931 5.8.4).

Each table maps (state, event) to (action, next state).  An action named
here is a method ``_a_<action>`` of `appliance.isdn.cc.call.CallMachine`;
a next state of None means the action chooses it (e.g. a cause-44 retry).
Events are incoming messages (named as `MessageType` members), local
requests (``REQ_*``), timer expiries (``T3xx``) and data-link indications
(``DL_*``).  A pair that is not in a table is a defined protocol error:

- an incoming message: `UnexpectedMessage` (cause 101, answered with STATUS;
  Q.931 5.8.4), except in Release request (19) where Q.931 5.3 lets the
  releasing side ignore everything but RELEASE and RELEASE COMPLETE;
- a local request: `CallStateError` (the caller's mistake);
- a timer or data-link event: `InternalStateError` (a bug; timers are
  stopped when the state they guard is left).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType

from appliance.isdn.cause import CauseValue
from appliance.isdn.q931.codes import CallStateValue as S


class Ev(StrEnum):
    """Call-control events.  Message events carry `MessageType` member names."""

    # incoming messages (Q.931 Table 4-1, circuit mode)
    SETUP = "SETUP"
    SETUP_ACKNOWLEDGE = "SETUP_ACKNOWLEDGE"
    CALL_PROCEEDING = "CALL_PROCEEDING"
    ALERTING = "ALERTING"
    PROGRESS = "PROGRESS"
    CONNECT = "CONNECT"
    CONNECT_ACKNOWLEDGE = "CONNECT_ACKNOWLEDGE"
    DISCONNECT = "DISCONNECT"
    RELEASE = "RELEASE"
    RELEASE_COMPLETE = "RELEASE_COMPLETE"
    INFORMATION = "INFORMATION"
    NOTIFY = "NOTIFY"
    FACILITY = "FACILITY"
    STATUS = "STATUS"
    STATUS_ENQUIRY = "STATUS_ENQUIRY"
    # local requests
    REQ_SETUP = "REQ_SETUP"
    REQ_INFO = "REQ_INFO"
    REQ_SETUP_ACK = "REQ_SETUP_ACK"
    REQ_PROCEEDING = "REQ_PROCEEDING"
    REQ_ALERTING = "REQ_ALERTING"
    REQ_PROGRESS = "REQ_PROGRESS"
    REQ_CONNECT = "REQ_CONNECT"
    REQ_DISCONNECT = "REQ_DISCONNECT"
    REQ_RELEASE = "REQ_RELEASE"
    REQ_NOTIFY = "REQ_NOTIFY"
    REQ_FACILITY = "REQ_FACILITY"
    REQ_STATUS_ENQUIRY = "REQ_STATUS_ENQUIRY"
    # timers (Q.931 Table 9-1 / 9-2)
    T301 = "T301"
    T302 = "T302"
    T303 = "T303"
    T304 = "T304"
    T305 = "T305"
    T306 = "T306"
    T308 = "T308"
    T309 = "T309"
    T310 = "T310"
    T313 = "T313"
    T322 = "T322"
    # data link indications (Q.931 5.8.8, 5.8.9)
    DL_FAIL = "DL_FAIL"  # DL-RELEASE indication
    DL_RESET = "DL_RESET"  # DL-ESTABLISH indication while established (link reset)
    DL_UP = "DL_UP"  # DL-ESTABLISH indication after a failure

    @property
    def kind(self) -> str:
        if self.value.startswith("REQ_"):
            return "request"
        if self.value.startswith("DL_"):
            return "link"
        if self.value[0] == "T" and self.value[1:].isdigit():
            return "timer"
        return "message"


MESSAGE_EVENTS = tuple(e for e in Ev if e.kind == "message")
REQUEST_EVENTS = tuple(e for e in Ev if e.kind == "request")
TIMER_EVENTS = tuple(e for e in Ev if e.kind == "timer")
LINK_EVENTS = tuple(e for e in Ev if e.kind == "link")


class UnexpectedMessage(Exception):
    """Message not compatible with the call state (Q.931 5.8.4): answer STATUS, cause 101."""

    cause = int(CauseValue.MESSAGE_NOT_COMPATIBLE_WITH_CALL_STATE_101)

    def __init__(self, state: S, event: Ev) -> None:
        super().__init__(f"{event.value} not expected in state {state.value}")
        self.state, self.event = state, event


class CallStateError(Exception):
    """A local request the call's state does not allow (the caller's mistake)."""

    def __init__(self, state: S, event: Ev) -> None:
        super().__init__(f"{event.value} not allowed in state {state.name} ({state.value})")
        self.state, self.event = state, event


class InternalStateError(AssertionError):
    """A timer or link event reached a state it can never reach (a bug)."""


Row = tuple[str, S | None]
Table = Mapping[tuple[S, Ev], Row]

USER_STATES = (S.NULL, S.CALL_INITIATED, S.OVERLAP_SENDING, S.OUTGOING_CALL_PROCEEDING,
               S.CALL_DELIVERED, S.CALL_PRESENT, S.CALL_RECEIVED, S.CONNECT_REQUEST,
               S.INCOMING_CALL_PROCEEDING, S.ACTIVE, S.DISCONNECT_REQUEST,
               S.DISCONNECT_INDICATION, S.RELEASE_REQUEST, S.OVERLAP_RECEIVING)
NETWORK_STATES = USER_STATES  # same numbers; N8 and N11 are passed through at once


def _build(rows: Iterable[tuple[Iterable[S], Ev, str, S | None]]) -> Table:
    table: dict[tuple[S, Ev], Row] = {}
    for states, ev, action, nxt in rows:
        for st in states:
            key = (st, ev)
            if key in table:
                raise ValueError(f"duplicate table row {key}")
            table[key] = (action, nxt)
    return MappingProxyType(table)


_LIVE = tuple(s for s in USER_STATES if s is not S.NULL)
_NOT_RELEASING = tuple(s for s in _LIVE if s is not S.RELEASE_REQUEST)
_ESTABLISHING_OUT = (S.CALL_INITIATED, S.OVERLAP_SENDING, S.OUTGOING_CALL_PROCEEDING,
                     S.CALL_DELIVERED)
_ESTABLISHING_IN = (S.CALL_PRESENT, S.OVERLAP_RECEIVING, S.INCOMING_CALL_PROCEEDING,
                    S.CALL_RECEIVED, S.CONNECT_REQUEST)
_CLEARING = (S.DISCONNECT_REQUEST, S.DISCONNECT_INDICATION, S.RELEASE_REQUEST)
_T309 = (S.ACTIVE, *_CLEARING)  # T309 starts in Active; clearing may follow while it runs

# Rows both sides share: clearing, status, facility, data-link handling.
_COMMON = (
    (_NOT_RELEASING, Ev.RELEASE, "rx_release", S.NULL),
    ((S.RELEASE_REQUEST,), Ev.RELEASE, "rx_release_collision", S.NULL),  # 5.3.5
    (_LIVE, Ev.RELEASE_COMPLETE, "rx_release_complete", None),
    (_LIVE, Ev.STATUS_ENQUIRY, "tx_status", None),  # 5.8.10
    (_LIVE, Ev.STATUS, "rx_status", None),  # 5.8.11
    (_NOT_RELEASING, Ev.FACILITY, "rx_facility", None),
    (_NOT_RELEASING, Ev.NOTIFY, "rx_notify", None),
    (_NOT_RELEASING, Ev.REQ_FACILITY, "tx_facility", None),
    (_LIVE, Ev.REQ_STATUS_ENQUIRY, "tx_status_enquiry", None),
    (_LIVE, Ev.T322, "t322_expiry", None),
    (_T309, Ev.T309, "t309_expiry", S.NULL),
    (_T309, Ev.DL_UP, "dl_up", None),
    ((S.ACTIVE,), Ev.DL_FAIL, "dl_fail_active", None),  # 5.8.8 b
    (tuple(s for s in _LIVE if s is not S.ACTIVE), Ev.DL_FAIL, "dl_fail_clear", S.NULL),
    ((S.OVERLAP_SENDING, S.OVERLAP_RECEIVING), Ev.DL_RESET, "dl_reset_clear", None),  # 5.8.9 a
    (tuple(s for s in _LIVE if s not in (S.OVERLAP_SENDING, S.OVERLAP_RECEIVING)),
     Ev.DL_RESET, "nothing", None),  # 5.8.9 b, c
    ((S.RELEASE_REQUEST,), Ev.T308, "t308_expiry", None),
    ((S.ACTIVE, *_ESTABLISHING_OUT, *_ESTABLISHING_IN), Ev.INFORMATION, "rx_info", None),
    ((S.ACTIVE,), Ev.REQ_NOTIFY, "tx_notify", None),
)


USER_TABLE: Table = _build((
    *_COMMON,
    ((S.NULL,), Ev.REQ_SETUP, "tx_setup", S.CALL_INITIATED),
    ((S.OVERLAP_SENDING, S.OUTGOING_CALL_PROCEEDING, S.CALL_DELIVERED, S.ACTIVE), Ev.REQ_INFO,
     "tx_info", None),  # 5.1.1
    ((S.NULL,), Ev.SETUP, "rx_setup", S.CALL_PRESENT),  # 5.2.1
    # outgoing call, user side (5.1)
    ((S.CALL_INITIATED,), Ev.SETUP_ACKNOWLEDGE, "rx_setup_ack", S.OVERLAP_SENDING),
    ((S.CALL_INITIATED, S.OVERLAP_SENDING), Ev.CALL_PROCEEDING, "rx_proceeding",
     S.OUTGOING_CALL_PROCEEDING),
    (_ESTABLISHING_OUT[:3], Ev.ALERTING, "rx_alerting", S.CALL_DELIVERED),
    (_ESTABLISHING_OUT, Ev.CONNECT, "rx_connect", S.ACTIVE),
    (_ESTABLISHING_OUT[1:], Ev.PROGRESS, "rx_progress", None),
    ((S.CALL_INITIATED,), Ev.T303, "t303_expiry", None),
    ((S.OVERLAP_SENDING,), Ev.T304, "t304_expiry", S.DISCONNECT_REQUEST),
    ((S.OUTGOING_CALL_PROCEEDING,), Ev.T310, "t310_expiry", S.DISCONNECT_REQUEST),
    ((S.CALL_DELIVERED,), Ev.T301, "t301_expiry", S.DISCONNECT_REQUEST),
    # incoming call, user side (5.2)
    ((S.CALL_PRESENT,), Ev.REQ_SETUP_ACK, "tx_setup_ack", S.OVERLAP_RECEIVING),
    ((S.CALL_PRESENT, S.OVERLAP_RECEIVING), Ev.REQ_PROCEEDING, "tx_proceeding",
     S.INCOMING_CALL_PROCEEDING),
    ((S.CALL_PRESENT, S.OVERLAP_RECEIVING, S.INCOMING_CALL_PROCEEDING), Ev.REQ_ALERTING,
     "tx_alerting", S.CALL_RECEIVED),
    ((S.CALL_PRESENT, S.OVERLAP_RECEIVING, S.INCOMING_CALL_PROCEEDING, S.CALL_RECEIVED),
     Ev.REQ_CONNECT, "tx_connect", S.CONNECT_REQUEST),
    ((S.OVERLAP_RECEIVING, S.INCOMING_CALL_PROCEEDING, S.CALL_RECEIVED), Ev.REQ_PROGRESS,
     "tx_progress", None),
    ((S.CONNECT_REQUEST,), Ev.CONNECT_ACKNOWLEDGE, "rx_connect_ack", S.ACTIVE),
    ((S.CONNECT_REQUEST,), Ev.T313, "t313_expiry", S.DISCONNECT_REQUEST),
    ((S.OVERLAP_RECEIVING,), Ev.T302, "t302_expiry", None),
    ((S.CALL_PRESENT,), Ev.REQ_DISCONNECT, "tx_reject", S.NULL),
    ((S.CALL_PRESENT,), Ev.REQ_RELEASE, "tx_reject", S.NULL),
    # clearing (5.3.3 user initiated, 5.3.4 network initiated)
    ((*_ESTABLISHING_OUT, *_ESTABLISHING_IN[1:], S.ACTIVE), Ev.REQ_DISCONNECT,
     "tx_disconnect", S.DISCONNECT_REQUEST),
    ((*_ESTABLISHING_OUT, *_ESTABLISHING_IN, S.ACTIVE), Ev.DISCONNECT, "rx_disconnect", None),
    ((S.DISCONNECT_REQUEST,), Ev.DISCONNECT, "rx_disconnect_collision", S.RELEASE_REQUEST),
    ((S.DISCONNECT_REQUEST,), Ev.T305, "t305_expiry", S.RELEASE_REQUEST),
    ((S.DISCONNECT_INDICATION,), Ev.REQ_RELEASE, "tx_release", S.RELEASE_REQUEST),
    ((S.DISCONNECT_INDICATION,), Ev.REQ_DISCONNECT, "tx_release", S.RELEASE_REQUEST),
))

NETWORK_TABLE: Table = _build((
    *_COMMON,
    ((S.NULL,), Ev.REQ_SETUP, "tx_setup", S.CALL_PRESENT),
    ((S.OVERLAP_RECEIVING, S.INCOMING_CALL_PROCEEDING, S.CALL_RECEIVED, S.ACTIVE), Ev.REQ_INFO,
     "tx_info", None),  # 5.2.1
    ((S.NULL,), Ev.SETUP, "rx_setup", S.CALL_INITIATED),  # 5.1.1
    # call from the user, network side (5.1)
    ((S.CALL_INITIATED,), Ev.REQ_SETUP_ACK, "tx_setup_ack", S.OVERLAP_SENDING),
    ((S.CALL_INITIATED, S.OVERLAP_SENDING), Ev.REQ_PROCEEDING, "tx_proceeding",
     S.OUTGOING_CALL_PROCEEDING),
    ((S.CALL_INITIATED, S.OVERLAP_SENDING, S.OUTGOING_CALL_PROCEEDING), Ev.REQ_ALERTING,
     "tx_alerting", S.CALL_DELIVERED),
    (_ESTABLISHING_OUT, Ev.REQ_CONNECT, "tx_connect", S.ACTIVE),
    (_ESTABLISHING_OUT[1:], Ev.REQ_PROGRESS, "tx_progress", None),
    ((S.OVERLAP_SENDING,), Ev.T302, "t302_expiry", None),
    ((S.CALL_INITIATED,), Ev.REQ_DISCONNECT, "tx_reject", S.NULL),
    ((S.CALL_INITIATED,), Ev.REQ_RELEASE, "tx_reject", S.NULL),
    ((S.ACTIVE,), Ev.CONNECT_ACKNOWLEDGE, "nothing", None),  # optional from the user (5.1.8)
    # call to the user, network side (5.2)
    ((S.CALL_PRESENT,), Ev.SETUP_ACKNOWLEDGE, "rx_setup_ack", S.OVERLAP_RECEIVING),
    ((S.CALL_PRESENT, S.OVERLAP_RECEIVING), Ev.CALL_PROCEEDING, "rx_proceeding",
     S.INCOMING_CALL_PROCEEDING),
    ((S.CALL_PRESENT, S.OVERLAP_RECEIVING, S.INCOMING_CALL_PROCEEDING), Ev.ALERTING,
     "rx_alerting", S.CALL_RECEIVED),
    (_ESTABLISHING_IN[:4], Ev.CONNECT, "rx_connect", S.ACTIVE),
    (_ESTABLISHING_IN[1:4], Ev.PROGRESS, "rx_progress", None),
    ((S.CALL_PRESENT,), Ev.T303, "t303_expiry", None),
    ((S.OVERLAP_RECEIVING,), Ev.T304, "t304_expiry", S.DISCONNECT_INDICATION),
    ((S.INCOMING_CALL_PROCEEDING,), Ev.T310, "t310_expiry", S.DISCONNECT_INDICATION),
    ((S.CALL_RECEIVED,), Ev.T301, "t301_expiry", S.DISCONNECT_INDICATION),
    # clearing (5.3.2 network initiated: N12, 5.3.3 user initiated: N11)
    ((*_ESTABLISHING_OUT[1:], *_ESTABLISHING_IN[:4], S.ACTIVE), Ev.REQ_DISCONNECT,
     "tx_disconnect", S.DISCONNECT_INDICATION),
    ((*_ESTABLISHING_OUT, *_ESTABLISHING_IN[:4], S.ACTIVE), Ev.DISCONNECT, "rx_disconnect",
     None),
    ((S.DISCONNECT_INDICATION,), Ev.DISCONNECT, "rx_disconnect_collision", S.RELEASE_REQUEST),
    ((S.DISCONNECT_INDICATION,), Ev.T305, "t305_expiry", S.RELEASE_REQUEST),
    ((S.DISCONNECT_INDICATION,), Ev.T306, "t305_expiry", S.RELEASE_REQUEST),
    ((S.DISCONNECT_REQUEST,), Ev.REQ_RELEASE, "tx_release", S.RELEASE_REQUEST),
    ((S.DISCONNECT_REQUEST,), Ev.REQ_DISCONNECT, "tx_release", S.RELEASE_REQUEST),
))


def lookup(table: Table, state: S, event: Ev) -> Row:
    """The row for (state, event), or the defined error for a pair that has none."""
    row = table.get((state, event))
    if row is not None:
        return row
    kind = event.kind
    if kind == "message":
        if state is S.RELEASE_REQUEST:
            return ("nothing", None)
        raise UnexpectedMessage(state, event)
    if kind == "request":
        raise CallStateError(state, event)
    raise InternalStateError(f"{event.value} in state {state.name}")


def actions(table: Table) -> frozenset[str]:
    """Every action a table names (the CallMachine must define each)."""
    return frozenset(a for a, _ in table.values())
