"""Call progress and refusals end to end (issue 10 items 2, 3, 6): causes and statuses mapped
per RFC 3398 with Reason headers, and every call ends with its B-channel idle."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.peers.sipp.runner import Sipp

from .rig import Rig, wait_for

pytestmark = pytest.mark.peer
SCEN = Path(__file__).parent / "scenarios"

UAC = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="uac_final">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:+12125550199@[local_ip]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      CSeq: 1 INVITE
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="STATUS">
    <action>
      <ereg regexp="^ *Q\\.850;cause=CAUSE\\b" search_in="hdr" header="Reason:" check_it="true" assign_to="reason"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:+12125550199@[local_ip]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <Reference variables="reason"/>
</scenario>
"""


def uac_final(tmp: Path, status: int, cause: int) -> str:
    p = tmp / f"uac_{status}_{cause}.xml"
    p.write_text(UAC.replace("STATUS", str(status)).replace("CAUSE", str(cause)))
    return str(p)


OUT_3XXX = """
[[routes.outbound]]
name = "ext"
match = "3[0-9]{3}"
spans = ["span1"]
"""


async def sip_call(tmp: Path, service: str, scenario: str, policy: object = "answer",
                   routes: str | None = None) -> Rig:
    async with Rig(tmp, ("127.0.0.1", 9), routes=routes) as rig:
        rig.pbx.policy = policy
        uac = Sipp(tmp / "sipp", scenario, remote=rig.sip_address, service=service,
                   timeout_s=20)
        try:
            res = await asyncio.get_running_loop().run_in_executor(None, uac.wait, 20)
            assert res.ok(), res.errors + res.messages[-2500:]
            await wait_for(rig.idle, 10, "every channel idle")
        finally:
            uac.kill()
        return rig


def test_sip_call_with_no_route_is_404_cause_1(tmp_path: Path) -> None:
    asyncio.run(sip_call(tmp_path, "9999", uac_final(tmp_path, 404, 1), routes=OUT_3XXX))


def test_sip_call_to_a_non_number_is_484_cause_28(tmp_path: Path) -> None:
    asyncio.run(sip_call(tmp_path, "sales", uac_final(tmp_path, 484, 28)))


def test_sip_call_pbx_busy_is_486_cause_17(tmp_path: Path) -> None:
    asyncio.run(sip_call(tmp_path, "3001", uac_final(tmp_path, 486, 17), policy=("busy", 17)))


def test_sip_call_answered_then_bye_clears_pbx(tmp_path: Path) -> None:
    async def body() -> None:
        async with Rig(tmp_path, ("127.0.0.1", 9)) as rig:
            gone: list[int | None] = []
            rig.pbx.on_event = lambda call, ev: gone.append(call.cause) if (
                call.state == "gone") else None
            uac = Sipp(tmp_path / "sipp", "uac_call.xml", remote=rig.sip_address,
                       service="3001", timeout_s=20)
            try:
                res = await asyncio.get_running_loop().run_in_executor(None, uac.wait, 20)
                assert res.ok(), res.errors + res.messages[-2500:]
                await wait_for(rig.idle, 10, "every channel idle")
                assert gone and gone[-1] == 16
            finally:
                uac.kill()
    asyncio.run(body())


async def pbx_call(tmp: Path, called: str, peer: tuple[str, int]) -> int | None:
    async with Rig(tmp, peer) as rig:
        call = rig.pbx.place_call(called, caller="5551234")
        await wait_for(lambda: call.state == "gone", 15, "the call refused at the PBX")
        await wait_for(rig.idle, 10, "every channel idle")
        return call.cause


def test_pbx_call_with_no_route_is_cause_1(tmp_path: Path) -> None:
    routes = """
[[routes.inbound]]
name = "ai"
match = "2[0-9]{3}"
target = "ai"
"""
    async def body() -> int | None:
        async with Rig(tmp_path, ("127.0.0.1", 9), routes=routes) as rig:
            call = rig.pbx.place_call("7777")
            await wait_for(lambda: call.state == "gone", 10, "refused")
            await wait_for(rig.idle, 10, "idle")
            # CALL PROCEEDING went first, before the routing lookup
            names = [e.name for e in call.events]
            assert "PRI_EVENT_PROCEEDING" in names, names
            return call.cause
    assert asyncio.run(body()) == 1


