"""Between call control's `Msg` and the Q.931 codec's `Message` (appliance.isdn.q931).

`from_message()` reads what the procedures act on and keeps everything else
(`Msg.ies`, and the whole decoded message in `Msg.raw`); `to_message()`
builds the codec message, ordering codeset-0 IEs by identifier (Q.931 4.5.1)
and inserting the shifts other codesets need.
"""

from __future__ import annotations

from appliance.isdn.cc.msg import SERVICE, SERVICE_ACKNOWLEDGE, ChannelSel, Msg
from appliance.isdn.cc.variants import VariantProfile
from appliance.isdn.q931 import (
    BearerCapability,
    CalledPartyNumber,
    CallState,
    Cause,
    ChangeStatus,
    ChannelId,
    ChannelSelection,
    InformationElement,
    InvalidIE,
    MaintenanceMessageType,
    Message,
    MessageType,
    NationalMaintenanceMessageType,
    ProgressIndicator,
    RestartIndicator,
    SendingComplete,
    Shift,
    UnknownIE,
    message,
)
from appliance.isdn.q931.codes import Variant, service_type

_OWN = (ChannelId, Cause, CallState, ProgressIndicator, SendingComplete, RestartIndicator,
        ChangeStatus, Shift)

MANDATORY: dict[str, tuple[type[InformationElement], ...]] = {
    # Q.931 3.1 message tables, 'M' rows call control cannot do without (5.8.6.1).
    "SETUP": (BearerCapability,),
    "DISCONNECT": (Cause,),
    "STATUS": (Cause, CallState),
    "RESTART": (RestartIndicator,),
    "RESTART_ACKNOWLEDGE": (RestartIndicator,),
    "SERVICE": (ChangeStatus,),
}


def type_name(m: Message) -> str:
    t = m.type
    if isinstance(t, MessageType | MaintenanceMessageType | NationalMaintenanceMessageType):
        return t.name
    return f"UNKNOWN_0x{int(t):02X}"


def from_message(m: Message) -> Msg:
    """The call-control view of a decoded message (never raises)."""
    chan: ChannelSel | None = None
    cause = loc = state = rclass = status = None
    progress: list[int] = []
    complete = False
    called: str | None = None
    rest: list[object] = []
    for ie in m.ies:
        if isinstance(ie, ChannelId) and chan is None:
            chans = ie.channels or (ie.slot_map_channels() if ie.slot_map else ())
            try:
                sel = ChannelSelection(ie.selection)
            except ValueError:
                sel = ChannelSelection.AS_INDICATED
            chan = ChannelSel(tuple(chans), ie.exclusive, sel, ie.interface_id, ie.d_channel)
        elif isinstance(ie, Cause) and cause is None:
            cause, loc = ie.value, ie.location
        elif isinstance(ie, CallState):
            state = ie.value
        elif isinstance(ie, ProgressIndicator):
            progress.append(ie.description)
        elif isinstance(ie, SendingComplete):
            complete = True
        elif isinstance(ie, RestartIndicator):
            rclass = ie.restart_class
        elif isinstance(ie, ChangeStatus):
            status = ie.status
        elif not isinstance(ie, _OWN):
            if isinstance(ie, CalledPartyNumber) and called is None:
                called = ie.digits
            rest.append(ie)
    name = type_name(m)
    error: tuple[int, int] | None = None
    for cls in MANDATORY.get(name, ()):
        if m.get(cls) is None:
            bad = any(isinstance(ie, InvalidIE) and ie.identifier == cls.ID and ie.codeset == 0
                      for ie in m.ies)
            error = (cls.ID, 100 if bad else 96)
            break
    if error is None:  # 5.8.7.1: an unknown IE marked "comprehension required"
        error = next(((ie.identifier, 96) for ie in m.ies
                      if isinstance(ie, UnknownIE) and ie.comprehension_required), None)
    problems = tuple((ie.ie_id, cause) for cause, ie in m.problems()
                     if error is None or ie.ie_id != error[0])
    return Msg(name, m.call_ref, not m.call_ref_flag, channel=chan, cause=cause,
               cause_location=loc, call_state=state, progress=tuple(progress),
               sending_complete=complete, called=called, restart_class=rclass,
               change_status=status, ies=tuple(rest), raw=m, pd=m.protocol,
               mandatory_error=error, ie_errors=problems)


def _mtype(name: str, pd: int) -> int:
    if name in (SERVICE, SERVICE_ACKNOWLEDGE):
        return service_type(pd, name == SERVICE_ACKNOWLEDGE)
    return int(MessageType[name])


def to_message(msg: Msg, profile: VariantProfile, *, network: bool) -> Message:
    """The codec message for `msg` (network: which side's cause location to use)."""
    own: list[InformationElement] = []
    if msg.channel is not None:
        c = msg.channel
        own.append(ChannelId(channels=c.channels, exclusive=c.exclusive,
                             selection=int(c.selection), interface_id=c.interface_id,
                             d_channel=c.d_channel))
    if msg.cause is not None:
        loc = msg.cause_location
        if loc is None:  # Q.850 2.2.5: user (0); the network serving the local user:
            private = profile.variant == Variant.QSIG  # a private one on QSIG (1),
            loc = (1 if private else 2) if network else 0  # else public (2)
        own.append(Cause(value=int(msg.cause), location=loc))
    if msg.call_state is not None:
        own.append(CallState(value=int(msg.call_state)))
    for p in msg.progress:
        own.append(ProgressIndicator(description=p, location=2 if network else 0))
    if msg.restart_class is not None:
        own.append(RestartIndicator(restart_class=msg.restart_class))
    if msg.change_status is not None:
        own.append(ChangeStatus(status=msg.change_status))
    extra = [ie for ie in msg.ies if isinstance(ie, InformationElement)
             and not isinstance(ie, Shift)]
    if msg.called is not None and not any(isinstance(ie, CalledPartyNumber) for ie in extra):
        extra.append(CalledPartyNumber(digits=msg.called, type_of_number=0, plan=0))
    if msg.mt == "SETUP" and not any(isinstance(ie, BearerCapability) for ie in extra):
        extra.append(BearerCapability())  # speech, circuit, 64 kbit/s (Q.931 4.5.5)
    cs0 = [ie for ie in (*own, *extra) if ie.codeset == 0]
    others = [ie for ie in extra if ie.codeset != 0]
    single = [ie for ie in cs0 if ie.encode()[0] & 0x80]
    variable = sorted((ie for ie in cs0 if not ie.encode()[0] & 0x80),
                      key=lambda ie: ie.encode()[0])
    ies: list[InformationElement] = [*single, *variable]
    if msg.sending_complete:
        ies.insert(0, SendingComplete())
    locking = profile.name_delivery.value != "facility-qsig"
    return message(_mtype(msg.mt, msg.pd), msg.cref, not msg.from_originator, *ies, *others,
                   protocol=msg.pd, locking_shifts=locking)
