"""Events the SIP endpoint hands to the gateway core (on the core's asyncio loop).

Every event names its call handle; the facts are `appliance.interwork.facts`
values, unchanged, so CTI can carry them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from appliance.interwork.facts import CallFacts, CauseFact
from appliance.sip.sdp import RemoteMedia

if TYPE_CHECKING:
    from appliance.sip.handle import SipCallHandle


@dataclass(frozen=True)
class IncomingCall:
    """A new INVITE that passed the trunk's security checks (answer it with the handle)."""

    call: SipCallHandle
    trunk: str
    request_user: str
    facts: CallFacts
    offer: str | None
    remote: RemoteMedia | None
    source: tuple[str, int]
    headers: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Provisional:
    call: SipCallHandle
    status: int
    reason: str
    remote: RemoteMedia | None
    sdp: str | None
    reliable: bool = False


@dataclass(frozen=True)
class Answered:
    call: SipCallHandle
    remote: RemoteMedia | None
    sdp: str | None
    target: tuple[str, int] | None = None


@dataclass(frozen=True)
class Failed:
    """An outgoing INVITE's final failure (after failover), or an incoming one given up."""

    call: SipCallHandle
    status: int
    reason: str
    cause: CauseFact | None = None
    tried: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Hangup:
    """The call ended after answer or during setup (CANCEL); `by` says which side."""

    call: SipCallHandle
    cause: CauseFact | None
    by: Literal["local", "remote"]
    why: str = ""


@dataclass(frozen=True)
class MediaChanged:
    """A re-INVITE or UPDATE moved, held or resumed the peer's media."""

    call: SipCallHandle
    remote: RemoteMedia
    sdp: str


@dataclass(frozen=True)
class DtmfInfo:
    """A digit in SIP INFO (application/dtmf-relay or application/dtmf)."""

    call: SipCallHandle
    digit: str
    duration_ms: int


@dataclass(frozen=True)
class TrunkStatus:
    trunk: str
    target: tuple[str, int]
    up: bool
    why: str = ""


@dataclass(frozen=True)
class RegistrationStatus:
    trunk: str
    registered: bool
    status: int
    expires: int = 0


@dataclass(frozen=True)
class Refused:
    """A request refused by trunk security (toll-fraud attempts included)."""

    source: tuple[str, int]
    method: str
    status: int
    why: str


SipEvent = (IncomingCall | Provisional | Answered | Failed | Hangup | MediaChanged | DtmfInfo
            | TrunkStatus | RegistrationStatus | Refused)