def test_pbx_call_sip_486_is_cause_17(tmp_path: Path) -> None:
    uas = Sipp(tmp_path / "sipp", "uas_486.xml", timeout_s=20)
    try:
        assert asyncio.run(pbx_call(tmp_path, "2001", uas.address)) == 17
    finally:
        uas.kill()


def test_pbx_call_to_dead_target_is_refused_cleanly(tmp_path: Path) -> None:
    # nothing listens on the trunk's port: no provisional within the trunk's time
    cause = asyncio.run(pbx_call(tmp_path, "2001", ("127.0.0.1", 9)))
    assert cause == 102  # 408 (RFC 3398 s8.2.6.1: recovery on timer expiry)


def test_180_without_sdp_is_alerting_with_local_ringback(tmp_path: Path) -> None:
    """US ringback (440 + 480 Hz, 2 s on 4 s off) reaches the PBX while the SIP side rings."""
    async def body() -> tuple[list[str], float, float]:
        uas = Sipp(tmp_path / "sipp", str(SCEN / "uas_ring_wait.xml"), timeout_s=30)
        try:
            async with Rig(tmp_path, uas.address) as rig:
                call = rig.pbx.place_call("2001")
                await wait_for(lambda: call.state == "ringing", 10, "ALERTING at the PBX")
                await asyncio.sleep(1.2)  # inside the first 2 s burst
                assert call.channel is not None
                freq, level = rig.pbx.measure(call.channel, 4000)
                await wait_for(lambda: call.state == "answered", 10, "CONNECT at the PBX")
                rig.pbx.hangup(call, 16)
                await wait_for(rig.idle, 10, "every channel idle")
                return [e.name for e in call.events], freq, level
        finally:
            uas.kill()
    names, freq, level = asyncio.run(body())
    assert "PRI_EVENT_RINGING" in names
    assert min(abs(freq - 440), abs(freq - 480)) < 10, freq
    assert -25 < level < -10, level


def test_hold_resume_keep_the_channel_and_info_dtmf_reaches_the_pbx(tmp_path: Path) -> None:
    """sipp holds (a=sendonly) and resumes by re-INVITE, then sends DTMF 5 in SIP INFO: the
    B-channel stays up throughout, the digit is played in-band and the PBX's DTMF receiver
    hears it, and the BYE clears the PBX with cause 16."""
    async def body() -> tuple[dict[int, str], list[str], int | None, int | None]:
        async with Rig(tmp_path, ("127.0.0.1", 9)) as rig:
            calls: list[object] = []
            rig.pbx.on_event = lambda call, ev: calls.append(call) if ev.name == (
                "PRI_EVENT_RING") else None
            uac = Sipp(tmp_path / "sipp", str(SCEN / "uac_hold_info_pause.xml"),
                       remote=rig.sip_address,
                       service="3001", timeout_s=20)
            try:
                res = await asyncio.get_running_loop().run_in_executor(None, uac.wait, 20)
                assert res.ok(), res.errors + res.messages[-2500:]
                await wait_for(rig.idle, 10, "every channel idle")
            finally:
                uac.kill()
            call = calls[0]
            names = [e.name for e in call.events]  # type: ignore[attr-defined]
            return (rig.pbx.heard, names, call.channel,  # type: ignore[attr-defined]
                    call.cause)  # type: ignore[attr-defined]
    heard, names, channel, cause = asyncio.run(body())
    assert channel is not None and heard.get(channel, "").startswith("5"), heard
    assert names.count("PRI_EVENT_HANGUP") + names.count("PRI_EVENT_HANGUP_REQ") >= 1
    assert cause == 16
