"""Causes end to end (issue 11 item 5): Reason in CANCEL (RFC 3326), a response's Reason
(RFC 6432) over the RFC 3398 status table, the Q.850 location as the RFC 8606 token,
with libpri as the PBX and sipp as the SIP peer.

SIP side: the CANCEL / BYE sipp received, header by header, byte for byte.  ISDN side:
libpri's HANGUP cause, and libpri's own decoding (Q.931 dump) of the cause IE's location.
CTI: the call.ended event's cause with its location and diagnostics (diagnostics and
locations other than 1 from our own Q.931 codec as the PBX: libpri sends neither).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from appliance.demo.libpri import PRI_NATIONAL_ISDN, Ev
from tests.peers.sipp.runner import Sipp

from .rig import Rig, wait_for
from .test_facts import (
    headers_of,
    record_events,
    sip_message,
    uac_scenario,
    uas_scenario,
    write_scenario,
)

pytestmark = pytest.mark.peer
PRI_DEBUG_Q931_DUMP = 1 << 5
NORMAL = 'Q.850;cause=16;text="Normal call clearing"'


def ended(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    return dict(next(f for k, f in events if k == "call.ended"))


def dumps_of(log: str, message: str) -> list[str]:
    """libpri's decoding of each `message` it received ('<' lines of its Q.931 dump)."""
    parts = log.split("< Message Type: ")
    return [p for p in parts[1:] if p.startswith(message)]


async def pbx_calls(tmp: Path, scen: str, *, hang_when: str | None = None, cause: int = 16,
                    extra_trunk: str = "") -> tuple[Any, Any, list[tuple[str, dict[str, Any]]], str]:
    """The PBX calls sipp (scenario `scen`); it hangs up with `cause` once the call is
    `hang_when` ("ringing" / "answered"), or waits for the gateway to clear it."""
    uas = Sipp(tmp / "sipp", scen, timeout_s=30)
    try:
        async with Rig(tmp, uas.address, extra_trunk=extra_trunk) as rig:
            rig.pbx.pri.set_debug(PRI_DEBUG_Q931_DUMP)
            events = record_events(rig)
            call = rig.pbx.place_call("2001", caller="2125551234", callerplan=PRI_NATIONAL_ISDN)
            if hang_when is not None:
                await wait_for(lambda: call.state == hang_when, 20, f"{hang_when} at the PBX")
                await asyncio.sleep(0.2)
                rig.pbx.hangup(call, cause)
            await wait_for(rig.idle, 20, "every channel idle")
            res = await asyncio.get_running_loop().run_in_executor(None, uas.wait, 10)
            assert res.ok(), res.errors + res.messages[-2000:]
            return call, res, events, "".join(rig.pbx.pri.log)
    finally:
        uas.kill()


def test_pbx_hangs_up_while_ringing_cancel_carries_reason(tmp_path: Path) -> None:
    _, res, events, _ = asyncio.run(pbx_calls(tmp_path, uas_scenario(tmp_path, final=0),
                                              hang_when="ringing"))
    cancel = headers_of(sip_message(res.messages, "CANCEL sip:"))
    # libpri (network side) sends location 1, private network serving the local user
    assert cancel["reason"] == [NORMAL + ";location=LPN"]
    assert ended(events)["cause_fact"] == {"value": 16, "location": 1, "diagnostics": ""}


def test_pbx_busy_cause_in_cancel_with_its_value(tmp_path: Path) -> None:
    _, res, events, _ = asyncio.run(pbx_calls(tmp_path, uas_scenario(tmp_path, final=0),
                                              hang_when="ringing", cause=17))
    cancel = headers_of(sip_message(res.messages, "CANCEL sip:"))
    assert cancel["reason"] == ['Q.850;cause=17;text="User busy";location=LPN']
    assert ended(events)["cause"] == 17


def test_pbx_hangs_up_answered_bye_reason_location(tmp_path: Path) -> None:
    _, res, events, _ = asyncio.run(pbx_calls(tmp_path, uas_scenario(tmp_path),
                                              hang_when="answered"))
    bye = headers_of(sip_message(res.messages, "BYE sip:"))
    assert bye["reason"] == [NORMAL + ";location=LPN"]
    assert ended(events)["cause_fact"]["location"] == 1


