"""Q.931 vectors captured from libpri 1.6 for every switch type (vectors/*.txt,
made by tests/appliance/isdn/vectors/capture.py): decoded, typed without
content errors, and re-encoded byte for byte; plus a live capture run."""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path

import pytest

from appliance.isdn.q931 import (
    CallingPartyNumber,
    CallState,
    Cause,
    ChangeStatus,
    ChannelId,
    Display,
    Facility,
    InvalidIE,
    Message,
    MessageType,
    NameOp,
    RedirectingNumber,
    UserUser,
    Variant,
    check_mandatory,
    decode_message,
)

VECTORS = Path(__file__).parent / "vectors"
VARIANTS = {"ni2": Variant.NI2, "5ess": Variant.LUCENT5E, "4ess": Variant.ATT4ESS,
            "dms100": Variant.DMS100, "euroisdn_e1": Variant.EUROISDN_E1,
            "euroisdn_t1": Variant.EUROISDN_T1, "qsig": Variant.QSIG}


def load(name: str) -> list[tuple[str, str, bytes]]:
    out = []
    for line in (VECTORS / f"libpri_{name}.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            d, mname, hx = line.split()
            out.append((d, mname, bytes.fromhex(hx)))
    return out


def decoded(name: str) -> list[Message]:
    return [decode_message(raw, variant=VARIANTS[name]) for _, _, raw in load(name)]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_vectors_round_trip_byte_for_byte(name: str) -> None:
    vectors = load(name)
    assert len(vectors) >= 30
    for _, mname, raw in vectors:
        m = decode_message(raw, variant=VARIANTS[name])
        assert m.encode() == raw
        assert isinstance(m.type, IntEnum) or mname.startswith("0x")
        assert not [ie for ie in m.ies if isinstance(ie, InvalidIE)], (mname, raw.hex())
        if isinstance(m.type, IntEnum):
            assert m.type.name == mname


@pytest.mark.parametrize("name", list(VARIANTS))
def test_vectors_have_their_mandatory_ies(name: str) -> None:
    for d, _, raw in load(name):
        check_mandatory(decode_message(raw, variant=VARIANTS[name]),
                        to_network=d == "cpe>net")


@pytest.mark.parametrize("name", list(VARIANTS))
def test_vectors_carry_the_call_facts(name: str) -> None:
    msgs = decoded(name)
    setup = next(m for m in msgs if m.type is MessageType.SETUP)
    calling = setup.get(CallingPartyNumber)
    assert calling is not None and calling.digits == "5551234"
    assert setup.get(ChannelId) == ChannelId((1,))
    names = [pn.text for f in setup.all(Facility) for op, pn in f.names()
             if op is NameOp.CALLING_NAME]
    display = setup.get(Display)
    if name in ("ni2", "qsig"):
        assert names == ["Alice Smith"]  # ROSE callingName invoke
    if name in ("ni2", "4ess", "5ess", "dms100"):
        assert display == Display("Alice Smith", 0xB1)
    if name not in ("qsig", "euroisdn_e1", "euroisdn_t1"):
        red = setup.get(RedirectingNumber)
        assert red is not None and red.digits == "5559999" and red.reason == 1
    assert setup.get(UserUser) == UserUser(4, b"uui-data")
    statuses = [m for m in msgs if m.type is MessageType.STATUS]
    assert [s.get(Cause).value for s in statuses] == [30, 97]  # type: ignore[union-attr]
    assert statuses[0].get(CallState) == CallState(4)
    if name in ("ni2", "4ess", "5ess", "dms100"):
        services = [m for m in msgs if m.is_maintenance]
        assert [m.type.name for m in services] == ["SERVICE", "SERVICE_ACKNOWLEDGE"] * 2
        assert [m.get(ChangeStatus).status for m in services] == [2, 2, 0, 0]  # type: ignore[union-attr]
        assert services[0].protocol == (0x43 if name == "ni2" else 0x03)


@pytest.mark.peer
@pytest.mark.parametrize("name", ["ni2", "qsig", "dms100"])
def test_live_libpri_capture_round_trips(name: str) -> None:
    from tests.appliance.isdn.vectors.capture import SWITCHES, capture

    records = capture(SWITCHES[name])
    assert len(records) >= 30
    for _, _, raw in records:
        m = decode_message(raw, variant=VARIANTS[name])
        assert m.encode() == raw
        assert not m.invalid()


def test_ni2_name_follows_in_facility() -> None:
    msgs = decoded("ni2")
    setups = [m for m in msgs if m.type is MessageType.SETUP]
    incoming = setups[1]  # network to user: name announced, then sent in FACILITY
    fac = incoming.get(Facility)
    assert fac is not None and fac.name_follows and not fac.names()
    later = next(m for m in msgs if m.type is MessageType.FACILITY
                 and m.call_ref == incoming.call_ref)
    f2 = later.get(Facility)
    assert f2 is not None
    assert [(op, pn.text) for op, pn in f2.names()] == [(NameOp.CALLING_NAME, "Bob Jones")]
