"""Q.931 codec: every IE and message type round-trips byte for byte (Q.931 4.5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.isdn.errors import Q931Error
from appliance.isdn.q931 import (
    BearerCapability,
    CalledPartyNumber,
    CallingPartyCategory,
    CallingPartyNumber,
    CallState,
    Cause,
    ChangeStatus,
    ChannelId,
    CongestionLevel,
    ConnectedNumber,
    DateTime,
    Display,
    Facility,
    GenericDigits,
    InvalidIE,
    Invoke,
    KeypadFacility,
    Message,
    MessageType,
    MoreData,
    NameOp,
    NamePresentation,
    NotificationIndicator,
    OriginalCalledNumber,
    OriginatingLineInfo,
    PartyName,
    ProgressIndicator,
    RedirectingNumber,
    RedirectionNumber,
    Reject,
    RepeatIndicator,
    RestartIndicator,
    ReturnError,
    ReturnResult,
    SendingComplete,
    Shift,
    Signal,
    TransitCounter,
    UnknownIE,
    UnknownSingleOctet,
    UserUser,
    Variant,
    check_mandatory,
    decode_message,
    decode_name,
    encode_name,
    maintenance_pd,
    message,
    name_invoke,
    service_type,
)

IES = [
    BearerCapability(0, 0, 0x10, layer1=2),
    BearerCapability(0x08, 0, 0x10),
    BearerCapability(0x10, 0, 0x10, layer1=3, layer1_ext=b"\x81"),
    BearerCapability(0x08, 0, 0x18, rate_multiplier=6, layer2=2, layer3=6),
    ChannelId((1,)),
    ChannelId((23,), exclusive=False),
    ChannelId((1, 2, 3)),
    ChannelId(selection=3),
    ChannelId(slot_map=b"\x00\x00\x05"),
    ChannelId((5,), interface_id=1),
    ChannelId(selection=0, d_channel=True),
    CallState(10),
    Cause(16, 2),
    Cause(34, 3, recommendation=0),
    Cause(100, 0, diagnostics=b"\x18"),
    ProgressIndicator(8, 2),
    NotificationIndicator(0x71),
    Display("Alice Smith"),
    Display("Bob", 0xB1),
    Display("Net", 0xB1, codeset=6),
    KeypadFacility("*72"),
    Signal(0x4F),
    UserUser(4, b"hello\x00"),
    RestartIndicator(7),
    RestartIndicator(0),
    ChangeStatus(2),
    DateTime(26, 12, 2, 20, 30),
    DateTime(26, 12, 2),
    CalledPartyNumber("18005551212", 2, 1),
    CallingPartyNumber("5551234", 4, 1),
    CallingPartyNumber("5551234", 2, 1, 1, 3),
    ConnectedNumber("2001", 4, 9, 0, 1),
    RedirectingNumber("3003", 2, 1, 0, 0, 0xF),
    RedirectingNumber("3003", 2, 1, 0, 3),
    RedirectionNumber("4004", 2, 1, 0, 0),
    OriginalCalledNumber("5005", 2, 1, 0, 0, 1, extra=b"\x81"),
    Facility(0x11, (name_invoke(1, PartyName(b"Alice")),)),
    Facility(0x1F, (name_invoke(-5, PartyName(b"Bob", NamePresentation.RESTRICTED)),)),
    Facility(0x11, (ReturnResult(3), ReturnResult(4, 7, b"\x05\x00"),
                    ReturnError(5, 12), Reject(None, 0, 1), Reject(9, 1, 2))),
    Facility(0x11, (Invoke(300, (1, 3, 12, 9, 0), None, linked_id=7),)),
    Shift(6, True),
    Shift(5, False),
    SendingComplete(),
    MoreData(),
    CongestionLevel(15),
    RepeatIndicator(2),
    UnknownIE(0x7D, b"\x91\x81"),
    OriginatingLineInfo(0x00, codeset=6),
    GenericDigits(1, 2, b"1234", codeset=6),
    CallingPartyCategory(10, codeset=5),
    TransitCounter(3, codeset=4),
    UnknownIE(0x50, b"\x01", codeset=7),
]


@pytest.mark.parametrize("ie", IES, ids=lambda ie: type(ie).__name__)
def test_ie_round_trip(ie: object) -> None:
    from appliance.isdn.q931 import InformationElement

    assert isinstance(ie, InformationElement)
    prefix: tuple[InformationElement, ...] = ()
    if ie.codeset:
        prefix = (Shift(ie.codeset, False),)
    m = Message(MessageType.SETUP, 1, False, (*prefix, ie))
    raw = m.encode()
    back = decode_message(raw)
    assert back.ies[-1] == ie
    assert back.encode() == raw


@pytest.mark.parametrize("mt", list(MessageType))
def test_every_message_type(mt: MessageType) -> None:
    m = message(mt, 0x1234, True, Cause(16, 1))
    raw = m.encode()
    assert raw[:5] == bytes([0x08, 2, 0x92, 0x34, mt])
    assert decode_message(raw) == m


@pytest.mark.parametrize("variant", [Variant.NI2, Variant.ATT4ESS, Variant.LUCENT5E,
                                     Variant.DMS100])
def test_service_maintenance_protocol(variant: Variant) -> None:
    pd = maintenance_pd(variant)
    # as libpri 1.6 sends it: national (0x43, SERVICE=0x07) on NI-2, AT&T (0x03) elsewhere
    assert pd == (0x43 if variant == Variant.NI2 else 0x03)
    m = message(service_type(pd), 0, False, ChangeStatus(2), ChannelId((4,)), protocol=pd)
    raw = m.encode()
    assert raw[4] == (0x07 if pd == 0x43 else 0x0F)
    back = decode_message(raw, variant=variant)
    assert back.type.name == "SERVICE" and back.is_maintenance
    ack = decode_message(message(service_type(pd, True), 0, True, protocol=pd).encode())
    assert ack.type.name == "SERVICE_ACKNOWLEDGE"
    assert back.get(ChangeStatus) == ChangeStatus(2)
    assert back.encode() == raw


def test_call_reference_forms() -> None:
    g = decode_message(bytes([8, 2, 0, 0, 0x46, 0x79, 1, 0x87]))
    assert g.is_global and g.get(RestartIndicator) == RestartIndicator(7)
    d = decode_message(bytes([8, 0, 0x62]))
    assert d.call_ref_len == 0 and d.encode() == bytes([8, 0, 0x62])
    one = decode_message(bytes([8, 1, 0x85, 0x01]))
    assert one.call_ref == 5 and one.call_ref_flag and one.encode() == bytes([8, 1, 0x85, 1])


def test_codeset_shifts_locking_and_non_locking() -> None:
    raw = bytes([8, 2, 0, 1, 0x05, 0x96, 0x28, 3, 0xB1, 0x41, 0x42, 0x02, 1, 0x81])
    m = decode_message(raw, variant=Variant.NI2)
    assert m.ies[1] == Display("AB", 0xB1, codeset=6)
    assert isinstance(m.ies[2], UnknownIE) and m.ies[2].codeset == 6
    assert m.encode() == raw
    raw2 = bytes([8, 2, 0, 1, 0x05, 0x9E, 0x28, 1, 0x41, 0x28, 1, 0x42])
    m2 = decode_message(raw2, variant=Variant.LUCENT5E)
    assert [ie.codeset for ie in m2.ies] == [0, 6, 0]
    # codeset 6 display is network specific: on EuroISDN it is kept untyped.
    m3 = decode_message(raw2, variant=Variant.EUROISDN_E1)
    assert isinstance(m3.ies[1], UnknownIE) and m3.encode() == raw2


def test_unknown_and_invalid_ies_are_kept_and_reported() -> None:
    raw = bytes([8, 2, 0, 1, 0x05, 0x04, 1, 0x80, 0x03, 1, 0xAA, 0xF3, 0x18, 0x0A, 0x01])
    m = decode_message(raw)
    assert isinstance(m.ies[0], InvalidIE) and m.ies[0].cause == 100
    assert isinstance(m.ies[1], UnknownIE) and m.ies[1].comprehension_required
    assert isinstance(m.ies[2], UnknownSingleOctet) or m.ies[2] == UnknownSingleOctet(0xF3)
    assert isinstance(m.ies[3], InvalidIE) and "past the end" in m.ies[3].reason
    assert [c for c, _ in m.problems()] == [100, 99, 100]
    assert m.encode() == raw


def test_names_qsig_and_ni2() -> None:
    for pn in (PartyName(b"Alice"), PartyName(b"Bob", NamePresentation.RESTRICTED),
               PartyName(b"", NamePresentation.RESTRICTED),
               PartyName(b"", NamePresentation.NOT_AVAILABLE),
               PartyName(b"Carol", character_set=1, extended=True)):
        assert decode_name(encode_name(pn)) == pn
    f = Facility(0x1F, (name_invoke(2, PartyName(b"Dave"), NameOp.CONNECTED_NAME),))
    assert f.names() == [(NameOp.CONNECTED_NAME, PartyName(b"Dave"))]


@pytest.mark.parametrize("data", [b"", b"\x08", b"\x08\x02", b"\x09\x02\x00\x01\x05",
                                  b"\x08\x12\x00", b"\x08\x03\x00\x00\x00\x05",
                                  b"\x08\x02\x00"])
def test_bad_headers_raise_q931error(data: bytes) -> None:
    with pytest.raises(Q931Error) as ei:
        decode_message(data)
    assert ei.value.cause in (81, 95) and ei.value.ignore


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_q931error(data: bytes) -> None:
    try:
        m = decode_message(data)
    except Q931Error as e:
        assert 1 <= e.cause <= 127
        return
    assert m.encode() == data


@given(st.binary(max_size=200), st.sampled_from(list(Variant)))
def test_any_ie_bytes_round_trip(body: bytes, variant: Variant) -> None:
    data = bytes([8, 2, 0x80, 0x01, 0x05]) + body
    try:
        m = decode_message(data, variant=variant)
    except Q931Error:
        raise AssertionError("a valid header must never raise") from None
    assert m.encode() == data


@given(st.sampled_from([0x04, 0x08, 0x14, 0x18, 0x1C, 0x1E, 0x27, 0x28, 0x29, 0x2C, 0x34,
                        0x4C, 0x6C, 0x70, 0x73, 0x74, 0x76, 0x79, 0x7E, 0x01]),
       st.binary(max_size=40))
def test_typed_ie_bodies_never_crash(ie_id: int, body: bytes) -> None:
    data = bytes([8, 2, 0, 1, 0x05, ie_id, len(body)]) + body
    m = decode_message(data)
    assert m.encode() == data
    assert len(m.ies) == 1


def test_generic_digits_text() -> None:
    assert GenericDigits(1, 0, b"\x21\x43").digits == "1234"
    assert GenericDigits(1, 1, b"\x21\x03").digits == "123"
    assert GenericDigits(1, 2, b"99").digits == "99"


def test_mandatory_ie_missing_96_and_invalid_100() -> None:
    disc = message(MessageType.DISCONNECT, 1, True)
    with pytest.raises(Q931Error) as ei:
        check_mandatory(disc, to_network=True)
    assert ei.value.cause == 96 and ei.value.diagnostic == b"\x08"
    bad_bc = decode_message(bytes([8, 2, 0, 1, 0x05, 0x04, 1, 0x80, 0x18, 3, 0xA9, 0x83, 0x81]))
    with pytest.raises(Q931Error) as ei:
        check_mandatory(bad_bc, to_network=True)
    assert ei.value.cause == 100 and ei.value.diagnostic == b"\x04"
    # channel identification is mandatory in SETUP toward the user only
    no_chan = message(MessageType.SETUP, 1, False, BearerCapability(0, 0, 0x10, layer1=2))
    check_mandatory(no_chan, to_network=True)
    with pytest.raises(Q931Error):
        check_mandatory(no_chan, to_network=False)
    check_mandatory(message(service_type(3), 0, False, ChangeStatus(0), ChannelId((1,)),
                            protocol=3), to_network=False)
