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
  redirecting number only as a diversion invoke, `parties.redirecting`;
- out: `interwork.isdn.ies_from_facts` without name and redirection, plus
  `parties.name_ies` / `parties.redirecting_ies` for the variant's form.  A
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
from appliance.isdn.q931 import (
    CalledPartyNumber,
    InformationElement,
    Message,
    OriginalCalledNumber,
)


def facts_in(msg: Msg | None) -> CallFacts:
    """Every fact of a received message (SETUP, ALERTING, CONNECT, DISCONNECT ...)."""
    if msg is None:
        return CallFacts()
    raw = msg.raw
    facts = facts_from_message(raw) if isinstance(raw, Message) else CallFacts()
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
        out.extend(parties.redirecting_ies(profile, parties.Redirecting(
            rp.digits, r.reason, rp.type, rp.plan, rp.presentation)))
        if r.original_called is not None:
            only = ies_from_facts(CallFacts(redirection=r), name_via="none")
            out.extend(ie for ie in only if isinstance(ie, OriginalCalledNumber))
    n = facts.calling_name
    if n is not None and n.text and n.presentation == Presentation.ALLOWED:
        out.extend(parties.name_ies(profile, n.text))
    # Q.931 4.5.1: codeset 0 IEs in ascending identifier order
    return tuple(sorted(out, key=lambda ie: ie.ie_id))
