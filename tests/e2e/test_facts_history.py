"""Redirection end to end (issue 11 item 3): History-Info and Diversion, SIP -> PBX and back.

SIP -> PBX: sipp's INVITE carries History-Info (RFC 7044 with RFC 4458 cause=) or
Diversion (RFC 5806) written into a scenario per test (sipp's CSV injection cannot
carry a whole History-Info); libpri's RING event at the PBX has the redirecting
number, its reason and the original called number with its reason.
PBX -> SIP: libpri's pri_sr_set_redirecting_parties gives the redirecting number and
the original called number; the INVITE sipp receives is checked byte for byte.
Per-trunk policy (redirection = diversion | history-info | both | none,
trust_redirection off) is switched per test.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from appliance.demo.libpri import PRI_NATIONAL_ISDN, Ev, party_id, redirecting_parties
from tests.peers.sipp.runner import Sipp

from .rig import Rig, wait_for
from .test_facts import SwitchRig, invite_headers, record_events, uac_scenario, uas_scenario

pytestmark = pytest.mark.peer


PRI_DEBUG_Q931_DUMP = 1 << 5


async def sip_to_pbx(tmp: Path, headers: list[str], extra_trunk: str = "", switch: str = "ni2"
                     ) -> tuple[Any, list[tuple[str, dict[str, Any]]], str]:
    """sipp INVITEs the gateway with `headers`; the PBX answers, then hangs up.
    Returns libpri's RING event, the CTI events and libpri's Q.931 dump."""
    scen = uac_scenario(tmp, headers)
    peer = ("127.0.0.1", 9)
    rig_ = (Rig(tmp, peer, extra_trunk=extra_trunk) if switch == "ni2"
            else SwitchRig(tmp, peer, switch, extra_trunk=extra_trunk))
    async with rig_ as rig:
        rig.pbx.pri.set_debug(PRI_DEBUG_Q931_DUMP)
        events = record_events(rig)
        rings: list[Any] = []
        rig.pbx.policy = "answer"
        rig.pbx.on_event = lambda call, ev: rings.append(ev) if ev.e == Ev.RING else None
        uac = Sipp(tmp / "sipp", scen, remote=rig.sip_address, service="2001", timeout_s=20)
        try:
            await wait_for(lambda: bool(rings) and bool(rig.pbx.calls), 20, "RING at the PBX")
            call = next(iter(rig.pbx.calls.values()))
            await asyncio.sleep(0.3)
            rig.pbx.hangup(call, 16)
            res = await asyncio.get_running_loop().run_in_executor(None, uac.wait, 15)
            assert res.ok(), res.errors + res.messages[-2000:]
            await wait_for(rig.idle, 20, "every channel idle")
        finally:
            uac.kill()
        return rings[0], events, "".join(rig.pbx.pri.log)


def redirecting_count(ring: Any) -> int:
    """libpri's redirecting count (its PRI_SUBCMD_REDIRECTING on the RING)."""
    return int(next(s["redirecting"]["count"] for s in ring.subcmds if s["cmd"] == 1))


def setup_dump(log: str) -> str:
    """libpri's own decoding of the SETUP it received (Q.931 dump, '<' lines)."""
    start = log.index("< Message Type: SETUP")
    return log[start:].split("< Message Type:", 2)[1]


