"""Q.931 IEs to call facts and back, through the real codec, byte for byte."""

from __future__ import annotations

import pytest

from appliance.interwork.facts import (
    CallFacts,
    CauseFact,
    Name,
    NumberingPlan,
    Party,
    Presentation,
    Redirection,
    RedirectionReason,
    Screening,
    TypeOfNumber,
    UserToUser,
)
from appliance.interwork.isdn import cause_ie, facts_from_message, ies_from_facts
from appliance.isdn.q931 import (
    CallingPartyNumber,
    Display,
    Facility,
    MessageType,
    UnknownIE,
    decode_message,
    message,
)

FACTS = CallFacts(
    calling=Party("3035551234", TypeOfNumber.NATIONAL, NumberingPlan.ISDN_E164,
                  Presentation.ALLOWED, Screening.NETWORK_PROVIDED),
    calling_name=Name("Front Desk"),
    called=Party("2001", TypeOfNumber.SUBSCRIBER, NumberingPlan.ISDN_E164),
    redirection=Redirection(Party("2002", TypeOfNumber.SUBSCRIBER),
                            RedirectionReason.CALL_FORWARDING_BUSY,
                            Party("2003", TypeOfNumber.SUBSCRIBER),
                            RedirectionReason.CALL_FORWARDING_UNCONDITIONAL),
    uui=UserToUser(0x04, b"order-12345"),
)


@pytest.mark.parametrize("via", ["facility-rose", "facility-qsig", "display"])
def test_setup_facts_round_trip_through_the_codec(via: str) -> None:
    setup = message(MessageType.SETUP, 5, False, *ies_from_facts(FACTS, name_via=via))  # type: ignore[arg-type]
    wire = setup.encode()
    again = decode_message(wire)
    assert again.encode() == wire
    assert facts_from_message(again) == FACTS
    ids = [ie.ie_id for ie in again.ies]
    assert ids == sorted(ids)


def test_ni2_setup_bytes() -> None:
    setup = message(MessageType.SETUP, 5, False, *ies_from_facts(FACTS, name_via="facility-rose"))
    assert setup.encode().hex() == (
        "0802000505"
        "1c1591a112020101020100800a46726f6e74204465736b"   # facility: calling name
        "6c0c218333303335353531323334"                     # calling: national, network
        "7005c132303031"                                   # called: subscriber
        "730741008f32303033"                               # original called, unconditional
        "740741008132303032"                               # redirecting, busy
        "7e0c046f726465722d3132333435"                     # user-user, PD 4
    )


def test_restricted_name_is_never_put_in_display() -> None:
    facts = CallFacts(calling_name=Name("Secret", Presentation.RESTRICTED))
    assert ies_from_facts(facts, name_via="display") == []
    (fac,) = ies_from_facts(facts, name_via="facility-qsig")
    assert isinstance(fac, Facility)
    assert facts_from_message(message(MessageType.SETUP, 1, False, fac)).calling_name == \
        Name("Secret", Presentation.RESTRICTED)


def test_missing_octet_3a_means_allowed_and_not_screened() -> None:
    msg = message(MessageType.SETUP, 1, False, CallingPartyNumber("2001", 4, 1))
    facts = facts_from_message(msg)
    assert facts.calling == Party("2001", TypeOfNumber.SUBSCRIBER, NumberingPlan.ISDN_E164,
                                  Presentation.ALLOWED, Screening.USER_NOT_SCREENED)


def test_display_without_info_type_is_a_name() -> None:
    msg = message(MessageType.SETUP, 1, False, Display("RECEPTION"))
    assert facts_from_message(msg).calling_name == Name("RECEPTION")


def test_unknown_ies_reach_the_facts() -> None:
    msg = message(MessageType.SETUP, 1, False, UnknownIE(identifier=0x7B, data=b"\x01\x02"))
    assert facts_from_message(msg).extra == {"ie.0.0x7b": "0102"}


def test_cause_keeps_location_and_diagnostics() -> None:
    msg = message(MessageType.DISCONNECT, 1, True, cause_ie(CauseFact(17, 2, b"\x8a")))
    assert facts_from_message(decode_message(msg.encode())).cause == CauseFact(17, 2, b"\x8a")
