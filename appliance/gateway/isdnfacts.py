"""Call facts from and to a call-control `Msg`, in the span's variant's own forms.

Two modules know the ISDN side of the facts: `appliance.interwork.isdn` maps
the plain IEs (calling/called/redirecting/original called number, user-user,
cause, a Display or Facility name) to `CallFacts` and back, and
`appliance.isdn.cc.parties` knows how each switch variant carries a name
(Display with type 0xB1, NI-2 ROSE or QSIG Facility) and a redirecting number
(the IE, or divertingLegInformation2 in Facility for ETSI and QSIG).  Here
the gateway uses the first for everything the IEs say, and the second only
for what is variant-specific, so no mapping is written twice:

- in: `interwork.isdn.facts_from_message`, then, if the message carries the
  redirecting number only as a diversion invoke, that invoke read here in
  full (`diverting_leg2_facts`: diversionCounter, diversionReason,
  originalDiversionReason, divertingNr and originalCalledNr of ECMA-174
  s10.3 / ETSI EN 300 207-1 s8), else `parties.redirecting`;
- out: `interwork.isdn.ies_from_facts` without name and redirection, plus
  `parties.name_ies` / `parties.redirecting_ies` for the variant's form, whose
  divertingLegInformation2 is replaced by the full one (`diverting_leg2`:
  count and the original called number, as libpri's QSIG sends them).  A
  name whose presentation is not "allowed" is not sent at all (no variant
  form but Facility can say "restricted", and a Display would show it).
"""

from __future__ import annotations

from dataclasses import replace

from appliance.interwork.facts import CallFacts, CauseFact, Name, Party, Presentation, Redirection
from appliance.interwork.isdn import facts_from_message, ies_from_facts
from appliance.isdn.cc import parties
from appliance.isdn.cc.msg import Msg
from appliance.isdn.cc.variants import VariantProfile
from appliance.isdn.errors import Q931Error
from appliance.isdn.q931 import (
    CalledPartyNumber,
    Facility,
    InformationElement,
    Invoke,
    Message,
    OriginalCalledNumber,
    ber,
)

_ENUMERATED, _NUMERIC_STRING = 10, 18
# Q.931 redirecting reason <-> ECMA-174 / ETSI DiversionReason (unknown, cfu, cfb, cfnr)
_TO_DIVERSION = {0: 0, 0xF: 1, 1: 2, 2: 3}
_FROM_DIVERSION = {v: k for k, v in _TO_DIVERSION.items()}
_LEG2 = (parties.ETSI_DIVERTING_LEG_2, parties.QSIG_DIVERTING_LEG_2)


def _presented(p: Party) -> bytes:
    """PresentedNumberUnscreened: presentationAllowedNumber [0] or
    presentationRestrictedNumber [3], each a publicPartyNumber [1]."""
    number = ber.encode_tlv(ber.CONTEXT, True, 1, (
        ber.encode_tlv(ber.UNIVERSAL, False, _ENUMERATED, ber.encode_int_value(p.type))
        + ber.encode_tlv(ber.UNIVERSAL, False, _NUMERIC_STRING, p.digits.encode("ascii"))))
    return ber.encode_tlv(ber.CONTEXT, True, 3 if p.restricted else 0, number)


def diverting_leg2(r: Redirection, *, qsig: bool, invoke_id: int = 2) -> Invoke:
    """divertingLegInformation2 (ECMA-174 s10.3 op 21 / ETSI EN 300 207-1 op 15) in full."""
    arg = (ber.integer(r.count or 1)
           + ber.encode_tlv(ber.UNIVERSAL, False, _ENUMERATED,
                            ber.encode_int_value(_TO_DIVERSION.get(r.reason, 0))))
    orig = r.original_called
    if qsig and orig is not None and r.original_reason is not None:
        arg += ber.encode_tlv(ber.CONTEXT, False, 0, ber.encode_int_value(
            _TO_DIVERSION.get(r.original_reason, 0)))
    arg += ber.encode_tlv(ber.CONTEXT, True, 1, _presented(r.redirecting))
    if orig is not None:
        arg += ber.encode_tlv(ber.CONTEXT, True, 2, _presented(orig))
    op = parties.QSIG_DIVERTING_LEG_2 if qsig else parties.ETSI_DIVERTING_LEG_2
    return Invoke(invoke_id, op, ber.encode_tlv(ber.UNIVERSAL, True, ber.SEQUENCE, arg))


def _party_of(t: ber.Tlv) -> Party | None:
    """A PresentedNumberUnscreened: [0] allowed / [3] restricted number, [1] restricted
    without a number; [2] not available due to interworking is no party (None)."""
    if t.number == 2:
        return None
    if t.number == 1 or not t.constructed:
        return Party("", 0, 0, Presentation.RESTRICTED)
    (pn,) = t.children()[:1]
    pres = Presentation.RESTRICTED if t.number == 3 else Presentation.ALLOWED
    if pn.number == 0 and not pn.constructed:  # unknownPartyNumber
        return Party(pn.value.decode("ascii", "replace"), 0, 0, pres)
    parts = pn.children()
    ton = ber.decode_int(parts[0].value) if len(parts) == 2 else 0
    plan = 1 if pn.number == 1 else 9 if pn.number == 9 else 0
    return Party(parts[-1].value.decode("ascii", "replace"), ton, plan, pres)


