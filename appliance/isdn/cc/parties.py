"""Calling name and redirecting number, in each variant's own form (variants.py says which).

Names: a Display IE (4ESS, 5ESS, DMS-100 with display type 0xB1 "calling party
name" as T1.607 / NIS A211-1 use it; EuroISDN plain), or a Facility callingName
invoke (ECMA-164 operation 0, argument `Name`) under the networking-extensions
profile (QSIG, ECMA-165; NI-2 switches such as Avaya send the same).  Reading
accepts any of these forms, whatever the variant.

Redirecting number: the Redirecting number IE (Q.952 / T1.607) on the North
American variants; a divertingLegInformation2 invoke otherwise (ETSI EN 300
207-1 operation 15, QSIG ECMA-174 operation 21), whose `divertingNr` [1] is a
PresentedNumberUnscreened.  Diversion reasons map to the Q.931 redirecting
reasons (unknown 0, busy 1, no reply 2, unconditional 15).
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.isdn.cc.msg import Msg
from appliance.isdn.cc.variants import NameDelivery, RedirectingDelivery, VariantProfile
from appliance.isdn.errors import Q931Error
from appliance.isdn.q931 import (
    CallingPartyNumber,
    Display,
    Facility,
    InformationElement,
    Invoke,
    NameOp,
    PartyName,
    Profile,
    RedirectingNumber,
    ber,
    name_invoke,
)
from appliance.isdn.q931.codes import NORTH_AMERICAN as _NA
from appliance.isdn.q931.facility import Component

ENUMERATED, NUMERIC_STRING = 10, 18
DISPLAY_CALLING_NAME = 0xB1
ETSI_DIVERTING_LEG_2 = 15
QSIG_DIVERTING_LEG_2 = 21
# Q.931 redirecting reason <-> ETSI / QSIG DiversionReason (unknown, cfu, cfb, cfnr)
_TO_DIVERSION = {0: 0, 0xF: 1, 1: 2, 2: 3}
_FROM_DIVERSION = {v: k for k, v in _TO_DIVERSION.items()}
# QSIG: network facility extension [10] (source/destination entity: end PINX) and
# interpretation APDU [11] (0: discard unrecognised), as ECMA-165 11.3 allows.
_QSIG_NFE = ber.read_tlv(bytes.fromhex("aa06800100820100"))[0]
_QSIG_APDU = ber.read_tlv(bytes.fromhex("8b0100"))[0]


@dataclass(frozen=True)
class Redirecting:
    digits: str
    reason: int = 0  # Q.931 / T1.607 reason for redirection
    type_of_number: int = 0
    plan: int = 1
    presentation: int = 0


def _networking_facility(*invokes: Invoke) -> Facility:
    comps: tuple[Component, ...] = (_QSIG_NFE, _QSIG_APDU, *invokes)
    return Facility(profile=Profile.NETWORKING_EXTENSIONS, components=comps)


def name_ies(profile: VariantProfile, name: str, *, invoke_id: int = 1,
             op: NameOp = NameOp.CALLING_NAME) -> tuple[InformationElement, ...]:
    """The IEs that carry `name` on this variant."""
    raw = name.encode("latin-1", "replace")[:50]
    if profile.name_delivery is NameDelivery.DISPLAY:
        info = DISPLAY_CALLING_NAME if profile.variant in _NA else None
        return (Display(text=raw.decode("latin-1"), info_type=info),)
    inv = name_invoke(invoke_id, PartyName(raw), op)
    if profile.name_delivery is NameDelivery.FACILITY_QSIG:
        return (_networking_facility(inv),)
    # NI-2: ROSE name under networking extensions as NI-2 CPE send it, plus the
    # display form the switches also read.
    return (Facility(profile=Profile.NETWORKING_EXTENSIONS, components=(_QSIG_APDU, inv)),
            Display(text=raw.decode("latin-1"), info_type=DISPLAY_CALLING_NAME))


def calling_name(msg: Msg) -> str | None:
    """The calling (or, in CONNECT, connected) name in any of the forms above."""
    for ie in msg.ies:
        if isinstance(ie, Facility):
            for op, pn in ie.names():
                if op in (NameOp.CALLING_NAME, NameOp.CONNECTED_NAME):
                    return pn.text
    for ie in msg.ies:
        if isinstance(ie, Display) and ie.info_type in (None, DISPLAY_CALLING_NAME):
            return ie.text
    return None


def name_follows(msg: Msg) -> bool:
    """The message announces the calling name in a later FACILITY (NI-2
    "InformationFollowing", as Avaya CM sends it in the SETUP)."""
    return any(isinstance(ie, Facility) and ie.name_follows for ie in msg.ies)


def _party_number(digits: str, ton: int) -> bytes:
    # PartyNumber publicPartyNumber [1] IMPLICIT SEQUENCE {typeOfNumber, NumberDigits}
    inner = (ber.encode_tlv(ber.UNIVERSAL, False, ENUMERATED, ber.encode_int_value(ton))
             + ber.encode_tlv(ber.UNIVERSAL, False, NUMERIC_STRING, digits.encode("ascii")))
    return ber.encode_tlv(ber.CONTEXT, True, 1, inner)


def diverting_leg2(r: Redirecting, *, qsig: bool, invoke_id: int = 1) -> Invoke:
    """divertingLegInformation2 invoke naming `r` as the diverting number."""
    presented = ber.encode_tlv(ber.CONTEXT, True, 0, _party_number(r.digits, r.type_of_number))
    arg = (ber.integer(1)
           + ber.encode_tlv(ber.UNIVERSAL, False, ENUMERATED,
                            ber.encode_int_value(_TO_DIVERSION.get(r.reason, 0)))
           + ber.encode_tlv(ber.CONTEXT, True, 1, presented))
    op = QSIG_DIVERTING_LEG_2 if qsig else ETSI_DIVERTING_LEG_2
    return Invoke(invoke_id, op, ber.encode_tlv(ber.UNIVERSAL, True, ber.SEQUENCE, arg))


def redirecting_ies(profile: VariantProfile, r: Redirecting, *, invoke_id: int = 2
                    ) -> tuple[InformationElement, ...]:
    """The IEs that carry a redirecting number on this variant."""
    if profile.redirecting_delivery is RedirectingDelivery.IE:
        return (RedirectingNumber(digits=r.digits, type_of_number=r.type_of_number,
                                  plan=r.plan, presentation=r.presentation, screening=0,
                                  reason=r.reason),)
    qsig = profile.name_delivery is NameDelivery.FACILITY_QSIG
    inv = diverting_leg2(r, qsig=qsig, invoke_id=invoke_id)
    if qsig:
        return (_networking_facility(inv),)
    return (Facility(profile=Profile.ROSE, components=(inv,)),)


def _decode_diverting(arg: bytes) -> Redirecting | None:
    seq, _ = ber.read_tlv(arg)
    el = seq.children()
    if len(el) < 2:
        return None
    reason = _FROM_DIVERSION.get(ber.decode_int(el[1].value), 0)
    for t in el[2:]:
        if t.tag_class == ber.CONTEXT and t.number == 1 and t.constructed:
            (pres,) = t.children()[:1]
            if pres.number not in (0, 3) or not pres.constructed:
                return Redirecting("", reason, presentation=1)
            (pn,) = pres.children()[:1]
            if pn.number == 0 and not pn.constructed:  # unknownPartyNumber
                return Redirecting(pn.value.decode("ascii", "replace"), reason, 0, 0)
            parts = pn.children()
            ton = ber.decode_int(parts[0].value) if len(parts) == 2 else 0
            digits = parts[-1].value.decode("ascii", "replace")
            plan = 1 if pn.number == 1 else 9 if pn.number == 9 else 0
            return Redirecting(digits, reason, ton, plan, 0 if pres.number == 0 else 1)
    return None


def redirecting(msg: Msg) -> Redirecting | None:
    """The redirecting number in any of the forms above, or None."""
    for ie in msg.ies:
        if isinstance(ie, RedirectingNumber):
            return Redirecting(ie.digits, ie.reason or 0, ie.type_of_number, ie.plan,
                               ie.presentation or 0)
    for ie in msg.ies:
        if isinstance(ie, Facility):
            for inv in ie.invokes():
                if inv.opcode in (ETSI_DIVERTING_LEG_2, QSIG_DIVERTING_LEG_2) and inv.argument:
                    try:
                        got = _decode_diverting(inv.argument)
                    except (Q931Error, ValueError, IndexError):
                        continue
                    if got is not None:
                        return got
    return None


def calling_number_ie(digits: str, *, type_of_number: int = 0, plan: int = 1,
                      presentation: int = 0, screening: int = 0) -> CallingPartyNumber:
    return CallingPartyNumber(digits=digits, type_of_number=type_of_number, plan=plan,
                              presentation=presentation, screening=screening)

