"""Q.931 information elements to call facts and back.

What: the calling party number (Q.931 4.5.10), called party number (4.5.8),
redirecting number with its reason and the original called number (Q.952,
T1.607, NI-2), the calling name from a Facility IE (QSIG name presentation,
ECMA-164; the NI-2 calling name that Avaya CM sends as a Q.932 ROSE invoke) or
from a Display IE (5ESS, DMS-100, EuroISDN), the user-user IE (4.5.30) and the
cause (4.5.12, Q.850) as `CallFacts`, and back to the IEs a variant sends.

How: pure functions over the codec's frozen dataclasses.  IEs the codec does
not know are kept in `CallFacts.extra` as `ie.<codeset>.<id>` = hex, so that a
fact the PBX sent reaches CTI even when nothing here understands it.

Limits: one redirection hop (redirecting number) plus the original called
number, as the IEs carry; a redirection counter is not in Q.931's IEs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from appliance.interwork.facts import (
    CallFacts,
    CauseFact,
    Name,
    Party,
    Presentation,
    Redirection,
    RedirectionReason,
    Screening,
    UserToUser,
)
from appliance.isdn.q931 import (
    CalledPartyNumber,
    CallingPartyNumber,
    Cause,
    Display,
    Facility,
    InformationElement,
    Message,
    NameOp,
    NamePresentation,
    OriginalCalledNumber,
    PartyName,
    Profile,
    RedirectingNumber,
    UnknownIE,
    UserUser,
    name_invoke,
)

NameVia = Literal["facility-rose", "facility-qsig", "display", "none"]
DISPLAY_CALLING_NAME = 0xB1  # NI-2 / 5ESS display information type "calling party name"

_NAME_PRES = {NamePresentation.ALLOWED: Presentation.ALLOWED,
              NamePresentation.RESTRICTED: Presentation.RESTRICTED,
              NamePresentation.NOT_AVAILABLE: Presentation.NOT_AVAILABLE}
_PRES_NAME = {v: k for k, v in _NAME_PRES.items()}


def _party(ie: CallingPartyNumber | RedirectingNumber | OriginalCalledNumber) -> Party:
    # Q.931 4.5.10 note: without octet 3a, presentation allowed, user provided not screened.
    return Party(ie.digits, ie.type_of_number, ie.plan,
                 Presentation.ALLOWED if ie.presentation is None else ie.presentation,
                 Screening.USER_NOT_SCREENED if ie.screening is None else ie.screening)


def facts_from_message(msg: Message) -> CallFacts:
    """Every call fact a SETUP (or CONNECT, DISCONNECT ...) carries."""
    calling_ie = msg.get(CallingPartyNumber)
    called_ie = msg.get(CalledPartyNumber)
    redir_ie = msg.get(RedirectingNumber)
    orig_ie = msg.get(OriginalCalledNumber)
    uu = msg.get(UserUser)
    cause = msg.get(Cause)
    redirection = None
    if redir_ie is not None or orig_ie is not None:
        first = redir_ie if redir_ie is not None else orig_ie
        assert first is not None
        original = None
        original_reason = None
        if redir_ie is not None and orig_ie is not None:
            original = _party(orig_ie)
            original_reason = orig_ie.reason
        redirection = Redirection(
            _party(first),
            RedirectionReason.UNKNOWN if first.reason is None else first.reason,
            original, original_reason)
    extra = {f"ie.{ie.codeset}.{ie.ie_id:#04x}": ie.data.hex()
             for ie in msg.all(UnknownIE)}
    return CallFacts(
        calling=_party(calling_ie) if calling_ie is not None else None,
        calling_name=_name(msg),
        called=(Party(called_ie.digits, called_ie.type_of_number, called_ie.plan)
                if called_ie is not None else None),
        redirection=redirection,
        uui=UserToUser(uu.protocol, uu.data) if uu is not None else None,
        cause=(CauseFact(cause.value, cause.location, cause.diagnostics)
               if cause is not None else None),
        extra=extra,
    )


def _name(msg: Message) -> Name | None:
    for fac in msg.all(Facility):
        for op, pname in fac.names():
            if op == NameOp.CALLING_NAME:
                return Name(pname.text, _NAME_PRES[pname.presentation])
    for disp in msg.all(Display):
        if disp.info_type in (None, DISPLAY_CALLING_NAME) and disp.text:
            return Name(disp.text)
    return None


def _number_kwargs(p: Party) -> dict[str, int | str]:
    return {"digits": p.digits, "type_of_number": p.type, "plan": p.plan,
            "presentation": p.presentation, "screening": p.screening}


def ies_from_facts(facts: CallFacts, *, name_via: NameVia = "display",
                   invoke_id: int = 1) -> list[InformationElement]:
    """The IEs that carry `facts` toward the PBX, in ascending identifier order.

    Restricted names go only where the IE can say so (Facility); a Display IE
    is never sent for a restricted or unavailable name.
    """
    out: list[InformationElement] = []
    if facts.calling_name is not None and name_via.startswith("facility"):
        pname = PartyName(facts.calling_name.text.encode("latin-1", "replace"),
                          _PRES_NAME.get(Presentation(facts.calling_name.presentation),
                                         NamePresentation.ALLOWED))
        profile = Profile.NETWORKING_EXTENSIONS if name_via == "facility-qsig" else Profile.ROSE
        out.append(Facility(profile, (name_invoke(invoke_id, pname),)))
    if (facts.calling_name is not None and name_via == "display"
            and facts.calling_name.presentation == Presentation.ALLOWED):
        out.append(Display(facts.calling_name.text, DISPLAY_CALLING_NAME))
    if facts.calling is not None:
        out.append(CallingPartyNumber(**_number_kwargs(facts.calling)))  # type: ignore[arg-type]
    if facts.redirection is not None:
        r = facts.redirection
        out.append(RedirectingNumber(**_number_kwargs(r.redirecting),  # type: ignore[arg-type]
                                     reason=r.reason))
    if facts.called is not None:
        out.append(CalledPartyNumber(facts.called.digits, facts.called.type, facts.called.plan))
    if facts.redirection is not None and facts.redirection.original_called is not None:
        r = facts.redirection
        assert r.original_called is not None
        out.append(OriginalCalledNumber(
            **_number_kwargs(r.original_called),  # type: ignore[arg-type]
            reason=RedirectionReason.UNKNOWN if r.original_reason is None else r.original_reason))
    if facts.uui is not None:
        out.append(UserUser(facts.uui.protocol, facts.uui.data))
    # Q.931 4.5.1: codeset 0 IEs go in ascending order of identifier.
    return sorted(out, key=lambda ie: ie.ie_id)


def cause_ie(cause: CauseFact) -> Cause:
    """The cause IE for a fact (location and diagnostics kept)."""
    return Cause(cause.value, cause.location, diagnostics=cause.diagnostics)


def restricted(parties: Iterable[Party | None]) -> bool:
    """True when any of the parties asked that its number not be shown."""
    return any(p is not None and p.restricted for p in parties)