def test_send_reason_off_sends_none(tmp_path: Path) -> None:
    _, res, _, _ = asyncio.run(pbx_calls(tmp_path, uas_scenario(tmp_path, final=0),
                                         hang_when="ringing", extra_trunk="send_reason = false"))
    assert "reason" not in headers_of(sip_message(res.messages, "CANCEL sip:"))


def test_response_reason_overrides_rfc3398_table(tmp_path: Path) -> None:
    # 480 alone maps to 18 (RFC 3398 s8.2.6.1); its Reason says 21, and 21 it is
    scen = uas_scenario(tmp_path, final=480, final_headers=[
        'Reason: Q.850;cause=21;text="Call rejected";location=RLN'])
    call, _, events, log = asyncio.run(pbx_calls(tmp_path, scen))
    assert call.cause == 21
    disc = dumps_of(log, "DISCONNECT")
    assert disc and "Cause: Call Rejected (21)" in disc[0], log[-3000:]
    assert ended(events)["cause_fact"]["value"] == 21
    # the location the SIP peer gave (RLN) goes on to the PBX in the cause IE and stays
    # in the call's CTI facts
    assert "Location: Public network serving the remote user (4)" in disc[0], disc[0]
    assert ended(events)["cause_fact"]["location"] == 4


# RFC 3398 s8.2.6.1 (a handful; the whole table is unit-tested in tests/appliance/interwork)
TABLE = [(486, 17), (404, 1), (480, 18), (503, 41), (603, 21), (408, 102), (484, 28)]


def test_status_table_without_reason(tmp_path: Path) -> None:
    """One rig and one sipp for every row: the PBX dials the status, sipp answers with it."""
    tests = "".join(f'<test assign_to="is{s}" variable="n" compare="equal" value="{s}"/>'
                    for s, _ in TABLE)
    jumps = "".join(f'  <nop next="s{s}" test="is{s}"/>\n' for s, _ in TABLE)
    sends = "".join(f"""  <label id="s{s}"/>
  <send next="done"><![CDATA[
      SIP/2.0 {s} Refused
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0
    ]]></send>
""" for s, _ in TABLE)
    body = f"""  <recv request="INVITE"><action>
    <ereg regexp="INVITE sip:([0-9]+)@" search_in="msg" assign_to="all,code"/>
    <todouble assign_to="n" variable="code"/>{tests}
  </action></recv>
{jumps}{sends}  <label id="done"/>
  <recv request="ACK"/>
  <Reference variables="all"/>"""
    scen = write_scenario(tmp_path, "uas_table", body)

    async def run() -> list[int | None]:
        uas = Sipp(tmp_path / "sipp", scen, calls=len(TABLE), timeout_s=60)
        causes: list[int | None] = []
        try:
            async with Rig(tmp_path, uas.address) as rig:
                for status, _ in TABLE:
                    call = rig.pbx.place_call(str(status), caller="2125551234",
                                              callerplan=PRI_NATIONAL_ISDN)
                    await wait_for(rig.idle, 20, "every channel idle")
                    causes.append(call.cause)
            res = await asyncio.get_running_loop().run_in_executor(None, uas.wait, 10)
            assert res.ok(), res.errors + res.messages[-2000:]
        finally:
            uas.kill()
        return causes

    assert asyncio.run(run()) == [c for _, c in TABLE]


async def sip_calls(tmp: Path, scen: str, *, policy: Any = "answer") -> tuple[Any, str, list[Any]]:
    """sipp calls the PBX through the gateway (scenario `scen`); libpri answers or refuses."""
    async with Rig(tmp, ("127.0.0.1", 9)) as rig:
        rig.pbx.pri.set_debug(PRI_DEBUG_Q931_DUMP)
        events = record_events(rig)
        rig.pbx.policy = policy
        hangups: list[Any] = []
        rig.pbx.on_event = lambda c, ev: hangups.append(ev) if ev.e in (
            Ev.HANGUP_REQ, Ev.HANGUP) else None
        uac = Sipp(tmp / "sipp", scen, remote=rig.sip_address, service="2001", timeout_s=20)
        try:
            res = await asyncio.get_running_loop().run_in_executor(None, uac.wait, 20)
            assert res.ok(), res.errors + res.messages[-2000:]
            await wait_for(rig.idle, 20, "every channel idle")
        finally:
            uac.kill()
        return res, "".join(rig.pbx.pri.log), [hangups, events]


