"""Facts to and from Q.931 in each variant's form (interwork.isdn for the IEs,
isdn.cc.parties for names and redirection), round trip through the codec."""

from __future__ import annotations

from appliance.gateway.isdnfacts import facts_in, ies_out
from appliance.interwork.facts import (
    CallFacts,
    Name,
    Party,
    Presentation,
    Redirection,
    TypeOfNumber,
    UserToUser,
)
from appliance.isdn.cc.msg import Msg
from appliance.isdn.cc.variants import profile
from appliance.isdn.q931 import Display, Facility, RedirectingNumber, Variant

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
