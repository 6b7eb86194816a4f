"""Facts to and from Q.931 in each variant's form (interwork.isdn for the IEs,
isdn.cc.parties for names and redirection), round trip through the codec."""

from __future__ import annotations

import contextlib
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from appliance.gateway.isdnfacts import diverting_leg2, diverting_leg2_facts, facts_in, ies_out
from appliance.interwork.facts import (
    CallFacts,
    Name,
    Party,
    Presentation,
    Redirection,
    RedirectionReason,
    TypeOfNumber,
    UserToUser,
)
from appliance.isdn.cc.msg import Msg
from appliance.isdn.cc.variants import profile
from appliance.isdn.errors import Q931Error
from appliance.isdn.q931 import (
    Display,
    Facility,
    Invoke,
    OriginalCalledNumber,
    RedirectingNumber,
    Variant,
)

FACTS = CallFacts(
    calling=Party("2125551234", TypeOfNumber.NATIONAL),
    calling_name=Name("Alice"),
    called=Party("2001"),
    redirection=Redirection(Party("2125550001", TypeOfNumber.NATIONAL), 1),
    uui=UserToUser(4, b"hi"),
)


def msg_of(ies: tuple[object, ...]) -> Msg:
    return Msg("SETUP", 1, True, ies=ies)


def test_ni2_name_in_facility_and_display_redirecting_ie() -> None:
    ies = ies_out(profile(Variant.NI2), FACTS)
    assert any(isinstance(i, Facility) for i in ies) and any(isinstance(i, Display) for i in ies)
    assert any(isinstance(i, RedirectingNumber) for i in ies)
    assert [i.ie_id for i in ies] == sorted(i.ie_id for i in ies)
    back = facts_in(msg_of(ies))
    assert back.calling_name is not None and back.calling_name.text == "Alice"
    assert back.redirection is not None and back.redirection.redirecting.digits == "2125550001"


def test_qsig_redirecting_as_diverting_leg_2_read_back() -> None:
    ies = ies_out(profile(Variant.QSIG), FACTS)
    assert not any(isinstance(i, RedirectingNumber) for i in ies)
    back = facts_in(msg_of(ies))
    assert back.redirection is not None
    assert back.redirection.redirecting.digits == "2125550001" and back.redirection.reason == 1


def test_restricted_name_is_never_sent() -> None:
    f = CallFacts(calling=Party("1", presentation=Presentation.RESTRICTED),
                  calling_name=Name("Secret", Presentation.RESTRICTED))
    for v in (Variant.NI2, Variant.QSIG, Variant.LUCENT5E, Variant.EUROISDN_E1):
        ies = ies_out(profile(v), f)
        assert not any(isinstance(i, (Display, Facility)) for i in ies), v


# The Facility IE libpri 1.6 (QSIG, network side) sends for pri_sr_set_redirecting_parties
# with from 2125550002 (national, unconditional), orig_called 2125550001 (busy), count 2:
# NFE, interpretation APDU, divertingLegInformation2 (op 21).
LIBPRI_QSIG_LEG2 = bytes.fromhex(
    "9faa068001008201008b0100a13b020101020115303302010"
    "20a0101800102a113a011a10f0a0102120a32313235353530303032a213a011a10f0a0102120a3231323535353030"
    "3031")


def test_qsig_diverting_leg_2_from_libpri_in_full() -> None:
    fac = Facility.from_body(LIBPRI_QSIG_LEG2, 0)
    r = facts_in(msg_of((fac,))).redirection
    # libpri sent diversionReason 1 (cfu), originalDiversionReason 2 (cfb)
    assert r == Redirection(Party("2125550002", TypeOfNumber.NATIONAL),
                            RedirectionReason.CALL_FORWARDING_UNCONDITIONAL,
                            Party("2125550001", TypeOfNumber.NATIONAL),
                            RedirectionReason.CALL_FORWARDING_BUSY, 2)


def test_qsig_and_etsi_send_count_and_original_called() -> None:
    r = Redirection(Party("2125550002", TypeOfNumber.NATIONAL), RedirectionReason.CALL_FORWARDING_UNCONDITIONAL,
                    Party("2125550001", TypeOfNumber.NATIONAL), RedirectionReason.CALL_FORWARDING_BUSY, 3)
    f = CallFacts(calling=Party("2125551234", TypeOfNumber.NATIONAL), called=Party("2001"), redirection=r)
    qsig = [i for i in ies_out(profile(Variant.QSIG), f) if isinstance(i, Facility)]
    assert len(qsig) == 1
    # operation 21 and the argument byte for byte as libpri encodes them, with count 3
    arg = LIBPRI_QSIG_LEG2.hex().split("0201153033", 1)[1].replace("020102", "020103", 1)
    assert qsig[0].body().hex().endswith("0201153033" + arg)
    assert facts_in(msg_of(tuple(qsig))).redirection == r
    # ETSI EN 300 207-1 (op 15): no originalDiversionReason, so the original called
    # number reads back with reason unknown
    etsi = Facility(components=(diverting_leg2(r, qsig=False),))
    assert facts_in(msg_of((etsi,))).redirection == Redirection(
        r.redirecting, r.reason, r.original_called, RedirectionReason.UNKNOWN, 3)
    ni2 = ies_out(profile(Variant.NI2), f)
    assert [type(i).__name__ for i in ni2 if isinstance(i, (RedirectingNumber, OriginalCalledNumber))] \
        == ["OriginalCalledNumber", "RedirectingNumber"]


def test_leg2_original_called_not_available_is_no_party() -> None:
    # libpri sends originalCalledNr numberNotAvailableDueToInterworking [2] when it has none
    r = Redirection(Party("2125550002", TypeOfNumber.NATIONAL), RedirectionReason.CALL_FORWARDING_NO_REPLY,
                    count=3)
    inv = diverting_leg2(r, qsig=True)
    assert inv.argument is not None
    arg = inv.argument[:1] + bytes([inv.argument[1] + 4]) + inv.argument[2:] + bytes.fromhex("a2028200")
    fac = Facility(components=(replace(inv, argument=arg),))
    assert facts_in(msg_of((fac,))).redirection == r


_digits = st.text(alphabet="0123456789", min_size=1, max_size=20)
_reason = st.sampled_from([RedirectionReason.UNKNOWN, RedirectionReason.CALL_FORWARDING_BUSY,
                           RedirectionReason.CALL_FORWARDING_NO_REPLY,
                           RedirectionReason.CALL_FORWARDING_UNCONDITIONAL])
_party = st.builds(lambda d, t, r: Party(d, t, 1, Presentation.RESTRICTED if r else Presentation.ALLOWED),
                   _digits, st.sampled_from([0, 1, 2, 4]), st.booleans())


@given(_party, _reason, st.one_of(st.none(), st.tuples(_party, _reason)), st.integers(1, 15))
def test_qsig_leg2_round_trip(red: Party, reason: int, orig: tuple[Party, int] | None,
                              count: int) -> None:
    r = Redirection(red, reason, orig[0] if orig else None, orig[1] if orig else None, count)
    assert diverting_leg2_facts(diverting_leg2(r, qsig=True).argument or b"") == r


@given(st.binary(max_size=80))
def test_leg2_decoder_fuzz(arg: bytes) -> None:
    # a divertingLegInformation2 with any argument: facts or nothing, never a crash
    fac = Facility(components=(Invoke(1, 21, arg),))
    facts_in(msg_of((fac,)))
    with contextlib.suppress(Q931Error, ValueError, IndexError):
        diverting_leg2_facts(arg)
