"""Call facts to SIP headers and back: byte-exact values, both directions."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.interwork.facts import (
    CallFacts,
    CauseFact,
    Name,
    Party,
    Presentation,
    Redirection,
    RedirectionReason,
    Screening,
    TypeOfNumber,
    UserToUser,
)
from appliance.interwork.sipheaders import (
    ANONYMOUS_FROM,
    HeaderError,
    TrunkPolicy,
    identity_headers,
    parse_identity,
    parse_reason,
    parse_redirection,
    parse_uui,
    reason_header,
    redirection_headers,
    split_list,
    uui_header,
)

POLICY = TrunkPolicy(host="gw.example", country_code="1")


def test_rfc3325_allowed_screened_number_goes_to_from_and_pai() -> None:
    calling = Party("3035551234", TypeOfNumber.NATIONAL, screening=Screening.NETWORK_PROVIDED)
    assert identity_headers(calling, Name("Front Desk"), POLICY) == [
        ("From", '"Front Desk" <sip:+13035551234@gw.example;user=phone>'),
        ("P-Asserted-Identity", '"Front Desk" <sip:+13035551234@gw.example;user=phone>'),
    ]


def test_unscreened_number_goes_to_from_only() -> None:
    calling = Party("442071234567", TypeOfNumber.INTERNATIONAL)
    assert identity_headers(calling, None, POLICY) == [
        ("From", "<sip:+442071234567@gw.example;user=phone>"),
    ]


@pytest.mark.parametrize("screening", list(Screening))
def test_restricted_presentation_never_leaks_into_from(screening: Screening) -> None:
    calling = Party("3035551234", TypeOfNumber.NATIONAL, presentation=Presentation.RESTRICTED,
                    screening=screening)
    headers = dict(identity_headers(calling, Name("Secret Person"), POLICY))
    assert headers["From"] == ANONYMOUS_FROM
    assert headers["Privacy"] == "id"
    assert "5551234" not in headers["From"]
    assert "Secret" not in "".join(headers.values())
    if screening in (Screening.USER_VERIFIED_PASSED, Screening.NETWORK_PROVIDED):
        assert headers["P-Asserted-Identity"] == "<sip:+13035551234@gw.example;user=phone>"
    else:
        assert "P-Asserted-Identity" not in headers


def test_restricted_name_alone_is_not_shown() -> None:
    calling = Party("3035551234", TypeOfNumber.NATIONAL, screening=Screening.NETWORK_PROVIDED)
    headers = dict(identity_headers(calling, Name("Hidden", Presentation.RESTRICTED), POLICY))
    assert headers["From"] == "<sip:+13035551234@gw.example;user=phone>"


def test_number_not_available_is_anonymous_without_privacy() -> None:
    calling = Party("", presentation=Presentation.NOT_AVAILABLE)
    assert identity_headers(calling, None, POLICY) == [("From", ANONYMOUS_FROM)]


def test_identity_back_from_pai_and_privacy() -> None:
    party, name = parse_identity('"Alice" <sip:+13035551234@sbc.example>;tag=9',
                                 ["<sip:+13035550000@sbc.example>"], "id", POLICY)
    assert party == Party("3035550000", TypeOfNumber.NATIONAL, presentation=Presentation.RESTRICTED,
                          screening=Screening.USER_VERIFIED_PASSED)
    assert name == Name("Alice", Presentation.RESTRICTED)


def test_identity_from_tel_pai() -> None:
    party, _ = parse_identity("<sip:anonymous@anonymous.invalid>;tag=1",
                              ["<tel:+442071234567>"], None, POLICY)
    assert party == Party("442071234567", TypeOfNumber.INTERNATIONAL,
                          screening=Screening.USER_VERIFIED_PASSED)


def test_untrusted_pai_is_ignored() -> None:
    policy = TrunkPolicy(host="gw.example", trust_pai=False)
    party, _ = parse_identity("<sip:2001@pbx>;tag=1", ["<sip:+13035550000@x>"], None, policy)
    assert party == Party("2001", TypeOfNumber.UNKNOWN)


def test_anonymous_with_privacy_is_restricted_without_digits() -> None:
    party, name = parse_identity(ANONYMOUS_FROM + ";tag=1", [], "id", POLICY)
    assert party is not None and party.digits == ""
    assert party.presentation == Presentation.RESTRICTED and name is None


def test_rfc5806_diversion_both_ways() -> None:
    redir = Redirection(Party("3035551000", TypeOfNumber.NATIONAL), RedirectionReason.CALL_FORWARDING_BUSY,
                        Party("3035552000", TypeOfNumber.NATIONAL), RedirectionReason.CALL_FORWARDING_NO_REPLY)
    headers = redirection_headers(redir, None, POLICY)
    assert headers == [
        ("Diversion", "<sip:+13035551000@gw.example;user=phone>;reason=user-busy;counter=1"),
        ("Diversion", "<sip:+13035552000@gw.example;user=phone>;reason=no-answer;counter=1"),
    ]
    # two entries of one diversion each: the count is 2 (RFC 5806 s4 counter)
    assert parse_redirection([v for _, v in headers], [], POLICY) == replace(redir, count=2)


def test_diversion_counter_carries_the_count() -> None:
    redir = Redirection(Party("3035551000", TypeOfNumber.NATIONAL), RedirectionReason.CALL_FORWARDING_BUSY,
                        Party("3035552000", TypeOfNumber.NATIONAL), RedirectionReason.CALL_FORWARDING_NO_REPLY,
                        count=4)
    values = [v for _, v in redirection_headers(redir, None, POLICY)]
    assert values == ["<sip:+13035551000@gw.example;user=phone>;reason=user-busy;counter=3",
                      "<sip:+13035552000@gw.example;user=phone>;reason=no-answer;counter=1"]
    assert parse_redirection(values, [], POLICY) == redir
    one = parse_redirection(["<sip:2001@x>;reason=unconditional;counter=99"], [], POLICY)
    assert one is not None and one.count == 15  # ECMA-174 diversionCounter is 1..15


def test_diversion_privacy_for_restricted_redirecting_number() -> None:
    redir = Redirection(Party("2001", presentation=Presentation.RESTRICTED),
                        RedirectionReason.CALL_FORWARDING_UNCONDITIONAL)
    (_, value), = redirection_headers(redir, None, POLICY)
    assert value == "<sip:2001@gw.example>;reason=unconditional;counter=1;privacy=full"
    assert parse_redirection([value], [], POLICY) == replace(redir, count=1)


def test_rfc7044_history_info_with_rfc4458_causes() -> None:
    redir = Redirection(Party("3035551000", TypeOfNumber.NATIONAL), RedirectionReason.CALL_FORWARDING_BUSY,
                        Party("3035552000", TypeOfNumber.NATIONAL), RedirectionReason.CALL_FORWARDING_UNCONDITIONAL)
    policy = TrunkPolicy(host="gw.example", redirection="history-info")
    (name, value), = redirection_headers(redir, Party("3035553000", TypeOfNumber.NATIONAL), policy)
    assert name == "History-Info"
    assert value == (
        "<sip:+13035552000@gw.example;user=phone>;index=1,"
        "<sip:+13035551000@gw.example;user=phone;cause=302>;index=1.1;mp=1,"
        "<sip:+13035553000@gw.example;user=phone;cause=486>;index=1.1.1;mp=1.1"
    )
    assert parse_redirection([], [value], policy) == replace(redir, count=2)


def test_history_info_from_a_peer_single_hop() -> None:
    value = ("<sip:+13035551000@sbc.example>;index=1,"
             "<sip:+13035553000@sbc.example;cause=408>;index=1.1;mp=1")
    assert parse_redirection([], [value], POLICY) == Redirection(
        Party("3035551000", TypeOfNumber.NATIONAL), RedirectionReason.CALL_FORWARDING_NO_REPLY,
        count=1)


def test_redirection_not_trusted_or_not_sent() -> None:
    redir = Redirection(Party("2001"), RedirectionReason.CALL_FORWARDING_BUSY)
    assert redirection_headers(redir, None, TrunkPolicy(redirection="none")) == []
    assert parse_redirection(["<sip:2001@x>;reason=user-busy"], [],
                             TrunkPolicy(trust_redirection=False)) is None


def test_rfc7433_user_to_user_keeps_protocol_discriminator() -> None:
    uui = UserToUser(0x04, bytes.fromhex("c8a3f2"))
    value = uui_header(uui)
    assert value == "04c8a3f2;encoding=hex;purpose=isdn-uui;content=isdn-uui"
    assert parse_uui([value], POLICY) == uui


def test_uui_of_another_package_is_skipped_and_bad_hex_refused() -> None:
    assert parse_uui(["0401;encoding=hex;purpose=other-app"], POLICY) is None
    with pytest.raises(HeaderError, match="hex"):
        parse_uui(["04zz;encoding=hex;purpose=isdn-uui"], POLICY)
    with pytest.raises(HeaderError, match="encoding"):
        parse_uui(["0401;encoding=base64"], POLICY)


def test_rfc3326_reason_with_rfc8606_location() -> None:
    value = reason_header(CauseFact(17, 2, b"\x01"))
    assert value == 'Q.850;cause=17;text="User busy";location=LN'
    assert parse_reason(['SIP;cause=200;text="Call completed elsewhere"', value]) == \
        CauseFact(17, 2)


def test_reason_without_cause_is_a_header_error() -> None:
    with pytest.raises(HeaderError):
        parse_reason(["Q.850;text=x"])


def test_facts_to_event_are_plain_values() -> None:
    facts = CallFacts(calling=Party("2001"), uui=UserToUser(4, b"\x01"),
                      cause=CauseFact(16, 0, b""))
    assert facts.to_event() == {
        "calling": {"digits": "2001", "type": "unknown", "plan": "isdn_e164",
                    "presentation": "allowed", "screening": "user_not_screened"},
        "uui": {"protocol": 4, "hex": "01"},
        "cause": {"value": 16, "location": 0, "diagnostics": ""},
    }


@given(st.text(max_size=120))
def test_fuzz_parsers_raise_only_header_error(text: str) -> None:
    for call in (
        lambda: parse_identity(text, [text], text, POLICY),
        lambda: parse_redirection([text], [], POLICY),
        lambda: parse_redirection([], [text], POLICY),
        lambda: parse_uui([text], POLICY),
        lambda: parse_reason([text]),
        lambda: split_list(text),
    ):
        with contextlib.suppress(HeaderError):
            call()


_atoms = st.sampled_from([
    "<", ">", '"', ",", ";", "=", "?", "sip:", "tel:", "+1303", "@h", "index=", "1.1",
    "cause=", "486", "reason=", "privacy=full", "Privacy=history", "Q.850", "SIP",
    "encoding=hex", "purpose=isdn-uui", "04", "zz", "location=", "LN", " ", "anonymous",
])


@given(st.lists(_atoms, max_size=30).map("".join))
def test_fuzz_structured_header_values(text: str) -> None:
    test_fuzz_parsers_raise_only_header_error.hypothesis.inner_test(text)  # type: ignore[attr-defined]
