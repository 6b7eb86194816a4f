"""Events call control hands to the upper layer (the call router / SIP side).

Every call event names the call by `call_id`, the controller's own handle
(call references change when a call is retried on another channel).  A
call's life ends with exactly one `Released`; its B-channel is free from
then on.  Messages carry the `Msg` they came from, so every IE the PBX sent
(names, numbers, facility, user-user, display, unknown IEs) reaches the
upper layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.isdn.cc.msg import Msg


@dataclass(frozen=True)
class Event:
    """Base of all call-control events."""


@dataclass(frozen=True)
class CallEvent(Event):
    call_id: int


@dataclass(frozen=True)
class IncomingCall(CallEvent):
    """SETUP received and accepted on `channel` (Q.931 5.1.1 / 5.2.1)."""

    channel: int
    called: str | None
    sending_complete: bool
    message: Msg


@dataclass(frozen=True)
class InfoReceived(CallEvent):
    """INFORMATION: more digits in overlap sending, or keypad / other IEs later on."""

    digits: str | None
    sending_complete: bool
    message: Msg


@dataclass(frozen=True)
class SetupAcknowledged(CallEvent):
    channel: int | None
    message: Msg


@dataclass(frozen=True)
class Proceeding(CallEvent):
    channel: int | None
    message: Msg


@dataclass(frozen=True)
class Alerting(CallEvent):
    inband: bool
    message: Msg


@dataclass(frozen=True)
class Progress(CallEvent):
    progress: tuple[int, ...]
    message: Msg


@dataclass(frozen=True)
class Connected(CallEvent):
    """The call is active (CONNECT received, CONNECT ACK received, or CONNECT sent by the network)."""

    message: Msg | None


@dataclass(frozen=True)
class Disconnected(CallEvent):
    """Clearing started: by the far end (DISCONNECT received) or by a timer here."""

    cause: int
    inband: bool
    by_far_end: bool
    message: Msg | None


@dataclass(frozen=True)
class Released(CallEvent):
    """The call is gone; its channel and call reference are free."""

    cause: int | None
    reason: str
    message: Msg | None = None


@dataclass(frozen=True)
class ChannelChanged(CallEvent):
    """The call moved to another channel (preferred-channel answer, glare, cause-44 retry)."""

    channel: int | None


@dataclass(frozen=True)
class Notified(CallEvent):
    message: Msg


@dataclass(frozen=True)
class FacilityReceived(CallEvent):
    message: Msg


@dataclass(frozen=True)
class StatusReceived(CallEvent):
    """A STATUS reporting a problem with something we sent (cause 96-101, Q.931 5.8.11)."""

    call_state: int | None
    cause: int | None
    message: Msg


@dataclass(frozen=True)
class ChannelRestarted(Event):
    """Channels back to idle by RESTART (Q.931 5.5)."""

    channels: tuple[int, ...]
    by_far_end: bool
    restart_class: int


@dataclass(frozen=True)
class RestartFailed(Event):
    """No RESTART ACK after the retries: the channels are out of service here."""

    channels: tuple[int, ...]


@dataclass(frozen=True)
class ServiceChanged(Event):
    """A channel's service status changed (SERVICE / SERVICE ACK, T1.607)."""

    channel: int
    status: int
    far_end: bool


@dataclass(frozen=True)
class ProtocolError(Event):
    """Something the far end sent was refused or ignored (Q.931 5.8)."""

    call_id: int | None
    cause: int
    detail: str
    message: Msg | None = None


@dataclass
class Output:
    """What one controller call produced: events up, messages out (in order)."""

    events: list[Event] = field(default_factory=list)
    messages: list[Msg] = field(default_factory=list)

    def extend(self, other: Output) -> None:
        self.events.extend(other.events)
        self.messages.extend(other.messages)


@dataclass(frozen=True)
class DataLinkUp(Event):
    """Layer 2 came up (or was re-established: `reestablished`)."""

    reestablished: bool = False


@dataclass(frozen=True)
class DataLinkDown(Event):
    """Layer 2 went down (DL-RELEASE), with Q.921's reason."""

    reason: str = ""