def started_facts(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    return dict(next(f for k, f in events if k == "call.started")["facts"])


# RFC 7044 s10.3 style: the caller dialled +12125550001, which forwarded on busy
# (cause=486) to +12125550002, which forwarded unconditionally (cause=302) to 2001.
HI_TWO_HOPS = ("History-Info: <sip:+12125550001@[local_ip];user=phone>;index=1,"
               "<sip:+12125550002@[local_ip];user=phone;cause=486>;index=1.1;mp=1,"
               "<sip:2001@[remote_ip];cause=302>;index=1.1.1;mp=1.1")


def test_history_info_to_pbx_redirecting_and_original_called(tmp_path: Path) -> None:
    ring, events, log = asyncio.run(sip_to_pbx(tmp_path, [HI_TWO_HOPS]))
    # the last retargeting: +12125550002 forwarded unconditionally (RFC 4458 302 -> 15)
    assert ring.redirectingnum == "2125550002" and ring.callingplanrdnis == PRI_NATIONAL_ISDN
    assert ring.redirectingreason == 15
    # the first: the caller dialled +12125550001, which was busy (486 -> 1).  libpri
    # reads no Original Called Number IE on NI-2 (ring.origcallednum stays empty), so
    # its Q.931 dump of the SETUP is the PBX-side check
    assert "[73 0d 21 00 81 32 31 32 35 35 35 30 30 30 31]" in setup_dump(log)
    assert "Reason: Forwarded on busy (1)  '2125550001'" in setup_dump(log)
    facts = started_facts(events)
    assert facts["redirection"] == {
        "redirecting": {"digits": "2125550002", "type": "national", "plan": "isdn_e164",
                        "presentation": "allowed", "screening": "user_not_screened"},
        "reason": "call_forwarding_unconditional",
        "original_called": {"digits": "2125550001", "type": "national", "plan": "isdn_e164",
                            "presentation": "allowed", "screening": "user_not_screened"},
        "original_reason": "call_forwarding_busy", "count": 2}


def test_history_info_to_qsig_pbx_count_and_original_called(tmp_path: Path) -> None:
    # QSIG carries all of it in divertingLegInformation2, and libpri reads all of it
    ring, events, _ = asyncio.run(sip_to_pbx(tmp_path, [HI_TWO_HOPS], switch="qsig"))
    assert ring.redirectingnum == "2125550002" and ring.redirectingreason == 15
    assert ring.origcallednum == "2125550001" and ring.origredirectingreason == 1
    assert redirecting_count(ring) == 2
    assert started_facts(events)["redirection"]["count"] == 2


def test_diversion_to_qsig_pbx_counter_summed(tmp_path: Path) -> None:
    # RFC 5806: most recent first; counters 2 + 1 = 3 diversions
    ring, events, _ = asyncio.run(sip_to_pbx(tmp_path, [
        "Diversion: <sip:+12125550002@[local_ip];user=phone>;reason=no-answer;counter=2",
        "Diversion: <sip:+12125550001@[local_ip];user=phone>;reason=unconditional;counter=1"],
        switch="qsig"))
    assert ring.redirectingnum == "2125550002" and ring.redirectingreason == 2
    assert ring.origcallednum == "2125550001" and ring.origredirectingreason == 15
    assert redirecting_count(ring) == 3
    r = started_facts(events)["redirection"]
    assert (r["reason"], r["original_reason"], r["count"]) == (
        "call_forwarding_no_reply", "call_forwarding_unconditional", 3)


def test_diversion_not_trusted_reaches_no_one(tmp_path: Path) -> None:
    ring, events, log = asyncio.run(sip_to_pbx(tmp_path, [
        "Diversion: <sip:+12125550002@[local_ip];user=phone>;reason=user-busy;counter=1",
        HI_TWO_HOPS], "trust_redirection = false"))
    assert ring.redirectingnum == "" and ring.origcallednum == ""
    assert "Redirecting Number" not in setup_dump(log)
    assert "Original Called Number" not in setup_dump(log)
    assert "redirection" not in started_facts(events)


async def pbx_to_sip(tmp: Path, extra_trunk: str = "", switch: str = "ni2", **setup: Any
                     ) -> tuple[dict[str, list[str]], list[tuple[str, dict[str, Any]]]]:
    uas = Sipp(tmp / "sipp", uas_scenario(tmp), timeout_s=30)
    rig_ = (Rig(tmp, uas.address, extra_trunk=extra_trunk) if switch == "ni2"
            else SwitchRig(tmp, uas.address, switch, extra_trunk=extra_trunk))
    try:
        async with rig_ as rig:
            events = record_events(rig)
            call = rig.pbx.place_call("2001", caller="2125551234", callerplan=PRI_NATIONAL_ISDN,
                                      **setup)
            await wait_for(lambda: call.state == "answered", 20, "answer at the PBX")
            rig.pbx.hangup(call, 16)
            await wait_for(rig.idle, 20, "every channel idle")
            res = await asyncio.get_running_loop().run_in_executor(None, uas.wait, 10)
            assert res.ok(), res.errors + res.messages[-2000:]
            return invite_headers(res.messages), events
    finally:
        uas.kill()


# libpri: forwarded unconditionally (15) by 2125550002; the caller dialled 2125550001,
# which forwarded on busy (1); two diversions
TWO_HOPS = redirecting_parties(
    party_id("2125550002", plan=PRI_NATIONAL_ISDN), reason=15,
    orig_called=party_id("2125550001", plan=PRI_NATIONAL_ISDN), orig_reason=1, count=2)


def test_qsig_pbx_original_called_to_history_info_and_diversion(tmp_path: Path) -> None:
    h, events = asyncio.run(pbx_to_sip(tmp_path, 'redirection = "both"', "qsig",
                                       redirecting_parties=TWO_HOPS))
    assert h["history-info"] == [
        "<sip:+12125550001@127.0.0.1;user=phone>;index=1,"
        "<sip:+12125550002@127.0.0.1;user=phone;cause=486>;index=1.1;mp=1,"
        "<sip:2001@127.0.0.1;cause=302>;index=1.1.1;mp=1.1"]
    assert h["diversion"] == [
        "<sip:+12125550002@127.0.0.1;user=phone>;reason=unconditional;counter=1",
        "<sip:+12125550001@127.0.0.1;user=phone>;reason=user-busy;counter=1"]
    r = started_facts(events)["redirection"]
    assert r["original_called"]["digits"] == "2125550001" and r["count"] == 2
    assert r["original_reason"] == "call_forwarding_busy"


def test_qsig_pbx_count_to_diversion_counter(tmp_path: Path) -> None:
    three = redirecting_parties(party_id("2125550002", plan=PRI_NATIONAL_ISDN), reason=2,
                                count=3)
    h, _ = asyncio.run(pbx_to_sip(tmp_path, "", "qsig", redirecting_parties=three))
    assert h["diversion"] == ["<sip:+12125550002@127.0.0.1;user=phone>;reason=no-answer;counter=3"]
    assert "history-info" not in h


def test_redirection_none_sends_neither_header(tmp_path: Path) -> None:
    h, events = asyncio.run(pbx_to_sip(tmp_path, 'redirection = "none"',
                                       redirecting=("2125550001", PRI_NATIONAL_ISDN, 0, 1)))
    assert "diversion" not in h and "history-info" not in h
    # CTI still has the fact: the policy is about SIP headers only
    assert started_facts(events)["redirection"]["redirecting"]["digits"] == "2125550001"


def test_restricted_redirecting_number_privacy_in_both_headers(tmp_path: Path) -> None:
    # presentation restricted (0x20) | user provided, verified and passed (0x01)
    h, events = asyncio.run(pbx_to_sip(tmp_path, 'redirection = "both"',
                                       redirecting=("2125550001", PRI_NATIONAL_ISDN, 0x21, 2)))
    # RFC 5806 s4 privacy=full; RFC 7044 s10.1.1 the Privacy header escaped in the entry
    assert h["diversion"] == [
        "<sip:+12125550001@127.0.0.1;user=phone>;reason=no-answer;counter=1;privacy=full"]
    assert h["history-info"] == [
        "<sip:+12125550001@127.0.0.1;user=phone?Privacy=history>;index=1,"
        "<sip:2001@127.0.0.1;cause=408>;index=1.1;mp=1"]
    r = started_facts(events)["redirection"]
    assert r["redirecting"]["presentation"] == "restricted" and r["reason"] == "call_forwarding_no_reply"


@pytest.mark.parametrize("header", [
    "History-Info: <sip:+12125550001@[local_ip];user=phone?Privacy=history>;index=1,"
    "<sip:2001@[remote_ip];cause=408>;index=1.1;mp=1",
    "Diversion: <sip:+12125550001@[local_ip];user=phone>;reason=no-answer;counter=1;privacy=full"])
def test_sip_redirection_privacy_restricts_at_qsig_pbx(tmp_path: Path, header: str) -> None:
    ring, events, _ = asyncio.run(sip_to_pbx(tmp_path, [header], switch="qsig"))
    assert ring.redirectingnum == "2125550001" and ring.redirectingreason == 2
    frm = next(s["redirecting"]["from"] for s in ring.subcmds if s["cmd"] == 1)
    assert frm["number"]["presentation"] & 0x60 == 0x20  # presentation restricted
    assert started_facts(events)["redirection"]["redirecting"]["presentation"] == "restricted"
