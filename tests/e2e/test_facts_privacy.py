"""Restricted presentation never leaks (issue 11 items 1, 2, 6), with libpri as the PBX.

The PBX (libpri's pri_sr_set_caller_party) sends a calling number and name, either
restricted, on NI-2 (libpri as the network side: "name information follows" in the
SETUP, the callingName invoke in a FACILITY after it, as NI-2 switches and Avaya CM
do; CTI gets it in a call.facts event) and QSIG (name presentation restricted,
ECMA-164, in the SETUP).  The whole INVITE sipp
received (every header and the body) is searched for the digits and the name: the
name appears nowhere, the number only in P-Asserted-Identity (to the trusted peer,
with Privacy: id) and, with send_pai off, nowhere.  The call.started CTI event
carries the facts with their restriction flags.  Then the trust_* switches for the
other direction (SIP -> PBX): PAI and User-to-User not trusted.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from appliance.demo.libpri import PRI_NATIONAL_ISDN, Ev, party_id
from tests.peers.sipp.runner import Sipp

from .rig import Rig, wait_for
from .test_facts import SwitchRig, headers_of, record_events, uac_scenario, uas_scenario

pytestmark = pytest.mark.peer
PRES_ALLOWED_PASSED = 0x01  # presentation allowed, user provided verified and passed
PRES_PROHIB_PASSED = 0x21  # presentation restricted, user provided verified and passed
NUMBER, NAME = "2125551234", "Alice Smith"


def whole_invite(messages: str) -> str:
    """The first INVITE sipp received, start line to the end of its body."""
    start = messages.index("INVITE sip:")
    end = messages.find("\n----", start)
    return messages[start:end if end > 0 else None]


async def pbx_to_sip(tmp: Path, *, switch: str = "ni2", extra_trunk: str = "", **setup: Any
                     ) -> tuple[str, dict[str, Any]]:
    uas = Sipp(tmp / "sipp", uas_scenario(tmp), timeout_s=30)
    rig_ = (Rig(tmp, uas.address, extra_trunk=extra_trunk) if switch == "ni2"
            else SwitchRig(tmp, uas.address, switch, extra_trunk=extra_trunk))
    try:
        async with rig_ as rig:
            events = record_events(rig)
            call = rig.pbx.place_call("2001", **setup)
            await wait_for(lambda: call.state == "answered", 20, "answer at the PBX")
            rig.pbx.hangup(call, 16)
            await wait_for(rig.idle, 20, "every channel idle")
            res = await asyncio.get_running_loop().run_in_executor(None, uas.wait, 10)
            assert res.ok(), res.errors + res.messages[-2000:]
            facts = dict(next(f for k, f in events if k == "call.started")["facts"])
            # facts the PBX sent after its SETUP (NI-2: the name in a FACILITY)
            for kind, f in events:
                if kind == "call.facts":
                    facts.update(f["facts"])
            return whole_invite(res.messages), facts
    finally:
        uas.kill()


def caller(number_pres: int, name_pres: int) -> Any:
    return party_id(NUMBER, plan=PRI_NATIONAL_ISDN, presentation=number_pres, name=NAME,
                    name_presentation=name_pres)


def no_name(invite: str) -> None:
    for word in ("Alice", "Smith"):
        assert word not in invite, invite


def only_in_pai(invite: str, digits: str = NUMBER) -> None:
    lines = [line for line in invite.splitlines() if digits in line]
    assert all(line.startswith("P-Asserted-Identity: <sip:") for line in lines), lines
    # the PAI carries no display name either
    assert all(line.split(":", 1)[1].strip().startswith("<") for line in lines), lines


@pytest.mark.parametrize("switch", ["ni2", "qsig"])
def test_restricted_name_allowed_number(tmp_path: Path, switch: str) -> None:
    invite, facts = asyncio.run(pbx_to_sip(
        tmp_path, switch=switch, caller_party=caller(PRES_ALLOWED_PASSED, PRES_PROHIB_PASSED)))
    no_name(invite)
    h = headers_of(invite.split("\n\n", 1)[0])
    assert re.fullmatch(r"<sip:\+12125551234@127\.0\.0\.1;user=phone>;tag=\w+", h["from"][0])
    assert h["p-asserted-identity"] == ["<sip:+12125551234@127.0.0.1;user=phone>"]
    assert "privacy" not in h
    assert facts["calling_name"] == {"text": NAME, "presentation": "restricted"}
    assert facts["calling"]["presentation"] == "allowed"


@pytest.mark.parametrize("switch", ["ni2", "qsig"])
def test_restricted_number_and_name(tmp_path: Path, switch: str) -> None:
    invite, facts = asyncio.run(pbx_to_sip(
        tmp_path, switch=switch, caller_party=caller(PRES_PROHIB_PASSED, PRES_PROHIB_PASSED)))
    no_name(invite)
    only_in_pai(invite)
    h = headers_of(invite.split("\n\n", 1)[0])
    assert re.fullmatch(r"Anonymous <sip:anonymous@anonymous\.invalid>;tag=\w+", h["from"][0])
    assert h["p-asserted-identity"] == ["<sip:+12125551234@127.0.0.1;user=phone>"]
    assert h["privacy"] == ["id"]
    assert facts["calling"] == {"digits": NUMBER, "type": "national", "plan": "isdn_e164",
                                "presentation": "restricted", "screening": "user_verified_passed"}
    assert facts["calling_name"] == {"text": NAME, "presentation": "restricted"}


def test_restricted_number_send_pai_off_number_nowhere(tmp_path: Path) -> None:
    invite, facts = asyncio.run(pbx_to_sip(
        tmp_path, extra_trunk="send_pai = false",
        caller_party=caller(PRES_PROHIB_PASSED, PRES_ALLOWED_PASSED)))
    # the name was allowed, but a restricted number hides the caller: no display either
    no_name(invite)
    assert NUMBER not in invite and "5551234" not in invite
    h = headers_of(invite.split("\n\n", 1)[0])
    assert "p-asserted-identity" not in h and h["privacy"] == ["id"]
    assert facts["calling"]["digits"] == NUMBER and facts["calling"]["presentation"] == "restricted"


def test_allowed_caller_send_pai_off(tmp_path: Path) -> None:
    invite, _ = asyncio.run(pbx_to_sip(
        tmp_path, extra_trunk="send_pai = false",
        caller_party=caller(PRES_ALLOWED_PASSED, PRES_ALLOWED_PASSED)))
    h = headers_of(invite.split("\n\n", 1)[0])
    assert "p-asserted-identity" not in h
    assert re.fullmatch(r'"Alice Smith" <sip:\+12125551234@127\.0\.0\.1;user=phone>;tag=\w+',
                        h["from"][0])


# ---------------------------------------------------------------- SIP -> PBX trust switches

async def sip_to_pbx(tmp: Path, headers: list[str], extra_trunk: str) -> Any:
    scen = uac_scenario(tmp, headers)
    async with Rig(tmp, ("127.0.0.1", 9), extra_trunk=extra_trunk) as rig:
        rings: list[Any] = []
        rig.pbx.policy = "answer"
        rig.pbx.on_event = lambda call, ev: rings.append(ev) if ev.e == Ev.RING else None
        uac = Sipp(tmp / "sipp", scen, remote=rig.sip_address, service="2001", timeout_s=20)
        try:
            await wait_for(lambda: bool(rings) and bool(rig.pbx.calls), 20, "RING at the PBX")
            await asyncio.sleep(0.3)
            rig.pbx.hangup(next(iter(rig.pbx.calls.values())), 16)
            res = await asyncio.get_running_loop().run_in_executor(None, uac.wait, 15)
            assert res.ok(), res.errors + res.messages[-2000:]
            await wait_for(rig.idle, 20, "every channel idle")
        finally:
            uac.kill()
        return rings[0]


PAI = "P-Asserted-Identity: <sip:+13035550000@[local_ip];user=phone>"
UUI = "User-to-User: 04c0ffee;encoding=hex;purpose=isdn-uui;content=isdn-uui"


def test_pai_and_uui_trusted(tmp_path: Path) -> None:
    ring = asyncio.run(sip_to_pbx(tmp_path, [PAI, UUI], ""))
    # RFC 3325: the asserted identity, screened (user provided, verified and passed)
    assert ring.callingnum == "3035550000" and ring.callingpres == PRES_ALLOWED_PASSED
    assert ring.useruserinfo.encode("latin-1") == b"\xc0\xff\xee"


def test_pai_and_uui_not_trusted(tmp_path: Path) -> None:
    ring = asyncio.run(sip_to_pbx(tmp_path, [PAI, UUI], "trust_pai = false\ntrust_uui = false"))
    # From's number, not screened; no user-user IE
    assert ring.callingnum == "2125559876" and ring.callingpres == 0x00
    assert ring.useruserinfo == ""


def test_send_uui_off_keeps_uui_for_cti_only(tmp_path: Path) -> None:
    invite, facts = asyncio.run(pbx_to_sip(
        tmp_path, extra_trunk="send_uui = false", useruser="hello",
        caller_party=caller(PRES_ALLOWED_PASSED, PRES_ALLOWED_PASSED)))
    assert "user-to-user" not in headers_of(invite.split("\n\n", 1)[0])
    assert b"hello".hex() not in invite
    assert facts["uui"] == {"protocol": 4, "hex": b"hello".hex()}


def test_ni2_name_in_facility_after_setup_reaches_the_display(tmp_path: Path) -> None:
    """NI-2 (Avaya style): the SETUP says "name information follows" and the name comes
    in a FACILITY; the INVITE waits for it (bridge.NAME_WAIT_S at most), so the voice AI
    sees the caller's name in From and PAI."""
    invite, facts = asyncio.run(pbx_to_sip(
        tmp_path, caller_party=caller(PRES_ALLOWED_PASSED, PRES_ALLOWED_PASSED)))
    h = headers_of(invite.split("\n\n", 1)[0])
    assert re.fullmatch(r'"Alice Smith" <sip:\+12125551234@127\.0\.0\.1;user=phone>;tag=\w+',
                        h["from"][0]), h["from"]
    assert h["p-asserted-identity"] == ['"Alice Smith" <sip:+12125551234@127.0.0.1;user=phone>']
    assert facts["calling_name"] == {"text": NAME, "presentation": "allowed"}