def test_sip_bye_reason_cause_reaches_pbx(tmp_path: Path) -> None:
    scen = uac_scenario(tmp_path, [], bye=['Reason: Q.850;cause=31;text="Normal unspecified";location=LN'])
    _, log, (hangups, events) = asyncio.run(sip_calls(tmp_path, scen))
    disc = dumps_of(log, "DISCONNECT")
    assert disc and "Cause: Normal, unspecified (31)" in disc[0], log[-3000:]
    assert hangups and hangups[0].cause == 31
    assert ended(events)["cause_fact"]["value"] == 31
    assert ended(events)["cause_fact"]["location"] == 2  # LN: public network, local user
    assert "Location: Public network serving the local user (2)" in disc[0], disc[0]


def test_pbx_busy_to_sip_486_with_reason(tmp_path: Path) -> None:
    scen = uac_scenario(tmp_path, [], final=486)
    res, _, (_, events) = asyncio.run(sip_calls(tmp_path, scen, policy=("busy", 17)))
    resp = headers_of(sip_message(res.messages, "SIP/2.0 486"))
    assert resp["reason"] == ['Q.850;cause=17;text="User busy";location=LPN']
    assert ended(events)["cause_fact"] == {"value": 17, "location": 1, "diagnostics": ""}


def test_pbx_cause_location_and_diagnostics_to_sip_and_cti(tmp_path: Path) -> None:
    """libpri's cause IE has no diagnostics (and always location 1 here), so the PBX is
    our own Q.931 codec (`tests.e2e.codec_pbx`): DISCONNECT cause 1, location 4 (public
    network serving the remote user), diagnostics 0x81 (condition: permanent, Q.850
    2.2.6.1) -> 404 with Reason ...;location=RLN; CTI keeps the diagnostics."""
    from appliance.isdn.q931 import MessageType as M
    from appliance.isdn.q931.ies import Cause, ChannelId
    from appliance.isdn.q931.messages import message

    scen = uac_scenario(tmp_path, [], final=404)

    async def run() -> tuple[Any, list[tuple[str, dict[str, Any]]]]:
        async with Rig(tmp_path, ("127.0.0.1", 9), far="codec") as rig:
            events = record_events(rig)
            uac = Sipp(tmp_path / "sipp", scen, remote=rig.sip_address, service="2001",
                       timeout_s=20)
            try:
                pbx = rig.pbx
                await wait_for(lambda: "SETUP" in pbx.names(), 20, "SETUP at the PBX")
                setup = pbx.last("SETUP")
                chan = setup.get(ChannelId)
                assert chan is not None
                cr = setup.call_ref
                pbx.send(message(M.CALL_PROCEEDING, cr, True, ChannelId(channels=chan.channels)))
                pbx.send(message(M.DISCONNECT, cr, True,
                                 Cause(1, location=4, diagnostics=b"\x81")))
                await wait_for(lambda: "RELEASE" in pbx.names(), 20, "RELEASE at the PBX")
                pbx.send(message(M.RELEASE_COMPLETE, cr, True))
                res = await asyncio.get_running_loop().run_in_executor(None, uac.wait, 20)
                assert res.ok(), res.errors + res.messages[-3000:]
                await wait_for(rig.idle, 20, "every channel idle")
            finally:
                uac.kill()
            return res, events

    res, events = asyncio.run(run())
    resp = headers_of(sip_message(res.messages, "SIP/2.0 404"))
    assert resp["reason"] == ['Q.850;cause=1;text="Unallocated number";location=RLN']
    assert ended(events)["cause_fact"] == {"value": 1, "location": 4, "diagnostics": "81"}
