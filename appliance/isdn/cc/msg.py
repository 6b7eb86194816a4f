"""What call control reads from and writes into a Q.931 message.

`Msg` is the call-control view of one message: the type (a `MessageType` or
maintenance message name), the call reference and its flag, and the few IEs
the procedures of Q.931 clause 5 act on (channel identification, cause, call
state, progress, sending complete, called digits, restart indicator, change
status).  Every other IE travels untouched in `ies` (codec IE objects, in
order), and `raw` keeps the decoded message itself, so no fact the PBX sends
is lost on the way to the upper layer.  `appliance.isdn.cc.wire` converts
between `Msg` and the codec's messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.isdn.q931.codes import ChannelSelection

SERVICE = "SERVICE"
SERVICE_ACKNOWLEDGE = "SERVICE_ACKNOWLEDGE"


@dataclass(frozen=True)
class ChannelSel:
    """Channel identification (Q.931 4.5.13) as call control uses it."""

    channels: tuple[int, ...] = ()
    exclusive: bool = False
    selection: ChannelSelection = ChannelSelection.AS_INDICATED
    interface_id: int | None = None
    d_channel: bool = False


@dataclass(frozen=True)
class Msg:
    """One Q.931 message, as far as call control is concerned."""

    mt: str  # MessageType / MaintenanceMessageType member name
    cref: int  # 0: the global call reference
    from_originator: bool  # call reference flag 0: sent by the side that allocated it
    channel: ChannelSel | None = None
    cause: int | None = None
    cause_location: int | None = None
    call_state: int | None = None
    progress: tuple[int, ...] = ()
    sending_complete: bool = False
    called: str | None = None  # called party number digits (SETUP, INFORMATION)
    restart_class: int | None = None
    change_status: int | None = None
    ies: tuple[object, ...] = ()  # every other IE, codec objects, untouched
    raw: object | None = field(default=None, compare=False)
    pd: int = 0x08
    ie_errors: tuple[tuple[int, int], ...] = ()
    """(IE identifier, cause 99 or 100) for each optional IE not understood (Q.931 5.8.7)."""
    mandatory_error: tuple[int, int] | None = None
    """(IE identifier, cause) of a mandatory IE missing (96, Q.931 5.8.6.1) or with
    invalid contents (100, 5.8.6.2)."""

    @property
    def inband(self) -> bool:
        """Progress description 1 or 8: in-band information is on the B-channel."""
        return any(p in (1, 8) for p in self.progress)
