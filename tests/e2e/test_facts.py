"""Every call fact across, both ways (issue 11), with libpri as the PBX and sipp as SIP peer.

PBX to SIP: libpri's pri_sr_* setters give the calling number (type, presentation,
screening), name, redirecting number and reason, and user-user; the INVITE sipp
received is checked header by header, byte for byte, and the call's CTI event
carries the same facts.  SIP to PBX: sipp's From/PAI/Privacy/Diversion/User-to-User
arrive in libpri's RING event fields.  Restricted presentation never reaches From
or a display name.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from appliance.demo.libpri import PRI_NATIONAL_ISDN, Ev
from tests.peers.sipp.runner import Sipp

from .rig import Rig, wait_for

pytestmark = pytest.mark.peer
SCEN = Path(__file__).parent / "scenarios"
PRES_PROHIB_USER_NUMBER_PASSED_SCREEN = 0x21
PRES_ALLOWED_USER_NUMBER_PASSED_SCREEN = 0x01


def invite_headers(messages: str) -> dict[str, list[str]]:
    """The header lines of the first INVITE in a sipp -trace_msg log."""
    start = messages.index("INVITE sip:")
    block = messages[start:].split("\n\n", 1)[0]
    out: dict[str, list[str]] = {}
    for line in block.splitlines()[1:]:
        name, _, value = line.partition(":")
        out.setdefault(name.strip().lower(), []).append(value.strip())
    return out


def record_events(rig: Rig) -> list[tuple[str, dict[str, Any]]]:
    seen: list[tuple[str, dict[str, Any]]] = []
    real = rig.core.bus.publish

    def publish(kind: str, **fields: Any) -> Any:
        seen.append((kind, fields))
        return real(kind, **fields)

    rig.core.bus.publish = publish  # type: ignore[method-assign]
    return seen


async def pbx_to_sip(tmp: Path, **setup: Any) -> tuple[dict[str, list[str]], list[Any]]:
    uas = Sipp(tmp / "sipp", "uas_answer.xml", timeout_s=30)
    try:
        async with Rig(tmp, uas.address) as rig:
            events = record_events(rig)
            call = rig.pbx.place_call("2001", **setup)
            await wait_for(lambda: call.state == "answered", 10, "answer at the PBX")
            rig.pbx.hangup(call, 16)
            await wait_for(rig.idle, 10, "every channel idle")
            res = await asyncio.get_running_loop().run_in_executor(None, uas.wait, 10)
            assert res.ok(), res.errors + res.messages[-2000:]
            return invite_headers(res.messages), events
    finally:
        uas.kill()


def test_restricted_caller_redirection_uui_to_sip(tmp_path: Path) -> None:
    h, events = asyncio.run(pbx_to_sip(
        tmp_path, caller="2125551234", callername="Alice Smith", callerplan=PRI_NATIONAL_ISDN,
        callerpres=PRES_PROHIB_USER_NUMBER_PASSED_SCREEN,
        redirecting=("2125550001", PRI_NATIONAL_ISDN, 0, 1), useruser="hello"))
    assert re.fullmatch(r'Anonymous <sip:anonymous@anonymous\.invalid>;tag=\w+', h["from"][0])
    assert h["p-asserted-identity"] == ["<sip:+12125551234@127.0.0.1;user=phone>"]
    assert h["privacy"] == ["id"]
    assert h["diversion"] == ["<sip:+12125550001@127.0.0.1;user=phone>;reason=user-busy;counter=1"]
    # libpri sends the user-user string with protocol discriminator 4 (IA5)
    assert h["user-to-user"] == [b"\x04hello".hex() + ";encoding=hex;purpose=isdn-uui;content=isdn-uui"]
    text = "\n".join(v for vs in h.values() for v in vs)
    assert "Alice" not in text and "2125551234" not in h["from"][0]
    started = next(f for k, f in events if k == "call.started")
    facts = started["facts"]
    assert facts["calling"] == {"digits": "2125551234", "type": "national", "plan": "isdn_e164",
                                "presentation": "restricted",
                                "screening": "user_verified_passed"}
    assert facts["redirection"]["redirecting"]["digits"] == "2125550001"
    assert facts["redirection"]["reason"] == "call_forwarding_busy"
    assert facts["uui"] == {"protocol": 4, "hex": b"hello".hex()}
    ended = next(f for k, f in events if k == "call.ended")
    assert ended["cause"] == 16


def test_allowed_caller_with_name_to_sip(tmp_path: Path) -> None:
    h, _ = asyncio.run(pbx_to_sip(
        tmp_path, caller="2125551234", callername="Alice Smith", callerplan=PRI_NATIONAL_ISDN,
        callerpres=PRES_ALLOWED_USER_NUMBER_PASSED_SCREEN))
    assert re.fullmatch(r'"Alice Smith" <sip:\+12125551234@127\.0\.0\.1;user=phone>;tag=\S+',
                        h["from"][0])
    assert h["p-asserted-identity"] == ['"Alice Smith" <sip:+12125551234@127.0.0.1;user=phone>']
    assert "privacy" not in h


async def sip_to_pbx(tmp: Path, name: str, user: str, privacy: str) -> Any:
    csv = tmp / "f.csv"
    csv.write_text(f"SEQUENTIAL\n{name};{user};{privacy}\n")
    async with Rig(tmp, ("127.0.0.1", 9)) as rig:
        rings: list[Any] = []
        rig.pbx.policy = "answer"
        rig.pbx.on_event = lambda call, ev: rings.append(ev) if ev.e == Ev.RING else None
        uac = Sipp(tmp / "sipp", str(SCEN / "uac_facts.xml"), remote=rig.sip_address,
                   service="2001", timeout_s=20, extra=["-inf", str(csv)])
        try:
            await wait_for(lambda: bool(rings) and bool(rig.pbx.calls), 10, "RING at the PBX")
            call = next(iter(rig.pbx.calls.values()))
            await asyncio.sleep(0.3)
            rig.pbx.hangup(call, 16)
            res = await asyncio.get_running_loop().run_in_executor(None, uac.wait, 15)
            assert res.ok(), res.errors + res.messages[-2000:]
            await wait_for(rig.idle, 10, "every channel idle")
        finally:
            uac.kill()
        return rings[0]


def test_sip_facts_to_pbx(tmp_path: Path) -> None:
    ring = asyncio.run(sip_to_pbx(tmp_path, "Bob Jones", "+12125559876", "Privacy: none"))
    assert ring.callednum == "2001"
    assert ring.callingnum == "2125559876" and ring.callingplan == PRI_NATIONAL_ISDN
    assert ring.callingpres & 0x60 == 0  # presentation allowed
    assert ring.callingname == "Bob Jones"
    assert ring.redirectingnum == "2125550001" and ring.redirectingreason == 1
    assert ring.useruserinfo == "\xc0\xff\xee" or ring.useruserinfo.encode("latin-1") == b"\xc0\xff\xee"


def test_sip_privacy_id_restricts_at_pbx(tmp_path: Path) -> None:
    ring = asyncio.run(sip_to_pbx(tmp_path, "Bob Jones", "+12125559876", "Privacy: id"))
    assert ring.callingpres & 0x60 == 0x20  # presentation restricted
    assert ring.callingname == ""  # no name toward the PBX for a restricted caller
