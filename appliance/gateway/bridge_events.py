"""The call bridge's inputs and outputs (appliance.gateway.bridge): events from the ISDN
leg, the SIP leg and the media plane, and the actions the runtime carries out for it.
Plain frozen values, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from appliance.interwork.facts import CallFacts, CauseFact, Party
from appliance.sip.sdp import RemoteMedia

Direction = Literal["in", "out"]  # in: PBX calls SIP; out: SIP calls the PBX


@dataclass(frozen=True)
class Event:
    """Base of the bridge's inputs."""


@dataclass(frozen=True)
class IsdnSetup(Event):
    """A SETUP from the PBX, accepted by call control on `channel`."""

    span: str
    channel: int
    facts: CallFacts
    name_follows: bool = False  # NI-2: the calling name comes in a FACILITY after it


@dataclass(frozen=True)
class IsdnLateFacts(Event):
    """Facts the PBX sent after its SETUP (a FACILITY: NI-2's calling name)."""

    facts: CallFacts


@dataclass(frozen=True)
class IsdnPlaced(Event):
    """Our SETUP went out on `span`/`channel` (or the call moved there: ChannelChanged)."""

    span: str
    channel: int


@dataclass(frozen=True)
class IsdnSetupFailed(Event):
    """No span of the route could take the call (no free channel, link down)."""

    cause: int


@dataclass(frozen=True)
class IsdnProceeding(Event):
    pass


@dataclass(frozen=True)
class IsdnAlerting(Event):
    inband: bool
    facts: CallFacts = field(default_factory=CallFacts)


@dataclass(frozen=True)
class IsdnProgress(Event):
    inband: bool


@dataclass(frozen=True)
class IsdnConnected(Event):
    facts: CallFacts = field(default_factory=CallFacts)


@dataclass(frozen=True)
class IsdnDisconnected(Event):
    cause: CauseFact
    inband: bool
    facts: CallFacts = field(default_factory=CallFacts)


@dataclass(frozen=True)
class IsdnReleased(Event):
    cause: CauseFact | None


@dataclass(frozen=True)
class SipInvite(Event):
    trunk: str
    request_user: str
    facts: CallFacts
    remote: RemoteMedia | None


@dataclass(frozen=True)
class SipProvisional(Event):
    status: int
    remote: RemoteMedia | None


@dataclass(frozen=True)
class SipAnswered(Event):
    remote: RemoteMedia | None


@dataclass(frozen=True)
class SipFailed(Event):
    status: int
    cause: CauseFact | None


@dataclass(frozen=True)
class SipHangup(Event):
    cause: CauseFact | None


@dataclass(frozen=True)
class SipMediaChanged(Event):
    remote: RemoteMedia


@dataclass(frozen=True)
class MediaOpened(Event):
    port: int


@dataclass(frozen=True)
class MediaFailed(Event):
    why: str


@dataclass(frozen=True)
class MediaClosed(Event):
    stats: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- outputs

@dataclass(frozen=True)
class Action:
    """Base of what the runtime is asked to do."""


@dataclass(frozen=True)
class IsdnProceedingReq(Action):
    pass


@dataclass(frozen=True)
class IsdnAlertingReq(Action):
    inband: bool


@dataclass(frozen=True)
class IsdnProgressReq(Action):
    pass


@dataclass(frozen=True)
class IsdnConnectReq(Action):
    pass


@dataclass(frozen=True)
class IsdnDisconnectReq(Action):
    cause: CauseFact


@dataclass(frozen=True)
class IsdnReleaseReq(Action):
    cause: int | None = None


@dataclass(frozen=True)
class IsdnSetupReq(Action):
    spans: tuple[str, ...]
    called: Party
    facts: CallFacts


@dataclass(frozen=True)
class SipInviteReq(Action):
    trunk: str
    request_user: str
    facts: CallFacts


@dataclass(frozen=True)
class SipProvisionalReq(Action):
    status: int
    sdp: bool


@dataclass(frozen=True)
class SipAnswerReq(Action):
    pass


@dataclass(frozen=True)
class SipRejectReq(Action):
    status: int
    cause: CauseFact | None


@dataclass(frozen=True)
class SipHangupReq(Action):
    cause: CauseFact | None


@dataclass(frozen=True)
class MediaOpenReq(Action):
    span: str
    channel: int
    remote: RemoteMedia | None


@dataclass(frozen=True)
class MediaModifyReq(Action):
    remote: RemoteMedia | None = None
    tone: str | None = None  # "ringback" toward the PBX, or None: no local tone


@dataclass(frozen=True)
class MediaMoveReq(Action):
    """The ISDN call moved to another B-channel: the stream follows, same RTP port."""

    channel: int


@dataclass(frozen=True)
class MediaCloseReq(Action):
    pass


@dataclass(frozen=True)
class CallEvent(Action):
    """For the board, CTI and the journal: `call.started`, `.routed`, `.progress`,
    `.answered`, `.ended`, with the facts unchanged."""

    kind: str
    data: dict[str, Any]