def diverting_leg2_facts(arg: bytes) -> Redirection | None:
    """The redirection a divertingLegInformation2 argument says (None if it names no one)."""
    (seq, _) = ber.read_tlv(arg)
    el = seq.children()
    if len(el) < 2:
        return None
    count = ber.decode_int(el[0].value)
    reason = _FROM_DIVERSION.get(ber.decode_int(el[1].value), 0)
    orig_reason = diverting = original = None
    for t in el[2:]:
        if t.tag_class != ber.CONTEXT:
            continue
        if t.number == 0 and not t.constructed:
            orig_reason = _FROM_DIVERSION.get(ber.decode_int(t.value), 0)
        elif t.number in (1, 2) and t.constructed:
            (inner,) = t.children()[:1]
            if t.number == 1:
                diverting = _party_of(inner)
            else:
                original = _party_of(inner)
    if diverting is None:
        diverting = Party("", 0, 0, Presentation.NOT_AVAILABLE)
    if original is not None and orig_reason is None:
        orig_reason = 0
    return Redirection(diverting, reason, original, orig_reason if original else None,
                       min(max(count, 1), 15))


def _leg2_in(msg: Msg) -> Redirection | None:
    for ie in msg.ies:
        if isinstance(ie, Facility):
            for inv in ie.invokes():
                if inv.opcode in _LEG2 and inv.argument:
                    try:
                        got = diverting_leg2_facts(inv.argument)
                    except (Q931Error, ValueError, IndexError):
                        continue
                    if got is not None:
                        return got
    return None


def facts_in(msg: Msg | None) -> CallFacts:
    """Every fact of a received message (SETUP, ALERTING, CONNECT, DISCONNECT ...)."""
    if msg is None:
        return CallFacts()
    raw = msg.raw
    facts = facts_from_message(raw) if isinstance(raw, Message) else CallFacts()
    if facts.redirection is None:
        full = _leg2_in(msg)
        if full is not None:
            facts = replace(facts, redirection=full)
    if facts.redirection is None:
        r = parties.redirecting(msg)
        if r is not None:
            facts = replace(facts, redirection=Redirection(
                Party(r.digits, r.type_of_number, r.plan, r.presentation), r.reason))
    if facts.calling_name is None:
        name = parties.calling_name(msg)
        if name:
            facts = replace(facts, calling_name=Name(name))
    if facts.cause is None and msg.cause is not None:
        facts = replace(facts, cause=CauseFact(msg.cause, msg.cause_location or 0))
    return facts


def cause_of(msg: Msg | None, value: int | None) -> CauseFact | None:
    """The cause of a clearing message with its location and diagnostics, or `value`."""
    if msg is not None:
        f = facts_in(msg)
        if f.cause is not None:
            return f.cause
    return None if value is None else CauseFact(value)


def ies_out(profile: VariantProfile, facts: CallFacts, called: Party | None = None
            ) -> tuple[InformationElement, ...]:
    """The IEs of a SETUP toward the PBX carrying `facts` (and `called`)."""
    plain = replace(facts, calling_name=None, redirection=None,
                    called=called if called is not None else facts.called, cause=None)
    out: list[InformationElement] = list(ies_from_facts(plain, name_via="none"))
    if not any(isinstance(ie, CalledPartyNumber) for ie in out) and plain.called is not None:
        out.append(CalledPartyNumber(plain.called.digits, plain.called.type, plain.called.plan))
    r = facts.redirection
    if r is not None:
        rp = r.redirecting
        via = parties.redirecting_ies(profile, parties.Redirecting(
            rp.digits, r.reason, rp.type, rp.plan, rp.presentation))
        for ie in via:
            if isinstance(ie, Facility):
                # the variant's form, its invoke replaced by the full one (count, original)
                ie = replace(ie, components=tuple(
                    diverting_leg2(r, qsig=c.opcode == parties.QSIG_DIVERTING_LEG_2,
                                   invoke_id=c.invoke_id)
                    if isinstance(c, Invoke) and c.opcode in _LEG2 else c
                    for c in ie.components))
                out.append(ie)
            else:
                out.append(ie)
                if r.original_called is not None:
                    only = ies_from_facts(CallFacts(redirection=r), name_via="none")
                    out.extend(i for i in only if isinstance(i, OriginalCalledNumber))
    n = facts.calling_name
    if n is not None and n.text and n.presentation == Presentation.ALLOWED:
        out.extend(parties.name_ies(profile, n.text))
    # Q.931 4.5.1: codeset 0 IEs in ascending identifier order
    return tuple(sorted(out, key=lambda ie: ie.ie_id))
